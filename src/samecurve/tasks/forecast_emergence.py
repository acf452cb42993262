"""`forecast-emergence`: see a capability jump coming from the checkpoints of a training run.

The critique says interp finds a phenomenon after the fact (the induction-head phase change was
seen in the loss first). Here an arm watches a training run checkpoint by checkpoint and scores
each one (higher = the jump is closer); the jump step is fixed after training by a pre-registered
behavioural rule on held-out data no arm sees (the run's EmergentOrganism view, protocols/organisms.py;
for the built-in family organisms/emergence.py, `JUMP_RULES`).

What an arm is given (`ForecastContext`), i.e. what a practitioner running the training has:
the data format and checkpoint steps; the training-loss log; for induction runs a probe batch of
fresh sequences with a repeated segment (self-labelled next tokens: no labelled examples charged);
for grokking runs a sample of the train split (the practitioner's own training data) and a small
labelled validation set drawn from the test pairs (charged as `labelled_examples`; disjoint from
the ground-truth held-out pairs). Each checkpoint is a MeteredModel; all checkpoints of one run
share one Meter, so every pass over every checkpoint is charged.

The alarm threshold is calibrated in-sample, on the same seed's runs, identically for every arm: it
is part of the metric's definition ("lead time at a fixed false-alarm rate"), not something an arm
learns from labels.

Causality: the score at checkpoint t may depend only on checkpoints <= t. Arms compute a feature
per checkpoint from that checkpoint alone, then (for trends) from earlier features only; the
tests check this by scoring every prefix of the run.

Metrics, per kind of run (induction, grokking), each its own verdict row:
  lead-time-<kind>     per run with a jump: jump step minus alarm step. The alarm threshold is the
                       highest score the arm gave on any checkpoint of the no-jump runs of the same
                       seed, and on any checkpoint of a jump run more than `horizon` checkpoints
                       before its jump (an alarm that early is a false alarm too: otherwise a
                       signal that fires at random would earn the longest lead). False-alarm rate
                       is thus 0 on those checkpoints; alarm = first checkpoint scoring above the
                       threshold. Positive = warned early (at most `horizon` checkpoints' worth of
                       steps); negative = warned after the jump; an arm that never alarms gets
                       jump step - (last step + one checkpoint interval).
  auroc-next-k-<kind>  per run with a jump: AUROC of "the jump comes within the next K
                       checkpoints" over its checkpoints before the jump (positives: the last K)
                       and every checkpoint of the seed's no-jump runs (negatives).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..budget import Budget
from ..errors import ConfigError
from ..protocols.forecasting import ForecastContext, Forecaster, validate_checkpoint_scores
from ..protocols.organisms import EMERGENCE_KINDS, EmergentOrganism, emergent
from ..registry import task
from .base import MetricInfo, Score, Task, auroc, metered_session


def arm_kinds(arm: Any) -> tuple[str, ...]:
    """The kinds of run an arm applies to (an induction-head score means nothing on an MLP)."""
    return tuple(getattr(arm, "kinds", EMERGENCE_KINDS))


def alarm_lead(scores: np.ndarray, steps: list[int], jump_index: int, threshold: float) -> tuple[float, int | None]:
    """Lead time in steps (jump - first alarm) and the alarm index (None if the arm never alarms)."""
    above = np.flatnonzero(scores > threshold)
    every = steps[1] - steps[0] if len(steps) > 1 else 1
    if len(above) == 0:
        return float(steps[jump_index] - (steps[-1] + every)), None
    return float(steps[jump_index] - steps[int(above[0])]), int(above[0])


def false_alarm_threshold(scores: list[np.ndarray], jumps: list[int | None], horizon: int) -> float:
    """The highest score on any checkpoint where an alarm would be false: every checkpoint of a
    no-jump run, and checkpoints more than `horizon` before the jump of a jump run."""
    quiet = [s if j is None else s[: max(0, j - horizon)] for s, j in zip(scores, jumps)]
    return float(max(np.max(q) for q in quiet if len(q)))


def next_k_labels(n: int, jump_index: int | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(checkpoint indices used, labels): before the jump, 1 within k checkpoints of it; no-jump: all 0."""
    if jump_index is None:
        return np.arange(n), np.zeros(n, int)
    idx = np.arange(jump_index)
    return idx, (idx >= jump_index - k).astype(int)


def _finite(scores: np.ndarray) -> np.ndarray:
    """NaN (an arm's 'no opinion yet') ranks below every real score."""
    s = np.asarray(scores, dtype=float)
    bad = ~np.isfinite(s)
    if bad.any():
        lo = np.min(s[~bad]) if (~bad).any() else 0.0
        s = np.where(np.isposinf(s), np.max(s[~bad]) + 1 if (~bad).any() else 1.0, s)
        s = np.where(np.isnan(s) | np.isneginf(s), lo - 1.0, s)
    return s


