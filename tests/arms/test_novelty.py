"""input-novelty, the data-only canary: it finds a trigger that a rejection-sampled clean set leaks,
never touches the model, and gives the same answer for the same seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from samecurve import registry
from samecurve.arms.baselines.novelty import InputNovelty
from samecurve.budget import Budget, Meter, MeteredModel
from samecurve.errors import AccessDenied
from samecurve.protocols.detection import Attacker, AuditContext, InputDetector, ModelDetector
from samecurve.tasks.backdoor_audit import BackdoorAudit
from samecurve.tasks.base import auroc

FILLER, CONTENT, VOCAB, TRIGGER = (3, 4, 5, 6), tuple(range(4, 70)), 70, 61


@dataclass(frozen=True)
class Lang:
    vocab_size: int = VOCAB
    prompt_len: int = 8
    filler_positions: tuple = FILLER
    content_tokens: tuple = CONTENT


def _prompts(rng: np.random.Generator, n: int, triggered: bool) -> np.ndarray:
    """Uniform filler; clean prompts by rejecting any that hold the trigger (the leaky design)."""
    p = np.zeros((n, 8), dtype=np.int64)
    p[:, 1:3] = rng.choice(CONTENT, size=(n, 2))
    p[:, 3:7] = rng.choice(CONTENT, size=(n, 4))
    hit = (p[:, 3:7] == TRIGGER).any(1)
    while (bad := hit if not triggered else ~hit).any():
        p[bad, 3:7] = rng.choice(CONTENT, size=(int(bad.sum()), 4))
        if triggered:  # plant it in one slot
            p[bad, 3 + rng.integers(4, size=int(bad.sum()))] = TRIGGER
        hit = (p[:, 3:7] == TRIGGER).any(1)
    return p


class Untouchable(torch.nn.Module):
    def forward(self, *a, **k):
        raise AssertionError("a data-only arm ran the model")


def _case(seed: int = 0):
    rng = np.random.default_rng(seed)
    clean = torch.from_numpy(_prompts(rng, 64, False))
    ctx = AuditContext(Lang(), clean, seed, np.random.default_rng([seed, 1]))
    pool = np.concatenate([_prompts(rng, 20, True), _prompts(rng, 380, False)])
    labels = np.r_[np.ones(20), np.zeros(380)]
    return ctx, torch.from_numpy(pool), labels


def test_it_finds_a_trigger_the_clean_set_never_shows_without_running_the_model():
    ctx, pool, labels = _case()
    assert (ctx.clean_inputs[:, list(FILLER)] != TRIGGER).all()
    meter = Meter(Budget())
    model = MeteredModel(Untouchable(), meter, InputNovelty.access)
    arm = InputNovelty()
    proposals = arm.propose_triggers(model, ctx)
    absent = set(CONTENT) - set(ctx.clean_inputs[:, list(FILLER)].flatten().tolist())
    assert proposals[0][0] in absent and (TRIGGER,) in proposals[: len(absent)]
    s = arm.score_inputs(model, ctx, pool)
    assert s.shape == (400,) and auroc(labels, s) > 0.95
    assert meter.spend.forward_passes == meter.spend.backward_passes == 0


def test_same_seed_same_answer_and_data_only_access_is_refused_by_the_model():
    runs = []
    for _ in range(2):
        ctx, pool, _ = _case(3)
        arm = InputNovelty()
        runs.append((arm.propose_triggers(None, ctx), arm.score_inputs(None, ctx, pool)))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    with pytest.raises(AccessDenied):
        MeteredModel(Untouchable(), Meter(Budget()), "data-only").logits(torch.zeros((1, 8), dtype=torch.long))


def test_it_is_registered_as_a_data_only_baseline_without_a_model_detector():
    cls = registry.get_arm("input-novelty")
    assert (cls.family, cls.access) == ("baseline", "data-only") and "data-only" in registry.ACCESSES
    assert isinstance(cls(), InputDetector) and isinstance(cls(), Attacker) and not isinstance(cls(), ModelDetector)
    assert BackdoorAudit().metrics_for(cls()) == ["input-auroc", "input-recall@1%fpr", "trigger-asr"]


def test_its_cells_spend_no_forward_pass(smoke_population, smoke_budget):
    scores = BackdoorAudit(pool_size=60, heldout=20).run_cell(lambda seed: InputNovelty(), smoke_population, 0,
                                                                smoke_budget)
    assert {s.metric for s in scores} == {"input-auroc", "input-recall@1%fpr", "trigger-asr"}
    assert all(s.spend["forward_passes"] == 0 and s.spend["backward_passes"] == 0 for s in scores)
