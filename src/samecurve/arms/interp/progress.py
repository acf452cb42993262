"""Interp forecasters for `forecast-emergence`: read the checkpoints' insides, score each one
(higher = the jump is closer), and their controls.

  induction-score   the prefix-matching / induction score of attention heads (Olsson et al. 2022):
                    on fresh sequences with a repeated segment, the attention a head pays from a
                    token in the second copy to the token after that token's first occurrence;
                    the score is the best head's. Induction runs.
  fourier-sparsity  share of the embedding's power in its top few Fourier frequencies (Nanda et
                    al. 2023: the generalising circuit is sparse in the Fourier basis). Grokking.
  restricted-loss   minus the train loss of the logits restricted to the key frequencies' terms
                    cos/sin(w(a + b - c)) (Nanda et al.'s restricted loss). Grokking.
  excluded-loss     train loss with those terms removed, minus the full train loss (Nanda et al.'s
                    excluded loss: it rises as the generalising circuit carries the answer). Grokking.
                    Both fit the key-frequency terms on the logits of inputs drawn from the whole
                    P x P grid, as the paper's 2D DFT over all inputs does (forward passes, no
                    answers needed), then score the train sample (issue 14: fitted on the 48 train
                    inputs only, a pure memoriser's logits, which peak at the right answer there,
                    project onto every frequency, so restricted loss fell and excluded loss rose in
                    runs that never generalised).
  weight-norm       the fall of the total weight norm over the last few checkpoints (Nanda et al.'s
                    weight-norm progress measure), as a relative rate. Both kinds.
Controls: `random-head` (the induction score of one randomly chosen head, fixed per run) and
`<arm>-shuffled-order` (the same arm on the run's checkpoints in a random order, so its signal
keeps its values but loses its time course).

Every score at checkpoint t uses checkpoint t alone (trends: checkpoints <= t). The key
frequencies are found in each checkpoint's own embedding, never the final model's (that would be
hindsight). Fourier bases and the restricted/excluded projections are hand-written (numpy): no
library ships Nanda et al.'s progress measures for an arbitrary model.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...budget import MeteredModel
from ...registry import arm

_CHUNK = 512


def _batched_logits(model: MeteredModel, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([model.logits(c) for c in torch.split(x, _CHUNK)]) if len(x) else torch.empty(0)


# ---- induction heads -------------------------------------------------------------------------------

def head_scores(model: MeteredModel, ctx) -> np.ndarray:
    """[layers, heads] mean attention from second-copy tokens to the token after their first
    occurrence (the prefix-matching target of an induction head), on the context's probe batch."""
    cfg = model.config
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(cfg.n_layers)]
    _, cache = model.run_with_cache(ctx.probe, names)
    rows, qpos = np.nonzero(ctx.probe_mask)            # query p predicts token p+1 in the second copy
    kpos = qpos - ctx.language.segment_len + 1         # the token after the current token's first occurrence
    r, q, k = (torch.from_numpy(a) for a in (rows, qpos, kpos))
    out = np.zeros((cfg.n_layers, cfg.n_heads))
    for layer, name in enumerate(names):
        pat = cache[name]                               # [batch, head, query, key]
        out[layer] = pat[r, :, q, k].mean(0).numpy()
    return out


@arm("induction-score", family="interp", access="white-box", control=("random-head", "induction-score-shuffled-order"))
class InductionScore:
    """Best head's prefix-matching score at each checkpoint."""

    kinds = ("induction",)

    def score_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        return np.array([head_scores(m, ctx).max() for m in checkpoints])


@arm("random-head", family="control", access="white-box")
class RandomHead:
    """The prefix-matching score of one head picked at random (per seed and run), at every checkpoint."""

    kinds = ("induction",)

    def score_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        cfg = checkpoints[0].config
        rng = np.random.default_rng([ctx.seed, ctx.run_index, 41])
        layer, head = int(rng.integers(cfg.n_layers)), int(rng.integers(cfg.n_heads))
        return np.array([head_scores(m, ctx)[layer, head] for m in checkpoints])


# ---- Fourier progress measures (grokking) -----------------------------------------------------------

