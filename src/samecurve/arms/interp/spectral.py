"""Spectral signatures (Tran, Li & Madry 2018): poisoned inputs leave a trace along the top
singular direction of the centred representations of the pool they sit in. Unsupervised: it
uses the unlabelled pool, not the clean set."""

from __future__ import annotations

import numpy as np
import torch

from ...budget import MeteredModel
from ...registry import arm
from .activations import residuals


@arm("spectral-signature", family="interp", access="white-box", control="spectral-signature-random-init")
class SpectralSignature:
    """Squared projection on the pool's top singular direction (unsupervised)."""

    def __init__(self, layer: int = -1):
        self.layer = layer

    def score_inputs(self, model: MeteredModel, ctx, inputs: torch.Tensor) -> np.ndarray:
        feats = residuals(model, inputs, ctx.language.decision_pos)[:, self.layer]
        centred = feats - feats.mean(0)
        # Top right singular vector of the centred pool (numpy SVD; the matrix is pool x d_model).
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        return (centred @ vt[0]) ** 2
