"""The batched generation of the steering arms is a pure speed-up: every setting's text equals what
one `ctx.sample` per setting gives, and the meter charges the same forward passes and trials."""

import pytest
import torch

from samecurve import registry
from samecurve.arms.baselines.prompting import TopicPrompting, sample_with_markers
from samecurve.arms.interp.steering_vectors import MeanDifferenceSteering
from samecurve.budget import Budget, Meter, MeteredModel
from samecurve.organisms.base import load_or_build
from samecurve.protocols.steering import steered_logits
from samecurve.tasks.steering import Steering

BUDGET = Budget(labelled_examples=32, forward_passes=4_000, backward_passes=200, wall_seconds=300, tuning_trials=6)


@pytest.fixture(scope="module")
def organism(organism_cache):
    return load_or_build(registry.get_organism_set("topics-tiny").specs(0)[0])


def _setup(organism, access):
    task = Steering(n_tune=8, n_test=16, targets=1)
    target = task.instances(organism, 0)[0]
    ctx = task.context(organism, 0, BUDGET, target)
    return ctx, target, MeteredModel(organism.model, Meter(BUDGET), access)


def test_vector_settings_equal_one_sample_per_setting(organism):
    ctx, target, model = _setup(organism, "white-box")
    arm = MeanDifferenceSteering()
    settings = arm.steer(model, ctx, target)
    assert len(settings) == BUDGET.tuning_trials
    assert model.meter.spend.forward_passes == len(ctx.labelled) + len(settings) * ctx.generation_cost
    assert model.meter.spend.tuning_trials == len(settings)
    ref_model = MeteredModel(organism.model, Meter(BUDGET), "white-box")
    for s in settings:
        alone = ctx.sample(steered_logits(ref_model, s.curve, s.strength * arm.vectors_[s.curve]))
        assert torch.equal(alone, s.generations), (s.curve, s.strength)


def test_prompting_settings_equal_one_sample_per_setting(organism):
    ctx, target, model = _setup(organism, "black-box")
    settings = TopicPrompting().steer(model, ctx, target)
    assert [s.strength for s in settings] == [1.0, 2.0]
    assert model.meter.spend.forward_passes == 2 * ctx.generation_cost and model.meter.spend.tuning_trials == 2
    marker = ctx.language.marker(target)
    prompts = torch.cat([ctx.prompts, torch.full((ctx.prompts.shape[0], 1), marker, dtype=ctx.prompts.dtype)], 1)
    ref_model = MeteredModel(organism.model, Meter(BUDGET), "black-box")
    assert torch.equal(settings[0].generations, ctx.sample(ref_model.logits, prompts))
    assert torch.equal(settings[1].generations, sample_with_markers(ref_model, ctx, prompts, marker))
