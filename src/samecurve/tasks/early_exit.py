"""`early-exit`: make a model cheaper to run by letting easy tokens leave early (theory of impact:
dual use, the critique's warning that interpretability is a capabilities force multiplier, e.g.
"the logit lens used to speed up inference").

The measure is CALM's (Schuster et al. 2022): how much of the full model's compute a token-level
exit rule saves while its answers still agree with the full model's. Interp arms decide with a lens
(the logit lens's softmax response, which is CALM's own "softmax response" measure, and a tuned
lens); baselines with what an engineer would build without reading the layers' meaning (CALM's
trained exit classifier and hidden-state saturation, a distilled side model in a cascade, a bigram
table of the raw text that never runs the model). A verdict "interp ahead" is evidence *for* the
dual-use worry; "baseline ahead" says interpretability adds nothing an engineer did not have.

Ground truth is the full model's own greedy answer at the organism's planted positions (the
language says which next tokens are determined: layered.py), so no interp method defines it.
Splits, all drawn from the organism's language with seeded RNGs: calibration sequences for the arm
(budget.forward_passes / 32 of them; running the model on them is charged as forward passes; no
labels: the model labels itself), a
selection split on which the task picks each arm's threshold (the cheapest reaching the target
agreement), and a test split on which the saved compute is reported. The threshold never sees the
test split (DESIGN: choose, then measure, on different data).

Costs are FLOPs per token (protocols/exiting.py): the organism's blocks and head measured once per
organism by `torch.utils.flop_counter.FlopCounterMode` (matmuls and attention; layer norms and
activations are not counted, for either side), the arm's own readouts, classifiers and side models
as it declares them (`linear_flops`, or its own FlopCounterMode count). What is not modelled: the
keys and values a skipped layer would owe later tokens (CALM copies the exited state into them);
every arm is scored the same way, per token, as CALM's oracle analysis is.

Metrics (one row each): saved@99% and saved@95%, the mean share of the full model's FLOPs saved per
test token at the threshold chosen for that agreement (0: the arm switched itself off; negative:
its checks cost more than its exits saved). The units are organisms.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..budget import Budget
from ..models.hooks import run_with_cache
from ..protocols.exiting import (EarlyExiter, ExitContext, ExitTrace, LanguageCard, choose_threshold, exits,
                                 flops_per_token, validate_plan)
from ..protocols.organisms import LayeredLM, layered
from ..registry import task
from .base import MetricInfo, Score, Task, metered_session, once_per_organism

TARGETS = {"saved@99%": 0.99, "saved@95%": 0.95}
# The calibration set is the budget's forward passes / 32 sequences. One sequence per pass would give
# quick 12,000 (its passes are sized for backdoor-audit's searches), ~30x what any exit arm here
# improves with, and every rung of a budget ladder would sit on the flat part; at 1/32 quick
# calibrates on 375 sequences (~10,000 positions) and full's ladder on 156-1,250.
PASSES_PER_CALIBRATION_SEQUENCE = 32
_COSTS: dict = {}
_TRACES: dict = {}


def resid_names(n_layers: int) -> list[str]:
    """The residual stream after l blocks, l = 0..n_layers, by TransformerLens hook names."""
    return ["blocks.0.hook_resid_pre"] + [f"blocks.{l}.hook_resid_post" for l in range(n_layers)]


def measured_costs(model: torch.nn.Module, seq_len: int) -> tuple[list[float], float]:
    """FLOPs per token of each block and of the head (final layer norm + unembedding), counted on
    one sequence of the language's length."""
    x = torch.zeros(1, seq_len, model.cfg.d_model)
    per_block = [flops_per_token(lambda b=block: b(x), seq_len) for block in model.blocks]
    return per_block, flops_per_token(lambda: model.unembed(model.ln_final(x)), seq_len)


def trace_of(lm: LayeredLM, tokens: np.ndarray, kind: np.ndarray) -> tuple[ExitTrace, np.ndarray, np.ndarray]:
    """The organism's forward on a split: residuals at the planted positions, the full model's
    answers there (the ground truth) and each position's kind."""
    names = resid_names(lm.n_layers)
    toks = torch.from_numpy(tokens)
    with torch.no_grad():
        logits, cache = run_with_cache(lm.model, toks, names)
    rows, cols = np.nonzero(kind[:, :-1] > 0)
    resid = [cache[n][rows, cols] for n in names]
    return ExitTrace(toks, rows, cols, resid), logits[rows, cols].argmax(-1).numpy(), kind[rows, cols]


