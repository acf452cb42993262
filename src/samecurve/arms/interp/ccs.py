"""Truth probes for `latent-knowledge`: read "is this statement true?" off the residual stream.

  ccs                        Contrast-Consistent Search (Burns et al. 2022): each statement is run
                             twice, followed by TRUE and by FALSE; the residual at that answer token
                             is normalised per side, and a linear probe p(x) = sigmoid(w.x + b) is
                             trained (several random restarts, lowest loss kept) with the
                             consistency loss (p+ - (1 - p-))^2 plus the confidence loss
                             min(p+, p-)^2, on unlabelled statements. Labels (Alice, easy) only fix
                             the sign and pick the layer.
  supervised-contrast-probe  logistic regression on contrast-pair difference features (normalised
                             x+ minus normalised x-), trained on the labelled Alice-easy statements.
  diffmean                   mean-difference direction (true minus false) of the residual at the
                             decision position of the plain statement (Marks & Tegmark style).

Each picks its layer on Alice-easy data only, charging one tuning trial per layer (x C).
Controls: `ccs-shuffled` (CCS trained on pairs whose halves come from different statements, so
consistency means nothing) and every arm on a randomly initialised network.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ...budget import MeteredModel
from ...models.training import adamw
from ...registry import arm
from ..controls import on_random_init
from .activations import residuals


def contrast_features(model: MeteredModel, lang, statements: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Residual at the appended answer token, statement + TRUE and statement + FALSE: two arrays
    [n, n_layers, d_model] (2n forward passes)."""
    n = statements.shape[0]
    seqs = torch.cat([lang.with_answer(statements, lang.true_token), lang.with_answer(statements, lang.false_token)])
    feats = residuals(model, seqs, seqs.shape[1] - 1)
    return feats[:n], feats[n:]


def statement_features(model: MeteredModel, lang, statements: torch.Tensor) -> np.ndarray:
    """Residual at the decision position of the plain statement [n, n_layers, d_model]."""
    return residuals(model, statements, lang.decision_pos)


class _Norm:
    """Per-side mean/std normalisation (Burns et al.), fitted on the training statements."""

    def __init__(self, x: np.ndarray):
        self.mu, self.sd = x.mean(0), x.std(0) + 1e-6

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mu) / self.sd


def _accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float(((scores > 0) == (labels > 0)).mean())


# ---- CCS ---------------------------------------------------------------------------------------

