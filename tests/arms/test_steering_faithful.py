"""ActAdd as published (Turner et al. 2023) steers a minimal prompt pair on a topics organism: the
front-aligned `BOS <topic:k>` - `BOS .` difference, added at the prompt's positions only, moves the
continuation to topic k far more than a random direction of the same per-position norm does, and the
position-restricted hook leaves every position after the prompt unsteered."""

import numpy as np
import pytest
import torch

from samecurve import registry
from samecurve.arms.interp.steering_vectors import ActAddSteering, _add_at_front, _prompt_add, prompt_steered_logits
from samecurve.budget import Budget, Meter, MeteredModel
from samecurve.organisms import topics as T
from samecurve.organisms.base import load_or_build
from samecurve.tasks.steering import Steering

BUDGET = Budget(labelled_examples=32, forward_passes=6_000, backward_passes=0, wall_seconds=300, tuning_trials=8)


@pytest.fixture(scope="module")
def organism(organism_cache):
    return load_or_build(registry.get_organism_set("topics-tiny").specs(0)[0])


def test_prompt_injection_touches_prompt_positions_only():
    g = torch.Generator().manual_seed(0)
    act = torch.randn(3, 11, 16, generator=g)          # a prompt of 8 plus 3 generated tokens
    pair = torch.randn(2, 16, generator=g)
    out = _add_at_front(_prompt_add(pair, 8)[None])(act, "hook")
    assert torch.allclose(out[:, :2] - act[:, :2], pair.expand(3, -1, -1))
    assert torch.equal(out[:, 2:], act[:, 2:])         # later prompt positions and generated tokens: unsteered
    one = torch.randn(16, generator=g)
    out = _add_at_front(_prompt_add(one, 8)[None])(act, "hook")
    assert torch.allclose(out[:, :8] - act[:, :8], one.expand(3, 8, -1)) and torch.equal(out[:, 8:], act[:, 8:])


def test_actadd_minimal_pair_steers_its_topic(organism):
    task = Steering(n_tune=16, n_test=32, targets=2)
    for target in task.instances(organism, 0):
        ctx = task.context(organism, 0, BUDGET, target)
        model = MeteredModel(organism.model, Meter(BUDGET), "white-box")
        arm = ActAddSteering(coef_range=(4.0, 4.0), layers=(0,))
        hook = "blocks.0.hook_resid_pre"
        settings = arm.steer(model, ctx, target)
        steered = T.topic_counts(torch.cat([s.generations for s in settings]).numpy())
        pair = arm.vectors_[hook]
        assert pair[0].abs().max() == 0 and pair[1].norm() > 0  # BOS cancels; the marker position carries it
        g = torch.Generator().manual_seed(target)
        rand = torch.randn(pair.shape, generator=g)
        rand = rand / rand.norm(dim=-1, keepdim=True).clamp(min=1e-8) * pair.norm(dim=-1, keepdim=True)
        ref = MeteredModel(organism.model, Meter(BUDGET), "white-box")
        control = T.topic_counts(ctx.sample(prompt_steered_logits(ref, hook, 4.0 * rand, ctx.prompts.shape[1])).numpy())
        plain = T.topic_counts(ctx.sample(organism.model).numpy())
        share = lambda c: c[:, target].sum() / max(c.sum(), 1)  # noqa: E731
        assert share(steered) > share(plain) + 0.3, (target, share(steered), share(plain))
        assert share(steered) > share(control) + 0.3, (target, share(steered), share(control))
