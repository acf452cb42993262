"""`steering`: make a language model write about a target topic without breaking its grammar.

After AxBench (Wu et al. 2025), on organisms with ground truth: a `topics` organism continues a
prompt sentence of a source topic; an arm must push its continuation to a target topic. Every
arm gets the same labelled examples (single-topic texts with their topic; `labelled_examples`,
charged) and returns generations at each setting of its own sweep (a steering coefficient per
layer, a prompt form, a number of fine-tuning epochs), one tuning trial per setting.

Scoring, all from the language's construction (never from an interp method):
  concept score   share of generated content words in the target topic (exact classifier);
  fluency         share of sequences the grammar accepts (exact automaton) times
                  exp(-max(0, loss - reference)), where loss is the mean per-token loss of the
                  continuation under the clean (unsteered) organism and the reference is the same
                  loss for continuations drawn from the grammar in the target topic;
  harmonic mean   of the two (AxBench's aggregate).
The task picks, per arm, the setting with the best harmonic mean on a tuning split of prompts and
reports the held-out split at that setting (the same rule for every arm; ties go to the weaker
setting). The whole curve (every setting, both splits) goes to `detail` for the report, together
with the unsteered organism's score on the same prompts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..budget import Budget
from ..protocols.steering import (Setting, SteerContext, SweepSteerer, can_generate, steered_logits,  # noqa: F401
                                  validate_settings)
from ..protocols.organisms import TopicalOrganism, topical
from ..registry import task
from .. import dictionaries
from .base import MetricInfo, Score, Task, metered_session, once_per_organism


def per_prompt(org: TopicalOrganism, prompts: torch.Tensor, gens: torch.Tensor, target: int) -> dict[str, np.ndarray]:
    """Per generation (ground truth, from the organism's language): concept score (share of its
    content words in the target topic), validity (1 if the grammar accepts prompt + generation) and
    mean per-token loss of the continuation under the clean organism."""
    gens = gens.long()
    counts = org.topic_counts(gens.numpy())
    total = counts.sum(1)
    concept = np.where(total > 0, counts[:, target] / np.maximum(total, 1), 0.0)
    full = torch.cat([prompts, gens], 1).numpy()
    valid = np.array([org.is_valid(r) for r in full], dtype=float)
    return {"concept": concept, "valid": valid, "nll": org.token_nll(org.model, prompts, gens)}


def evaluate(org: Any, prompts: torch.Tensor, gens: torch.Tensor, target: int, nll_ref: float,
             items: dict | None = None) -> dict:
    """Concept score, validity, clean loss, fluency and harmonic mean of generations (ground truth).
    `items`, if given, receives the per-prompt arrays they are means of (see `per_prompt`)."""
    pp = per_prompt(topical(org), prompts, gens, target)
    if items is not None:
        items.update(pp)
    return summarise(pp, nll_ref)


def summarise(pp: dict[str, np.ndarray], nll_ref: float) -> dict:
    """`evaluate`'s numbers from the per-prompt arrays of `per_prompt`."""
    concept, valid, nll = pp["concept"], pp["valid"], pp["nll"]
    c, v, loss = float(concept.mean()), float(valid.mean()), float(nll.mean())
    fluency = v * float(np.exp(-max(0.0, loss - nll_ref)))
    hm = 0.0 if c + fluency == 0 else 2 * c * fluency / (c + fluency)
    return {"harmonic_mean": hm, "concept": c, "fluency": fluency, "validity": v, "clean_loss": loss}


def per_prompt_settings(org: TopicalOrganism, prompts: torch.Tensor, gens: list[torch.Tensor],
                        target: int) -> list[dict[str, np.ndarray]]:
    """`per_prompt` for several settings' generations of the same prompts in one forward pass of
    the clean organism (its forward is row-wise, so each row's loss is the one a separate call
    gives)."""
    if not gens:
        return []
    n = prompts.shape[0]
    pp = per_prompt(org, prompts.repeat(len(gens), 1), torch.cat([g.long() for g in gens]), target)
    return [{k: v[i * n:(i + 1) * n] for k, v in pp.items()} for i in range(len(gens))]


def split(pp: dict[str, np.ndarray], part: slice) -> dict[str, np.ndarray]:
    return {k: v[part] for k, v in pp.items()}


# The unsteered organism's generations and the reference loss are the same for every arm of one
# (organism, seed, target, task size): computed once per process (`once_per_organism`).
_UNSTEERED: dict[tuple, tuple] = {}


# Validity and clean loss, fluency's two parts, stay in `detail` (and the figures), not verdict rows.
METRIC_KEYS = {"harmonic-mean": "harmonic_mean", "concept-score": "concept", "fluency": "fluency"}


