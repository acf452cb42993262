"""Eliciting latent knowledge: the protocol of `latent-knowledge`, the context an eliciting arm is
given, and the check on its scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from ..budget import MeteredModel
from .base import real_vector


@runtime_checkable
class TruthScorer(Protocol):
    """Scores statements (token tensors ending at the decision position): higher = more likely true."""

    def score_truth(self, model: MeteredModel, context: Any, statements: torch.Tensor) -> np.ndarray: ...


@dataclass
class ElkContext:
    """What an eliciting arm is given besides the model: the statement format, labelled Alice-easy
    statements (truth labels, charged to the budget), unlabelled Bob statements from both splits,
    a seed and an RNG."""

    language: Any
    labelled: torch.Tensor      # [n, statement_len], persona A, easy split
    labels: np.ndarray          # 1 = true
    unlabelled: torch.Tensor    # [m, statement_len], persona B, both splits, no labels
    seed: int
    rng: np.random.Generator


def validate_truth_scores(arm: Any, got: Any, n: int) -> np.ndarray:
    """TruthScorer.score_truth: one real score per statement, shape (n,), no NaN."""
    return real_vector(arm, "score_truth", got, n, "one score per statement")
