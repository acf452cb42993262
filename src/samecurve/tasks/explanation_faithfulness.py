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
  loss-recovered-mean   its mean over the size grid (area under the faithfulness curve); only with
                        two sizes or more (with one it would repeat that size's row)
  compute-equivalent    mean over the grid of log10(equivalent params / P); 0 = as good as the
                        organism, -1 = like a model 10x smaller
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..budget import Budget
from ..errors import ConfigError
from ..models.graph import Edge, Graph, n_params, node_params, run_graph, touched_params  # noqa: F401
from ..protocols.faithfulness import (Behaviour, Compressor, Explainer, FaithfulnessContext, Patcher,  # noqa: F401
                                      validate_compressed, validate_edges)
from ..protocols.organisms import KnownAlgorithmOrganism, known_algorithm
from ..registry import task
from .base import MetricInfo, Score, Task, metered_session

# The known algorithms with metric rows (an organism's KnownAlgorithmOrganism view names its own:
# `ioi` for namemover organisms, `induction` for induction runs); each gets its own verdict rows.
ALGORITHMS = ("ioi", "induction")
GRID = (0.02, 0.05, 0.1, 0.25, 0.5)


def behaviour_of(org: Any) -> Behaviour:
    """What an explanation of this organism must reproduce, from its known-algorithm view; an
    organism (not a yardstick) that lacks its algorithm is refused (OrganismFailedError)."""
    view = known_algorithm(org)
    if view.algorithm not in ALGORITHMS:
        raise ConfigError(f"explanation-faithfulness has no metric rows for algorithm {view.algorithm!r} of organism "
                          f"{view.label}; known: {', '.join(ALGORITHMS)}")
    if not view.yardstick:
        view.check_learned()
    return Behaviour(view.algorithm, view.algorithm_name, view.sample_behaviour)


def is_yardstick(spec: Any) -> bool:
    """A from-scratch ladder rung, told from its spec before it is built (filtering organism sets);
    the task itself asks the built organism's view (`yardstick`)."""
    return getattr(spec, "role", "") == "yardstick" or str(getattr(spec, "recipe", "")).startswith("yardstick")


def network(org: Any) -> nn.Module:
    """The trained transformer (for a checkpointed run, its final checkpoint)."""
    return known_algorithm(org).network


def behaviour_loss(logits: torch.Tensor, scored: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits[scored], targets[scored])


def position_losses(logits: torch.Tensor, scored: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """The per-position cross-entropies `behaviour_loss` averages (evidence kept with each score)."""
    return F.cross_entropy(logits[scored], targets[scored], reduction="none").double().numpy()


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
    corrupt_cache: dict | None = None         # every sender's output on `corrupt` (reused by each subgraph)

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
        m: info for key in ALGORITHMS for m, info in {
            **{_share_name(f, key): MetricInfo(Explainer, f"{key}: fraction of loss recovered keeping {100 * f:g}% "
                                                 "of the model (edges for a subgraph, parameters for a compressed model)")
               for f in GRID},
            f"{key}/loss-recovered-mean": MetricInfo(Explainer, f"{key}: mean fraction of loss recovered over the size grid"),
            f"{key}/compute-equivalent": MetricInfo(Explainer, f"{key}: mean log10(params of the smallest from-scratch "
                                                      "model as good / organism params); -1 = like a model 10x smaller"),
        }.items()
    }

    def metrics_for(self, arm: Any) -> list[str]:
        """Explainers and compressors alike (the per-algorithm prefix comes from the organism)."""
        if not isinstance(arm, (Explainer, Compressor)):
            return []
        # the mean over one size would be that size's row again (the same verdict twice)
        mean = ["*/loss-recovered-mean"] if len(self.fractions) > 1 else []
        return [_share_name(f, "*") for f in sorted(self.fractions)] + mean + ["*/compute-equivalent"]

    @staticmethod
    def _check_fractions(fractions: tuple[float, ...]) -> None:
        known = {round(f, 6) for f in GRID}
        bad = [f for f in fractions if round(f, 6) not in known]
        if bad:
            raise ConfigError(f"explanation-faithfulness: fractions {bad} have no metric; use some of {' '.join(map(str, GRID))}")

    @torch.no_grad()
    def reference(self, org: Any, ladder: list, seed: int) -> Reference:
        org = known_algorithm(org)
        beh, net = behaviour_of(org), network(org)
        rng = np.random.default_rng([seed, org.seed, 31])
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
                         position_losses(logits, s, a), -np.array([np.log(marg[t]) for t in answers]), cache)

    @torch.no_grad()
    def subgraph_loss(self, org: Any, ref: Reference, edges: list[Edge]) -> float:
        return self.subgraph_losses(org, ref, edges)[0]

    @torch.no_grad()
    def subgraph_losses(self, org: Any, ref: Reference, edges: list[Edge]) -> tuple[float, np.ndarray]:
        """The subgraph's behaviour loss and its per-position losses."""
        net = network(org)
        graph = Graph.of(net.cfg)
        cache = ref.corrupt_cache if ref.corrupt_cache is not None else run_graph(net, ref.corrupt, graph)[1]
        logits, _ = run_graph(net, ref.prompts, graph, graph.mask_of(list(edges)), cache)
        return float(behaviour_loss(logits, ref.scored, ref.targets)), position_losses(logits, ref.scored, ref.targets)

    def run_cell(self, arm_factory: Any, organisms: list, seed: int, budget: Budget) -> list[Score]:
        self._check_fractions(self.fractions)
        organisms = [known_algorithm(o) for o in organisms]
        targets = [o for o in organisms if not o.yardstick]
        ladder = [o for o in organisms if o.yardstick]
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
        org: KnownAlgorithmOrganism = known_algorithm(org)
        ref = self.reference(org, ladder, seed)
        net = network(org)
        graph = Graph.of(net.cfg)
        n_full = n_params(net)
        params = node_params(net, graph)
        ctx = FaithfulnessContext(org.language, behaviour_of(org), graph.edges, n_full, seed,
                                  np.random.default_rng([seed, org.seed, 5]))
        points, per_position = [], {}
        # One meter over the whole size grid (the arm's calls interleave with the task's own,
        # uncharged, subgraph evaluation); the context hands out no labelled examples.
        with metered_session(net, arm, budget, labelled=0) as session:
            for f in self.fractions:  # largest first: arms may prune on from the previous answer
                if isinstance(arm, Explainer):
                    k = max(1, round(f * len(graph.edges)))
                    edges = validate_edges(arm, arm.explain(session.model, ctx, k), k, graph.edges)
                    loss, per_position[f] = self.subgraph_losses(org, ref, edges)
                    size = {"edges": len(edges), "edges_total": len(graph.edges),
                            "params_touched": touched_params(edges, params), "subgraph": sorted(edges)}
                else:
                    cap = int(f * n_full)
                    small = validate_compressed(arm, arm.compress(session.model, ctx, cap), cap)
                    got = n_params(small)
                    with torch.no_grad():
                        logits = small.eval()(ref.prompts)
                        loss = float(behaviour_loss(logits, ref.scored, ref.targets))
                        per_position[f] = position_losses(logits, ref.scored, ref.targets)
                    size = {"params": got}
                eq = ref.equivalent_params(loss)
                points.append({"fraction": f, "loss": loss, "recovered": ref.recovered(loss),
                               "recovered_vs_ablated": ref.recovered_vs_ablated(loss),
                               "equivalent_params": eq, "times_smaller": n_full / eq, **size})
        spend = session.spend
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
        if len(points) > 1:
            recovered = np.array([pt["recovered"] for pt in points])
            out.append(Score(f"{key}/loss-recovered-mean", org.label, float(recovered.mean()), spend, common,
                             items={"values": recovered, **grid}, kind="mean"))
        out.append(Score(f"{key}/compute-equivalent", org.label, float(log_ratio.mean()), spend, common,
                         items={"values": log_ratio, **grid,
                                "equivalent_params": np.array([pt["equivalent_params"] for pt in points]),
                                "n_params": np.array([n_full]), "ladder_params": np.array([p for p, _ in ref.ladder]),
                                "ladder_loss": np.array([lo for _, lo in ref.ladder])}, kind="mean"))
        return out