def fourier_power(embed: np.ndarray) -> np.ndarray:
    """Power of the embedding [P, d] at each frequency 1..P//2 over the residues (constant term dropped)."""
    spec = np.fft.rfft(embed, axis=0)                   # [P//2 + 1, d]
    return (np.abs(spec[1:]) ** 2).sum(1)


def key_frequencies(embed: np.ndarray, n_key: int) -> np.ndarray:
    """The n_key strongest frequencies (1-based) of this checkpoint's embedding."""
    return np.argsort(fourier_power(embed))[::-1][:n_key] + 1


def _embedding(model: MeteredModel) -> np.ndarray:
    return model.copy_model().embed.weight.detach().numpy().astype(np.float64)


@arm("fourier-sparsity", family="interp", access="white-box", control="fourier-sparsity-shuffled-order")
class FourierSparsity:
    """Share of the embedding's Fourier power in its top `n_key` frequencies."""

    kinds = ("grokking",)

    def __init__(self, n_key: int = 3):
        self.n_key = n_key

    def score_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        out = []
        for m in checkpoints:
            p = fourier_power(_embedding(m))
            out.append(np.sort(p)[::-1][: self.n_key].sum() / max(p.sum(), 1e-12))
        return np.array(out)


def _key_basis(inputs: np.ndarray, n_out: int, modulus: int, freqs: np.ndarray) -> np.ndarray:
    """cos/sin(w(a + b - c)) for the key frequencies w = 2 pi k / P, per input and output c: [n*P, 2K]."""
    s = (inputs[:, 0] + inputs[:, 1])[:, None]          # [n, 1]
    c = np.arange(n_out)[None, :]                       # [1, P]
    basis = []
    for k in freqs:
        w = 2 * np.pi * k / modulus
        basis += [np.cos(w * (s - c)), np.sin(w * (s - c))]
    return np.stack([b.ravel() for b in basis], 1)


def key_frequency_logits(logits: np.ndarray, inputs: np.ndarray, modulus: int, freqs: np.ndarray,
                         fit_logits: np.ndarray | None = None, fit_inputs: np.ndarray | None = None) -> np.ndarray:
    """The part of `logits` [n, P] (per-input centred) spanned by the key frequencies' terms, with
    coefficients shared across inputs, fitted by least squares on `fit_logits` of `fit_inputs`
    (Nanda et al.'s restricted logits: fitted over the input grid; default: on `logits` themselves)."""
    fit_logits, fit_inputs = (logits, inputs) if fit_logits is None else (fit_logits, fit_inputs)
    p = logits.shape[1]
    centred = fit_logits - fit_logits.mean(1, keepdims=True)
    coef, *_ = np.linalg.lstsq(_key_basis(fit_inputs, p, modulus, freqs), centred.ravel(), rcond=None)
    return (_key_basis(inputs, p, modulus, freqs) @ coef).reshape(logits.shape)


def _train_logits(model: MeteredModel, ctx) -> np.ndarray:
    return _batched_logits(model, ctx.train_inputs).numpy().astype(np.float64)


def _ce(logits: np.ndarray, targets: torch.Tensor) -> float:
    return float(F.cross_entropy(torch.from_numpy(logits), targets).item())


