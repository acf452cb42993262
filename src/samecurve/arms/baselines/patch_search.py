"""Black-box trigger search (attribution-sanity's `trigger-rediscovery` rows), at the gradient arms'
number of model evaluations, and the random-trigger control.

Every candidate is a square patch (side floor(sqrt(max_area)), so within the area cap) at some place,
its pixels in [-value_bound, value_bound], scored by the mean log-probability of the target on a
fixed batch of `batch` clean images (`batch` forward passes a candidate). Queries: the session's
backward passes (what neural-cleanse and target-visualisation may spend; its forward passes if it has
no backward ones), capped by its forward passes. The searches know the trigger is a patch (the
analyst's guess of the attack's kind), not its contents or place.

  random-trigger-search        candidates drawn at random, the best kept
  evolutionary-trigger-search  a (mu + lambda) evolution strategy: a quarter of the candidates drawn
                               at random, then generations of Gaussian mutations (sd `sigma` of the
                               bound) of the best `parents`, a parent's place moved by -1..1 pixels
  random-trigger               (control) one random patch, never scored: what a guess scores

Defaults tuned on dev spec seeds 900-902, two arm seeds each, at quick's budget (dev/tune_attribution.py;
never on suite organisms): random search batch 8 (ASR 1.00, similarity 0.42; 4: 0.97, 0.44; 16: 1.00,
0.47: tied, the old default kept), evolution batch 8, 4 parents, 8 children, sigma 0.3 (ASR 1.00,
similarity 0.39; sigma 0.1/0.6: 0.36/0.35; batch 4: 0.43; 2 parents, 4 children: 0.38).
"""

from __future__ import annotations

import numpy as np
import torch

from ...models.cnn import MeteredClassifier
from ...protocols.attribution import SynthesisContext, paste
from ...registry import arm


def _side(ctx: SynthesisContext) -> int:
    return int(np.floor(np.sqrt(ctx.max_area)))


def _trigger(ctx: SynthesisContext, values: np.ndarray, row: int, col: int) -> tuple[np.ndarray, np.ndarray]:
    """A full-size pattern and binary mask from a square of values at (row, col)."""
    h, w = ctx.clean_images.shape[-2:]
    s = values.shape[0]
    pattern, mask = np.zeros((h, w)), np.zeros((h, w))
    pattern[row:row + s, col:col + s], mask[row:row + s, col:col + s] = values, 1.0
    return pattern, mask


def _random_candidate(ctx: SynthesisContext, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    h, w = ctx.clean_images.shape[-2:]
    s = _side(ctx)
    return (rng.uniform(-ctx.value_bound, ctx.value_bound, (s, s)), int(rng.integers(0, h - s + 1)),
            int(rng.integers(0, w - s + 1)))


class _Search:
    def __init__(self, batch: int = 8):
        self.batch = batch

    def _budget(self, model: MeteredClassifier) -> int:
        """Candidates the gradient arms' query count pays for."""
        kind = "backward_passes" if model.meter.remaining("backward_passes") > 0 else "forward_passes"
        return int(min(model.meter.remaining(kind), model.meter.remaining("forward_passes")) // self.batch)

    def _fitness(self, model: MeteredClassifier, ctx: SynthesisContext, images: torch.Tensor,
                 cands: list[tuple[np.ndarray, int, int]]) -> np.ndarray:
        x = torch.cat([paste(images, *_trigger(ctx, *c)) for c in cands])
        logp = model.logits(x).log_softmax(-1)[:, int(ctx.target)].numpy()
        return logp.reshape(len(cands), len(images)).mean(1)

    def _images(self, ctx: SynthesisContext, rng: np.random.Generator) -> torch.Tensor:
        return ctx.clean_images[torch.from_numpy(rng.choice(ctx.clean_images.shape[0], self.batch, replace=False))]


@arm("random-trigger-search", family="baseline", access="black-box", control="random-trigger")
class RandomTriggerSearch(_Search):
    """Random square patches, each scored on a batch of clean images; the best is the trigger."""

    def synthesize_trigger(self, model: MeteredClassifier, ctx: SynthesisContext) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([ctx.seed, 71])
        n = self._budget(model)
        if n < 1:
            return _trigger(ctx, *_random_candidate(ctx, rng))
        images = self._images(ctx, rng)
        cands = [_random_candidate(ctx, rng) for _ in range(n)]
        return _trigger(ctx, *cands[int(np.argmax(self._fitness(model, ctx, images, cands)))])


@arm("evolutionary-trigger-search", family="baseline", access="black-box", control="random-trigger")
class EvolutionaryTriggerSearch(_Search):
    """A (mu + lambda) evolution strategy over square patches' values and places."""

    def __init__(self, batch: int = 8, parents: int = 4, children: int = 8, sigma: float = 0.3):
        super().__init__(batch)
        self.parents, self.children, self.sigma = parents, children, sigma

    def _mutate(self, ctx: SynthesisContext, cand: tuple[np.ndarray, int, int], rng: np.random.Generator):
        h, w = ctx.clean_images.shape[-2:]
        values, row, col = cand
        s = values.shape[0]
        values = np.clip(values + rng.normal(0, self.sigma * ctx.value_bound, values.shape), -ctx.value_bound, ctx.value_bound)
        row, col = (int(np.clip(v + rng.integers(-1, 2), 0, lim - s)) for v, lim in ((row, h), (col, w)))
        return values, row, col

    def synthesize_trigger(self, model: MeteredClassifier, ctx: SynthesisContext) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([ctx.seed, 73])
        n = self._budget(model)
        if n < 1:
            return _trigger(ctx, *_random_candidate(ctx, rng))
        images = self._images(ctx, rng)
        first = max(1, min(n, max(self.parents, n // 4)))
        pop = [_random_candidate(ctx, rng) for _ in range(first)]
        fit = list(self._fitness(model, ctx, images, pop))
        left = n - first
        while left > 0:
            best = np.argsort(fit)[::-1][:self.parents]
            kids = [self._mutate(ctx, pop[best[i % len(best)]], rng) for i in range(min(self.children, left))]
            pop, fit = pop + kids, fit + list(self._fitness(model, ctx, images, kids))
            left -= len(kids)
        return _trigger(ctx, *pop[int(np.argmax(fit))])


@arm("random-trigger", family="control", access="black-box")
class RandomTrigger:
    """One random square patch, the model never run."""

    def synthesize_trigger(self, model: MeteredClassifier, ctx: SynthesisContext) -> tuple[np.ndarray, np.ndarray]:
        return _trigger(ctx, *_random_candidate(ctx, np.random.default_rng([ctx.seed, 79])))
