"""Automated circuit discovery: ACDC-style greedy edge pruning and edge attribution patching, both
with resample ablation on the organism's edge graph; and their control, a random subgraph.

After Conmy et al., "Towards Automated Circuit Discovery" (ACDC) and Syed et al., "Attribution
Patching Outperforms Automated Circuit Discovery" (EAP), with Hanna et al.'s integrated-gradients
variant (EAP-IG). All measure an edge by what resample-ablating it does to the model's own answer
distribution (no labels needed). Hand-written: the
ACDC package needs TransformerLens's HookedTransformer (gone in 4.x) and a GPU-era stack; the
algorithms are short. Every subgraph returned is path-pruned (`models.graph.on_paths`), and the
control is a random connected subgraph of the same size (`models.graph.random_connected`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...budget import MeteredModel
from ...errors import BudgetExceeded
from ...models.graph import on_paths, random_connected
from ...protocols.faithfulness import Edge, FaithfulnessContext, Patcher
from ...registry import arm


def _kl(full_logp: torch.Tensor, logits: torch.Tensor) -> float:
    """KL(full || patched) of the answer distribution, averaged over prompts (ACDC's metric)."""
    return float(F.kl_div(logits.log_softmax(-1), full_logp, log_target=True, reduction="batchmean"))


def _patcher(model: MeteredModel, ctx: FaithfulnessContext, n: int) -> Patcher:
    """n prompts and n independently drawn ones to resample-ablate from."""
    rng = np.random.default_rng([ctx.seed, 211])
    (clean, positions), (corrupt, _) = ctx.prompts(rng, n), ctx.prompts(rng, n)
    return Patcher(model, clean, corrupt, positions)


@arm("acdc", family="interp", access="white-box", control="random-subgraph")
class ACDC:
    """Greedy pruning in reverse topological order: drop an edge if resample-ablating it raises
    KL(full || subgraph) by less than a threshold tau. ACDC's output size follows from tau; to
    return exactly `size` edges, sweeps repeat with a rising tau (set from the increases measured
    in the previous sweep) and stop the moment `size` edges remain. Asked for smaller sizes later,
    it prunes on from where it stopped, so its subgraphs are nested."""

    def __init__(self, sweeps_expected: float = 3.0, min_prompts: int = 4, max_prompts: int = 64):
        self.sweeps_expected, self.min_prompts, self.max_prompts = sweeps_expected, min_prompts, max_prompts
        self._state: dict[int, dict] = {}

    def _start(self, model: MeteredModel, ctx: FaithfulnessContext) -> dict:
        e = len(ctx.edges)
        n = int(model.meter.remaining("forward_passes") // (self.sweeps_expected * e + 3))
        n = max(self.min_prompts, min(self.max_prompts, n))
        patcher = _patcher(model, ctx, n)
        full = patcher.answer_logits(torch.ones(e)).log_softmax(-1)
        none = _kl(full, patcher.answer_logits(torch.zeros(e)))
        return {"patcher": patcher, "full": full, "mask": torch.ones(e), "cur": 0.0,
                "tau": 1e-3 * max(none, 1e-6), "delta": np.full(e, np.inf)}

    def explain(self, model: MeteredModel, ctx: FaithfulnessContext, size: int) -> list[Edge]:
        st = self._state.get(id(model)) or self._state.setdefault(id(model), self._start(model, ctx))
        p, mask, order = st["patcher"], st["mask"], list(range(len(ctx.edges)))[::-1]  # reverse topological
        out_of_budget = False
        while mask.sum() > size and not out_of_budget:
            for i in order:
                if mask.sum() <= size:
                    break
                if mask[i] == 0:
                    continue
                if not model.meter.can_afford("forward_passes", p.n):
                    out_of_budget = True
                    break
                mask[i] = 0
                kl = _kl(st["full"], p.answer_logits(mask))
                st["delta"][i] = kl - st["cur"]
                if st["delta"][i] < st["tau"]:
                    st["cur"] = kl
                else:
                    mask[i] = 1
            kept = np.flatnonzero(mask.numpy())
            excess = len(kept) - size
            if excess > 0:  # next tau: enough of the measured increases fall below it
                deltas = np.sort(st["delta"][kept])
                st["tau"] = max(2 * st["tau"], float(deltas[min(excess, len(deltas)) - 1]) * 1.001)
        if mask.sum() > size:  # budget spent: drop the kept edges that mattered least when measured
            kept = np.flatnonzero(mask.numpy())
            mask[kept[np.argsort(st["delta"][kept], kind="stable")[: len(kept) - size]]] = 0
        # ACDC's own last step: edges left off every embed -> logits path are dropped (they change
        # nothing under resample ablation; the pruning stops mid-sweep, so some are left dangling)
        return on_paths([ctx.edges[i] for i in np.flatnonzero(mask.numpy())])


@arm("edge-attribution-patching", family="interp", access="white-box", control="random-subgraph")
class EdgeAttributionPatching:
    """One forward and one backward: each edge's score is the first-order change in the loss of the
    model's own answer when the edge is resample-ablated, |(clean - corrupt sender output) .
    d loss / d receiver input|; the top-`size` edges are the circuit."""

    ig_steps = 1

    def __init__(self, max_prompts: int = 256):
        self.max_prompts = max_prompts
        self._scores: dict[int, np.ndarray] = {}

    def _score(self, model: MeteredModel, ctx: FaithfulnessContext) -> np.ndarray:
        m, steps = model.meter, self.ig_steps
        fwd_per_prompt = 1 + steps + (steps > 1)  # corrupt cache, one per step, the full model's answer
        n = int(min(self.max_prompts, m.remaining("backward_passes") // steps, m.remaining("forward_passes") // fwd_per_prompt))
        if n < 1:
            raise BudgetExceeded("edge attribution patching needs at least one forward and backward pass per step")
        p = _patcher(model, ctx, n)
        target = p.answer_logits(torch.ones(len(ctx.edges))).argmax(-1) if steps > 1 else None
        total = torch.zeros(len(ctx.edges))
        # alpha = 1 is plain attribution patching; more steps integrate the gradient along the
        # path from all-ablated to all-kept (EAP-IG, Hanna et al. 2024), midpoint rule
        alphas = [1.0] if steps == 1 else [(i + 0.5) / steps for i in range(steps)]
        for a in alphas:
            mask = torch.full((len(ctx.edges),), a, requires_grad=True)
            logits = p.answer_logits(mask, grad=True)
            if target is None:  # plain EAP: the forward at alpha = 1 is the full model
                target = logits.detach().argmax(-1)
            loss = F.cross_entropy(logits, target)
            p.charge_backward()
            (grad,) = torch.autograd.grad(loss, mask)
            total += grad
        return (total / len(alphas)).abs().numpy()

    def explain(self, model: MeteredModel, ctx: FaithfulnessContext, size: int) -> list[Edge]:
        if id(model) not in self._scores:
            self._scores[id(model)] = self._score(model, ctx)
        top = np.argsort(-self._scores[id(model)], kind="stable")[:size]
        # path-pruned, as EAP-IG circuits are (Hanna et al. 2024): top-scored edges off every
        # embed -> logits path among the kept ones are dropped (they change nothing)
        return on_paths([ctx.edges[i] for i in sorted(top)])


@arm("eap-ig", family="interp", access="white-box", control="random-subgraph")
class EdgeAttributionPatchingIG(EdgeAttributionPatching):
    """EAP with integrated gradients over the edge mask (5 steps): less fooled by saturated edges."""

    ig_steps = 5


@arm("random-subgraph", family="control", access="black-box")
class RandomSubgraph:
    """A random *connected* subgraph of `size` edges (every edge on an embed -> logits path inside
    it): what a circuit of that size recovers by luck. Edges drawn uniformly were almost all
    dangling (at 11 of 110 edges typically none connected), so they recovered what ablating
    everything does and any explainer beat them."""

    def explain(self, model: MeteredModel, ctx: Any, size: int) -> list[Edge]:
        return random_connected(ctx.edges, size, np.random.default_rng([ctx.seed, size, 97]))
