"""`samecurve` on the command line: list, run, report, organisms. A thin layer over api.py;
user mistakes become one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Optional

import typer
from typer.exceptions import Abort, Exit, TyperException
from rich import box
from rich.console import Console
from rich.text import Text
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from . import api
from .errors import ConfigError, SamecurveError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="Grade interpretability methods and their baselines on the same curve.")
console = Console()
KINDS = ("tasks", "arms", "organisms", "suites")


def _seeds(text: Optional[str]) -> Optional[list[int]]:
    if text is None:
        return None
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds must be comma-separated integers like 0,1,2, not {text!r}") from None


def _factors(text: Optional[str]) -> Optional[tuple[float, ...]]:
    if text is None:
        return None
    try:
        factors = tuple(float(s) for s in text.split(",") if s.strip())
    except ValueError:
        factors = ()
    if not factors or not all(math.isfinite(f) for f in factors):
        raise ConfigError(f"--ladder must be comma-separated numbers like 0.25,0.5,1, not {text!r}")
    return factors


NAME_COLUMNS = ("name", "family", "access", "label", "hash", "seeds", "toi")
LIST_COLUMNS = ("controls", "metrics")  # lists of names: one name per line, never broken


def _table(title: str, rows: list[dict]) -> Table:
    """A table at most as wide as the console: names are never wrapped (they must stay copyable and
    greppable), lists of names put one per line, prose columns wrap at spaces."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in rows[0]:
        texts = [str(r[col]) for r in rows]
        if col in NAME_COLUMNS or col in LIST_COLUMNS:
            longest = max(len(w) for t in texts + [col] for w in t.split(", "))
            table.add_column(col, no_wrap=True, min_width=longest)
        else:
            table.add_column(col, min_width=max(len(w) for t in texts + [col] for w in t.split()))
    for r in rows:
        table.add_row(*(str(v).replace(", ", "\n") if k in LIST_COLUMNS else str(v) for k, v in r.items()))
    return table


def _print_rows(title: str, rows: list[dict]) -> None:
    """A table at the terminal's width (COLUMNS) when it fits without breaking a word; else one block
    per item, names on the first line, the rest indented and wrapped at spaces."""
    import textwrap

    width = console.width
    if not rows:
        console.print(f"{title}: none")
        return
    table = _table(title, rows)
    need = sum(c.min_width or 1 for c in table.columns) + 3 * len(table.columns)  # cells, padding, gaps
    if need <= width:  # fits without breaking a word
        console.print(table)
        return
    console.print(Text(title, style="bold"))
    keys = list(rows[0])
    for r in rows:
        console.print(Text("  ".join(str(r[k]) for k in keys if k in NAME_COLUMNS), style="bold"), soft_wrap=True)
        for k in keys:
            if k in NAME_COLUMNS or str(r[k]) in ("", "—"):
                continue
            lines = textwrap.wrap(f"{k}: {r[k]}", width=max(20, width - 4), break_long_words=False,
                                  break_on_hyphens=False, subsequent_indent="  ")
            for line in lines:
                console.print(Text("    " + line), soft_wrap=True)


@app.command("list")
def list_(kind: str = typer.Argument("arms", help="tasks | arms | organisms | suites | tois"),
          task: Optional[str] = typer.Option(None, "--task", help="arms: only those this task scores, with the protocol each serves"),
          contract: bool = typer.Option(False, "--contract", help="tasks: the arm contract (docs/arm-contract.md) as markdown"),
          markdown: bool = typer.Option(False, "--markdown", help="print the rows as a markdown table"),
          ) -> None:
    """List registered tasks, arms (family, access, controls, description), organism sets, suites, or the
    map of theories of impact (tois: which tasks test each, which are planned, which no benchmark can)."""
    if contract:
        if kind != "tasks":
            raise ConfigError("--contract goes with `list tasks`")
        from .report.contract import contract_markdown

        sys.stdout.write(contract_markdown())
        return
    rows = api.list_names(kind, task=task)
    if markdown:
        from .report.markdown import pipe_table

        keys = list(rows[0]) if rows else []
        sys.stdout.write(pipe_table(keys, [[r[k] for k in keys] for r in rows]) + "\n")
        return
    _print_rows(f"samecurve {kind}" + (f" scored by {task}" if task else ""), rows)


