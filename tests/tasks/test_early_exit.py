"""early-exit: the cost and threshold rules on plans whose answer is known by hand, and the arms
on a built layered organism (interp arms beat their random control; stages read only their layers;
the data-only table hardly leaves early on copied tokens)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from samecurve import registry
from samecurve.budget import Budget, Meter, MeteredModel
from samecurve.organisms.base import load_or_build
from samecurve.protocols.exiting import (ExitContext, ExitPlan, ExitTrace, Stage, choose_threshold, exits,
                                         validate_plan)
from samecurve.protocols.organisms import layered
from samecurve.seeding import seed_everything
from samecurve.tasks.early_exit import EarlyExit

BUDGET = Budget(labelled_examples=0, forward_passes=8_000, backward_passes=0, wall_seconds=300, tuning_trials=4)


def _ctx() -> ExitContext:
    return ExitContext(None, torch.zeros(1, 4, dtype=torch.long), 4, 8, 10, [], [10.0] * 4, 2.0, 0,
                       np.random.default_rng(0))


def test_threshold_keeps_agreement_and_costs_are_the_stages():
    ctx, n = _ctx(), 200
    full = np.arange(n) % 10
    sure = np.arange(n) < n // 2
    # one stage after one block (+2 FLOPs of checks): right and sure on the first half, wrong and unsure after
    pred = np.where(sure, full, (full + 1) % 10)
    plan = ExitPlan([Stage(1, 2.0, sure.astype(float), pred)], overhead_flops=2.0)
    tau = choose_threshold(plan, ctx, full, 0.99)
    leave, cost, agree = exits(plan, ctx, full, tau)
    assert agree.all() and (leave == np.where(sure, 0, 1)).all()
    # the sure half costs a block and the check (12 of 42), the rest the full model and the check
    assert cost.mean() == pytest.approx(0.5 * 12 / 42 + 0.5 * 44 / 42)
    # answers that are sure and wrong: no threshold keeps 99%, so the arm is off and saves exactly 0
    bad = ExitPlan([Stage(1, 2.0, np.ones(n), (full + 1) % 10)], overhead_flops=2.0)
    tau = choose_threshold(bad, ctx, full, 0.99)
    assert tau == float("inf") and exits(bad, ctx, full, tau)[1].mean() == 1.0


def test_validate_plan_refuses_falling_costs_and_bad_tokens():
    n = 5
    ok = Stage(0, 1.0, np.zeros(n), np.zeros(n, int))
    validate_plan("arm", ExitPlan([ok, Stage(1, 2.0, np.zeros(n), np.zeros(n, int))], 2.0), n, 4, 10)
    with pytest.raises(Exception, match="plan"):
        validate_plan("arm", ExitPlan([ok, Stage(1, 0.5, np.zeros(n), np.zeros(n, int))], 2.0), n, 4, 10)
    with pytest.raises(Exception, match="token ids"):
        validate_plan("arm", ExitPlan([Stage(0, 1.0, np.zeros(n), np.full(n, 10))], 1.0), n, 4, 10)


@pytest.fixture(scope="module")
def organism():
    return layered(load_or_build(registry.get_organism_set("layered-tiny").specs(0)[0]))


def _scores(arm_name: str, lm) -> dict:
    seed_everything(0)
    arm = registry.arms()[arm_name]()
    return {s.metric: s for s in EarlyExit(n_select=128, n_test=256).score_organism(arm, lm, 0, BUDGET)}


def test_interp_arms_beat_random_exit_and_the_data_table_cannot_copy(organism):
    rand = _scores("random-exit", organism)
    for name in ("logit-lens-exit", "tuned-lens-exit"):
        got = _scores(name, organism)
        for metric in ("saved@99%", "saved@95%"):
            assert got[metric].value > rand[metric].value + 0.2, (name, metric, got[metric].value, rand[metric].value)
            assert got[metric].detail["test_agreement"] >= float(metric[6:8]) / 100 - 0.03
    off = rand["saved@99%"]
    assert off.value == 0.0 and off.detail["threshold"] is None, "random exits keep no 99% threshold: switched off"
    json.dumps(off.detail, allow_nan=False)   # details are plain JSON (no Infinity)
    table = _scores("data-bigram-exit", organism)["saved@99%"]
    # the bigram table leaves at no cost on easy tokens and (nearly) never on copied ones: a copied
    # token is random to it (a rare current token seen once or twice can still pass the threshold)
    assert table.detail["by_kind"]["kind1"]["saved"] > 0.9
    assert table.detail["by_kind"]["kind2"]["saved"] < 0.05


@pytest.mark.parametrize("arm_name", ["logit-lens-exit", "tuned-lens-exit", "calm-exit-classifier", "hidden-saturation-exit"])
def test_a_stage_reads_no_later_layer(organism, arm_name):
    task = EarlyExit(n_select=16, n_test=32)
    ctx = task.context(organism, 0, BUDGET)
    trace, full, _ = task.split(organism, 0, 2, 32)
    seed_everything(0)
    arm = registry.arms()[arm_name]()
    model = MeteredModel(organism.model, Meter(BUDGET), arm.access)
    arm.fit(model, ctx)
    before = arm.plan(model, ctx, trace)
    for stage in before.stages:
        noisy = [r if l <= stage.layer else r + 10 * torch.randn_like(r) for l, r in enumerate(trace.resid)]
        after = arm.plan(model, ctx, ExitTrace(trace.tokens, trace.rows, trace.cols, noisy))
        twin = next(s for s in after.stages if s.layer == stage.layer)
        np.testing.assert_allclose(twin.confidence, stage.confidence)
        np.testing.assert_array_equal(twin.prediction, stage.prediction)