@task("forecast-emergence")
class ForecastEmergence(Task):
    version = "1"
    tois = ("better prediction of future systems", "forecasting discontinuities", "auditing a training run")
    metrics = {
        f"{m}-{kind}": MetricInfo(Forecaster, desc.format(kind=kind), chance=chance)
        for kind in EMERGENCE_KINDS
        for m, desc, chance in (
            ("lead-time", ("steps from the alarm to the {kind} jump, threshold at zero false alarms (no-jump runs, "
                          "checkpoints > horizon before a jump)"), None),
            ("auroc-next-k", "AUROC of 'the {kind} jump comes within the next K checkpoints'", 0.5),
        )
    }

    def __init__(self, k: int = 5, horizon: int = 10, probe_size: int = 48, train_sample: int = 48):
        super().__init__(k=k, horizon=horizon, probe_size=probe_size, train_sample=train_sample)
        if min(k, horizon, probe_size, train_sample) < 1:
            raise ConfigError("forecast-emergence: k, horizon, probe_size and train_sample must be >= 1")
        self.k, self.horizon, self.probe_size, self.train_sample = k, horizon, probe_size, train_sample

    def context(self, org: Any, seed: int, run_index: int, budget: Budget) -> tuple[ForecastContext, int]:
        """The run's context and the number of labelled examples in it (to charge)."""
        org = emergent(org)
        rng = np.random.default_rng([seed, org.seed, 5])
        ctx = ForecastContext(org.kind, org.language, np.asarray(org.steps), np.asarray(org.train_loss), seed,
                              run_index, np.random.default_rng([seed, org.seed, 6]))
        data, n_labelled = org.practitioner_data(rng, self.probe_size, self.train_sample, budget.labelled_examples)
        for name, value in data.items():
            if not hasattr(ctx, name):
                raise ConfigError(f"organism {org.label}: practitioner data {name!r} is no ForecastContext field")
            setattr(ctx, name, value)
        return ctx, n_labelled

    def score_run(self, arm: Any, org: Any, seed: int, run_index: int, budget: Budget) -> tuple[np.ndarray, dict]:
        """One arm on one run: a fresh meter shared by all its checkpoints; scores, spend."""
        org = emergent(org)
        ctx, n_labelled = self.context(org, seed, run_index, budget)
        with metered_session(list(org.checkpoints), arm, budget, labelled=n_labelled) as session:
            scores = validate_checkpoint_scores(arm, arm.score_checkpoints(session.model, ctx), len(session.model))
        return _finite(scores), session.spend

    def run_cell(self, arm_factory: Any, organisms: list, seed: int, budget: Budget) -> list[Score]:
        kinds = arm_kinds(arm_factory(seed))
        organisms = [emergent(o) for o in organisms]
        out: list[Score] = []
        for kind in kinds:
            runs = [o for o in organisms if o.kind == kind]
            if runs:
                out += self.score_kind(arm_factory, kind, runs, seed, budget)
        return out

    def score_kind(self, arm_factory: Any, kind: str, runs: list, seed: int, budget: Budget) -> list[Score]:
        runs: list[EmergentOrganism] = [emergent(o) for o in runs]
        results = [self.score_run(arm_factory(seed), org, seed, i, budget) for i, org in enumerate(runs)]
        jumps = [org.jump_index for org in runs]
        if all(j is None for j in jumps) or all(j is not None for j in jumps):
            return []  # no contrast in this seed: nothing to score (the organism sets are built to avoid it)
        threshold = false_alarm_threshold([s for s, _ in results], jumps, self.horizon)
        curves = [{"run": org.label, "recipe": org.recipe, "steps": org.steps,
                   "scores": [round(float(x), 6) for x in s], "heldout_accuracy": org.heldout_accuracy,
                   "jump_step": org.jump_step, "jump_index": org.jump_index}
                  for org, (s, _) in zip(runs, results)]
        out = []
        for org, (s, spend), j in zip(runs, results, jumps):
            if j is None:
                continue
            lead, alarm = alarm_lead(s, org.steps, j, threshold)
            # Evidence: this run's per-checkpoint scores and steps, its jump index and the threshold
            # (set from every run of the seed); not recomputed (the alarm rule is the task's).
            out.append(Score(f"lead-time-{kind}", org.label, lead, spend, {
                "jump_step": org.jump_step, "alarm_step": None if alarm is None else org.steps[alarm],
                "threshold": threshold, "rule": org.rule},
                items={"scores": s, "steps": np.asarray(org.steps), "jump_index": np.array([j]),
                       "threshold": np.array([threshold])}))
        # One AUROC per jump run (the run is the unit, as for lead time): its own checkpoints within
        # k of the jump are the positives; its earlier checkpoints and every checkpoint of the seed's
        # no-jump runs (the same negatives the alarm threshold sees) are the negatives.
        neg_runs = [(i, s) for i, ((s, _), j) in enumerate(zip(results, jumps)) if j is None]
        mean_spend = {key: float(np.mean([sp[key] for _, sp in results])) for key in results[0][1]}
        for i, (org, (s, _), j) in enumerate(zip(runs, results, jumps)):
            if j is None:
                continue
            idx, lab = next_k_labels(len(s), j, self.k)
            parts = [(i, idx, lab, s[idx])] + [(n, np.arange(len(sn)), np.zeros(len(sn), int), sn) for n, sn in neg_runs]
            y = np.concatenate([p[2] for p in parts])
            v = np.concatenate([p[3] for p in parts])
            if not 0 < y.sum() < len(y):
                continue  # a jump at the first checkpoint leaves nothing to forecast
            out.append(Score(f"auroc-next-k-{kind}", org.label, auroc(y, v), mean_spend, {
                "k": self.k, "threshold": threshold, "n_checkpoints": len(y), "n_positive": int(y.sum()),
                "curves": curves}, items={"labels": y, "scores": v,
                                          "run": np.concatenate([np.full(len(p[1]), p[0]) for p in parts]),
                                          "checkpoint": np.concatenate([p[1] for p in parts])}, kind="auroc"))
        return out
