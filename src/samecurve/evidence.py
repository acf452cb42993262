"""Per-item evidence: the numeric arrays a metric is computed from (per-item scores and labels,
per-prompt outcomes, per-checkpoint signals), kept beside every score so the report can recompute
the metric and a new metric or inference method needs no re-run.

Arrays are stored as raw little-endian bytes with their dtype and shape (never pickle). A score
names how its value follows from its items with `kind`, one of `RECOMPUTE`'s keys; a score whose
value is not a pure function of its items (a lead time after an alarm rule, say) keeps its items
with `kind=None` and is shown, not recomputed.
"""

from __future__ import annotations

import json
from typing import Callable

import numpy as np

from .metrics import auroc, fluency, fnr_at_fpr, harmonic_mean, loss_recovered, pareto_auc, recall_at_fpr


def _scalar(a: np.ndarray) -> float:
    return float(np.asarray(a).reshape(-1)[0])


# kind -> value from items. Each takes the dict of arrays a task stored with the score.
RECOMPUTE: dict[str, Callable[[dict[str, np.ndarray]], float]] = {
    "auroc": lambda it: auroc(it["labels"], it["scores"]),
    "recall@1%fpr": lambda it: recall_at_fpr(it["labels"], it["scores"], 0.01),
    "fnr@1%fpr": lambda it: fnr_at_fpr(it["labels"], it["scores"], 0.01),
    "mean": lambda it: float(np.mean(it["values"])),
    # behavior-removal: per sweep point (and the original) attack success and clean accuracy
    "pareto-auc": lambda it: pareto_auc(it["asr"], it["clean"]),
    # steering: per prompt concept score, grammar validity (0/1), clean-organism loss; one reference loss
    "fluency": lambda it: fluency(it["valid"], it["nll"], _scalar(it["reference_loss"])),
    "harmonic-mean": lambda it: harmonic_mean(float(np.mean(it["concept"])),
                                              fluency(it["valid"], it["nll"], _scalar(it["reference_loss"]))),
    # explanation-faithfulness: per scored position, the answer's loss under the explanation, the
    # organism and the answers' marginal distribution
    "loss-recovered": lambda it: loss_recovered(it["losses"], it["full_losses"], it["unigram_losses"]),
}

_DTYPES = {"f": "<f8", "i": "<i8", "u": "<i8", "b": "|b1"}


def as_array(value: object) -> np.ndarray:
    """A numeric array of a stored kind (float64, int64 or bool); refuses objects and strings."""
    arr = np.asarray(value)
    if arr.dtype.kind not in _DTYPES:
        raise TypeError(f"evidence arrays must be numeric or boolean, not {arr.dtype}")
    return np.ascontiguousarray(arr.astype(_DTYPES[arr.dtype.kind]))


def encode(value: object) -> tuple[str, str, bytes]:
    arr = as_array(value)
    return arr.dtype.str, json.dumps(list(arr.shape)), arr.tobytes()


def decode(dtype: str, shape: str, data: bytes) -> np.ndarray:
    if dtype not in _DTYPES.values():
        raise ValueError(f"unknown evidence dtype {dtype!r}")
    return np.frombuffer(data, dtype=np.dtype(dtype)).reshape(json.loads(shape)).copy()


def recompute(kind: str | None, items: dict[str, np.ndarray]) -> float | None:
    """The metric's value from its items, or None when the kind is not recomputable."""
    if kind is None or kind not in RECOMPUTE:
        return None
    return float(RECOMPUTE[kind](items))
