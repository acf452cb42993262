"""CCS as published (Burns et al. 2022) finds a truth direction where one exists, without labels.

Contrast pairs built the way the paper's are read: x+ and x- share the statement's content (a
large random part, the same in both halves), each side carries its own answer-token offset (what
the per-side normalisation removes), and a small truth direction u points one way in the half
whose answer is right. The consistency + confidence loss, trained unsupervised, must find u.
(`ccs-shuffled` is no must-lose control on such data: each half alone carries u, and on these
pairs the mismatched probe still reaches AUROC ~0.90.)"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from samecurve.arms.interp.ccs import CCS, _Norm


def _pairs(n: int = 400, d: int = 32, truth_scale: float = 1.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    content = 3.0 * rng.standard_normal((n, d))          # the statement: shared by both halves
    side = 5.0 * rng.standard_normal(d)                   # the appended answer token's own offset
    sign = (2 * truth - 1)[:, None]
    xp = content + side + truth_scale * sign * u + 0.3 * rng.standard_normal((n, d))
    xn = content - side - truth_scale * sign * u + 0.3 * rng.standard_normal((n, d))
    return xp, xn, truth


def _auroc(arm: CCS, xp: np.ndarray, xn: np.ndarray, truth: np.ndarray) -> float:
    norm_p, norm_n = _Norm(xp), _Norm(xn)
    pairs = arm._pairs(norm_p(xp), norm_n(xn), np.random.default_rng(1))
    (w, b, _loss), = arm._train_probes([pairs], [0])
    s = CCS._truth(norm_p(xp), norm_n(xn), w, b)
    a = roc_auc_score(truth, s)
    return max(a, 1 - a)  # CCS is sign-free; labels only fix the sign


def test_ccs_recovers_the_truth_direction_unsupervised():
    xp, xn, truth = _pairs()
    assert _auroc(CCS(restarts=4, epochs=300), xp, xn, truth) > 0.95
