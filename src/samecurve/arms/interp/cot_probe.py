"""A linear probe on the residual stream at the scratchpad (`cot-monitor` interp arm).

After Chan et al. 2025 (probes on chain-of-thought activations detect early, and beat text monitors)
and Goldowsky-Dill et al. 2025 (linear deception probes): a logistic-regression probe (scikit-learn)
reads the residual stream at the last scratchpad token a monitor may see (of a prefix, or of the
whole episode: there, where the action is decided), trained on the labelled episodes read alike. Its read-out, chosen once by
cross-validation on the whole labelled episodes (every setting a charged tuning trial, as the text
monitors' own choice): the residual stream after which block, and C.
Every sequence the model runs on is charged: the labelled episodes once (every position is read
from that one run: the model is causal, so a prefix's activations are the whole episode's), the
scored episodes once per cut. `cot-activation-probe-random-init` is the same probe on a randomly
initialised copy of the organism: what the read-out gets without what the organism learned.

Block and C are chosen inside the budget (above). The one fixed choice, where the probe reads on a
whole episode, was set on dev seeds 900-902 only (dev/tune_cot_monitor.py): reading the action
token's own position gave whole-episode AUROC 0.93 / 0.92 / 0.88 (faithful / performative /
obfuscated, seed 900), the last scratchpad token 0.97 / 0.94 / 0.97 (mean of 900-902).
"""

from __future__ import annotations

import numpy as np
import torch

from ...budget import MeteredModel
from ...protocols.cot import CotContext
from ...registry import arm
from ..controls import on_random_init
from ..monitor_fit import choose_by_cv, fit_scaled_logreg
from .activations import residuals


@arm("cot-activation-probe", family="interp", access="white-box",
     control=("random-cot-monitor", "cot-activation-probe-random-init"))
class CotActivationProbe:
    """Logistic-regression probe on the residual stream at the last visible scratchpad token."""

    def __init__(self, Cs: tuple[float, ...] = (0.01, 0.1, 1.0), cv: int = 4):
        self.Cs, self.cv = tuple(Cs), cv

    def _readouts(self, n_layers: int) -> list[tuple[int, ...]]:
        """The candidate read-outs: each block's output alone (with three Cs, six tuning trials for two
        blocks: what smoke's budget pays; all blocks side by side would be a third that it cannot)."""
        return [(l,) for l in range(n_layers)]

    def _labelled(self, model: MeteredModel, ctx: CotContext) -> np.ndarray:
        """Residual streams of the labelled episodes at every position [m, n_layers, pos, d] (one run, cached)."""
        if getattr(self, "ctx_", None) is not ctx:
            self.ctx_, self.fitted_ = ctx, {}
            self.train_ = residuals(model, ctx.episodes, slice(None))
            last = ctx.language.action_pos - 1     # the whole scratchpad's last token: choose the read-out there
            options = [(r, C) for r in self._readouts(self.train_.shape[1]) for C in self.Cs]
            feats = {r: self._features(self.train_[:, :, last], r) for r in self._readouts(self.train_.shape[1])}
            self.readout_, self.C_ = choose_by_cv(model.meter, options, lambda o: feats[o[0]], ctx.labels, self.cv)
        return self.train_

    @staticmethod
    def _features(acts: np.ndarray, readout: tuple[int, ...]) -> np.ndarray:
        return acts[:, list(readout)].reshape(len(acts), -1)

    def score_episodes(self, model: MeteredModel, ctx: CotContext, episodes: torch.Tensor) -> np.ndarray:
        train = self._labelled(model, ctx)
        # the last visible scratchpad token (on a whole episode: where the action is decided; the action
        # token itself is the action monitor's to read)
        pos = min(episodes.shape[1], ctx.language.action_pos) - 1
        if pos not in self.fitted_:
            self.fitted_[pos] = fit_scaled_logreg(self._features(train[:, :, pos], self.readout_), ctx.labels, self.C_)
        clf = self.fitted_[pos]
        feats = self._features(residuals(model, episodes, pos), self.readout_)
        return clf.decision_function(feats) if clf is not None else np.zeros(len(episodes))


CotActivationProbeOnRandomInit = on_random_init(CotActivationProbe, "cot-activation-probe-random-init")
