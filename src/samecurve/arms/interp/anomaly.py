"""Activation anomaly and representation stimulation.

Input level: fit a Gaussian (Ledoit-Wolf shrinkage, scikit-learn) to the residual stream at the
decision position on the clean labelled inputs; a pool input's score is its Mahalanobis distance.
Model level and trigger recovery (after ABS, Liu et al. 2019, which stimulates neurons; we
stimulate through the input and read the representation): insert each content token, then each
pair of the most disruptive tokens, into clean prompts and measure how far the internal state
moves from the clean fit. A trojan has a token (or pair) that moves it much more than the rest.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from sklearn.covariance import LedoitWolf

from ...budget import MeteredModel
from ...registry import arm
from .activations import residuals


@arm("activation-anomaly", family="interp", access="white-box", control="activation-anomaly-random-init")
class ActivationAnomaly:
    def __init__(self, prompts_per_candidate: int = 16, top_pairs_from: int = 8):
        self.prompts_per_candidate, self.top_pairs_from = prompts_per_candidate, top_pairs_from

    def _features(self, model: MeteredModel, ctx, prompts: torch.Tensor) -> np.ndarray:
        r = residuals(model, prompts, ctx.language.decision_pos)
        return r.reshape(len(r), -1)

    def fit(self, model: MeteredModel, ctx) -> "ActivationAnomaly":
        self.cov_ = LedoitWolf().fit(self._features(model, ctx, ctx.clean_inputs))
        return self

    def score_inputs(self, model: MeteredModel, ctx, inputs: torch.Tensor) -> np.ndarray:
        self.fit(model, ctx)
        return np.sqrt(self.cov_.mahalanobis(self._features(model, ctx, inputs)))

    def _stimulate(self, model: MeteredModel, ctx) -> list[tuple[float, tuple[int, ...]]]:
        """(mean shift, candidate) for single tokens and pairs of the top ones, largest first."""
        self.fit(model, ctx)
        base = ctx.clean_inputs[: self.prompts_per_candidate]
        rng = np.random.default_rng([ctx.seed, 21])
        results: list[tuple[float, tuple[int, ...]]] = []

        def shift(cand: tuple[int, ...]) -> float | None:
            if not model.meter.can_afford("forward_passes", len(base)):
                return None
            feats = self._features(model, ctx, ctx.language.insert(base, cand, rng))
            return float(np.sqrt(self.cov_.mahalanobis(feats)).mean())

        for tok in ctx.language.content_tokens:
            s = shift((tok,))
            if s is None:
                break
            results.append((s, (tok,)))
        top = [c[0] for _, c in sorted(results, reverse=True)[: self.top_pairs_from]]
        for a, b in itertools.combinations(top, 2):
            s = shift((a, b))
            if s is None:
                break
            results.append((s, (a, b)))
        return sorted(results, key=lambda r: (-r[0], len(r[1])))

    def score_model(self, model: MeteredModel, ctx) -> float:
        shifts = np.array([s for s, _ in self._stimulate(model, ctx)])
        # Peak over median: a model whose every token moves it alike is not thereby suspicious.
        return float(shifts.max() / (np.median(shifts) + 1e-9)) if len(shifts) else 0.0

    def propose_triggers(self, model: MeteredModel, ctx) -> list[tuple[int, ...]]:
        return [c for _, c in self._stimulate(model, ctx)][:10]
