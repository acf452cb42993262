"""Steering vectors for `steering`: add a direction to the residual stream.

  mean-difference-steering  DiffMean / ActAdd averaged over examples: mean activation on target-topic
                            texts minus mean on the others (Turner et al. 2023; AxBench's DiffMean),
                            added at every position, as AxBench's DiffMean steering is (see INJECTION).
  actadd-steering           ActAdd as published (Turner et al. 2023, "Activation Addition"): the
                            per-position difference of one minimal prompt pair, here `BOS <topic:k>`
                            minus `BOS .` (the target's marker against the full stop, the neutral
                            token that stands where a marker would), front-aligned and added at the
                            user prompt's first positions, in the prompt's forward pass only; the
                            coefficient multiplies the raw difference (no rescaling), as in the paper.
  probe-steering            the target class's weight vector of a multinomial logistic-regression
                            probe (sklearn) on token activations.
  sae-feature-steering      the decoder direction of the sparse-autoencoder feature most active on
                            target-topic tokens relative to the rest (the organism's released TopK
                            SAE at that layer, trained once on its corpus: dictionaries.py).
  random-direction-steering the control: a random Gaussian direction.
Every arm sweeps each layer's residual input (`blocks.{l}.hook_resid_pre`) and a coefficient. The
single-direction arms scale their direction to the norm of that layer's mean-difference vector, so
a strength `a` adds a vector of the same length in every such arm (the control is "a random
direction of equal norm"). One tuning trial per (layer, coefficient) setting: the coefficients are
log-spaced over `coef_range`, as many per layer as the tuning-trial budget allows.

INJECTION. ActAdd adds its vector in the forward pass over the user's prompt only: with a KV cache
the generated tokens attend to the steered prompt positions but are not steered themselves.
`topics.generate` has no KV cache (every step reruns the whole prefix), so "the prompt's forward
pass only" is: add at positions < the prompt length, at every step (`prompt_steered_logits`).
mean-difference, probe-, SAE- and random-direction steering add at every position
(`protocols.steering.steered_logits`), as AxBench steers; `inject="prompt"` gives any of them
ActAdd's injection. On dev seeds 900-905 (topics-three, quick budget, 36 instances;
dev/tune_actadd.py) mean-difference steering at prompt positions only scored 0.487 (SE 0.026)
against 0.517 (SE 0.020) at every position, so the all-position default stays (the audit's 0.82 for
prompt-only injection was not reproduced at this normalisation).

The coefficient range of the single-direction arms, 0.2-1.6, was chosen on dev seeds 900-905
(topics-tiny, quick budget) by dev/tune_steering.py when every arm injected at all positions:
held-out harmonic mean over the four interp arms 0.395 (SE 0.016) against 0.368 for the old
0.3-2.4 and 0.368-0.384 for 0.1-0.8, 0.5-4, 1-8 and 0.25-8 (one-standard-error rule, ties to the
lower range); re-checked for quick's `topics-three` on dev seeds (interp mean 0.454 at 0.2-1.6,
0.460 at 0.5-4, 0.449 at 0.3-2.4). ActAdd's coefficient multiplies the raw pair difference, so its
range is its own: 2-16 (ACTADD_RANGE), chosen on the same dev seeds by dev/tune_actadd.py: held-out
harmonic mean 0.799 (SE 0.013) against 0.783 at 1-8, 0.727 at 0.5-4 and 0.363 at the shared 0.2-1.6
(one-SE rule, ties to the lower range; the best is the top candidate, a wider sweep is untried).

All settings of one arm are generated in one batch (`SteerContext.sample_copies`): the same text
and the same forward passes as one `ctx.sample` per setting (tests/tasks/test_steering_batched.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ... import dictionaries
from ...budget import MeteredModel
from ...protocols.steering import Setting, SteerContext, affordable, steered_logits, steered_logits_per_copy
from ...registry import arm

COEF_RANGE = (0.2, 1.6)   # strengths, in multiples of the layer's mean-difference norm (log-spaced)
ACTADD_RANGE = (2.0, 16.0)  # ActAdd's coefficients, multiples of the raw pair difference (dev/tune_actadd.py)
CONTROL = "random-direction-steering"


def coefficients(lo: float, hi: float, k: int) -> list[float]:
    """k strengths log-spaced over [lo, hi] (the geometric middle if k is 1)."""
    if k <= 1:
        return [float(np.sqrt(lo * hi))]
    return [round(float(a), 4) for a in np.geomspace(lo, hi, k)]


def _prompt_add(vec: torch.Tensor, prompt_len: int) -> torch.Tensor:
    """[prompt_len, d]: a [d] vector at every prompt position, or a [k, d] one front-aligned
    (positions 0..k-1, zero after; ActAdd pads the shorter side, here the steered prompt is longer)."""
    v = vec.to(torch.float32)
    if v.dim() == 1:
        return v.expand(prompt_len, -1).clone()
    out = torch.zeros(prompt_len, v.shape[-1])
    k = min(prompt_len, v.shape[0])
    out[:k] = v[:k]
    return out


def _add_at_front(add: torch.Tensor):
    """A hook adding add [rows, P, d] to the first P positions of the residual stream."""
    p = add.shape[1]
    return lambda act, _name: torch.cat([act[:, :p] + add, act[:, p:]], 1)


def prompt_steered_logits(model: MeteredModel, hook: str, vector: torch.Tensor,
                          prompt_len: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Logits with `vector` added at `hook` at the prompt's positions only (< prompt_len): with no
    KV cache this is ActAdd's "steer the prompt's forward pass" (generated tokens see the steered
    prompt through attention, their own residuals are not steered)."""
    add = _prompt_add(vector, prompt_len)[None]
    return lambda toks: model.run_with_hooks(toks, [(hook, _add_at_front(add))])