@app.command()
def run(
    suite: str = typer.Option("quick", help="smoke | quick | full | curves (samecurve list suites)"),
    out: Path = typer.Option(Path("runs/quick"), help="run directory (results.sqlite, verdicts.json, report.html)"),
    task: list[str] = typer.Option([], help="only these tasks (repeatable)"),
    arm: list[str] = typer.Option([], help="only these arms (repeatable): a registered name or module:Class "
                                           "(imported from the working directory too); their declared controls join them"),
    add_arm: list[str] = typer.Option([], "--add-arm", help="run this arm (name or module:Class) besides the suite's "
                                                            "own arms, on every task that scores its protocol"),
    seeds: Optional[str] = typer.Option(None, help="override the suite's seeds, e.g. 0,1,2"),
    organisms: Optional[str] = typer.Option(None, "--organisms", help="run the chosen --task(s) on this organism set "
                                            "instead: a registered name or module:function (seed -> list of organism "
                                            "specs; imported from the working directory too)"),
    ladder: Optional[str] = typer.Option(None, "--ladder", help="run every chosen entry on this budget ladder: "
                                         "factors of the suite's budget including 1 (the headline rung), e.g. "
                                         "0.125,0.25,0.5,1"),
    ladder_axes: Optional[str] = typer.Option(None, "--ladder-axes", help="the budget fields --ladder scales, e.g. "
                                              "labelled_examples (default: the entry's own, else all)"),
    executor: str = typer.Option("processes", help="inline | processes | ray"),
    jobs: int = typer.Option(2, min=1, help="worker processes for the processes executor"),
    keep_going: bool = typer.Option(False, "--keep-going", help="exit 0 even if some cells failed "
                                                                "(they are still listed in the scorecard and the report)"),
) -> None:
    """Run (or resume) a suite; prints the scorecard and writes the report. Exits 1 if any cell failed
    (unless --keep-going), 2 on bad input."""
    from .report.terminal import print_scorecard
    from .store import Store

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        bars: dict[str, int] = {}

        def note(kind: str, done: int, total: int) -> None:
            label = "organisms trained or loaded" if kind == "organisms" else "cells run"
            if kind not in bars:
                bars[kind] = progress.add_task(label, total=total)
            progress.update(bars[kind], completed=done, total=total)

        result = api.run(suite, out, tasks=task or None, arms=arm or None, seeds=_seeds(seeds),
                         extra_arms=add_arm or None, executor=executor, jobs=jobs, progress=note,
                         add_controls=True, organisms=organisms, ladder=_factors(ladder),
                         ladder_axes=None if ladder_axes is None else tuple(a.strip() for a in ladder_axes.split(",")
                                                                           if a.strip()))
    s = result.summary
    with Store(out / api.RESULTS) as store:
        print_scorecard(store, console, run_id=s.run_id, verdicts=result.verdicts)
    for n in s.notes:
        console.print(Text(n, style="yellow" if n.startswith("warning") else "dim"))
    over = f", {len(s.over_budget)} over budget" if s.over_budget else ""
    console.print(f"{s.cells_done} cells run, {s.cells_skipped} already done, {s.cells_failed} failed{over} "
                  f"in {s.wall_seconds:.1f}s -> {out / api.REPORT}, {out / api.VERDICTS}")
    for f in s.organisms_failed:
        console.print(Text(f"organism failed {f}", style="red"))
    if s.cells_failed:
        console.print(Text(f"{s.cells_failed} cell(s) failed; full tracebacks: samecurve report {out} --failures",
                           style="bold red"))
        if not keep_going:
            raise Exit(1)


@app.command()
def report(run_dir: Path = typer.Argument(..., help="a directory written by `samecurve run`"),
           run_id: Optional[str] = typer.Option(None, "--run", help="which run of the store (default: the newest)"),
           markdown: bool = typer.Option(False, "--markdown", help="print the results table as markdown (README's table)"),
           failures: bool = typer.Option(False, "--failures", help="print the failed cells with their full tracebacks"),
           ) -> None:
    """Rebuild verdicts.json and report.html of a run from its own cells and print the scorecard."""
    from .report.terminal import print_scorecard
    from .store import Store

    if markdown:
        api._results_path(run_dir)
        sys.stdout.write(api.markdown(run_dir, run_id))
        return
    if failures:
        failed = api.failed_cells(run_dir, run_id)
        if not failed:
            console.print("no failed cells in this run")
        for f in failed:
            console.print(Text(f"== {f['task']} / {f['arm']} ({f['family']}) / seed {f['seed']}  cell {f['cell_key']}",
                               style="bold red"))
            console.print(Text(f["traceback"] or f["error"]), soft_wrap=True)
        return
    vs = api.write_outputs(run_dir, run_id)
    with Store(run_dir / api.RESULTS) as store:
        print_scorecard(store, console, run_id=run_id, verdicts=vs)
    console.print(f"-> {run_dir / api.REPORT}")


@app.command()
def organisms(run_dir: Optional[Path] = typer.Argument(None, help="show the organisms a run used")) -> None:
    """Organism sets, or the organisms of a run with their clean accuracy and attack success."""
    from .store import Store

    if run_dir is None:
        _print_rows("samecurve organisms", api.list_names("organisms"))
        return
    api._results_path(run_dir)
    with Store(run_dir / api.RESULTS) as store:
        rows = []
        for o in store.organisms():
            m = o["metrics"]
            rows.append({"label": o["label"], "hash": o["hash"],
                         "clean accuracy": f"{m.get('clean_accuracy', float('nan')):.3f}",
                         "attack success": f"{m.get('attack_success_rate', float('nan')):.3f}",
                         "honest under trigger": f"{m.get('triggered_honest_rate', float('nan')):.3f}"})
    _print_rows("organisms", rows)


def main() -> None:
    """Entry point: typer's own usage errors and ours become one line and exit 2."""
    err = Console(stderr=True)
    try:
        rc = typer.main.get_command(app).main(prog_name="samecurve", standalone_mode=False)
        if isinstance(rc, int) and rc:  # click returns Exit's code instead of raising it here
            sys.exit(rc)
    except (Abort, KeyboardInterrupt):
        err.print("samecurve: interrupted; finished cells are saved, run the same command again to resume", markup=False)
        sys.exit(130)
    except Exit as exc:
        sys.exit(exc.exit_code)
    except TyperException as exc:  # usage errors: bad option, missing argument
        err.print(f"samecurve: error: {exc.format_message()}", markup=False, soft_wrap=True)
        sys.exit(2)
    except SamecurveError as exc:
        err.print(f"samecurve: error: {str(exc).splitlines()[0]}", markup=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
