"""Filtering text: the protocol of `harm-filter`, the context a filtering arm is given, and the
check on its scores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from .base import real_vector

if TYPE_CHECKING:
    from ..models.pretrained import MeteredEncoder


@dataclass
class HarmContext:
    """What a filtering arm is given besides the model: the labelled training split (texts,
    labels 1 = harmful, and each example's category name, "benign" twins keep their pair's
    category so the name alone is no label), unlabelled in-distribution texts, a seed and an RNG."""

    train_texts: list[str]
    train_labels: np.ndarray
    train_categories: list[str]
    unlabelled_texts: list[str]
    seed: int
    rng: np.random.Generator
    notes: dict = field(default_factory=dict)


@runtime_checkable
class TextFilter(Protocol):
    """Fit on the context, then score texts: higher = more likely harmful."""

    def fit(self, model: MeteredEncoder, context: HarmContext) -> Any: ...

    def score_texts(self, model: MeteredEncoder, context: HarmContext, texts: list[str]) -> np.ndarray: ...


def validate_text_scores(arm: Any, got: Any, n: int) -> np.ndarray:
    """TextFilter.score_texts: one real score per text, shape (n,), no NaN."""
    return real_vector(arm, "score_texts", got, n, "one score per text")
