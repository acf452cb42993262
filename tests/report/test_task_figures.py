"""Per-task figure modules are found by name, fed only their task's rows, and skipped when absent."""

from __future__ import annotations

import sys
import types

import pytest

from samecurve.report import task_figures as TF


def test_a_task_module_gets_only_its_rows_and_missing_modules_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[dict]] = []
    mod = types.ModuleType("samecurve.report.fig_toy_task")
    mod.figures = lambda rows: seen.append(rows) or [{"title": "toy curve", "note": "", "svg": "<svg/>"}]
    monkeypatch.setitem(sys.modules, "samecurve.report.fig_toy_task", mod)
    rows = [{"task": "toy-task", "value": 1.0}, {"task": "task-without-figures", "value": 0.0}]
    out = TF.task_figures(rows)
    assert out == [{"task": "toy-task", "title": "toy curve", "note": "", "svg": "<svg/>"}]
    assert seen == [[rows[0]]]
