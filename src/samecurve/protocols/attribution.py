"""Attributing a decision to input pixels: the protocols of `attribution-sanity` (Attributor: a map
per image; TriggerSynthesizer: a trigger found from clean images only), the contexts those arms are
given, the helpers they share (a per-image budget share, pasting a pattern, capping a mask's area)
and the checks on what they return."""

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


# ---- trigger rediscovery: a trigger synthesised from clean images only ---------------------------

@dataclass
class SynthesisContext:
    """What a trigger-synthesis arm is given besides the model: the input format, unlabelled clean
    images (no image carries the trigger), the class the trojan answers (told: the question is what
    makes the model say it, as in Casper et al. 2023, where the target classes are known), the most
    mask area it may return (pixels), the bound on pattern values, a seed and an RNG."""

    language: Any
    clean_images: torch.Tensor       # float32 [n, c, h, w]
    target: int
    max_area: int
    value_bound: float
    seed: int
    rng: np.random.Generator
    notes: dict = field(default_factory=dict)


@runtime_checkable
class TriggerSynthesizer(Protocol):
    """A trigger for `context.target` found without triggered data: a pattern [h, w] and a mask
    [h, w] in [0, 1] with sum <= `context.max_area`; it is pasted as (1 - mask) * x + mask * pattern."""

    def synthesize_trigger(self, model: MeteredClassifier, context: SynthesisContext) -> tuple[np.ndarray, np.ndarray]: ...


def paste(images: torch.Tensor | np.ndarray, pattern: np.ndarray, mask: np.ndarray) -> torch.Tensor:
    """Images [n, c, h, w] with the pattern pasted where the mask is (its value is the pattern's weight)."""
    x = torch.as_tensor(images, dtype=torch.float32)
    m = torch.as_tensor(mask, dtype=torch.float32)
    return (1 - m) * x + m * torch.as_tensor(pattern, dtype=torch.float32)


def limit_area(mask: np.ndarray, max_area: int) -> np.ndarray:
    """The mask clipped to [0, 1] with all but its `max_area` largest pixels zeroed (ties by position)."""
    m = np.clip(np.asarray(mask, dtype=float), 0.0, 1.0)
    keep = np.zeros(m.size, bool)
    keep[np.argsort(-m.ravel(), kind="stable")[:max_area]] = True
    return np.where(keep.reshape(m.shape), m, 0.0)


def validate_trigger(arm: Any, got: Any, h: int, w: int, max_area: int, bound: float) -> tuple[np.ndarray, np.ndarray]:
    """TriggerSynthesizer.synthesize_trigger: (pattern, mask), each real [h, w] (a channel axis of 1 is
    squeezed), no NaN, the mask in [0, 1] with area <= max_area, the pattern within +-bound."""
    due = f"(pattern, mask) of shape ({h}, {w}), no NaN, mask in [0, 1] summing to <= {max_area}, |pattern| <= {bound}"
    try:
        pattern, mask = (np.asarray(a.detach() if isinstance(a, torch.Tensor) else a, dtype=float) for a in got)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise fail(arm, "synthesize_trigger", got, due, str(exc)) from None
    pattern, mask = (a[0] if a.ndim == 3 and a.shape[0] == 1 else a for a in (pattern, mask))
    if pattern.shape != (h, w) or mask.shape != (h, w):
        raise fail(arm, "synthesize_trigger", got, due)
    if np.isnan(pattern).any() or np.isnan(mask).any():
        raise fail(arm, "synthesize_trigger", got, due, "NaN")
    if mask.min() < 0 or mask.max() > 1 or mask.sum() > max_area + 1e-6 or np.abs(pattern).max() > bound + 1e-6:
        raise fail(arm, "synthesize_trigger", got, due, f"mask range [{mask.min():.3g}, {mask.max():.3g}], area "
                   f"{mask.sum():.3g}, |pattern| max {np.abs(pattern).max():.3g}")
    return pattern, mask
