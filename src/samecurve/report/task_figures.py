"""Figures a task ships beyond the generic ones (training curves with the jump marked, Pareto fronts,
strength sweeps...).

A task `foo-bar` may ship `report/fig_foo_bar.py` with `figures(rows) -> list[dict]`, each dict
holding `title` (the section heading: name the task in it), `note` and `svg` (an inline SVG string made with `plots.to_svg`). `rows` are that
task's score rows from the store (`Store.score_rows()`: task, metric, arm, family, seed, instance,
value, spend, detail); a figure is drawn from what the arms recorded in `detail`, never re-run.
"""

from __future__ import annotations

import importlib
from collections import defaultdict


def task_figures(rows: list[dict]) -> list[dict]:
    """All per-task figures for the tasks present in `rows`, in task order."""
    return [f for task, task_rows in rows_by_task(rows) for f in figures_of(task, task_rows)]


def rows_by_task(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    """(task, its rows) in task order: the units `figures_of` draws, one call each."""
    by_task: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_task[r["task"]].append(r)
    return sorted(by_task.items())


def figures_of(task: str, rows: list[dict]) -> list[dict]:
    """One task's own figures (none if it ships no `fig_<task>` module)."""
    module_name = f"{__package__}.fig_{task.replace('-', '_')}"
    try:
        mod = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:  # the module exists but something it imports does not
            raise
        return []
    return [{"task": task, **f} for f in mod.figures(rows)]
