"""`explanation-faithfulness`: how much of the model does an explanation recover, and what is that
worth next to a much smaller model?

The critique: circuit explanations recover part of the loss and "typically result in performance
which is worse than that of much, much tinier models". This task makes that a number on organisms
with a known algorithm: the `namemover` IOI-like family (a 2-layer MLP transformer) and the
emergence family's induction run (a 2-layer attention-only transformer), each with a from-scratch
ladder. Every metric comes once per algorithm (`ioi/...`, `induction/...`): their verdicts differ.

Two kinds of answer sit on ONE curve, x = share of the organism kept, y = fraction of loss recovered:
  - an `Explainer` (circuit discovery, weight-norm edges, random edges) returns k edges of the
    organism's computational graph; everything outside them is resample-ablated (each edge outside
    the subgraph carries its sender's activation on an independently drawn prompt). Its x is the
    share of edges kept, k / E.
  - a `Compressor` (distillation) returns a separate model with at most n parameters. Its x is the
    share of parameters, n / P (P = the organism's parameter count).
Equating the two shares is a convention, stated here and in the report; each explanation's detail
also records the parameters of the nodes it touches, which the figure plots as well.

Loss = cross-entropy of the ground truth at the positions the behaviour is about (the indirect
object at TO; tokens 2..l of a repeated segment's second copy), on held-out prompts. Fraction
recovered = (L_unigram - L) / (L_unigram - L_organism): 1 is the organism, 0 the loss of knowing
nothing about the prompt (the answers' marginal distribution); a subgraph whose ablated paths
mislead can go below 0. (Each point's detail also
holds the circuit papers' kinder normalisation, 0 = everything resample-ablated.)

Compute-equivalent: a ladder of models of the same shape trained from scratch on the same data
(`yardstick` specs in the organism set, plus the organism itself at the top) gives loss against
parameters; an answer's loss maps to the smallest ladder size at least as good (log-linear
interpolation on the ladder's lower envelope), and P / that size is "performs like a model N x
smaller".

Rows (per organism; one arm instance and ONE meter per organism: the whole curve is paid from one
budget, sizes asked largest first so that an arm may reuse its work), each `{ioi|induction}/...`:
  loss-recovered@{f}    fraction of loss recovered at size share f
  loss-recovered-mean   its mean over the size grid (area under the faithfulness curve)
  compute-equivalent    mean over the grid of log10(equivalent params / P); 0 = as good as the
                        organism, -1 = like a model 10x smaller
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..budget import Budget, MeteredModel
from ..errors import ConfigError, OrganismFailedError, SamecurveError
from ..organisms import emergence, namemover
from ..protocols import Explainer
from ..registry import task
from .base import MetricInfo, Score, Task, metered

Edge = str  # "sender->receiver", e.g. "a0.h2->a1.h1.q", "embed->logits"


# ---- the computational graph and edge-level resample ablation --------------------------------
# Hand-written: edge-level path patching needs a separate residual input per receiver (per head
# and per q/k/v), which no library offers for our plain-module TinyTransformer (TransformerLens
# 4.x dropped HookedTransformer and its split-qkv inputs; see models/hooks.py).

@dataclass(frozen=True)
class Graph:
    """Nodes and edges of a TinyTransformer: senders (embed, heads, MLPs) write to the residual
    stream; receivers (each head's q, k and v input, each MLP, the logits) read the sum of the
    senders before them. An edge is one sender's contribution to one receiver's input."""

    n_layers: int
    n_heads: int
    attn_only: bool
    senders: tuple[str, ...]
    receivers: tuple[str, ...]
    edges: tuple[Edge, ...]          # in topological order of their receivers
    sender_index: dict = field(hash=False, compare=False, default_factory=dict)
    receiver_index: dict = field(hash=False, compare=False, default_factory=dict)

    @classmethod
    def of(cls, cfg: Any) -> Graph:
        L, H = cfg.n_layers, cfg.n_heads
        senders, receivers, edges = ["embed"], [], []
        for layer in range(L):
            heads = [f"a{layer}.h{h}" for h in range(H)]
            for h in heads:
                for c in "qkv":
                    receivers.append(f"{h}.{c}")
                    edges += [f"{s}->{h}.{c}" for s in senders]
            if not cfg.attn_only:
                receivers.append(f"m{layer}")
                edges += [f"{s}->m{layer}" for s in senders + heads]
                senders += heads + [f"m{layer}"]
            else:
                senders += heads
        receivers.append("logits")
        edges += [f"{s}->logits" for s in senders]
        return cls(L, H, cfg.attn_only, tuple(senders), tuple(receivers), tuple(edges),
                   {s: i for i, s in enumerate(senders)}, {r: i for i, r in enumerate(receivers)})

    def dense(self, mask: torch.Tensor) -> torch.Tensor:
        """Edge mask [E] -> [n_senders, n_receivers] (zeros where there is no edge)."""
        out = torch.zeros(len(self.senders), len(self.receivers), dtype=mask.dtype)
        return out.index_put(self.edge_rows_cols(), mask)

    def edge_rows_cols(self) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.tensor([self.sender_index[e.split("->")[0]] for e in self.edges])
        cols = torch.tensor([self.receiver_index[e.split("->")[1]] for e in self.edges])
        return rows, cols

    def mask_of(self, edges: list[Edge]) -> torch.Tensor:
        index = {e: i for i, e in enumerate(self.edges)}
        unknown = [e for e in edges if e not in index]
        if unknown:
            raise SamecurveError(f"explanation names edges not in the graph: {unknown[:3]}")
        m = torch.zeros(len(self.edges))
        m[[index[e] for e in edges]] = 1.0
        return m


def _heads_in(model: nn.Module, layer: int) -> tuple:
    blk = model.blocks[layer]
    cfg = model.cfg
    d, H, dh = cfg.d_model, cfg.n_heads, cfg.d_head
    w = blk.attn.qkv.weight.view(3, H, dh, d)
    b = blk.attn.qkv.bias.view(3, H, dh)
    wo = blk.attn.out.weight.view(d, H, dh).permute(1, 0, 2)  # [H, d, dh]
    return blk, w, b, wo


def run_graph(model: nn.Module, tokens: torch.Tensor, graph: Graph, mask: torch.Tensor | None = None,
              corrupt: dict | None = None) -> tuple[torch.Tensor, dict]:
    """Forward with every edge e carrying mask[e] * (its sender's output in this run) +
    (1 - mask[e]) * (its sender's output on the corrupt run): 1 keeps an edge, 0 resample-ablates
    it. Without a mask it is the plain forward and also returns every sender's output (the cache a
    corrupt run provides). Returns (logits [b, t, V], {sender: output})."""
    cfg = model.cfg
    H, dh = cfg.n_heads, cfg.d_head
    b, t = tokens.shape
    dense = graph.dense(mask) if mask is not None else None
    outs: dict[str, torch.Tensor] = {"embed": model.embed(tokens) + model.pos_embed.weight[:t]}
    const = torch.zeros(cfg.d_model)  # input-independent terms (attention output biases): never ablated

    def inputs(receivers: list[str]) -> torch.Tensor:
        names = list(outs)
        if dense is None:
            total = torch.stack([outs[s] for s in names]).sum(0) + const
            return total.expand(len(receivers), *total.shape)
        here = torch.stack([outs[s] for s in names])
        there = torch.stack([corrupt[s] for s in names])
        m = dense[[graph.sender_index[s] for s in names]][:, [graph.receiver_index[r] for r in receivers]]
        return torch.einsum("sbtd,sr->rbtd", here - there, m) + there.sum(0) + const

    for layer in range(cfg.n_layers):
        blk, w, bias, wo = _heads_in(model, layer)
        heads = [f"a{layer}.h{h}" for h in range(H)]
        x = blk.ln1(inputs([f"{h}.{c}" for h in heads for c in "qkv"])).view(H, 3, b, t, -1)
        q, k, v = (torch.einsum("hbtd,hed->bhte", x[:, i], w[i]) + bias[i][None, :, None] for i in range(3))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        scores = scores.masked_fill(~blk.attn.mask[:t, :t], float("-inf"))
        z = scores.softmax(-1) @ v  # [b, H, t, dh]
        per_head = torch.einsum("bhte,hde->hbtd", z, wo)
        outs.update({hd: per_head[i] for i, hd in enumerate(heads)})
        const = const + blk.attn.out.bias
        if not cfg.attn_only:
            outs[f"m{layer}"] = blk.mlp(blk.ln2(inputs([f"m{layer}"])[0]))
    logits = model.unembed(model.ln_final(inputs(["logits"])[0]))
    return logits, outs


def node_params(model: nn.Module, graph: Graph) -> dict[str, int]:
    """Parameters each node owns (a head: its q/k/v/o slices; the logits node: the unembedding)."""
    cfg = model.cfg
    d, dh = cfg.d_model, cfg.d_head
    out = {"embed": model.embed.weight.numel() + model.pos_embed.weight.numel(),
           "logits": model.unembed.weight.numel() + 2 * d}
    for layer in range(cfg.n_layers):
        for h in range(cfg.n_heads):
            out[f"a{layer}.h{h}"] = 3 * (d * dh + dh) + d * dh
        if not cfg.attn_only:
            out[f"m{layer}"] = sum(p.numel() for p in model.blocks[layer].mlp.parameters()) + 2 * d
    return out


def touched_params(edges: list[Edge], params: dict[str, int]) -> int:
    nodes = {n.split(".")[0] + ("." + n.split(".")[1] if n.startswith("a") else "")
             for e in edges for n in e.split("->")}
    return int(sum(params[n] for n in nodes))


class Patcher:
    """Edge-level resample ablation of one organism for an arm, charged to its meter: one forward
    pass per prompt for the corrupt cache, one per prompt per masked forward, one backward per
    prompt when gradients are asked for. Needs white-box access (it reads the weights).
    `positions` [n, t] marks the predictions the behaviour is about (answer_logits returns those rows)."""

    def __init__(self, model: MeteredModel, clean: torch.Tensor, corrupt: torch.Tensor, positions: torch.Tensor):
        self.positions = positions
        self.net = model.copy_model().eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.meter = model.meter
        self.graph = Graph.of(self.net.cfg)
        self.clean, self.n = clean, clean.shape[0]
        self.meter.charge("forward_passes", self.n)
        with torch.no_grad():
            _, self.corrupt = run_graph(self.net, corrupt, self.graph)

    def answer_logits(self, mask: torch.Tensor, grad: bool = False) -> torch.Tensor:
        self.meter.charge("forward_passes", self.n)
        with torch.set_grad_enabled(grad):
            logits, _ = run_graph(self.net, self.clean, self.graph, mask, self.corrupt)
        return logits[self.positions]

    def charge_backward(self) -> None:
        self.meter.charge("backward_passes", self.n)


# ---- behaviours: what an explanation must reproduce, per organism kind -------------------------

@dataclass(frozen=True)
class Behaviour:
    """Prompts with the positions the behaviour is about and what they must predict (ground truth
    from the generator). Each row of `sample` is (tokens [n, t], scored [n, t] bool, targets [n, t]).
    `key` prefixes the metric names: each known algorithm gets its own verdict rows."""

    key: str
    name: str
    sample: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray, np.ndarray]]


def _namemover_sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p, a = namemover.sample(rng, n)
    scored, targets = np.zeros(p.shape, bool), np.zeros_like(p)
    scored[:, namemover.ANSWER_POS], targets[:, namemover.ANSWER_POS] = True, a
    return p, scored, targets


def _induction_sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b = emergence.repeat_batch(rng, n)
    scored, targets = np.zeros(b.tokens.shape, bool), np.zeros_like(b.tokens)
    scored[:, :-1], targets[:, :-1] = b.mask, b.tokens[:, 1:]
    return b.tokens, scored, targets


BEHAVIOURS = {"namemover": Behaviour("ioi", "indirect object at TO", _namemover_sample),
              "emergence": Behaviour("induction", "second copy of a repeated segment", _induction_sample)}
GRID = (0.02, 0.05, 0.1, 0.25, 0.5)
INDUCTION_ACCURACY_NEEDED = 0.9


def behaviour_of(org: Any) -> Behaviour:
    fam = org.spec.family
    if fam not in BEHAVIOURS or (fam == "emergence" and org.spec.kind != "induction"):
        raise ConfigError(f"explanation-faithfulness has no known algorithm for organism {org.label}; "
                          "use namemover-* or induction-circuit-* organism sets")
    if fam == "emergence" and not is_yardstick(org.spec) and org.metrics["heldout_accuracy"][-1] < INDUCTION_ACCURACY_NEEDED:
        raise OrganismFailedError(f"induction organism {org.label} did not learn induction (held-out accuracy "
                                  f"{org.metrics['heldout_accuracy'][-1]:.3f}, need >= {INDUCTION_ACCURACY_NEEDED})")
    return BEHAVIOURS[fam]


def is_yardstick(spec: Any) -> bool:
    return getattr(spec, "role", "") == "yardstick" or str(getattr(spec, "recipe", "")).startswith("yardstick")


def network(org: Any) -> nn.Module:
    """The trained transformer (a checkpointed run's final checkpoint)."""
    return org.model.final if hasattr(org.model, "final") else org.model


def n_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def behaviour_loss(logits: torch.Tensor, scored: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits[scored], targets[scored])


def position_losses(logits: torch.Tensor, scored: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """The per-position cross-entropies `behaviour_loss` averages (evidence kept with each score)."""
    return F.cross_entropy(logits[scored], targets[scored], reduction="none").double().numpy()


# ---- protocols ---------------------------------------------------------------------------------

@runtime_checkable
class Compressor(Protocol):
    """Returns a separate model (tokens -> logits) with at most `n_params` parameters that should
    do the organism's job: the non-interp way to get a small thing that behaves like the model."""

    def compress(self, model: MeteredModel, context: Any, n_params: int) -> nn.Module: ...


@dataclass
class FaithfulnessContext:
    """What an arm gets besides the model: the prompt format, a sampler of prompts with the
    positions the behaviour is about (no answers), the graph's edge names, the organism's
    parameter count, a seed and an RNG."""

    language: Any
    behaviour: Behaviour
    edges: tuple[Edge, ...]
    n_params: int
    seed: int
    rng: np.random.Generator

    def prompts(self, rng: np.random.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n prompts and the [n, t] mask of positions whose predictions the behaviour is about."""
        tokens, scored, _ = self.behaviour.sample(rng, n)
        return torch.from_numpy(tokens), torch.from_numpy(scored)


def _share_name(f: float, key: str) -> str:
    return f"{key}/loss-recovered@{100 * f:g}%"


@dataclass
class Reference:
    """The task's own measurements for one organism and seed: eval prompts, their resampled
    counterparts, the organism's loss, the unigram loss and the from-scratch ladder."""

    prompts: torch.Tensor
    corrupt: torch.Tensor
    scored: torch.Tensor
    targets: torch.Tensor
    loss_full: float
    loss_unigram: float
    loss_ablated: float
    ladder: list[tuple[int, float]]  # (params, loss), organism included
    full_losses: np.ndarray | None = None     # per scored position: the organism's loss
    unigram_losses: np.ndarray | None = None  # per scored position: -log marginal of the answer

    def recovered(self, loss: float) -> float:
        return float((self.loss_unigram - loss) / (self.loss_unigram - self.loss_full))

    def recovered_vs_ablated(self, loss: float) -> float:
        """The ACDC papers' normalisation (0 = everything resample-ablated), kept for the record:
        kinder, since the ablated organism confidently names the wrong person."""
        return float((self.loss_ablated - loss) / (self.loss_ablated - self.loss_full))

    def equivalent_params(self, loss: float) -> float:
        """Smallest from-scratch size at least as good, interpolated log-linearly on the ladder's
        lower envelope; clamped to [smallest rung / sqrt(10), organism]."""
        pts = sorted(self.ladder)
        env, best = [], float("inf")
        for p, lo in pts:
            best = min(best, lo)
            env.append((p, best))
        floor = env[0][0] / math.sqrt(10)
        if loss >= env[0][1]:
            # worse than the smallest rung: between it and a zero-parameter unigram predictor
            if loss >= self.loss_unigram:
                return floor
            t = (self.loss_unigram - loss) / (self.loss_unigram - env[0][1])
            return float(10 ** (math.log10(floor) + t * (math.log10(env[0][0]) - math.log10(floor))))
        for (p0, l0), (p1, l1) in zip(env, env[1:]):
            if loss == l1:
                return float(p1)
            if l1 < loss < l0:
                t = (l0 - loss) / (l0 - l1)
                return float(10 ** (math.log10(p0) + t * (math.log10(p1) - math.log10(p0))))
        return float(env[-1][0])


@task("explanation-faithfulness")
class ExplanationFaithfulness(Task):
    version = "1"
    tois = ("reverse-engineering", "microscope AI")

    def __init__(self, fractions: tuple[float, ...] = (0.05, 0.1, 0.25), eval_size: int = 400):
        fr = tuple(sorted({float(f) for f in fractions}, reverse=True))
        if not fr or not all(0 < f <= 1 for f in fr):
            raise ConfigError(f"explanation-faithfulness: fractions must lie in (0, 1], got {fractions}")
        super().__init__(fractions=list(fr), eval_size=eval_size)
        self.fractions, self.eval_size = fr, eval_size

    # Same metrics for both protocols (an arm is scored if it explains or compresses), one set per
    # known algorithm (`ioi/...` on namemover organisms, `induction/...` on induction ones).
    metrics = {
        m: info for b in BEHAVIOURS.values() for m, info in {
            **{_share_name(f, b.key): MetricInfo(Explainer, f"{b.key}: fraction of loss recovered keeping {100 * f:g}% "
                                                 "of the model (edges for a subgraph, parameters for a compressed model)")
               for f in GRID},
            f"{b.key}/loss-recovered-mean": MetricInfo(Explainer, f"{b.key}: mean fraction of loss recovered over the size grid"),
            f"{b.key}/compute-equivalent": MetricInfo(Explainer, f"{b.key}: mean log10(params of the smallest from-scratch "
                                                      "model as good / organism params); -1 = like a model 10x smaller"),
        }.items()
    }

    def metrics_for(self, arm: Any) -> list[str]:
        """Explainers and compressors alike (the per-algorithm prefix comes from the organism)."""
        if not isinstance(arm, (Explainer, Compressor)):
            return []
        return [_share_name(f, "*") for f in sorted(self.fractions)] + ["*/loss-recovered-mean", "*/compute-equivalent"]

    @staticmethod
    def _check_fractions(fractions: tuple[float, ...]) -> None:
        known = {round(f, 6) for f in GRID}
        bad = [f for f in fractions if round(f, 6) not in known]
        if bad:
            raise ConfigError(f"explanation-faithfulness: fractions {bad} have no metric; use some of {' '.join(map(str, GRID))}")

    @torch.no_grad()
    def reference(self, org: Any, ladder: list, seed: int) -> Reference:
        beh, net = behaviour_of(org), network(org)
        rng = np.random.default_rng([seed, org.spec.seed, 31])
        p, s, a = (torch.from_numpy(x) for x in beh.sample(rng, self.eval_size))
        c = torch.from_numpy(beh.sample(rng, self.eval_size)[0])  # resample ablation: an independent prompt each

        def loss_of(m: nn.Module) -> float:
            return float(behaviour_loss(m(p), s, a))

        graph = Graph.of(net.cfg)
        _, cache = run_graph(net, c, graph)
        ablated, _ = run_graph(net, p, graph, torch.zeros(len(graph.edges)), cache)
        answers = a[s].numpy()
        _, counts = np.unique(answers, return_counts=True)
        marg = dict(zip(np.unique(answers), counts / counts.sum()))
        unigram = float(-np.mean([np.log(marg[t]) for t in answers]))  # the answers' marginal distribution
        rungs = [(n_params(network(y)), loss_of(network(y))) for y in ladder]
        logits = net(p)
        full = float(behaviour_loss(logits, s, a))
        return Reference(p, c, s, a, full, unigram, float(behaviour_loss(ablated, s, a)), rungs + [(n_params(net), full)],
                         position_losses(logits, s, a), -np.array([np.log(marg[t]) for t in answers]))

    @torch.no_grad()
    def subgraph_loss(self, org: Any, ref: Reference, edges: list[Edge]) -> float:
        return self.subgraph_losses(org, ref, edges)[0]

    @torch.no_grad()
    def subgraph_losses(self, org: Any, ref: Reference, edges: list[Edge]) -> tuple[float, np.ndarray]:
        """The subgraph's behaviour loss and its per-position losses."""
        net = network(org)
        graph = Graph.of(net.cfg)
        _, cache = run_graph(net, ref.corrupt, graph)
        logits, _ = run_graph(net, ref.prompts, graph, graph.mask_of(list(edges)), cache)
        return float(behaviour_loss(logits, ref.scored, ref.targets)), position_losses(logits, ref.scored, ref.targets)

    def run_cell(self, arm_factory: Any, organisms: list, seed: int, budget: Budget) -> list[Score]:
        self._check_fractions(self.fractions)
        targets = [o for o in organisms if not is_yardstick(o.spec)]
        ladder = [o for o in organisms if is_yardstick(o.spec)]
        if not targets:
            raise ConfigError("explanation-faithfulness needs organisms besides yardsticks (namemover-*, induction-circuit-*)")
        wanted = self.metrics_for(arm_factory(seed))
        if not wanted:
            return []
        scores: list[Score] = []
        for org in targets:
            scores += self.score_organism(arm_factory(seed), org, ladder, seed, budget)
        return scores

    def score_organism(self, arm: Any, org: Any, ladder: list, seed: int, budget: Budget) -> list[Score]:
        ref = self.reference(org, ladder, seed)
        net = network(org)
        graph = Graph.of(net.cfg)
        n_full = n_params(net)
        params = node_params(net, graph)
        model = metered(net, arm, budget)
        ctx = FaithfulnessContext(org.language, behaviour_of(org), graph.edges, n_full, seed,
                                  np.random.default_rng([seed, org.spec.seed, 5]))
        points, per_position = [], {}
        for f in self.fractions:  # largest first: arms may prune on from the previous answer
            if isinstance(arm, Explainer):
                k = max(1, round(f * len(graph.edges)))
                edges = list(dict.fromkeys(arm.explain(model, ctx, k)))
                if len(edges) > k:
                    raise SamecurveError(f"arm {arm.name!r} returned {len(edges)} edges for size {k}")
                loss, per_position[f] = self.subgraph_losses(org, ref, edges)
                size = {"edges": len(edges), "edges_total": len(graph.edges),
                        "params_touched": touched_params(edges, params), "subgraph": sorted(edges)}
            else:
                cap = int(f * n_full)
                small = arm.compress(model, ctx, cap)
                got = n_params(small)
                if got > cap:
                    raise SamecurveError(f"arm {arm.name!r} returned a model of {got} parameters for a cap of {cap}")
                with torch.no_grad():
                    logits = small.eval()(ref.prompts)
                    loss = float(behaviour_loss(logits, ref.scored, ref.targets))
                    per_position[f] = position_losses(logits, ref.scored, ref.targets)
                size = {"params": got}
            eq = ref.equivalent_params(loss)
            points.append({"fraction": f, "loss": loss, "recovered": ref.recovered(loss),
                           "recovered_vs_ablated": ref.recovered_vs_ablated(loss),
                           "equivalent_params": eq, "times_smaller": n_full / eq, **size})
        spend = model.meter.close().to_dict()
        key = behaviour_of(org).key
        common = {"behaviour": key, "loss_full": ref.loss_full, "loss_unigram": ref.loss_unigram, "loss_all_ablated": ref.loss_ablated,
                  "recovered_all_ablated": ref.recovered(ref.loss_ablated), "n_params": n_full,
                  "ladder": [{"params": p, "loss": lo, "recovered": ref.recovered(lo)} for p, lo in ref.ladder],
                  "kind": "subgraph" if isinstance(arm, Explainer) else "model", "curve": points}
        # Evidence. Per size: the per-position losses under the answer, the organism and the unigram
        # predictor (kind "loss-recovered"). The grid means keep their per-size values ("mean") and
        # what those came from: sizes, losses and, for compute-equivalent, the from-scratch ladder.
        grid = {"fractions": np.array([pt["fraction"] for pt in points]), "loss": np.array([pt["loss"] for pt in points])}
        log_ratio = np.array([math.log10(pt["equivalent_params"] / n_full) for pt in points])
        out = [Score(_share_name(pt["fraction"], key), org.label, pt["recovered"], spend, {**common, "point": pt},
                     items={"losses": per_position[pt["fraction"]], "full_losses": ref.full_losses,
                            "unigram_losses": ref.unigram_losses}, kind="loss-recovered")
               for pt in sorted(points, key=lambda q: q["fraction"])]
        out.append(Score(f"{key}/loss-recovered-mean", org.label, float(np.mean([pt["recovered"] for pt in points])),
                         spend, common, items={"values": np.array([pt["recovered"] for pt in points]), **grid}, kind="mean"))
        out.append(Score(f"{key}/compute-equivalent", org.label,
                         float(np.mean([math.log10(pt["equivalent_params"] / n_full) for pt in points])), spend, common,
                         items={"values": log_ratio, **grid,
                                "equivalent_params": np.array([pt["equivalent_params"] for pt in points]),
                                "n_params": np.array([n_full]), "ladder_params": np.array([p for p, _ in ref.ladder]),
                                "ladder_loss": np.array([lo for _, lo in ref.ladder])}, kind="mean"))
        return out