def prompt_steered_logits_per_copy(model: MeteredModel, vectors: list[tuple[str, torch.Tensor]], n: int,
                                   prompt_len: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """`prompt_steered_logits` for `ctx.sample_copies`: copy i (rows i*n..(i+1)*n) gets vectors[i]
    at its hook, the other copies zero there (x + 0 is x), one forward per step for every setting."""
    d = int(vectors[0][1].shape[-1])
    per_hook: dict[str, torch.Tensor] = {}
    for i, (hook, vec) in enumerate(vectors):
        rows = per_hook.setdefault(hook, torch.zeros(len(vectors) * n, prompt_len, d))
        rows[i * n:(i + 1) * n] = _prompt_add(vec, prompt_len)
    hooks = [(hook, _add_at_front(add)) for hook, add in per_hook.items()]
    return lambda toks: model.run_with_hooks(toks, hooks)


class VectorSteerer:
    """Shared sweep: the subclass says which direction; this adds it at each layer and coefficient.
    `inject` is "all" (every position, `steered_logits`) or "prompt" (positions < the prompt
    length, `prompt_steered_logits`); `rescale` scales the direction to the layer's mean-difference
    norm (False: the coefficient multiplies the direction as returned, as ActAdd's does)."""

    inject = "all"
    rescale = True

    def __init__(self, coef_range: tuple[float, float] = COEF_RANGE, layers: tuple[int, ...] | None = None,
                 inject: str | None = None):
        self.coef_range, self.layers = tuple(coef_range), layers
        if inject is not None:
            if inject not in ("all", "prompt"):
                raise ValueError(f"inject must be 'all' or 'prompt', not {inject!r}")
            self.inject = inject

    def direction(self, x: torch.Tensor, labels: np.ndarray, target: int, ctx: SteerContext, layer: int) -> torch.Tensor:
        """A direction (any norm) from token activations x [texts, pos, d] and text labels."""
        raise NotImplementedError

    def prepare(self, model: MeteredModel, ctx: SteerContext, target: int, hooks: list[str]) -> None:
        """Anything a subclass needs besides the labelled texts' activations (e.g. a prompt pair's)."""

    def steer(self, model: MeteredModel, ctx: SteerContext, target: int) -> list[Setting]:
        layers = list(self.layers if self.layers is not None else range(model.config.n_layers))
        hooks = [f"blocks.{layer}.hook_resid_pre" for layer in layers]
        self.prepare(model, ctx, target, hooks)
        _, cache = model.run_with_cache(ctx.labelled, hooks)
        per_layer = coefficients(*self.coef_range, max(1, int(model.meter.remaining("tuning_trials")) // len(layers)))
        self.vectors_: dict[str, torch.Tensor] = {}
        plan: list[tuple[str, float, torch.Tensor]] = []
        for layer, hook in zip(layers, hooks):
            x = cache[hook][:, 1:].float()  # drop BOS: the same at every text
            d = self.direction(x, ctx.labels, target, ctx, layer)
            vec = d / d.norm().clamp(min=1e-8) * mean_difference(x, ctx.labels, target).norm() if self.rescale else d
            self.vectors_[hook] = vec
            plan += [(hook, a, a * vec) for a in per_layer]
        # Every affordable setting in one batched generation (one tuning trial each, every row
        # charged): the same generations as one `ctx.sample` per setting, a fraction of the time.
        plan = plan[:affordable(model, ctx, len(plan))]
        if not plan:
            return []
        model.meter.charge("tuning_trials", len(plan))
        n = int(ctx.prompts.shape[0])
        vectors = [(h, v) for h, _, v in plan]
        logits = (prompt_steered_logits_per_copy(model, vectors, n, int(ctx.prompts.shape[1])) if self.inject == "prompt"
                  else steered_logits_per_copy(model, vectors, n))
        gens = ctx.sample_copies(logits, len(plan))
        return [Setting(hook, a, g) for (hook, a, _), g in zip(plan, gens)]

    def single_setting_logits(self, model: MeteredModel, ctx: SteerContext, hook: str,
                              vector: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """The logits of one setting alone, with this arm's injection (for tests of the batching)."""
        if self.inject == "prompt":
            return prompt_steered_logits(model, hook, vector, int(ctx.prompts.shape[1]))
        return steered_logits(model, hook, vector)


def mean_difference(x: torch.Tensor, labels: np.ndarray, target: int) -> torch.Tensor:
    is_t = torch.from_numpy(np.asarray(labels) == target)
    return x[is_t].mean((0, 1)) - x[~is_t].mean((0, 1))


@arm("mean-difference-steering", family="interp", access="white-box", control=CONTROL)
class MeanDifferenceSteering(VectorSteerer):
    """The mean difference, added at every position (AxBench's DiffMean steering; see INJECTION)."""

    def direction(self, x, labels, target, ctx, layer):
        return mean_difference(x, labels, target)


@arm("actadd-steering", family="interp", access="white-box", control=CONTROL)
class ActAddSteering(VectorSteerer):
    """ActAdd (Turner et al. 2023): the per-position difference of a minimal prompt pair, like the
    paper's "Love" - "Hate": `BOS <topic:target>` minus `BOS <neutral>` (neutral: the full stop,
    the token a sentence-initial marker follows in training), taken at the layer's residual input,
    front-aligned onto the user prompt (position 0, BOS, gets their zero difference; position 1 the
    marker's) and added in the prompt's forward pass only, times a coefficient on the raw
    difference. Two forward passes (the pair), charged."""

    inject = "prompt"
    rescale = False

    def __init__(self, coef_range: tuple[float, float] = ACTADD_RANGE, neutral: int | None = None, **kw):
        super().__init__(coef_range=coef_range, **kw)
        self.neutral = neutral  # a token id; None: the full stop

    def pair(self, ctx: SteerContext, target: int) -> torch.Tensor:
        lang = ctx.language
        neutral = lang.end if self.neutral is None else int(self.neutral)
        return torch.tensor([[lang.bos, lang.marker(target)], [lang.bos, neutral]], dtype=ctx.prompts.dtype)

    def prepare(self, model, ctx, target, hooks):
        _, cache = model.run_with_cache(self.pair(ctx, target), hooks)
        self.pair_diff_ = {h: (cache[h][0] - cache[h][1]).float() for h in hooks}  # [2, d] per hook

    def direction(self, x, labels, target, ctx, layer):
        return self.pair_diff_[f"blocks.{layer}.hook_resid_pre"]


@arm("probe-steering", family="interp", access="white-box", control=CONTROL)
class ProbeSteering(VectorSteerer):
    """The target row of a multinomial logistic-regression probe for the topic, on token activations."""

    def __init__(self, C: float = 1.0, **kw):
        super().__init__(**kw)
        self.C = C

    def direction(self, x, labels, target, ctx, layer):
        n, p, d = x.shape
        feats = x.reshape(n * p, d).numpy()
        y = np.repeat(np.asarray(labels), p)
        scaler = StandardScaler().fit(feats)  # standardised: lbfgs converges ~4x faster than on raw
        clf = LogisticRegression(C=self.C, max_iter=2000).fit(scaler.transform(feats), y)
        row = int(np.flatnonzero(clf.classes_ == target)[0])
        return torch.from_numpy((clf.coef_[row] / scaler.scale_).astype(np.float32))  # the logit's gradient in raw space


@arm("sae-feature-steering", family="interp", access="white-box", control=CONTROL)
class SAEFeatureSteering(VectorSteerer):
    """The organism's released SAE at each layer (dictionaries.py: TopK, trained once on its
    training corpus): the latent whose mean code differs most between target-topic tokens and the
    rest of the labelled texts gives its decoder row as the direction. The SAEs' training is an
    amortised cost (in the detail), not this arm's spend."""

    def direction(self, x, labels, target, ctx, layer):
        d = dictionaries.read(ctx, f"blocks.{layer}.hook_resid_pre", "sae-feature-steering")
        with torch.no_grad():
            codes = d.sae.encode(x)
        is_t = torch.from_numpy(np.asarray(labels) == target)
        gap = codes[is_t].mean((0, 1)) - codes[~is_t].mean((0, 1))
        self.feature_ = int(gap.argmax())
        return d.sae.W_dec[self.feature_].detach().clone()


@arm(CONTROL, family="control", access="white-box")
class RandomDirectionSteering(VectorSteerer):
    """A random Gaussian direction, scaled like the others to the mean-difference norm."""

    def direction(self, x, labels, target, ctx, layer):
        g = torch.Generator().manual_seed(int(ctx.seed) * 1000 + 17 * layer + int(target))
        return torch.randn(x.shape[-1], generator=g)
