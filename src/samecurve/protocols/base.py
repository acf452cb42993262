"""What every protocol module shares: the error for an answer that does not fit its protocol, and
the checks the validate functions are made of. A task calls a protocol's `validate_*` function on
what an arm hands back, before scoring it, so that a wrong shape or a NaN is reported as the arm's
fault, in the arm's terms (name, method, what came back, what was due), rather than deep inside a
metric."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from ..errors import SamecurveError


class ArmOutputError(SamecurveError):
    """An arm returned something its protocol does not allow (wrong shape, dtype, NaN, ...)."""


def arm_name(arm: Any) -> str:
    return str(getattr(arm, "name", None) or type(arm).__name__)


def describe(x: Any) -> str:
    """A short account of what came back: type, shape and dtype where it has them."""
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return f"{type(x).__name__} of shape {tuple(x.shape)} and dtype {x.dtype}"
    if isinstance(x, (list, tuple)):
        inner = f", first item {describe(x[0])}" if x else ""
        return f"{type(x).__name__} of length {len(x)}{inner}"
    if isinstance(x, (str, bytes)):
        return f"{type(x).__name__} {x[:40]!r}"
    return f"{type(x).__name__} {x!r}"[:120]


def fail(arm: Any, method: str, got: Any, due: str, why: str = "") -> ArmOutputError:
    why = f" ({why})" if why else ""
    return ArmOutputError(f"arm {arm_name(arm)!r}: {method} returned {describe(got)}{why}; due: {due}")


def _kind(x: Any) -> str | None:
    """numpy dtype kind of an array-like, None if it has no single dtype."""
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            return "c"
        return "f" if x.is_floating_point() else ("b" if x.dtype == torch.bool else "i")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(x).dtype.kind
    except (ValueError, TypeError, RuntimeError):
        return None


def real_vector(arm: Any, method: str, got: Any, n: int, what: str, allow_nan: bool = False) -> np.ndarray:
    """`got` as a float array of shape (n,) (converted as the tasks always did,
    np.asarray(got, dtype=float)); raises ArmOutputError if it is not one."""
    due = f"shape ({n},) of real numbers ({what})" + ("" if allow_nan else ", no NaN")
    kind = _kind(got)
    if kind is not None and kind not in "biufO":
        raise fail(arm, method, got, due, f"dtype kind {kind!r} is not a real number")
    try:
        out = np.asarray(got, dtype=float)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise fail(arm, method, got, due, f"not convertible to floats: {exc}") from None
    if out.shape != (n,):
        raise fail(arm, method, got, due)
    if not allow_nan and np.isnan(out).any():
        raise fail(arm, method, got, due, f"{int(np.isnan(out).sum())} NaN")
    return out


def real_scalar(arm: Any, method: str, got: Any, what: str) -> float:
    """`got` as one float (not NaN)."""
    due = f"one real number ({what}), not NaN"
    if np.ndim(got) != 0 or _kind(got) not in tuple("biuf"):
        raise fail(arm, method, got, due)
    out = float(got)
    if np.isnan(out):
        raise fail(arm, method, got, due, "NaN")
    return out
