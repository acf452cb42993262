"""Spectral signatures (Tran, Li & Madry 2018): poisoned inputs leave a trace along the top
singular direction of the representations of the class they were poisoned into. As in the paper,
the SVD is done per class, centred within class: here the class is the organism's predicted answer
(the argmax of its next-token logits at the decision position; the pool is unlabelled), since
without conditioning the top direction tracks which answer the model gives (the audit of issue 14:
input AUROC 0.505 unconditioned, 0.88 centred within predicted-answer class at the last layer).
Each input's score is its squared projection on its class's top right singular vector (the
paper's score; one direction, as published). Layer: the last block's residual output (the paper
uses the penultimate-layer representation of its classifier; here the last residual before the
unembedding). Neither layer nor number of directions was tuned (no dev-seed sweep was run).
Unsupervised: it uses the unlabelled pool, not the clean set."""

from __future__ import annotations

import numpy as np
import torch

from ...budget import MeteredModel
from ...registry import arm
from .activations import resid_names


@arm("spectral-signature", family="interp", access="white-box", control="spectral-signature-random-init")
class SpectralSignature:
    """Squared projection on the top singular direction of the input's predicted class (unsupervised)."""

    def __init__(self, layer: int = -1, batch: int = 512):
        self.layer, self.batch = layer, batch

    def score_inputs(self, model: MeteredModel, ctx, inputs: torch.Tensor) -> np.ndarray:
        pos = ctx.language.decision_pos
        names = resid_names(model)
        feats, pred = [], []
        for i in range(0, inputs.shape[0], self.batch):  # one pass gives both the residuals and the answer
            logits, cache = model.run_with_cache(inputs[i:i + self.batch], names)
            feats.append(cache[names[self.layer]][:, pos].double())
            pred.append(logits[:, pos].argmax(-1))
        x, cls = torch.cat(feats).numpy(), torch.cat(pred).numpy()
        scores = np.zeros(len(x))
        for c in np.unique(cls):
            rows = cls == c
            centred = x[rows] - x[rows].mean(0)
            if rows.sum() < 2:
                continue  # a class of one input has no direction: score 0
            _, _, vt = np.linalg.svd(centred, full_matrices=False)
            scores[rows] = (centred @ vt[0]) ** 2
        return scores
