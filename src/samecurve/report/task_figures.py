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
    by_task: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_task[r["task"]].append(r)
    out = []
    for task in sorted(by_task):
        module_name = f"{__package__}.fig_{task.replace('-', '_')}"
        try:
            mod = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # the module exists but something it imports does not
                raise
            continue
        out += [{"task": task, **f} for f in mod.figures(by_task[task])]
    return out