@task("early-exit")
class EarlyExit(Task):
    version = "1"
    tois = ("dual use",)
    metrics = {
        "saved@99%": MetricInfo(EarlyExiter, "share of the full model's FLOPs saved per test token, at the threshold a "
                                "selection split chose for 99% agreement with the full model", chance=0.0),
        "saved@95%": MetricInfo(EarlyExiter, "the same at 95% agreement", chance=0.0),
    }

    def __init__(self, n_select: int = 256, n_test: int = 512):
        super().__init__(n_select=n_select, n_test=n_test)
        self.n_select, self.n_test = n_select, n_test

    def run_cell(self, arm_factory: Any, organisms: list, seed: int, budget: Budget) -> list[Score]:
        if not isinstance(arm_factory(seed), EarlyExiter):
            return []
        scores: list[Score] = []
        for org in organisms:
            scores += self.score_organism(arm_factory(seed), layered(org), seed, budget)
        return scores

    def split(self, lm: LayeredLM, seed: int, purpose: int, n: int) -> tuple[ExitTrace, np.ndarray, np.ndarray]:
        """The selection (purpose 1) or test (2) split's trace, computed once per process."""
        def compute():
            return trace_of(lm, *lm.sample(np.random.default_rng([lm.seed, seed, purpose]), n))
        return once_per_organism(_TRACES, (lm.weights_sha256, seed, purpose, n), compute, limit=16)

    def context(self, lm: LayeredLM, seed: int, budget: Budget) -> ExitContext:
        per_block, head = once_per_organism(_COSTS, (lm.weights_sha256,),
                                            lambda: measured_costs(lm.model, lm.language.seq_len))
        n_cal = max(1, int(budget.forward_passes) // PASSES_PER_CALIBRATION_SEQUENCE)
        calibration, _ = lm.sample(np.random.default_rng([lm.seed, seed, 0]), n_cal)
        cfg = lm.model.cfg
        card = LanguageCard(cfg.vocab_size, int(calibration.shape[1]), getattr(lm.language, "notes", ""))
        return ExitContext(card, torch.from_numpy(calibration), lm.n_layers, cfg.d_model, cfg.vocab_size,
                           resid_names(lm.n_layers), per_block, head, seed, np.random.default_rng([lm.seed, seed, 3]))

    def score_organism(self, arm: Any, lm: LayeredLM, seed: int, budget: Budget) -> list[Score]:
        ctx = self.context(lm, seed, budget)
        select, select_full, _ = self.split(lm, seed, 1, self.n_select)
        test, test_full, test_kind = self.split(lm, seed, 2, self.n_test)
        vocab = lm.model.cfg.vocab_size
        with metered_session(lm.model, arm, budget, labelled=0) as session:
            arm.fit(session.model, ctx)
            fit_fp = session.meter.spend.forward_passes
            plan_select = validate_plan(arm, arm.plan(session.model, ctx, select), len(select_full), lm.n_layers, vocab)
            plan_test = validate_plan(arm, arm.plan(session.model, ctx, test), len(test_full), lm.n_layers, vocab)
        spend = session.spend
        out = []
        for metric, target in TARGETS.items():
            tau = choose_threshold(plan_select, ctx, select_full, target)
            _, sel_cost, sel_agree = exits(plan_select, ctx, select_full, tau)
            leave, cost, agree = exits(plan_test, ctx, test_full, tau)
            saved = 1.0 - cost
            layers = np.array([s.layer for s in plan_test.stages] + [lm.n_layers])[leave]
            by_kind = {f"kind{k}": {"saved": round(float(saved[test_kind == k].mean()), 4),
                                    "mean_exit_layer": round(float(layers[test_kind == k].mean()), 3)}
                       for k in np.unique(test_kind)}
            # threshold None: no threshold kept the agreement, so the arm is switched off (saves 0);
            # not +inf, which is no JSON a reader outside Python parses
            detail = {"threshold": None if np.isinf(tau) else tau, "test_agreement": round(float(agree.mean()), 4),
                      "selection_agreement": round(float(sel_agree.mean()), 4),
                      "selection_saved": round(float(1 - sel_cost.mean()), 4), "by_kind": by_kind,
                      "full_flops_per_token": ctx.full_flops, "fit_forward_passes": fit_fp,
                      "calibration_sequences": int(ctx.calibration.shape[0]), **ctx.notes}
            # per test token: compute saved (the mean is the value), agreement with the full model,
            # the stage it left at and its kind (1 easy, 2 hard)
            out.append(Score(metric, lm.label, float(saved.mean()), spend, detail,
                             items={"values": saved, "agree": agree, "stage": leave, "kind": test_kind}, kind="mean"))
        return out
