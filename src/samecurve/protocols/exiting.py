"""Exiting early: the protocol of `early-exit`, the context an exit arm is given, the trace of the
organism's own forward it reads at test time, and the cost and threshold rules every arm is scored
by.

An arm does not decide *how much* to save; it proposes *stages*. A stage is a point where a token
may stop: it has run `layer` blocks of the organism (-1: none, e.g. a side model or a lookup) plus
`extra_flops` of the arm's own work per token (readouts, classifiers, a side model), cumulative, and
it offers a prediction with a confidence for every token. The task, not the arm, picks one threshold
per arm on a selection split (the cheapest that keeps agreement with the full model at the target)
and applies it to the test split: a token leaves at the first stage whose confidence reaches the
threshold, or runs the full model. Costs are FLOPs per token: the organism's blocks and head are
measured by PyTorch's FlopCounterMode (tasks/early_exit.py), an arm's extra work by `linear_flops`
and its own measurement, so the two sides are charged on one scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .base import fail, real_scalar, real_vector

if TYPE_CHECKING:
    from ..budget import MeteredModel


def linear_flops(d_in: int, d_out: int) -> float:
    """Multiply-adds of one token through a d_in -> d_out linear map, counted as 2 FLOPs each (the
    FlopCounterMode convention)."""
    return 2.0 * d_in * d_out


def flops_per_token(run: Callable[[], Any], n_tokens: int) -> float:
    """FLOPs of `run()` per token, as PyTorch's FlopCounterMode counts them (matmuls and attention;
    norms and activations are not counted). Counted with grad enabled: under no_grad the counter's
    module tracker fails on a sliced weight (a transformer's position embedding)."""
    with torch.enable_grad(), FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops() / n_tokens


def model_head(model: MeteredModel) -> nn.Module:
    """A private copy of the organism's own head (final layer norm + unembedding; white-box): what
    the logit lens and CALM's exit answers read an intermediate residual stream with."""
    net = model.copy_model()
    return nn.Sequential(net.ln_final, net.unembed).eval()


def calibration_states(model: MeteredModel, ctx: ExitContext, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """The calibration set through the model (one charged forward pass per sequence, `chunk` at a
    time), every position flattened: the residual stream after 0..n_layers-1 blocks [n_layers, N, d]
    (the layers an exit can read) and the final logits [N, vocab] (the answers to agree with)."""
    hs, finals = [], []
    for i in range(0, ctx.calibration.shape[0], chunk):
        logits, cache = model.run_with_cache(ctx.calibration[i:i + chunk], ctx.resid_names)
        finals.append(logits.reshape(-1, logits.shape[-1]))
        hs.append(torch.stack([cache[n].reshape(-1, ctx.d_model) for n in ctx.resid_names[:-1]]))
    return torch.cat(hs, 1), torch.cat(finals)


def softmax_response(logits: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Top softmax probability (the confidence: CALM's "softmax response") and the top token."""
    with torch.no_grad():
        conf, pred = logits.softmax(-1).max(-1)
    return conf.numpy().astype(np.float64), pred.numpy()


@dataclass(frozen=True)
class LanguageCard:
    """What an exit arm may know of the input format: sizes and a description, not a sampler (the
    organism's sampler would tell which positions are planted, and its seed the planted values)."""

    vocab_size: int
    seq_len: int
    notes: str = ""


@dataclass
class ExitContext:
    """What an exit arm is given besides the model: the input format (a LanguageCard), unlabelled
    calibration sequences (its only data; running the model on them is charged as forward passes),
    the organism's shape, hook names and measured costs, a seed and an RNG."""

    language: LanguageCard
    calibration: torch.Tensor          # int64 [n, t]
    n_layers: int
    d_model: int
    vocab_size: int
    resid_names: list[str]             # resid_names[l]: the residual stream after l blocks, l = 0..n_layers
    block_flops: list[float]           # per token, each block's forward
    head_flops: float                  # per token, final layer norm + unembedding
    seed: int
    rng: np.random.Generator
    notes: dict = field(default_factory=dict)

    def prefix_flops(self, layer: int) -> float:
        """Per token, the organism's work up to `layer` blocks (-1 and 0: nothing but a lookup)."""
        return float(sum(self.block_flops[:max(layer, 0)]))

    @property
    def full_flops(self) -> float:
        return self.prefix_flops(self.n_layers) + self.head_flops


@dataclass
class ExitTrace:
    """The organism's own forward on a split, at its scored positions (computed by the task and not
    charged: it is what serving the model computes anyway). `resid[l]` [N, d] is the residual stream
    after l blocks at those positions; a stage at layer l may read resid[0..l] only."""

    tokens: torch.Tensor      # int64 [n, t]
    rows: np.ndarray          # [N] row of each scored position
    cols: np.ndarray          # [N] its column (the position whose next token is predicted)
    resid: list[torch.Tensor]


@dataclass
class Stage:
    layer: int                 # organism blocks run to reach this stage (-1: none)
    extra_flops: float         # the arm's own work per token up to and including this stage
    confidence: np.ndarray     # [N] higher = surer
    prediction: np.ndarray     # [N] token ids


@dataclass
class ExitPlan:
    stages: list[Stage]
    # what a token that leaves at no stage pays on top of the full model (the checks it ran)
    overhead_flops: float


@runtime_checkable
class EarlyExiter(Protocol):
    """Fit on the calibration sequences, then propose exit stages for a split's scored positions."""

    def fit(self, model: MeteredModel, context: ExitContext) -> Any: ...

    def plan(self, model: MeteredModel, context: ExitContext, trace: ExitTrace) -> ExitPlan: ...


def validate_plan(arm: Any, got: Any, n: int, n_layers: int, vocab_size: int) -> ExitPlan:
    """EarlyExiter.plan: an ExitPlan whose stages climb in layer and cost, each with n real
    confidences and n token predictions."""
    due = "an ExitPlan of Stages (layer -1..n_layers-1 rising, extra_flops >= 0 and not falling, n scores)"
    if not isinstance(got, ExitPlan) or not all(isinstance(s, Stage) for s in got.stages):
        raise fail(arm, "plan", got, due)
    real_scalar(arm, "plan", got.overhead_flops, "overhead FLOPs per token")
    last_layer, last_extra = -2, 0.0
    for s in got.stages:
        if not -1 <= s.layer < n_layers or s.layer < last_layer or s.extra_flops < last_extra or s.extra_flops < 0:
            raise fail(arm, "plan", got, due, f"a stage at layer {s.layer} with {s.extra_flops} extra FLOPs")
        last_layer, last_extra = s.layer, s.extra_flops
        s.confidence = real_vector(arm, "plan", s.confidence, n, "one confidence per token")
        pred = np.asarray(s.prediction)
        if pred.shape != (n,) or pred.dtype.kind not in "iu" or (pred < 0).any() or (pred >= vocab_size).any():
            raise fail(arm, "plan", s.prediction, f"shape ({n},) of token ids below {vocab_size}")
    if got.overhead_flops < 0:
        raise fail(arm, "plan", got.overhead_flops, "overhead FLOPs >= 0")
    return got


def stage_costs(plan: ExitPlan, ctx: ExitContext) -> np.ndarray:
    """Per stage, then for running the full model: the FLOPs per token of leaving there."""
    return np.array([ctx.prefix_flops(s.layer) + s.extra_flops for s in plan.stages]
                    + [ctx.full_flops + plan.overhead_flops])


def exits(plan: ExitPlan, ctx: ExitContext, full_pred: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per token at `threshold`: the stage it leaves at (len(stages): the full model), its cost as
    a fraction of the full model's, and whether its answer agrees with the full model's. At +inf the
    arm is off: no stage is computed, every token costs the full model."""
    n, k = len(full_pred), len(plan.stages)
    leave = np.full(n, k)
    if threshold == float("inf"):
        return leave, np.ones(n), np.ones(n, bool)
    for i in reversed(range(k)):   # the first stage whose confidence reaches the threshold
        leave[plan.stages[i].confidence >= threshold] = i
    preds = np.stack([s.prediction for s in plan.stages] + [full_pred])
    answer = preds[leave, np.arange(n)]
    return leave, stage_costs(plan, ctx)[leave] / ctx.full_flops, answer == full_pred


def choose_threshold(plan: ExitPlan, ctx: ExitContext, full_pred: np.ndarray, target: float,
                     grid: int = 200) -> float:
    """The threshold of least mean cost whose agreement with the full model is >= target, among the
    confidences' quantiles and +inf (the arm switched off: every token runs the full model and its
    checks are skipped, so "off" costs exactly the full model)."""
    conf = np.concatenate([s.confidence for s in plan.stages]) if plan.stages else np.zeros(0)
    cands = np.unique(np.quantile(conf, np.linspace(0, 1, grid))) if conf.size else np.zeros(0)
    best, best_cost = float("inf"), 1.0
    for t in cands:
        _, cost, agree = exits(plan, ctx, full_pred, float(t))
        if agree.mean() >= target and cost.mean() < best_cost:
            best, best_cost = float(t), float(cost.mean())
    return best
