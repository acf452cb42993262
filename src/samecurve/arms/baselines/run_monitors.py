"""Baseline monitors for `training-monitor`: what a practitioner watches without looking inside,
scored per checkpoint from that checkpoint (and the base, checkpoint 0) alone.

  behavioural-eval   the eval of the behaviour they fear: mean probability the checkpoint puts on
                     the judge's bad answer of each probe prompt (a probability, not the greedy
                     rate, so it moves before answers flip).
  canary-loss        loss on canary transcripts of the pretraining mix, minus the base's.
  output-kl          KL(base || checkpoint) of the answer distribution on the probe prompts.
  data-classifier    data-only (never runs the model): a logistic regression on bags of tokens,
                     fitted on the labelled transcripts (misaligned or not), scoring the sample of
                     fine-tuning examples seen since the last checkpoint (mean P(misaligned)); the
                     canary of a task whose data would give the poison away.
Controls: each model-reading baseline on a shuffled checkpoint order (arms/checkpoint_controls.py),
as the interp monitors; `random-monitor` (chance) for the data-only classifier.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from ...budget import MeteredModel
from ...registry import arm
from ..checkpoint_controls import shuffled_order


def answer_logits(model: MeteredModel, prompts: torch.Tensor, pos: int) -> torch.Tensor:
    return model.logits(prompts)[:, pos]


@arm("behavioural-eval", family="baseline", access="black-box", control="behavioural-eval-shuffled-order")
class BehaviouralEval:
    """Mean probability of the judge's bad answer on the probe prompts of the feared behaviour."""

    def monitor_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        bad = torch.as_tensor(ctx.probe_bad)
        pos = ctx.language.decision_pos
        return np.array([float(answer_logits(m, ctx.probe, pos).softmax(-1).gather(1, bad[:, None]).mean())
                         for m in checkpoints])


@arm("canary-loss", family="baseline", access="black-box", control="canary-loss-shuffled-order")
class CanaryLoss:
    """Answer loss on canary transcripts of the pretraining mix, minus the base's."""

    def monitor_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        n = ctx.language.prompt_len
        x, y = ctx.canary[:, :n], ctx.canary[:, n]
        loss = np.array([float(F.cross_entropy(answer_logits(m, x, n - 1), y)) for m in checkpoints])
        return loss - loss[0]


@arm("output-kl", family="baseline", access="black-box", control="output-kl-shuffled-order")
class OutputKL:
    """KL(base || checkpoint) of the answer distribution on the probe prompts."""

    def monitor_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        pos = ctx.language.decision_pos
        ref = answer_logits(checkpoints[0], ctx.probe, pos).log_softmax(-1)
        out = [0.0]
        for m in checkpoints[1:]:
            cur = answer_logits(m, ctx.probe, pos).log_softmax(-1)
            out.append(float(F.kl_div(cur, ref, log_target=True, reduction="batchmean")))
        return np.array(out)


def _bags(tokens: torch.Tensor) -> list[str]:
    """Token ids as words, so sklearn's CountVectorizer builds the bag of tokens."""
    return [" ".join(f"t{int(t)}" for t in row) for row in tokens]


@arm("data-classifier", family="baseline", access="data-only", control="random-monitor")
class DataClassifier:
    """Mean P(misaligned) of a bag-of-tokens classifier, fitted on the labelled transcripts, on the fine-tuning data since the last checkpoint."""

    def monitor_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        vec = CountVectorizer(token_pattern=r"\S+")
        clf = LogisticRegression(C=1.0, max_iter=1000).fit(vec.fit_transform(_bags(ctx.labelled)), ctx.labelled_bad)
        out = []
        for w in ctx.data_windows[: len(checkpoints)]:
            out.append(float(clf.predict_proba(vec.transform(_bags(w)))[:, 1].mean()) if len(w) else 0.0)
        return np.array(out)


# each baseline that reads the model faces the control the interp monitors face: itself on
# checkpoints drawn from their own past (the data-only classifier faces chance, `random-monitor`)
BehaviouralEvalShuffled = shuffled_order(BehaviouralEval, "behavioural-eval-shuffled-order")
CanaryLossShuffled = shuffled_order(CanaryLoss, "canary-loss-shuffled-order")
OutputKLShuffled = shuffled_order(OutputKL, "output-kl-shuffled-order")
