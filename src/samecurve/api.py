"""The notebook face of samecurve; the CLI is a thin layer over these functions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import registry, verdict as _verdict
from .runner import RunSummary
from .runner import run as _run
from .store import OVER_BUDGET, Store
from .errors import ConfigError
from .ladder import describe

RESULTS, REPORT, VERDICTS = "results.sqlite", "report.html", "verdicts.json"


@dataclass
class RunResult:
    out: Path
    summary: RunSummary
    verdicts: list[dict]


def run(suite: str = "quick", out: str | Path = "runs/quick", *, tasks: list[str] | None = None,
        arms: list[str] | None = None, seeds: list[int] | None = None, extra_arms: list[str] | None = None,
        executor: str = "inline", jobs: int = 1, progress: Callable[[str, int, int], None] | None = None,
        report: bool = True, add_controls: bool = True, organisms: str | None = None,
        ladder: tuple[float, ...] | None = None, ladder_axes: tuple[str, ...] | None = None) -> RunResult:
    """Run (or resume) a suite into `out`, then write verdicts.json and report.html there.

    `arms` restricts the run to those arms (registered names or `module:Class`, built-in or plug-in
    alike); `extra_arms` join the suite's own arms. Either way an arm runs on the tasks that score a
    protocol it implements. `add_controls=True` (the default; what `samecurve run` does) adds each arm's declared
    controls where they are missing; without it the arms run exactly as listed. A row with no
    control scored (none in the run, or none with a unit on that metric) says `no control scored`.
    `summary.notes` says what was added and which arm runs nowhere.
    `organisms` (a registered organism set or `module:function`, `seed -> list of specs`) replaces
    the organism set of the `tasks` chosen (README, "Add your own organism"). `ladder` (factors of
    the suite's budget, 1.0 among them) and `ladder_axes` (the budget fields they scale) put every
    entry the run selects on that budget ladder (README, "Budget ladders")."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with Store(out / RESULTS) as store:
        summary = _run(store, suite, tasks=tasks, arms=arms, seeds=seeds, extra_arms=extra_arms,
                       executor=executor, jobs=jobs, progress=progress, add_controls=add_controls,
                       organisms=organisms, ladder=ladder, ladder_axes=ladder_axes)
    vs = write_outputs(out, summary.run_id) if report else []
    return RunResult(out, summary, vs)


def load_results(out: str | Path, run_id: str | None = None) -> list[dict]:
    """Every score row of one run (default: the newest) of a run directory or results.sqlite path."""
    with Store(_results_path(out)) as store:
        return store.score_rows(run_id)


def load_items(out: str | Path, row: dict) -> dict:
    """The per-item arrays behind one score row of `load_results` (see evidence.py)."""
    with Store(_results_path(out)) as store:
        return store.items(row["cell_key"], row["metric"], row["instance"])


def failed_cells(out: str | Path, run_id: str | None = None) -> list[dict]:
    """The failed cells of one run (default: the newest): task, arm (registered name), seed, the
    error's first line and the full traceback (the store's `cells.error`)."""
    from .report.terminal import failed_cells as _failed

    with Store(_results_path(out)) as store:
        return _failed(store, run_id)


def _compute(store: Store, run_id: str | None) -> tuple[list[dict], list[dict], list[dict]]:
    """(verdicts, failed cells, over-budget cells) of one run."""
    from .report.terminal import failed_cells as _failed

    failed, over = _failed(store, run_id), _failed(store, run_id, OVER_BUDGET)
    run = store.run(run_id)
    headline = (run or {}).get("config", {}).get("budget")  # the suite's budget: a ladder's headline rung
    return _verdict.compute(store.score_rows(run_id), store.tasks(), failed=failed + over,
                            headline_budget=headline), failed, over


def verdicts(out: str | Path, run_id: str | None = None) -> list[dict]:
    """Verdicts of one run (default: the newest), from its own cells only."""
    with Store(_results_path(out)) as store:
        return _compute(store, run_id)[0]


def write_outputs(out: str | Path, run_id: str | None = None) -> list[dict]:
    """verdicts.json and report.html of one run (default: the newest), pure functions of the store."""
    from .report.html import write_html

    out = Path(out)
    path = _results_path(out)
    with Store(path) as store:
        vs, failed, over = _compute(store, run_id)
        run = store.run(run_id)
        doc = {"run": {k: run[k] for k in ("run_id", "suite", "created", "config")} if run else None,
               "fingerprint": run["fingerprint"] if run else {}, "verdicts": vs,
               "failed_cells": [{k: f[k] for k in ("task", "arm", "family", "seed", "organism_set", "error",
                                                   "cell_key", "traceback", "metrics")} for f in failed],
               # the method needed more than its budget gave: outcomes, not failures (no scores)
               "over_budget_cells": [{k: f[k] for k in ("task", "arm", "family", "seed", "organism_set", "budget",
                                                        "error", "cell_key")} for f in over]}
        (path.parent / VERDICTS).write_text(json.dumps(doc, indent=1, default=str))
        write_html(store, path.parent / REPORT, run_id=run_id, verdicts=vs)
    return vs


def markdown(out: str | Path, run_id: str | None = None) -> str:
    """The results table of one run as GitHub markdown, with its fingerprint (README's table)."""
    from .report.markdown import markdown_table

    with Store(_results_path(out)) as store:
        vs = _compute(store, run_id)[0]
        run = store.run(run_id)
        return markdown_table(vs, run["fingerprint"] if run else {}, run)


def _results_path(out: str | Path) -> Path:
    out = Path(out)
    path = out / RESULTS if out.is_dir() else out
    if not path.exists():
        raise ConfigError(f"no results at {path}: run `samecurve run --out {out}` first")
    return path


def list_names(kind: str, task: str | None = None) -> list[dict]:
    """Rows for `samecurve list KIND`; `task` (arms only) keeps the arms that task scores, with the
    protocol each serves there."""
    if task is not None and kind != "arms":
        raise ConfigError("--task filters `list arms` only")
    if kind == "tasks":
        return [{"name": n, "description": registry.task_description(t), "tois": ", ".join(t.tois),
                 "metrics": ", ".join(t.metrics)} for n, t in sorted(registry.tasks().items())]
    if kind == "arms":
        task_cls = registry.get_task(task) if task else None
        rows = []
        for n, a in sorted(registry.arms().items(), key=lambda kv: (registry.FAMILIES.index(kv[1].family), kv[0])):
            row = {"name": n, "family": a.family, "access": a.access, "controls": ", ".join(a.controls) or "—"}
            if task_cls is not None:
                served = registry.protocols_served(task_cls, a)
                if not served:
                    continue
                row["protocol"] = ", ".join(served)
            rows.append({**row, "description": registry.arm_description(a)})
        return rows
    if kind == "organisms":
        return [{"name": n, "family": o.family, "description": o.description} for n, o in sorted(registry.organism_sets().items())]
    if kind == "suites":
        out = []
        for n, s in sorted(registry.suites().items()):
            b = s.budget
            ladders = "; ".join(f"{e.task}: {describe(e)}" for e in s.entries if e.ladder)
            out.append({"name": n, "seeds": s.seeds_text(), "description": s.description,
                        "budget per job": f"{b.labelled_examples} labelled, {b.forward_passes:,} fwd, "
                                          f"{b.backward_passes:,} bwd, {b.wall_seconds:g} s, {b.tuning_trials} trials"
                                          + (f" (ladder: {ladders})" if ladders else "")})
        return out
    if kind == "tois":
        from .tois import rows

        return rows()
    raise ConfigError(f"unknown kind {kind!r}; valid: tasks, arms, organisms, suites, tois")