class _KeyFrequencyLoss:
    """`grid_pairs` inputs drawn uniformly from the P x P grid (one draw per run, every checkpoint
    the same) carry the fit; fewer if the budget cannot pay them at every checkpoint. 300 pairs
    (of 1,369 at P = 37) keep a quick-suite run (31 checkpoints, 48 train inputs) within its 12,000
    forward passes; the whole grid would not."""

    kinds = ("grokking",)

    def __init__(self, n_key: int = 3, grid_pairs: int = 300):
        self.n_key, self.grid_pairs = n_key, grid_pairs

    def grid(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        """The run's grid inputs, sized once from the budget and the checkpoint schedule (known in
        advance), so a checkpoint's score never depends on how many checkpoints came after it."""
        p = ctx.language.modulus
        per_checkpoint = checkpoints[0].meter.remaining("forward_passes") // max(1, len(ctx.steps))
        n = int(min(self.grid_pairs, p * p, max(0, per_checkpoint - len(ctx.train_inputs))))
        cells = np.random.default_rng([ctx.seed, ctx.run_index, 61]).choice(p * p, n, replace=False)
        return np.stack([cells // p, cells % p], 1).astype(np.int64)

    def losses(self, model: MeteredModel, ctx, grid: np.ndarray) -> tuple[float, float, float]:
        """(full, restricted, excluded) train loss at one checkpoint."""
        freqs = key_frequencies(_embedding(model), self.n_key)
        logits = _train_logits(model, ctx)
        inputs = ctx.train_inputs.numpy()
        # Too few grid pairs to pin 2K coefficients down: the train sample carries the fit (the old
        # estimator); never happens at the suites' budgets.
        fit = (_batched_logits(model, torch.from_numpy(grid)).numpy().astype(np.float64), grid) \
            if len(grid) >= 4 * len(freqs) else (None, None)
        key = key_frequency_logits(logits, inputs, ctx.language.modulus, freqs, *fit)
        t = ctx.train_targets
        return _ce(logits, t), _ce(key, t), _ce(logits - key, t)


@arm("restricted-loss", family="interp", access="white-box", control="restricted-loss-shuffled-order")
class RestrictedLoss(_KeyFrequencyLoss):
    """Minus the restricted loss: low when the key-frequency terms alone already fit the train set."""

    def score_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        grid = self.grid(checkpoints, ctx)
        return np.array([-self.losses(m, ctx, grid)[1] for m in checkpoints])


@arm("excluded-loss", family="interp", access="white-box", control="excluded-loss-shuffled-order")
class ExcludedLoss(_KeyFrequencyLoss):
    """Excluded minus full train loss: how much the fit leans on the key-frequency terms."""

    def score_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        grid = self.grid(checkpoints, ctx)
        out = []
        for m in checkpoints:
            full, _, excluded = self.losses(m, ctx, grid)
            out.append(excluded - full)
        return np.array(out)


# ---- weight norm -----------------------------------------------------------------------------------

def weight_norm(model: MeteredModel) -> float:
    return float(torch.sqrt(sum((p.detach() ** 2).sum() for p in model.copy_model().parameters())).item())


def norm_rate(values: np.ndarray, steps: np.ndarray, window: int) -> np.ndarray:
    """Causal |relative change| per 1000 steps over the last `window` checkpoints (0 where too early)."""
    v = np.log(np.maximum(np.asarray(values, float), 1e-12))
    out = np.zeros(len(v))
    for t in range(window, len(v)):
        out[t] = abs(v[t] - v[t - window]) / max(steps[t] - steps[t - window], 1) * 1000
    return out


@arm("weight-norm", family="interp", access="white-box", control="weight-norm-shuffled-order")
class WeightNorm:
    """How fast the total weight norm moves (relative, over the last `window` checkpoints)."""

    def __init__(self, window: int = 3):
        self.window = window

    def score_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        return norm_rate(np.array([weight_norm(m) for m in checkpoints]), np.asarray(ctx.steps), self.window)


# ---- shuffled-order controls -------------------------------------------------------------------------

def shuffled_order(base: type, name: str) -> type:
    """Register `name`: `base` run on the run's checkpoints in a random order (per seed and run)."""

    def score_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        perm = np.random.default_rng([ctx.seed, ctx.run_index, 43]).permutation(len(checkpoints))
        # The arm sees a training run whose checkpoints come in a scrambled order but with the
        # real step numbers: its signal keeps its values and loses its time course.
        return base.score_checkpoints(self, [checkpoints[i] for i in perm], ctx)

    cls = type(base.__name__ + "ShuffledOrder", (base,), {
        "score_checkpoints": score_checkpoints, "__doc__": f"{base.__name__} on checkpoints in shuffled order."})
    return arm(name, family="control", access=base.access)(cls)


InductionScoreShuffled = shuffled_order(InductionScore, "induction-score-shuffled-order")
FourierSparsityShuffled = shuffled_order(FourierSparsity, "fourier-sparsity-shuffled-order")
RestrictedLossShuffled = shuffled_order(RestrictedLoss, "restricted-loss-shuffled-order")
ExcludedLossShuffled = shuffled_order(ExcludedLoss, "excluded-loss-shuffled-order")
WeightNormShuffled = shuffled_order(WeightNorm, "weight-norm-shuffled-order")
