"""Lenses as exit rules (early-exit): read each layer's residual stream as next-token logits and let
a token leave once the lens is sure.

`logit-lens-exit`: the logit lens (nostalgebraist 2020): the model's own final layer norm and
unembedding applied to an intermediate residual stream. Its confidence is the top softmax
probability, which is CALM's "softmax response" measure (Schuster et al. 2022): the critique's
example of interpretability used to speed up inference. Zero-shot: it needs no calibration data.

`tuned-lens-exit`: the tuned lens (Belrose et al. 2023): a learned affine translator per layer
(`h + A h + b`, A and b from zero) before the same head, trained to minimise KL(final || lens) on
the calibration sequences' residual streams (one charged forward pass each), every position, in
minibatches. Adam instead of the
paper's SGD with Nesterov momentum: on a few thousand positions full-batch Adam converges in the
`steps` given, and nothing here depends on the optimiser's path.

Defaults (steps 30, lr 1e-2) from dev/tune_early_exit.py on dev seeds 900 and 902-905 (15 layered-small
organisms; seed 901 lost an organism to its check), quick budget, the one-standard-error rule on
saved@99% then the cheapest: steps 30 / 100 / 300 / 600 at lr 1e-2 gave 0.459 / 0.470 / 0.478 /
0.476 (se 0.023 over organisms; 1.3 / 2.3 / 4.4 / 9.4 CPU-s a cell), lr 3e-3 0.442 / 0.467 / 0.474 /
0.478. Longer training buys at most 0.02 saved compute.

`random-exit` (control): the logit lens's answers with a random confidence, at the logit lens's
cost: what leaving at random layers buys. An exit rule that does not beat it has learned nothing
about *when* a layer's answer is final.

Every stage computes the head (and the translator) on top of the blocks it ran: a token that leaves
at layer l paid l + 1 readouts, one that never leaves paid n_layers of them beyond the full model.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...budget import MeteredModel
from ...protocols.exiting import (ExitContext, ExitPlan, ExitTrace, Stage, calibration_states, linear_flops,
                                  model_head, softmax_response)
from ...registry import arm


class _Lens:
    """The organism's own head (final layer norm + unembedding), copied once per fit."""

    def _take_head(self, model: MeteredModel) -> None:
        self.head_ = model_head(model)

    def translate(self, layer: int, h: torch.Tensor) -> torch.Tensor:
        return h

    def translator_flops(self, ctx: ExitContext) -> float:
        return 0.0

    def lens_stages(self, ctx: ExitContext, trace: ExitTrace) -> list[tuple[np.ndarray, np.ndarray]]:
        with torch.no_grad():
            return [softmax_response(self.head_(self.translate(l, trace.resid[l]))) for l in range(ctx.n_layers)]

    def plan(self, model: MeteredModel, ctx: ExitContext, trace: ExitTrace) -> ExitPlan:
        per_stage = ctx.head_flops + self.translator_flops(ctx)
        stages = [Stage(l, (l + 1) * per_stage, conf, pred) for l, (conf, pred) in enumerate(self.lens_stages(ctx, trace))]
        return ExitPlan(stages, overhead_flops=ctx.n_layers * per_stage)


@arm("logit-lens-exit", family="interp", access="white-box", control="random-exit")
class LogitLensExit(_Lens):
    """Leave at the first layer whose logit lens is sure (CALM's softmax response)."""

    def fit(self, model: MeteredModel, ctx: ExitContext) -> "LogitLensExit":
        self._take_head(model)
        return self


@arm("tuned-lens-exit", family="interp", access="white-box", control="random-exit")
class TunedLensExit(_Lens):
    """Leave at the first layer whose tuned lens is sure."""

    def __init__(self, steps: int = 30, lr: float = 1e-2, minibatch: int = 1024):
        self.steps, self.lr, self.minibatch = steps, lr, minibatch

    def fit(self, model: MeteredModel, ctx: ExitContext) -> "TunedLensExit":
        self._take_head(model)
        for p in self.head_.parameters():
            p.requires_grad_(False)
        h, final = calibration_states(model, ctx)
        target = final.log_softmax(-1)
        torch.manual_seed(ctx.seed)
        self.translators_ = nn.ModuleList(nn.Linear(ctx.d_model, ctx.d_model) for _ in range(ctx.n_layers))
        for t in self.translators_:
            nn.init.zeros_(t.weight)
            nn.init.zeros_(t.bias)
        opt = torch.optim.Adam(self.translators_.parameters(), lr=self.lr)
        rows = torch.randint(0, h.shape[1], (self.steps, min(self.minibatch, h.shape[1])))
        for step in range(self.steps):
            r = rows[step]
            loss = sum(F.kl_div(self.head_(self.translate(l, h[l, r])).log_softmax(-1), target[r], log_target=True,
                                reduction="batchmean") for l in range(ctx.n_layers))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        self.translators_.eval()
        return self

    def translate(self, layer: int, h: torch.Tensor) -> torch.Tensor:
        return h + self.translators_[layer](h)

    def translator_flops(self, ctx: ExitContext) -> float:
        return linear_flops(ctx.d_model, ctx.d_model)


@arm("random-exit", family="control", access="white-box")
class RandomExit(_Lens):
    """The logit lens's answers, leaving at random: uniform confidences at every layer."""

    def fit(self, model: MeteredModel, ctx: ExitContext) -> "RandomExit":
        self._take_head(model)
        self.rng_ = np.random.default_rng([ctx.seed, 41])
        return self

    def lens_stages(self, ctx: ExitContext, trace: ExitTrace) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(self.rng_.random(len(pred)), pred) for _, pred in super().lens_stages(ctx, trace)]
