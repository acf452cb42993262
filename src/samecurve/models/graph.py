"""The computational graph of a TinyTransformer at edge level, and edge-level resample ablation.

An edge is one sender's (embed, a head, an MLP) contribution to one receiver's input (each head's
q, k and v input, each MLP, the logits). `run_graph` runs the model with every edge carrying
either its sender's output in this run or on a corrupt run: the engine behind
`explanation-faithfulness` and the circuit-discovery arms (through `protocols.faithfulness.Patcher`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import SamecurveError

Edge = str  # "sender->receiver", e.g. "a0.h2->a1.h1.q", "embed->logits"


# The graph and edge-level resample ablation.
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


def n_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def node_of(end: str) -> str:
    """The node an edge end belongs to: a head's q/k/v input is that head ("a1.h0.q" -> "a1.h0")."""
    parts = end.split(".")
    return ".".join(parts[:2]) if len(parts) == 3 else end


def on_paths(edges: list[Edge]) -> list[Edge]:
    """The edges of a subgraph that lie on some embed -> logits path inside it, in the given order.
    Under resample ablation the rest change nothing: a sender none of whose inputs is kept computes
    its corrupt output anyway, and a receiver that reaches no logits is never read."""
    pairs = [(e, *e.split("->")) for e in edges]
    reach, coreach = {"embed"}, {"logits"}
    for _ in pairs:  # fixed point; a DAG of a few hundred edges settles in a few rounds
        grown = {node_of(r) for _, s, r in pairs if s in reach} | reach
        back = {s for _, s, r in pairs if node_of(r) in coreach} | coreach
        if grown == reach and back == coreach:
            break
        reach, coreach = grown, back
    return [e for e, s, r in pairs if s in reach and node_of(r) in coreach]


def random_connected(edges: tuple[Edge, ...], size: int, rng: np.random.Generator) -> list[Edge]:
    """A random subgraph of `size` edges every one of which lies on an embed -> logits path inside
    it (fewer only if the graph has fewer connected edges to give): random embed -> logits walks
    while they fit, then single edges from a node the subgraph reaches to one that reaches the
    logits (each keeps it connected). Hand-written: no graph library samples connected subgraphs
    of a given edge count."""
    out_edges: dict[str, list[Edge]] = {}
    for e in edges:
        out_edges.setdefault(e.split("->")[0], []).append(e)

    def walk() -> list[Edge]:
        path, node = [], "embed"
        while node != "logits":
            e = out_edges[node][int(rng.integers(len(out_edges[node])))]
            path.append(e)
            node = node_of(e.split("->")[1])
        return path

    def add_walk(sub: set[Edge], tries: int) -> bool:
        """Add one random walk whose new edges still fit; False if none did in `tries`."""
        for _ in range(tries):
            new = [e for e in walk() if e not in sub]
            if 0 < len(new) <= size - len(sub):
                sub.update(new)
                return True
        return False

    def attempt() -> set[Edge]:
        sub: set[Edge] = set()
        while len(sub) < size and add_walk(sub, 20):
            pass
        while len(sub) < size:
            nodes = {n for e in sub for n in (e.split("->")[0], node_of(e.split("->")[1]))}  # all on paths
            reach, coreach = {"embed"} | nodes, {"logits"} | nodes
            fill = [e for e in edges if e not in sub and e.split("->")[0] in reach and node_of(e.split("->")[1]) in coreach]
            if fill:
                sub.add(fill[int(rng.integers(len(fill)))])
            elif not add_walk(sub, 200):
                break
        return sub

    best: set[Edge] = set()
    for _ in range(20):  # a start can paint itself into a corner (size 2 after embed->logits): redraw
        sub = attempt()
        if len(sub) > len(best):
            best = sub
        if len(best) >= size:
            break
    return [e for e in edges if e in best]
