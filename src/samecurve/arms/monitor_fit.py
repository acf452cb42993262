"""The one way every `cot-monitor` arm fits a logistic regression (scikit-learn) and chooses its
settings, so that the probe and the text, action and prompt monitors differ only in their features."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def fit_scaled_logreg(X: np.ndarray, y: np.ndarray, C: float) -> Any | None:
    """Standardised features, then an L2 logistic regression; None when the labels hold one class
    (nothing to fit: the monitor scores every episode alike)."""
    if len(set(np.asarray(y).tolist())) < 2:
        return None
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)).fit(X, y)


def choose_by_cv(meter: Any, options: Sequence[Any], features: Callable[[Any], np.ndarray], y: np.ndarray,
                 cv: int) -> Any:
    """The option (a tuple whose last item is C) with the best cross-validated AUROC on the labelled
    examples, one charged tuning trial each, in order, while the budget pays; the first if none can
    be cross-validated (too few of a class) or paid for."""
    folds = int(min(cv, np.bincount(np.asarray(y, dtype=int), minlength=2).min()))
    best, best_score = options[0], -np.inf
    for opt in options:
        if folds < 2 or not meter.try_charge("tuning_trials"):
            break
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=opt[-1], max_iter=2000))
        split = StratifiedKFold(folds, shuffle=True, random_state=0)
        score = float(np.mean(cross_val_score(clf, features(opt), y, cv=split, scoring="roc_auc")))
        if score > best_score + 1e-12:
            best, best_score = opt, score
    return best
