"""Detection and attack: the protocols of `backdoor-audit`, the context an auditing arm is given,
and the checks on what such an arm returns."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from ..budget import MeteredModel
from .base import fail, real_scalar, real_vector


@runtime_checkable
class InputDetector(Protocol):
    """Scores inputs: higher = more likely to carry the planted property (e.g. a trigger)."""

    def score_inputs(self, model: MeteredModel, context: Any, inputs: torch.Tensor) -> np.ndarray: ...


@runtime_checkable
class ModelDetector(Protocol):
    """Scores whole models: higher = more likely to carry the planted property."""

    def score_model(self, model: MeteredModel, context: Any) -> float: ...


@runtime_checkable
class Attacker(Protocol):
    """Returns candidate inputs (here: token sets to insert), best first."""

    def propose_triggers(self, model: MeteredModel, context: Any) -> list[tuple[int, ...]]: ...


@dataclass
class AuditContext:
    """Everything an auditing arm is given besides the model: the input format, a small labelled
    set of clean inputs (charged to the budget), a seed and an RNG, and the longest token set the
    audit asks arms to propose (`max_trigger_len`: the auditor's stated assumption, the same for
    every arm, so that no search is held to shorter triggers than another)."""

    language: Any
    clean_inputs: torch.Tensor
    seed: int
    rng: np.random.Generator
    max_trigger_len: int = 2


def trigger_len_bound(context: Any) -> int:
    """The longest token set an audit asks for: `AuditContext.max_trigger_len`, or its default
    for a context that does not state one (a hand-made or older one)."""
    return int(getattr(context, "max_trigger_len", AuditContext.max_trigger_len))


def validate_input_scores(arm: Any, got: Any, n: int) -> np.ndarray:
    """InputDetector.score_inputs: one real score per input, shape (n,), no NaN."""
    return real_vector(arm, "score_inputs", got, n, "one score per input")


def validate_model_score(arm: Any, got: Any) -> float:
    """ModelDetector.score_model: one real number, not NaN."""
    return real_scalar(arm, "score_model", got, "one score for the model")


def validate_triggers(arm: Any, got: Any) -> list:
    """Attacker.propose_triggers: a list (best first, possibly empty) of token-id tuples."""
    due = "a list of proposals, best first, each a tuple of non-negative integer token ids"
    if isinstance(got, (str, bytes, np.ndarray, torch.Tensor)) or not hasattr(got, "__iter__"):
        raise fail(arm, "propose_triggers", got, due)
    proposals = list(got)
    for p in proposals:
        if isinstance(p, (str, bytes)) or not hasattr(p, "__iter__"):
            raise fail(arm, "propose_triggers", got, due, f"proposal {p!r} is not a sequence of token ids")
        try:
            ids = [operator.index(t) for t in p]
        except TypeError:
            raise fail(arm, "propose_triggers", got, due, f"proposal {p!r} holds a non-integer") from None
        if any(t < 0 for t in ids):
            raise fail(arm, "propose_triggers", got, due, f"proposal {p!r} holds a negative id")
    return proposals
