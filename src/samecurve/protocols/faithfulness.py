"""Explaining and compressing: the protocols of `explanation-faithfulness`, the context such an arm
is given, the edge-level patcher arms run ablations with (charged to their meter), and the checks
on the subgraphs and models they return. The graph engine itself is in models/graph.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from ..budget import MeteredModel
from ..models.graph import Edge, Graph, n_params, run_graph
from .base import fail

__all__ = ["Behaviour", "Compressor", "Edge", "Explainer", "FaithfulnessContext", "Patcher", "n_params",
           "validate_compressed", "validate_edges"]


@runtime_checkable
class Explainer(Protocol):
    """Returns a subgraph (a set of edges) of a given size that should explain a behaviour."""

    def explain(self, model: MeteredModel, context: Any, size: int) -> list[Any]: ...


@runtime_checkable
class Compressor(Protocol):
    """Returns a separate model (tokens -> logits) with at most `n_params` parameters that should
    do the organism's job: the non-interp way to get a small thing that behaves like the model."""

    def compress(self, model: MeteredModel, context: Any, n_params: int) -> nn.Module: ...


@dataclass(frozen=True)
class Behaviour:
    """Prompts with the positions the behaviour is about and what they must predict (ground truth
    from the generator). Each row of `sample` is (tokens [n, t], scored [n, t] bool, targets [n, t]).
    `key` prefixes the metric names: each known algorithm gets its own verdict rows."""

    key: str
    name: str
    sample: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray, np.ndarray]]


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


def validate_edges(arm: Any, got: Any, size: int, edges: tuple[Edge, ...]) -> list[Edge]:
    """Explainer.explain: at most `size` distinct edge names of the graph (repeats are dropped,
    order kept); returns them."""
    due = f"a list of at most {size} distinct edge names of the graph (e.g. {edges[0]!r})"
    if isinstance(got, (str, bytes, np.ndarray, torch.Tensor)) or not hasattr(got, "__iter__"):
        raise fail(arm, "explain", got, due)
    out = list(dict.fromkeys(got))
    bad = [e for e in out if not isinstance(e, str)]
    if bad:
        raise fail(arm, "explain", got, due, f"{len(bad)} items are not edge names, e.g. {bad[0]!r}")
    known = set(edges)
    unknown = [e for e in out if e not in known]
    if unknown:
        raise fail(arm, "explain", got, due, f"edges not in the graph: {unknown[:3]}")
    if len(out) > size:
        raise fail(arm, "explain", got, due, f"{len(out)} distinct edges for size {size}")
    return out


def validate_compressed(arm: Any, got: Any, cap: int) -> nn.Module:
    """Compressor.compress: an nn.Module (tokens -> logits) with at most `cap` parameters."""
    due = f"an nn.Module (tokens -> logits) with at most {cap} parameters"
    if not isinstance(got, nn.Module):
        raise fail(arm, "compress", got, due)
    have = n_params(got)
    if have > cap:
        raise fail(arm, "compress", got, due, f"{have} parameters")
    return got
