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


class LongSweep:
    """Ten 'edits' (the unchanged organism, strengths 1..10) that note how many points the context
    said would count."""

    access = "white-box"

    def edit_sweep(self, model, ctx):
        self.told = ctx.sweep_points
        return [(float(k), model.copy_model()) for k in range(1, 11)]


def test_every_sweep_counts_with_the_same_number_of_points(smoke_population, smoke_budget):
    """A front through more points is higher by construction: a 10-point sweep is scored on 6,
    evenly spaced from the weakest to the strongest edit, and the context says 6 beforehand."""
    from samecurve.protocols.removal import thin_sweep

    assert thin_sweep(list(range(7)), 6) == [0, 1, 2, 4, 5, 6]
    assert thin_sweep(list(range(10)), 6) == [0, 2, 4, 5, 7, 9]
    assert thin_sweep(list(range(4)), 6) == [0, 1, 2, 3] and thin_sweep(list(range(4)), 1) == [3]
    arm = LongSweep()
    org = next(o for o in smoke_population if o.spec.planted)
    scores = BehaviorRemoval(n_eval=50, relearn_steps=0).score_organism(arm, org, 0, smoke_budget)
    detail = next(s.detail for s in scores if s.metric == "pareto-auc")
    assert arm.told == 6 and detail["n_sweep_returned"] == 10
    assert detail["strengths"] == [1.0, 3.0, 5.0, 6.0, 8.0, 10.0]
