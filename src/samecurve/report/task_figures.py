"""Figures a task ships beyond the generic ones (training curves with the jump marked, Pareto fronts,
strength sweeps...).

A task `foo-bar` may ship `report/fig_foo_bar.py` with `figures(rows) -> list[dict]`, each dict
holding `title` (the section heading: name the task in it), `note` and `svg` (an inline SVG string made with `plots.to_svg`). `rows` are that
task's score rows from the store (`Store.score_rows()`: task, metric, arm, family, seed, instance,
value, spend, detail); a figure is drawn from what the arms recorded in `detail`, never re-run. A
module that sets `WANTS_ITEMS = True` also gets each row's per-item evidence as `row["items"]`
(`Store.items`: the arrays the score was computed from), attached by `attach_items`.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from typing import Any, Callable


def task_figures(rows: list[dict]) -> list[dict]:
    """All per-task figures for the tasks present in `rows`, in task order."""
    return [f for task, task_rows in rows_by_task(rows) for f in figures_of(task, task_rows)]


def rows_by_task(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    """(task, its rows) in task order: the units `figures_of` draws, one call each."""
    by_task: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_task[r["task"]].append(r)
    return sorted(by_task.items())


def _module(task: str) -> Any:
    """The task's `fig_<task>` module, or None if it ships none."""
    module_name = f"{__package__}.fig_{task.replace('-', '_')}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:  # the module exists but something it imports does not
            raise
        return None


def figures_of(task: str, rows: list[dict]) -> list[dict]:
    """One task's own figures (none if it ships no `fig_<task>` module)."""
    mod = _module(task)
    return [] if mod is None else [{"task": task, **f} for f in mod.figures(rows)]


def attach_items(items_of: Callable[[dict], dict], rows: list[dict]) -> None:
    """Give the rows of every task whose figure module wants them their per-item evidence
    (`items_of(row)`, e.g. from `Store.items`), in place; other tasks' rows are left alone (a
    quick run's items are megabytes, read only where a figure draws them)."""
    wanted = {task for task, _ in rows_by_task(rows) if getattr(_module(task), "WANTS_ITEMS", False)}
    for r in rows:
        if r["task"] in wanted and "items" not in r:
            r["items"] = items_of(r)