@task("steering")
class Steering(Task):
    version = "1"
    tois = ("retargeting the search",)
    metrics = {
        "harmonic-mean": MetricInfo(SweepSteerer, "harmonic mean of concept score and fluency at the tuned setting (held-out prompts)"),
        "concept-score": MetricInfo(SweepSteerer, "share of generated content words in the target topic at the tuned setting"),
        # A control that barely moves the model stays fluent by construction: not a must-beat metric.
        "fluency": MetricInfo(SweepSteerer, "grammar validity x exp(-excess clean-organism loss) at the tuned setting",
                              control_gated=False),
    }

    def __init__(self, n_tune: int = 24, n_test: int = 48, n_new: int = 12, targets: int = 2):
        super().__init__(n_tune=n_tune, n_test=n_test, n_new=n_new, targets=targets)
        self.n_tune, self.n_test, self.n_new, self.n_targets = n_tune, n_test, n_new, targets

    def instances(self, org: Any, seed: int) -> list[int]:
        """Target topics for one organism and seed."""
        org = topical(org)
        rng = np.random.default_rng([seed, org.seed, 11])
        return sorted(int(k) for k in rng.choice(org.n_topics, min(self.n_targets, org.n_topics), replace=False))

    def context(self, org: Any, seed: int, budget: Budget, target: int) -> SteerContext:
        org = topical(org)
        rng = np.random.default_rng([seed, org.seed, 12, target])
        n = self.n_tune + self.n_test
        others = np.array([k for k in range(org.n_topics) if k != target])
        sources = others[rng.integers(len(others), size=n)]
        prompts = torch.from_numpy(org.prompts(rng, sources))
        labels = rng.permutation(np.arange(budget.labelled_examples) % org.n_topics)
        labelled = torch.from_numpy(org.single_topic_texts(rng, labels, org.n_ctx))
        sample_seed = int(np.random.default_rng([seed, org.seed, 14, target]).integers(2**31))
        return SteerContext(org.language, prompts, self.n_new, labelled, labels, seed, sample_seed,
                            np.random.default_rng([seed, org.seed, 13, target]), org.generate,
                            dictionaries.for_organism(org))

    def reference_loss(self, org: Any, ctx: SteerContext, target: int) -> float:
        """Clean-organism loss of grammar-drawn target-topic continuations of the same prompts."""
        org = topical(org)
        rng = np.random.default_rng([ctx.seed, org.seed, 15, target])
        n = ctx.prompts.shape[0]
        cont = org.single_topic_texts(rng, np.full(n, target), ctx.n_new + 1)[:, 1:]
        return float(org.token_nll(org.model, ctx.prompts, torch.from_numpy(cont)).mean())

    def run_cell(self, arm_factory: Any, organisms: list, seed: int, budget: Budget) -> list[Score]:
        scores: list[Score] = []
        for org in organisms:
            for target in self.instances(org, seed):
                scores += self.score_instance(arm_factory(seed), org, seed, budget, target)
        return scores

    def score_instance(self, arm: Any, org: Any, seed: int, budget: Budget, target: int) -> list[Score]:
        org = topical(org)
        ctx = self.context(org, seed, budget, target)
        with metered_session(org.model, arm, budget, labelled=len(ctx.labels)) as session:
            settings = validate_settings(arm, arm.steer(session.model, ctx, target), int(ctx.prompts.shape[0]),
                                         ctx.n_new, org.vocab_size)
        spend = session.spend
        tune, test = slice(0, self.n_tune), slice(self.n_tune, None)
        key = (getattr(org, "weights_sha256", None), seed, target, self.n_tune, self.n_test, self.n_new,
               ctx.sample_seed, ctx.prompts.numpy().tobytes())

        def unsteered_run() -> tuple[float, dict, dict]:
            nll_ref = self.reference_loss(org, ctx, target)
            with torch.no_grad():
                plain = ctx.sample(org.model)
            items: dict = {}
            return nll_ref, evaluate(org, ctx.prompts[test], plain[test], target, nll_ref, items=items), items

        nll_ref, unsteered, unsteered_items = once_per_organism(_UNSTEERED, key, unsteered_run)
        unsteered, unsteered_items = dict(unsteered), dict(unsteered_items)
        curve, test_items = [], []
        for s, pp in zip(settings, per_prompt_settings(org, ctx.prompts, [s.generations for s in settings], target)):
            test_items.append(split(pp, test))
            curve.append({"curve": s.curve, "strength": float(s.strength),
                          "tune": summarise(split(pp, tune), nll_ref), "test": summarise(test_items[-1], nll_ref)})
        instance = f"{org.label}/to-{org.topic_name(target)}"
        if not curve:  # nothing affordable, or the arm declined: the text is the unsteered organism's
            chosen, at, pp = None, unsteered, unsteered_items
        else:
            # Best tuning-split harmonic mean; ties to the earlier (by the arms' order, the weaker) setting.
            chosen = int(np.argmax([c["tune"]["harmonic_mean"] for c in curve]))
            at, pp = curve[chosen]["test"], test_items[chosen]
        examples = []
        if chosen is not None:
            gens = settings[chosen].generations[test][:3]
            for p, g in zip(ctx.prompts[test][:3], gens):
                examples.append(" ".join(org.token_name(t) for t in p.tolist()) + " || " + " ".join(org.token_name(t) for t in g.tolist()))
        detail = {"target": org.topic_name(target), "curve": curve, "chosen": chosen, "unsteered": unsteered,
                  "reference_loss": nll_ref, "examples": examples, "n_test": self.n_test, "n_tune": self.n_tune, **ctx.notes}
        # Evidence: the held-out prompts' per-prompt arrays at the chosen setting (the tuning-split
        # choice itself is in `detail`); each metric is a pure function of them.
        ref = np.array([nll_ref])
        items = {"harmonic-mean": ({"concept": pp["concept"], "valid": pp["valid"], "nll": pp["nll"], "reference_loss": ref},
                                   "harmonic-mean"),
                 "concept-score": ({"values": pp["concept"]}, "mean"),
                 "fluency": ({"valid": pp["valid"], "nll": pp["nll"], "reference_loss": ref}, "fluency")}
        return [Score(metric, instance, float(at[key]), spend,
                      detail if metric == "harmonic-mean" else {"validity": at["validity"], "clean_loss": at["clean_loss"]},
                      items=items[metric][0], kind=items[metric][1])
                for metric, key in METRIC_KEYS.items()]
