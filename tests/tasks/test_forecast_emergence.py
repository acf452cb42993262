"""forecast-emergence: lead time and AUROC are computed against the organisms' behavioural jump,
arms are causal (a checkpoint's score never depends on later checkpoints), spend is charged."""

import numpy as np
import pytest

from samecurve import registry
from samecurve.budget import Budget, Meter, MeteredModel
from samecurve.organisms.base import load_or_build
from samecurve.tasks.forecast_emergence import (
    ForecastEmergence,
    alarm_lead,
    arm_kinds,
    false_alarm_threshold,
    next_k_labels,
)
from tests.organisms.test_emergence import small_specs

BUDGET = Budget(labelled_examples=32, forward_passes=4_000, backward_passes=0, wall_seconds=300, tuning_trials=4)
FORECASTERS = ("induction-score", "fourier-sparsity", "restricted-loss", "excluded-loss", "weight-norm",
               "in-context-loss", "targeted-eval", "loss-trend", "train-loss-trend", "random-head")
SHUFFLED = ("induction-score-shuffled-order", "fourier-sparsity-shuffled-order", "restricted-loss-shuffled-order",
            "excluded-loss-shuffled-order", "weight-norm-shuffled-order")


@pytest.fixture(scope="module")
def runs(organism_cache):
    return [load_or_build(s) for s in small_specs()]


def test_lead_time_and_labels_by_hand():
    steps = [0, 10, 20, 30, 40, 50]
    s = np.array([0.0, 0.1, 0.5, 0.9, 1.0, 1.0])
    assert alarm_lead(s, steps, jump_index=4, threshold=0.4) == (20.0, 2)    # alarmed two checkpoints early
    assert alarm_lead(s, steps, jump_index=2, threshold=0.95) == (-20.0, 4)  # alarmed after the jump
    assert alarm_lead(s, steps, jump_index=2, threshold=2.0) == (-40.0, None)  # never: as if one past the end
    # false alarms: every no-jump checkpoint, and jump-run checkpoints more than `horizon` before the jump
    thr = false_alarm_threshold([np.array([0.3, 0.2]), np.array([0.9, 0.1, 0.5, 0.8])], [None, 3], horizon=2)
    assert thr == 0.9
    idx, lab = next_k_labels(6, 4, 2)
    assert idx.tolist() == [0, 1, 2, 3] and lab.tolist() == [0, 0, 1, 1]
    idx, lab = next_k_labels(3, None, 2)
    assert idx.tolist() == [0, 1, 2] and lab.tolist() == [0, 0, 0]


def _scores(arm, org, n=None, seed=0):
    task = ForecastEmergence()
    ckpt_models = list(org.model.ckpts)[:n]
    meter = Meter(BUDGET)
    ckpts = [MeteredModel(m, meter, arm.access) for m in ckpt_models]
    ctx, _ = task.context(org, seed, 0, BUDGET)
    ctx.steps, ctx.train_loss = ctx.steps[: len(ckpts)], ctx.train_loss[: len(ckpts)]
    return np.asarray(arm.score_checkpoints(ckpts, ctx), float), meter


@pytest.mark.parametrize("name", FORECASTERS)
def test_forecasters_are_causal_and_charged(name, runs):
    """(Shape, determinism and budget: tests/arms/test_conformance.py.)"""
    arm_cls = registry.get_arm(name)
    for org in runs:
        if org.spec.kind not in arm_kinds(arm_cls()):
            continue
        full, meter = _scores(arm_cls(), org)
        for cut in (3, len(full) // 2):
            np.testing.assert_allclose(_scores(arm_cls(), org, cut)[0], full[:cut], atol=1e-9)
        reads_log_only = name == "train-loss-trend"   # the run's own loss log: no pass over a checkpoint
        if not reads_log_only and (arm_cls.access == "black-box" or name in ("induction-score", "random-head", "restricted-loss")):
            assert meter.spend.forward_passes > 0    # every checkpoint read went through the meter
        if reads_log_only:
            assert meter.spend.forward_passes == 0


def test_shuffled_controls_keep_values_and_lose_order(runs):
    org = next(o for o in runs if o.spec.kind == "induction" and o.metrics["jumped"])
    base = _scores(registry.get_arm("induction-score")(), org)[0]
    shuf = _scores(registry.get_arm("induction-score-shuffled-order")(), org)[0]
    np.testing.assert_allclose(np.sort(base), np.sort(shuf))
    assert not np.allclose(base, shuf)
    assert set(SHUFFLED) <= set(registry.arms())


def test_task_scores_against_the_behavioural_jump(runs):
    task = ForecastEmergence(k=3, horizon=6)
    scores = task.run_cell(lambda seed: registry.get_arm("induction-score")(), runs, 0, BUDGET)
    by = {(s.metric, s.instance): s for s in scores}
    assert {m for m, _ in by} == {"lead-time-induction", "auroc-next-k-induction"}   # an attention score: induction only
    jump_run = next(o for o in runs if o.spec.kind == "induction" and o.metrics["jumped"])
    lead = by[("lead-time-induction", jump_run.label)]
    assert lead.detail["jump_step"] == jump_run.metrics["jump_step"]            # ground truth from the organism
    assert lead.value <= task.horizon * (jump_run.metrics["steps"][1] - jump_run.metrics["steps"][0])
    au = by[("auroc-next-k-induction", jump_run.label)]  # one AUROC per jump run, the run is the unit
    assert au.value >= 0.8, au.value          # the induction-head score does see the phase change coming
    assert {i for m, i in by if m == "auroc-next-k-induction"} <= {i for m, i in by if m == "lead-time-induction"}
    for s in scores:
        assert 0 < s.spend["forward_passes"] <= BUDGET.forward_passes


def test_grokking_baseline_is_charged_for_its_labels(runs):
    task = ForecastEmergence()
    scores = task.run_cell(lambda seed: registry.get_arm("targeted-eval")(), runs, 0, BUDGET)
    metrics = {s.metric for s in scores}
    assert {"lead-time-grokking", "auroc-next-k-grokking", "lead-time-induction"} <= metrics
    grok = [s for s in scores if s.metric == "lead-time-grokking"]
    assert grok and all(s.spend["labelled_examples"] == BUDGET.labelled_examples for s in grok)
