"""Attributing a decision to input pixels: the protocol of `attribution-sanity`, the context an
attribution arm is given, and the check on its maps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import torch

from .base import fail

if TYPE_CHECKING:
    from ..models.cnn import MeteredClassifier


@dataclass
class AttributionContext:
    """What an attribution arm is given besides the model: the input format, unlabelled clean images
    (a baseline for perturbation methods), how many images it will be asked about in this session
    (so a per-image budget can be planned), a seed and an RNG."""

    language: Any
    clean_images: torch.Tensor       # float32 [n, c, h, w]
    n_images: int
    seed: int
    rng: np.random.Generator
    notes: dict = field(default_factory=dict)


@runtime_checkable
class Attributor(Protocol):
    """A map per image: how much each pixel drove the logit of `targets[i]` (higher = more)."""

    def attribute(self, model: MeteredClassifier, context: AttributionContext, images: torch.Tensor,
                  targets: torch.Tensor) -> np.ndarray: ...


def per_image(model: MeteredClassifier, kind: str, n_images: int, most: int) -> int:
    """How many passes of `kind` each image may take from what the session has left (1..most): the
    budget share every sampling attribution method (gradient steps, noise samples, masks) plans by."""
    return int(max(1, min(most, model.meter.remaining(kind) // max(n_images, 1))))


def validate_maps(arm: Any, got: Any, n: int, h: int, w: int) -> np.ndarray:
    """Attributor.attribute: real maps [n, h, w] (a channel axis of 1 is squeezed), no NaN."""
    due = f"real maps of shape ({n}, {h}, {w}), no NaN"
    try:
        out = np.asarray(got.detach() if isinstance(got, torch.Tensor) else got, dtype=float)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise fail(arm, "attribute", got, due, str(exc)) from None
    if out.ndim == 4 and out.shape[1] == 1:
        out = out[:, 0]
    if out.shape != (n, h, w):
        raise fail(arm, "attribute", got, due)
    if np.isnan(out).any():
        raise fail(arm, "attribute", got, due, f"{int(np.isnan(out).sum())} NaN")
    return out
