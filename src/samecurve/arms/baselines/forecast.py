"""Behavioural forecasters for `forecast-emergence`: what a practitioner would watch without looking
inside, scored per checkpoint (higher = the jump is closer). Black-box: logits only.

  in-context-loss  Olsson et al.'s in-context learning score on the probe batch: loss on a token's
                   first occurrence minus loss on its repeat (late minus early tokens of repeated
                   sequences, as a gain). Induction runs.
  targeted-eval    accuracy on a small targeted eval at each checkpoint: next-token accuracy on the
                   repeats of the probe batch (induction); accuracy on the labelled validation
                   pairs (grokking).
  loss-trend       trend extrapolation: a straight line through the held-out loss of the last
                   `window` checkpoints (the repeats of the probe batch; the validation pairs),
                   extended `horizon` checkpoints ahead; the score is minus that forecast loss.
  train-loss-trend the same extrapolation on the training-loss log the run wrote anyway (no pass
                   over any checkpoint: what a practitioner sees on the loss curve).
Each feature comes from one checkpoint; the trend uses only checkpoints <= t.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...budget import MeteredModel
from ...registry import arm


def _probe_logits(model: MeteredModel, ctx) -> torch.Tensor:
    return model.logits(ctx.probe)[:, :-1]             # position p predicts token p+1


def repeat_losses(model: MeteredModel, ctx) -> tuple[np.ndarray, np.ndarray]:
    """Per-token loss on the second copy's tokens and on the same tokens' first occurrence."""
    logits = _probe_logits(model, ctx)
    tokens = ctx.probe[:, 1:]
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1), reduction="none")
    nll = nll.reshape(tokens.shape).numpy()
    rows, late = np.nonzero(ctx.probe_mask)
    early = late - ctx.language.segment_len
    return nll[rows, late], nll[rows, early]


def heldout_loss_and_accuracy(model: MeteredModel, ctx) -> tuple[float, float]:
    """The practitioner's held-out eval: repeats of the probe batch, or the validation pairs."""
    if ctx.kind == "induction":
        logits = _probe_logits(model, ctx)
        tokens = ctx.probe[:, 1:]
        rows, pos = np.nonzero(ctx.probe_mask)
        lg, tg = logits[rows, pos], tokens[rows, pos]
    else:
        lg, tg = model.logits(ctx.val_inputs), ctx.val_targets
    return float(F.cross_entropy(lg, tg).item()), float((lg.argmax(-1) == tg).float().mean().item())


@arm("in-context-loss", family="baseline", access="black-box")
class InContextLoss:
    kinds = ("induction",)

    def score_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        out = []
        for m in checkpoints:
            late, early = repeat_losses(m, ctx)
            out.append(float(early.mean() - late.mean()))
        return np.array(out)


@arm("targeted-eval", family="baseline", access="black-box")
class TargetedEval:
    def score_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        return np.array([heldout_loss_and_accuracy(m, ctx)[1] for m in checkpoints])


def extrapolate(values: np.ndarray, steps: np.ndarray, window: int, horizon: float) -> np.ndarray:
    """Causal linear forecast: the line through the last `window` points, `horizon` steps ahead."""
    out = np.array(values, dtype=float)
    for t in range(1, len(values)):
        lo = max(0, t - window + 1)
        slope, icept = np.polyfit(steps[lo:t + 1], values[lo:t + 1], 1)
        out[t] = icept + slope * (steps[t] + horizon)
    return out


@arm("loss-trend", family="baseline", access="black-box")
class LossTrend:
    def __init__(self, window: int = 4, horizon: int = 5):
        self.window, self.horizon = window, horizon

    def score_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        steps = np.asarray(ctx.steps, dtype=float)
        every = steps[1] - steps[0] if len(steps) > 1 else 1.0
        val = np.array([heldout_loss_and_accuracy(m, ctx)[0] for m in checkpoints])
        return -extrapolate(val, steps, self.window, self.horizon * every)


@arm("train-loss-trend", family="baseline", access="black-box")
class TrainLossTrend(LossTrend):
    def score_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        steps = np.asarray(ctx.steps, dtype=float)
        every = steps[1] - steps[0] if len(steps) > 1 else 1.0
        return -extrapolate(np.asarray(ctx.train_loss, dtype=float), steps, self.window, self.horizon * every)
