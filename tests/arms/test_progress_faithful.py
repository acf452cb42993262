"""Nanda et al.'s excluded loss as the paper has it (issue 14): the key-frequency terms are fitted
on logits over the input grid, so a memoriser (no generalising circuit) shows no excluded-loss
rise, while fitting them on the train inputs alone, where a memoriser's logits peak at the right
answer and project onto every frequency, makes it look like one."""

import numpy as np
import pytest

from samecurve import registry
from samecurve.budget import Budget, Meter, MeteredModel
from samecurve.organisms.base import load_or_build
from samecurve.tasks.forecast_emergence import ForecastEmergence
from tests.organisms.test_emergence import small_specs

BUDGET = Budget(labelled_examples=32, forward_passes=12_000, backward_passes=0, wall_seconds=300, tuning_trials=4)


@pytest.fixture(scope="module")
def grokking_runs(organism_cache):
    return {s.recipe: load_or_build(s) for s in small_specs() if s.kind == "grokking" and not s.calibration}


def _excluded(org, grid_pairs):
    arm = registry.get_arm("excluded-loss")(grid_pairs=grid_pairs)
    meter = Meter(BUDGET)
    ctx, _ = ForecastEmergence().context(org, 0, 0, BUDGET)
    scores = np.asarray(arm.score_checkpoints([MeteredModel(m, meter, arm.access) for m in org.model.ckpts], ctx))
    return scores, meter.spend.forward_passes


def test_excluded_loss_tells_a_memoriser_from_a_generalising_run(grokking_runs):
    memoriser, grokker = grokking_runs["frac0.3"], grokking_runs["lr1e-2-frac0.6"]
    assert memoriser.metrics["jump_index"] is None and grokker.metrics["jump_index"] is not None
    grid_mem, spent = _excluded(memoriser, 300)
    train_mem, _ = _excluded(memoriser, 0)          # too few grid pairs: the train sample carries the fit
    assert spent == len(memoriser.model.ckpts) * (300 + 48)   # grid and train sample, every checkpoint, charged
    assert grid_mem[2:].max() < 0.15                # no generalising circuit: no excluded-loss rise
    # the train-only fit makes the memoriser look like one (measured: 0.22 against the grid fit's 0.04;
    # the grokking run's grid fit reaches 0.28 at its jump)
    assert train_mem[1:].max() > max(0.15, 4 * grid_mem[1:].max())
    grid_grok, _ = _excluded(grokker, 300)
    assert grid_grok[grokker.metrics["jump_index"]] > 2 * grid_mem[2:].max()
