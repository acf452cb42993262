"""Interpretability in the loss (optimisation-pressure): a linear probe on the residual stream at the
answer token, fitted on the labelled episodes, its score penalised in the policy's loss, frozen
(`probe-penalty`) or refitted every k steps on the same episodes under the current policy
(`refitted-probe-penalty`); the control is the same penalty along a random direction of the same
strength (`random-probe-penalty`). The score enters the reward and is differentiated through the
policy's activations (protocols/pressure.py): the gradient the essay warns of, which can move the
representation instead of the behaviour.

`probe-screening` (Wong, Engels & Nanda 2025's alternative to a penalty, on the interp side): the
same frozen probe, its flagged episodes (probability > 0.5) dropped from each batch instead of
penalised, so no gradient ever flows through the probe; its control drops a seeded random share
of each batch, the labelled episodes' hack share, whatever the episodes hold (`random-probe-screening`:
as many samples dropped on the base policy, no information). Not a random direction: on dev seeds
(dev/tune_optimisation_pressure.py) a random direction's fixed cut flagged ever more samples as the
policy drifted along it, so it stopped training altogether and "beat" the probe on hack rate by
leaving the base policy as it was. With the behavioural `screening` arm this answers penalty vs
screening on both sides.

The probe reads the last block's residual stream (the default, not tuned per organism: the
organism's self-report is read out there; chosen on dev seeds 900-902). scikit-learn's
LogisticRegression fits it (C=1, lbfgs); its weights then score episodes in torch, so the penalty is
differentiable.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from ...budget import MeteredModel
from ...models import hooks as _hooks
from ...protocols.pressure import Penalty, PressureContext, train_under_pressure
from ...registry import arm


def probe_hook(model: MeteredModel) -> str:
    return f"blocks.{model.config.n_layers - 1}.hook_resid_post"


class ProbePenalty(Penalty):
    """sigmoid(w . h + b) of the residual `h` at the answer token; refit on the labelled episodes."""

    differentiable = True

    def __init__(self, hook: str, ctx: PressureContext, refit_every: int = 0):
        self.hook, self.ctx, self.refit_every = hook, ctx, refit_every
        self.w, self.b = torch.zeros(1), torch.zeros(())

    def fit_on(self, acts: np.ndarray) -> None:
        y = self.ctx.labels.astype(int)
        if len(set(y.tolist())) < 2:   # one class only: a constant score at its rate
            self.w, self.b = torch.zeros(acts.shape[1]), torch.tensor(8.0 if y.mean() > 0.5 else -8.0)
            return
        lr = LogisticRegression(C=1.0, max_iter=2000).fit(acts, y)
        self.w = torch.tensor(lr.coef_[0], dtype=torch.float32)
        self.b = torch.tensor(float(lr.intercept_[0]))

    def fit(self, model: MeteredModel) -> None:
        _, cache = model.run_with_cache(self.ctx.episodes, [self.hook])
        self.fit_on(cache[self.hook][:, self.ctx.language.action_pos].numpy())

    def refit(self, policy: nn.Module, model: MeteredModel) -> None:
        model.meter.charge("forward_passes", len(self.ctx.episodes))
        was = policy.training
        policy.eval()
        _, cache = _hooks.run_with_cache(policy, self.ctx.episodes, [self.hook])
        policy.train(was)
        self.fit_on(cache[self.hook][:, self.ctx.language.action_pos].numpy())

    def scores(self, prompts, actions, resid):
        return torch.sigmoid(resid @ self.w + self.b)


class RandomDirection(ProbePenalty):
    """The fitted probe's strength along a random direction, biased to flag the labelled share."""

    def fit_on(self, acts: np.ndarray) -> None:
        super().fit_on(acts)
        rng = np.random.default_rng([self.ctx.seed, 71])
        d = rng.standard_normal(acts.shape[1])
        d *= float(self.w.norm()) / np.linalg.norm(d)
        proj = acts @ d
        share = float(np.clip(self.ctx.labels.mean(), 0.0, 1.0))
        cut = float(np.quantile(proj, 1.0 - share)) if 0 < share < 1 else float(proj.max() + 1)
        self.w, self.b = torch.tensor(d, dtype=torch.float32), torch.tensor(-cut, dtype=torch.float32)


class RandomShare(ProbePenalty):
    """Flags each episode by a seeded coin at the labelled hack share (content-blind screening)."""

    differentiable = False

    def fit_on(self, acts: np.ndarray) -> None:
        self.share = float(np.clip(self.ctx.labels.mean(), 0.0, 1.0))
        self.coins = np.random.default_rng([self.ctx.seed, 73])

    def scores(self, prompts, actions, resid):
        return torch.from_numpy((self.coins.random(len(resid)) < self.share).astype(np.float32))


@arm("probe-penalty", family="interp", access="white-box", control=("random-probe-penalty", "no-penalty"))
class ProbePenaltyTrainer:
    """A frozen linear probe on the residual stream, fitted on the labelled episodes, its score in the loss."""

    refit = False
    screen = False
    penalty_class = ProbePenalty

    def train(self, model: MeteredModel, context: PressureContext) -> nn.Module:
        penalty = self.penalty_class(probe_hook(model), context, context.refit_every if self.refit else 0)
        penalty.screen = self.screen
        penalty.fit(model)
        return train_under_pressure(model, context, penalty)


@arm("refitted-probe-penalty", family="interp", access="white-box", control=("random-probe-penalty", "no-penalty"))
class RefittedProbePenaltyTrainer(ProbePenaltyTrainer):
    """The same probe penalty, the probe refitted every k steps on the labelled episodes under the current policy."""

    refit = True


@arm("random-probe-penalty", family="control", access="white-box")
class RandomProbePenaltyTrainer(ProbePenaltyTrainer):
    """The probe penalty along a random direction of the fitted probe's strength (no information, same pressure)."""

    penalty_class = RandomDirection


@arm("probe-screening", family="interp", access="white-box", control=("random-probe-screening", "no-penalty"))
class ProbeScreeningTrainer(ProbePenaltyTrainer):
    """The frozen probe's flagged episodes dropped from each batch instead of penalised (no gradient through it)."""

    screen = True
    ignores_penalty_weight = True   # a dropped sample is dropped at any weight (optimisation-pressure's sweep)


@arm("random-probe-screening", family="control", access="white-box")
class RandomProbeScreeningTrainer(ProbeScreeningTrainer):
    """Screening by a seeded coin at the labelled hack share (no information, as many samples dropped on the base)."""

    penalty_class = RandomShare
