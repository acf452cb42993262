"""Behavioural regimes and controls of optimisation-pressure (protocols/pressure.py): a monitor on the
transcript (prompt and answer tokens), fitted on the same labelled episodes as the probe, its score
in the reward (`output-monitor-penalty`) or its flagged samples dropped (`screening`, Wong, Engels
& Nanda 2025's alternative to a penalty); controls: plain reward optimisation (`no-penalty`) and
the ground-truth penalty (`oracle-penalty`: what is reachable).

The monitor reads tokens, never activations: scikit-learn's logistic regression on one-hot tokens
of the prompt and the answer and on every (answer, prompt token) pair (a transcript reader's
generic features, not the construction's rule: the shortcut is one pair pattern among 8 x 29 x 3),
its C chosen by 3-fold cross-validation over (0.1, 1, 10) when each class has >= 3 episodes.
A training regime needs the weights, so every arm here declares white-box access; what a baseline
reads for its penalty is the transcript alone.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import OneHotEncoder
from torch import nn

from ...budget import MeteredModel
from ...protocols.pressure import Penalty, PressureContext, train_under_pressure
from ...registry import arm


def transcript_columns(prompts: np.ndarray, actions: np.ndarray, vocab: int) -> np.ndarray:
    """Categorical columns: the content tokens of the prompt, the answer, and each (answer, token) pair."""
    content = np.asarray(prompts)[:, 1:-1]
    act = np.asarray(actions)[:, None]
    return np.concatenate([content, act, act * vocab + content], 1)


class OutputMonitor(Penalty):
    """P(hack | transcript) from a logistic regression on transcript features."""

    def __init__(self, ctx: PressureContext, screen: bool = False):
        self.ctx, self.screen, self.vocab = ctx, screen, ctx.language.vocab_size
        eps = ctx.episodes.numpy()
        cols = transcript_columns(eps[:, :-1], eps[:, -1], self.vocab)
        self.encoder = OneHotEncoder(handle_unknown="ignore").fit(cols)
        y = ctx.labels.astype(int)
        counts = np.bincount(y, minlength=2)
        if counts.min() == 0:
            self.constant, self.clf = float(y.mean()), None
            return
        self.constant = None
        x = self.encoder.transform(cols)
        lr = LogisticRegression(C=1.0, max_iter=2000)
        self.clf = (GridSearchCV(lr, {"C": [0.1, 1.0, 10.0]}, cv=3).fit(x, y) if counts.min() >= 3 else lr.fit(x, y))

    def scores(self, prompts, actions, resid):
        if self.clf is None:
            return torch.full((len(prompts),), self.constant)
        x = self.encoder.transform(transcript_columns(prompts, actions, self.vocab))
        return torch.tensor(self.clf.predict_proba(x)[:, 1], dtype=torch.float32)


class OraclePenalty(Penalty):
    """Ground truth: 1 where the episode hacks."""

    def __init__(self, ctx: PressureContext):
        self.oracle = ctx.oracle

    def scores(self, prompts, actions, resid):
        return torch.tensor(self.oracle(prompts, actions), dtype=torch.float32)


@arm("output-monitor-penalty", family="baseline", access="white-box", control="no-penalty")
class OutputMonitorPenaltyTrainer:
    """A monitor on the transcript (prompt and answer tokens), fitted on the same labels, its score in the reward."""

    screen = False

    def train(self, model: MeteredModel, context: PressureContext) -> nn.Module:
        return train_under_pressure(model, context, OutputMonitor(context, screen=self.screen))


@arm("screening", family="baseline", access="white-box", control="no-penalty")
class ScreeningTrainer(OutputMonitorPenaltyTrainer):
    """The transcript monitor's flagged samples dropped from each batch instead of penalised."""

    screen = True
    ignores_penalty_weight = True   # a dropped sample is dropped at any weight (optimisation-pressure's sweep)


@arm("no-penalty", family="control", access="white-box")
class NoPenaltyTrainer:
    """Plain reward optimisation: what the loophole does to a policy nobody watches."""

    ignores_penalty_weight = True   # no penalty to weigh (optimisation-pressure's sweep)

    def train(self, model: MeteredModel, context: PressureContext) -> nn.Module:
        return train_under_pressure(model, context, Penalty())


@arm("oracle-penalty", family="control", access="white-box")
class OraclePenaltyTrainer:
    """The ground-truth hack penalty (reads the construction): what any monitor's penalty could reach."""

    reads_ground_truth = True

    def train(self, model: MeteredModel, context: PressureContext) -> nn.Module:
        if context.oracle is None:
            raise ValueError("oracle-penalty needs the task's ground truth (context.oracle)")
        return train_under_pressure(model, context, OraclePenalty(context))
