"""`samecurve` on the command line: list, run, report, organisms. A thin layer over api.py;
user mistakes become one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from typer.exceptions import Abort, Exit, TyperException
from rich.console import Console
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


@app.command("list")
def list_(kind: str = typer.Argument("arms", help="tasks | arms | organisms | suites")) -> None:
    """List registered tasks, arms (with family and access), organism sets or suites."""
    rows = api.list_names(kind)
    table = Table(title=f"samecurve {kind}")
    for col in rows[0]:
        # names must stay copyable; prose columns wrap
        table.add_column(col, no_wrap=col in ("name", "family", "access", "controls"), overflow="fold")
    for r in rows:
        table.add_row(*(str(v) for v in r.values()))
    # never narrower than the names: piped output (80 columns by default) must stay greppable
    Console(width=max(console.width, 150)).print(table)


@app.command()
def run(
    suite: str = typer.Option("quick", help="smoke | quick | full"),
    out: Path = typer.Option(Path("runs/quick"), help="run directory (results.sqlite, verdicts.json, report.html)"),
    task: list[str] = typer.Option([], help="only these tasks (repeatable)"),
    arm: list[str] = typer.Option([], help="only these arms (repeatable); package.module:Class adds your own arm"),
    seeds: Optional[str] = typer.Option(None, help="override the suite's seeds, e.g. 0,1,2"),
    executor: str = typer.Option("processes", help="inline | processes | ray (RAY_ADDRESS: an existing cluster)"),
    jobs: int = typer.Option(2, min=1, help="worker processes (processes), or CPUs of a local Ray instance (ray)"),
) -> None:
    """Run (or resume) a suite; prints the scorecard and writes the report."""
    from .report.terminal import print_scorecard
    from .store import Store

    registered = [a for a in arm if ":" not in a]
    plugins = [a for a in arm if ":" in a]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        bars: dict[str, int] = {}

        def note(kind: str, done: int, total: int) -> None:
            label = "organisms trained or loaded" if kind == "organisms" else "cells run"
            if kind not in bars:
                bars[kind] = progress.add_task(label, total=total)
            progress.update(bars[kind], completed=done, total=total)

        result = api.run(suite, out, tasks=task or None, arms=registered or None, seeds=_seeds(seeds),
                         extra_arms=plugins or None, executor=executor, jobs=jobs, progress=note)
    s = result.summary
    with Store(out / api.RESULTS) as store:
        print_scorecard(store, console, run_id=s.run_id, verdicts=result.verdicts)
    console.print(f"{s.cells_done} cells run, {s.cells_skipped} already done, {s.cells_failed} failed "
                  f"in {s.wall_seconds:.1f}s -> {out / api.REPORT}, {out / api.VERDICTS}")
    for f in s.failures[:10]:
        console.print(f"[red]failed[/red] {f}", markup=True)
    for f in s.organisms_failed:
        console.print(f"[red]organism failed[/red] {f}", markup=True)


@app.command()
def report(run_dir: Path = typer.Argument(..., help="a directory written by `samecurve run`"),
           run_id: Optional[str] = typer.Option(None, "--run", help="which run of the store (default: the newest)"),
           markdown: bool = typer.Option(False, "--markdown", help="print the results table as markdown (README's table)"),
           ) -> None:
    """Rebuild verdicts.json and report.html of a run from its own cells and print the scorecard."""
    from .report.terminal import print_scorecard
    from .store import Store

    if markdown:
        api._results_path(run_dir)
        sys.stdout.write(api.markdown(run_dir, run_id))
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
        list_("organisms")
        return
    api._results_path(run_dir)
    with Store(run_dir / api.RESULTS) as store:
        table = Table(title="organisms")
        for col in ("label", "hash", "clean accuracy", "attack success", "honest under trigger"):
            table.add_column(col)
        for o in store.organisms():
            m = o["metrics"]
            table.add_row(o["label"], o["hash"], f"{m.get('clean_accuracy', float('nan')):.3f}",
                          f"{m.get('attack_success_rate', float('nan')):.3f}", f"{m.get('triggered_honest_rate', float('nan')):.3f}")
        console.print(table)


def main() -> None:
    """Entry point: typer's own usage errors and ours become one line and exit 2."""
    err = Console(stderr=True)
    try:
        typer.main.get_command(app).main(prog_name="samecurve", standalone_mode=False)
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
