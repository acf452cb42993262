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


def test_figure_modules_that_want_items_get_them_and_no_other_task_does() -> None:
    rows = [{"task": "latent-knowledge", "metric": "truth-auroc", "cell_key": "a", "instance": "q/s0"},
            {"task": "steering", "metric": "harmonic-mean", "cell_key": "b", "instance": "t/s0"}]
    asked: list[str] = []
    TF.attach_items(lambda r: asked.append(r["cell_key"]) or {"labels": [1]}, rows)
    assert asked == ["a"] and rows[0]["items"] == {"labels": [1]} and "items" not in rows[1]


def test_latent_knowledge_halves_come_from_the_items() -> None:
    """Asking as Alice: right on the easy half, wrong on the hard half; the figure reads that off
    the stored evidence, and draws nothing for runs stored before the split was kept."""
    import numpy as np

    from samecurve.report import fig_latent_knowledge as LK

    y = np.array([1, 0] * 20)
    hard = np.repeat([False, True], 20)
    alice = np.where(hard, 1 - y, y).astype(float)  # her word: the truth on easy, its negation on hard
    row = {"task": "latent-knowledge", "metric": "truth-auroc", "arm": "ask-honest-persona", "family": "baseline",
           "items": {"labels": y, "scores": alice, "hard": hard}}
    got = LK.split_aurocs([row])
    assert got["ask-honest-persona"]["easy"] == [1.0] and got["ask-honest-persona"]["hard"] == [0.0]
    figs = LK.figures([row])
    assert len(figs) == 1 and figs[0]["svg"].startswith("<svg")
    assert LK.figures([{**row, "items": {"labels": y, "scores": alice}}]) == []