@arm("ccs", family="interp", access="white-box", control=("ccs-shuffled", "ccs-random-init"))
class CCS:
    def __init__(self, restarts: int = 10, epochs: int = 600, lr: float = 1e-2, weight_decay: float = 0.01):
        self.restarts, self.epochs, self.lr, self.weight_decay = restarts, epochs, lr, weight_decay

    def _pairs(self, xp: np.ndarray, xn: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return xp, xn

    def _train_probes(self, pairs: list[tuple[np.ndarray, np.ndarray]], seeds: list[int]) -> list[tuple[np.ndarray, float, float]]:
        """One probe per (xp, xn) pair of arrays (one per layer), every restart of every layer in one
        batched optimisation (each layer's restarts start from `randn` under that layer's seed; the
        loss is a sum of independent terms and AdamW is elementwise, so this is the per-layer loop
        at a third of the Python overhead). Returns, per layer, the weights, bias and loss of its
        lowest-loss restart."""
        tp = torch.stack([torch.as_tensor(xp, dtype=torch.float32) for xp, _ in pairs])  # [L, n, d]
        tn = torch.stack([torch.as_tensor(xn, dtype=torch.float32) for _, xn in pairs])
        d = tp.shape[2]
        w = torch.stack([torch.randn(self.restarts, d, generator=torch.Generator().manual_seed(s)) / np.sqrt(d)
                         for s in seeds]).requires_grad_()                                 # [L, restarts, d]
        b = torch.zeros(len(pairs), 1, self.restarts, requires_grad=True)
        opt = adamw([w, b], lr=self.lr, weight_decay=self.weight_decay)

        def losses() -> torch.Tensor:
            wt = w.transpose(1, 2)
            pp, pn = torch.sigmoid(tp @ wt + b), torch.sigmoid(tn @ wt + b)  # [L, n, restarts]
            return ((pp - (1 - pn)) ** 2).mean(1) + (torch.minimum(pp, pn) ** 2).mean(1)  # [L, restarts]

        for _ in range(self.epochs):
            opt.zero_grad()
            losses().sum().backward()
            opt.step()
        with torch.no_grad():
            final = losses()
        out = []
        for l in range(len(pairs)):
            best = int(final[l].argmin())
            out.append((w[l, best].detach().numpy().astype(np.float64), float(b.detach()[l, 0, best]), float(final[l, best])))
        return out

    @staticmethod
    def _truth(xp: np.ndarray, xn: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
        sig = lambda z: 1.0 / (1.0 + np.exp(-z))
        return 0.5 * (sig(xp @ w + b) + 1.0 - sig(xn @ w + b)) - 0.5

    def fit(self, model: MeteredModel, ctx) -> "CCS":
        lang = ctx.language
        train = torch.cat([ctx.labelled, ctx.unlabelled])
        fp, fn = contrast_features(model, lang, train)
        n_lab = ctx.labelled.shape[0]
        rng = np.random.default_rng([ctx.seed, 41])
        layers, norms, pairs = [], [], []
        for layer in range(fp.shape[1]):
            if not model.meter.try_charge("tuning_trials") and layers:
                break  # the first trial runs even with none left: an arm must pick something
            norm_p, norm_n = _Norm(fp[:, layer]), _Norm(fn[:, layer])
            layers.append(layer)
            norms.append((norm_p, norm_n))
            pairs.append(self._pairs(norm_p(fp[:, layer]), norm_n(fn[:, layer]), rng))
        probes = self._train_probes(pairs, [ctx.seed * 100 + layer for layer in layers])
        best = None
        for layer, (norm_p, norm_n), (w, b, loss) in zip(layers, norms, probes):
            xp, xn = norm_p(fp[:n_lab, layer]), norm_n(fn[:n_lab, layer])
            s = self._truth(xp, xn, w, b)
            acc = _accuracy(s, ctx.labels)
            sign = 1.0 if acc >= 0.5 else -1.0
            cand = (max(acc, 1 - acc), -loss, layer, sign, w, b, norm_p, norm_n)
            if best is None or cand[:2] > best[:2]:
                best = cand
        self.easy_accuracy_, _, self.layer_, self.sign_, self.w_, self.b_, self.norm_p_, self.norm_n_ = best
        return self

    def score_truth(self, model: MeteredModel, ctx, statements: torch.Tensor) -> np.ndarray:
        self.fit(model, ctx)
        fp, fn = contrast_features(model, ctx.language, statements)
        l = self.layer_
        return self.sign_ * self._truth(self.norm_p_(fp[:, l]), self.norm_n_(fn[:, l]), self.w_, self.b_)


@arm("ccs-shuffled", family="control", access="white-box")
class CCSShuffled(CCS):
    """CCS whose training pairs are mismatched (x+ of one statement, x- of another): the
    consistency loss no longer ties the two halves of one statement, so it must lose."""

    def _pairs(self, xp: np.ndarray, xn: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return xp, xn[rng.permutation(len(xn))]


# ---- supervised probe on contrast differences ---------------------------------------------------

# The same L2-penalised logistic loss as sklearn's default lbfgs (intercept unpenalised), solved by
# Newton steps: on 64-128 labelled statements x d_model features it converges in a few iterations
# where lbfgs took ~60 (lbfgs was ~5 s of a latent-knowledge cell per organism).
_SOLVER = "newton-cholesky"


@arm("supervised-contrast-probe", family="interp", access="white-box",
     control="supervised-contrast-probe-random-init")
class SupervisedContrastProbe:
    def __init__(self, Cs: tuple[float, ...] = (0.01, 0.1, 1.0), cv: int = 4):
        self.Cs, self.cv = Cs, cv

    def _diff(self, fp: np.ndarray, fn: np.ndarray, layer: int) -> np.ndarray:
        return self.norms_[layer][0](fp[:, layer]) - self.norms_[layer][1](fn[:, layer])

    def fit(self, model: MeteredModel, ctx) -> "SupervisedContrastProbe":
        fp, fn = contrast_features(model, ctx.language, ctx.labelled)
        self.norms_ = [(_Norm(fp[:, l]), _Norm(fn[:, l])) for l in range(fp.shape[1])]
        y = ctx.labels
        cv = int(min(self.cv, np.bincount(y, minlength=2).min()))
        best = None
        for layer in range(fp.shape[1]):
            for C in self.Cs:
                if not model.meter.try_charge("tuning_trials") and best is not None:
                    break  # the first trial runs even with none left: an arm must pick something
                clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, solver=_SOLVER, max_iter=2000))
                acc = cross_val_score(clf, self._diff(fp, fn, layer), y, cv=cv).mean() if cv >= 2 else 0.5
                if best is None or acc > best[0]:
                    best = (acc, layer, C)
        self.cv_accuracy_, self.layer_, self.C_ = best
        self.clf_ = make_pipeline(StandardScaler(), LogisticRegression(C=self.C_, solver=_SOLVER, max_iter=2000))
        self.clf_.fit(self._diff(fp, fn, self.layer_), y)
        return self

    def score_truth(self, model: MeteredModel, ctx, statements: torch.Tensor) -> np.ndarray:
        self.fit(model, ctx)
        fp, fn = contrast_features(model, ctx.language, statements)
        return self.clf_.decision_function(self._diff(fp, fn, self.layer_))


# ---- difference in means ----------------------------------------------------------------------

@arm("diffmean", family="interp", access="white-box", control="diffmean-random-init")
class DiffMean:
    @staticmethod
    def _direction(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x[y == 1].mean(0) - x[y == 0].mean(0)

    def fit(self, model: MeteredModel, ctx) -> "DiffMean":
        feats = statement_features(model, ctx.language, ctx.labelled)
        y = ctx.labels
        half = np.random.default_rng([ctx.seed, 43]).permutation(len(y)) % 2 == 0
        best = None
        for layer in range(feats.shape[1]):
            if not model.meter.try_charge("tuning_trials") and best is not None:
                break  # the first trial runs even with none left: an arm must pick something
            x = feats[:, layer]
            accs = []
            for tr in (half, ~half):  # two-fold: direction from one half, accuracy on the other
                if len(set(y[tr])) < 2 or len(set(y[~tr])) < 2:
                    continue
                d = self._direction(x[tr], y[tr])
                mid = 0.5 * (x[tr][y[tr] == 1].mean(0) + x[tr][y[tr] == 0].mean(0)) @ d
                accs.append(_accuracy(x[~tr] @ d - mid, y[~tr]))
            acc = float(np.mean(accs)) if accs else 0.5
            if best is None or acc > best[0]:
                best = (acc, layer)
        self.easy_accuracy_, self.layer_ = best
        self.w_ = self._direction(feats[:, self.layer_], y)
        return self

    def score_truth(self, model: MeteredModel, ctx, statements: torch.Tensor) -> np.ndarray:
        self.fit(model, ctx)
        return statement_features(model, ctx.language, statements)[:, self.layer_] @ self.w_


# ---- random-init controls ---------------------------------------------------------------------

CCSOnRandomInit = on_random_init(CCS, "ccs-random-init")
SupervisedContrastProbeOnRandomInit = on_random_init(SupervisedContrastProbe, "supervised-contrast-probe-random-init")
DiffMeanOnRandomInit = on_random_init(DiffMean, "diffmean-random-init")
