"""Forecasting: the protocol of `forecast-emergence`, the context a forecasting arm is given, and
the check on its per-checkpoint scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from ..budget import MeteredModel
from .base import real_vector


@runtime_checkable
class Forecaster(Protocol):
    """Scores training checkpoints: higher = a capability jump is closer."""

    def score_checkpoints(self, checkpoints: list[MeteredModel], context: Any) -> np.ndarray: ...


@dataclass
class ForecastContext:
    """What a forecasting arm is given besides the checkpoints (see tasks/forecast_emergence.py)."""

    kind: str
    language: Any
    steps: np.ndarray                     # the step of each checkpoint: the run's schedule, known in advance
    train_loss: np.ndarray                # the training-loss log at each checkpoint
    seed: int
    run_index: int
    rng: np.random.Generator
    probe: torch.Tensor | None = None     # induction: [n, seq] fresh sequences with a repeated segment
    probe_mask: np.ndarray | None = None  # induction: [n, seq-1] positions predicting the second copy
    train_inputs: torch.Tensor | None = None   # grokking: a sample of the train split
    train_targets: torch.Tensor | None = None
    val_inputs: torch.Tensor | None = None     # grokking: labelled validation pairs (charged)
    val_targets: torch.Tensor | None = None


def validate_checkpoint_scores(arm: Any, got: Any, n: int) -> np.ndarray:
    """Forecaster.score_checkpoints: one real score per checkpoint, shape (n,). NaN is allowed and
    means "no opinion yet" (the task ranks it below every real score)."""
    return real_vector(arm, "score_checkpoints", got, n, "one score per checkpoint; NaN = no opinion yet",
                       allow_nan=True)
