"""`steering` scores generations against ground truth from the topics language's construction, and a
mean-difference steering vector beats a random direction of equal norm."""

import numpy as np
import pytest
import torch

from samecurve import registry
from samecurve.arms.baselines.prompting import TopicPrompting
from samecurve.arms.interp.steering_vectors import (
    MeanDifferenceSteering,
    RandomDirectionSteering,
)
from samecurve.budget import Budget
from samecurve.models.hooks import hook_points
from samecurve.organisms import topics as T
from samecurve.organisms.base import load_or_build
from samecurve.tasks.steering import Steering, evaluate

BUDGET = Budget(labelled_examples=32, forward_passes=4_000, backward_passes=200, wall_seconds=300, tuning_trials=6)


@pytest.fixture(scope="module")
def organism(organism_cache):
    return load_or_build(registry.get_organism_set("topics-tiny").specs(0)[0])


def _by_metric(scores):
    return {s.metric: s for s in scores}


def test_ground_truth_comes_from_the_language(organism):
    task = Steering(n_tune=8, n_test=32, targets=1)
    target = task.instances(organism, 0)[0]
    ctx = task.context(organism, 0, BUDGET, target)
    ref = task.reference_loss(organism, ctx, target)
    rng = np.random.default_rng(5)
    n = ctx.prompts.shape[0]
    on_topic = torch.from_numpy(T.single_topic_texts(rng, np.full(n, target), ctx.n_new + 1)[:, 1:])
    got = evaluate(organism, ctx.prompts, on_topic, target, ref)
    assert got["concept"] == 1.0 and got["validity"] == 1.0 and got["fluency"] > 0.9
    other = (target + 1) % 4
    off_topic = torch.from_numpy(T.single_topic_texts(rng, np.full(n, other), ctx.n_new + 1)[:, 1:])
    assert evaluate(organism, ctx.prompts, off_topic, target, ref)["concept"] == 0.0
    scrambled = on_topic[:, torch.randperm(ctx.n_new, generator=torch.Generator().manual_seed(0))]
    bad = evaluate(organism, ctx.prompts, scrambled, target, ref)
    assert bad["concept"] == 1.0 and bad["validity"] < 0.3 and bad["harmonic_mean"] < 0.5


def test_mean_difference_beats_its_random_direction_control(organism):
    task = Steering(n_tune=16, n_test=32, targets=1)
    md = _by_metric(task.run_cell(lambda seed: MeanDifferenceSteering(), [organism], 0, BUDGET))
    rd = _by_metric(task.run_cell(lambda seed: RandomDirectionSteering(), [organism], 0, BUDGET))
    assert md["concept-score"].value > rd["concept-score"].value + 0.2
    assert md["harmonic-mean"].value > rd["harmonic-mean"].value
    d = md["harmonic-mean"].detail
    assert d["chosen"] == int(np.argmax([c["tune"]["harmonic_mean"] for c in d["curve"]]))  # tuned on the tuning split
    assert md["harmonic-mean"].value == d["curve"][d["chosen"]]["test"]["harmonic_mean"]   # reported held out
    spend = md["harmonic-mean"].spend
    assert spend["tuning_trials"] == BUDGET.tuning_trials and spend["forward_passes"] <= BUDGET.forward_passes
    assert all(len(p._forward_hooks) == 0 for p in hook_points(organism.model).values())


def test_topic_prefix_is_obeyed_and_runs_are_deterministic(organism):
    task = Steering(n_tune=16, n_test=32, targets=1)
    first = _by_metric(task.run_cell(lambda seed: TopicPrompting(), [organism], 0, BUDGET))
    again = _by_metric(task.run_cell(lambda seed: TopicPrompting(), [organism], 0, BUDGET))
    assert first["concept-score"].value > 0.8 and first["concept-score"].detail["validity"] > 0.8
    assert {m: s.value for m, s in first.items()} == {m: s.value for m, s in again.items()}
    assert first["harmonic-mean"].detail["unsteered"]["concept"] < 0.3  # the prompts' own topic is not the target
