"""The task scores edit sweeps against the organisms' construction: an edit that does nothing removes
nothing; relabelled fine-tuning removes the trigger; the curve read-outs are what they say."""

import numpy as np
import pytest

from samecurve.arms.baselines.finetune import FinetuneRelabelled
from samecurve.tasks.behavior_removal import BehaviorRemoval, Point, operating_point, pareto_auc


class Identity:
    """An 'edit' that returns the organism unchanged."""

    access = "white-box"

    def edit_sweep(self, model, ctx):
        return [(1.0, model.copy_model())]


def test_pareto_auc_and_operating_point():
    assert pareto_auc([Point(0, 1.0, 1.0)]) == 0.0
    assert pareto_auc([Point(0, 0.0, 1.0)]) == 1.0
    # removal 0.5 up to clean 0.8, then nothing: 0.4; plus removal 1.0 up to clean 0.2: +0.1
    assert pareto_auc([Point(1, 0.5, 0.8), Point(2, 0.0, 0.2)]) == pytest.approx(0.5)
    orig = Point(0, 1.0, 1.0)
    pts = [Point(1, 0.6, 0.97), Point(2, 0.1, 0.9)]
    assert operating_point(pts, orig, 0.95) == pts[0]
    assert operating_point([Point(2, 0.1, 0.5)], orig, 0.95) == orig


def test_identity_edit_removes_nothing(smoke_population, smoke_budget):
    scores = BehaviorRemoval(n_eval=100, relearn_steps=5).run_cell(lambda s: Identity(), smoke_population, 0, smoke_budget)
    by = {m: [s for s in scores if s.metric == m] for m in BehaviorRemoval.metrics}
    assert len(by["residual-asr"]) == 3  # trojans only: a clean twin has nothing to remove
    assert all(s.value > 0.9 for s in by["residual-asr"])
    assert all(s.value < 0.1 for s in by["pareto-auc"])
    assert all(s.spend["labelled_examples"] == smoke_budget.labelled_examples for s in scores)


def test_relabelled_finetune_removes_the_trigger(smoke_population, smoke_budget):
    scores = BehaviorRemoval(n_eval=100, relearn_steps=5).run_cell(lambda s: FinetuneRelabelled(), smoke_population, 0, smoke_budget)
    res = [s for s in scores if s.metric == "residual-asr"]
    assert np.mean([s.value for s in res]) < 0.2, [(s.instance, s.value) for s in res]
    # the operating point keeps clean accuracy on the tuning split, where it is chosen
    assert all(s.detail["op_tune_clean"] >= 0.95 * s.detail["original_tune_clean"] for s in res)
    for s in scores:
        assert s.spend["backward_passes"] <= smoke_budget.backward_passes


def test_figures_are_drawn_from_stored_detail_only():
    from samecurve.report.fig_behavior_removal import figures

    def row(arm, family, control, metric, value, asr):
        detail = {"strengths": [1.0, 2.0], "asr": asr, "clean": [1.0, 0.9], "original_asr": 1.0, "original_clean": 1.0}
        return {"task": "behavior-removal", "arm": arm, "family": family, "control": control, "metric": metric,
                "seed": 0, "instance": "rare-token/trojan/s0", "value": value,
                "detail": detail if metric == "residual-asr" else {}}

    rows = [row("attr", "interp", "rnd", m, v, [0.5, 0.1]) for m, v in (("residual-asr", 0.1), ("asr-after-relearning", 0.3))]
    rows += [row("rnd", "control", "", "residual-asr", 0.9, [1.0, 0.9])]
    figs = figures(rows)
    assert [f["title"].split(":")[0] for f in figs] == ["Behaviour removal"] * 3
    assert "attr vs its control rnd" in figs[2]["title"]
    assert all(f["svg"].startswith("<svg") for f in figs)
    assert figures([r for r in rows if r["metric"] != "residual-asr"]) == []
