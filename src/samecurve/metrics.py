"""The metric functions tasks score with and the evidence store recomputes with (scikit-learn)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


def _finite(scores: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0, posinf=1e12, neginf=-1e12)


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(labels, _finite(scores)))


def recall_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr_max: float = 0.01) -> float:
    fpr, tpr, _ = roc_curve(labels, _finite(scores))
    return float(tpr[fpr <= fpr_max].max())


def fnr_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr_max: float = 0.01) -> float:
    """False-negative rate at the best threshold whose false-positive rate is <= fpr_max."""
    return 1.0 - recall_at_fpr(labels, scores, fpr_max)
