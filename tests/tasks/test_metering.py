"""Honest budgeting is structure: every task meters its arm calls through `metered_session`, which
charges the labelled examples the context hands out and closes the meter; the spend a Score carries
can only come from a closed meter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from samecurve.arms.controls import RandomScores
from samecurve.budget import Budget, MeteredModel
from samecurve.errors import BudgetExceeded
from samecurve.models.transformer import TinyTransformer, TransformerConfig
from samecurve.tasks.backdoor_audit import BackdoorAudit
from samecurve.tasks.base import metered_session

TASKS = Path(__file__).resolve().parents[2] / "src" / "samecurve" / "tasks"
SESSION_TASKS = sorted(p.stem for p in TASKS.glob("*.py") if p.stem not in {"__init__", "base"})  # every task
# What only metered_session may do: open a meter or a metered door, charge, close.
FORBIDDEN_NAMES = {"Meter", "MeteredModel", "MeteredEncoder", "metered"}
FORBIDDEN_CALLS = {"charge", "close", "try_charge"}


class _Arm:
    access = "black-box"


def _model():
    return TinyTransformer(TransformerConfig(vocab_size=20, n_ctx=8, d_model=16, n_heads=2, d_mlp=32))


def test_session_charges_the_labelled_examples_and_closes_the_meter():
    with metered_session(_model(), _Arm(), Budget(labelled_examples=10), labelled=7) as session:
        assert isinstance(session.model, MeteredModel)
        assert session.meter.spend.labelled_examples == 7
        session.model.logits(torch.zeros(3, 5, dtype=torch.long))
        with pytest.raises(RuntimeError, match="closed"):
            session.spend  # noqa: B018  (no spend from an open meter)
    assert session.spend["labelled_examples"] == 7 and session.spend["forward_passes"] == 3
    assert session.spend["wall_seconds"] > 0  # set by Meter.close


def test_session_refuses_more_labelled_examples_than_the_budget():
    with pytest.raises(BudgetExceeded, match="labelled_examples"):
        with metered_session(_model(), _Arm(), Budget(labelled_examples=4), labelled=5):
            pass


def test_session_closes_the_meter_when_the_arm_fails():
    with pytest.raises(ValueError):
        with metered_session(_model(), _Arm(), Budget(), labelled=1) as session:
            raise ValueError("arm failed")
    assert session.spend["wall_seconds"] > 0


def test_a_list_of_models_shares_one_meter():
    with metered_session([_model(), _model()], _Arm(), Budget(), labelled=0) as session:
        for m in session.model:
            m.logits(torch.zeros(2, 5, dtype=torch.long))
    assert session.model[0].meter is session.model[1].meter and session.spend["forward_passes"] == 4


@pytest.mark.parametrize("module", SESSION_TASKS)
def test_tasks_meter_only_through_the_session(module):
    """No task opens a meter, wraps a model, charges or closes by hand: a task cannot forget to
    charge what it hands out or to close the meter, because the session is the only way to meter."""
    tree = ast.parse((TASKS / f"{module}.py").read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert not names & (FORBIDDEN_NAMES - {"MeteredEncoder"}), names & FORBIDDEN_NAMES
    # MeteredEncoder may be named only as the session's door
    doors = [k.value.id for n in ast.walk(tree) if isinstance(n, ast.Call) for k in n.keywords
             if k.arg == "door" and isinstance(k.value, ast.Name)]
    encoder_uses = sum(isinstance(n, ast.Name) and n.id == "MeteredEncoder" for n in ast.walk(tree))
    assert encoder_uses == doors.count("MeteredEncoder")
    assert not calls & FORBIDDEN_CALLS, calls & FORBIDDEN_CALLS
    assert "metered_session" in names


class _SpyScores(RandomScores):
    """random-scores, recording at every call what its meter has been charged for labelled
    examples and how many labelled (clean) prompts the context holds."""

    seen: list

    def __init__(self):
        self.seen = []

    def score_inputs(self, model, ctx, inputs):
        self.seen.append((model.meter.spend.labelled_examples, len(ctx.clean_inputs)))
        return super().score_inputs(model, ctx, inputs)

    def score_model(self, model, ctx):
        self.seen.append((model.meter.spend.labelled_examples, len(ctx.clean_inputs)))
        return super().score_model(model, ctx)

    def propose_triggers(self, model, ctx):
        self.seen.append((model.meter.spend.labelled_examples, len(ctx.clean_inputs)))
        return super().propose_triggers(model, ctx)


def test_every_call_is_charged_what_its_context_hands_out(smoke_population, smoke_budget):
    arms: list[_SpyScores] = []

    def factory(seed):
        arms.append(_SpyScores())
        return arms[-1]

    scores = BackdoorAudit(pool_size=40, heldout=20).run_cell(factory, smoke_population, 0, smoke_budget)
    seen = [s for a in arms for s in a.seen]
    assert len(seen) >= 3 * 3 and all(charged == handed > 0 for charged, handed in seen), seen
    assert scores and all(s.spend["labelled_examples"] == smoke_budget.labelled_examples for s in scores)
    assert all(s.spend["wall_seconds"] > 0 for s in scores)  # every spend from a closed meter
