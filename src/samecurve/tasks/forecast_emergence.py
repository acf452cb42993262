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

The alarm threshold is calibrated on calibration runs (the organism set's runs marked
`calibration`: jump and no-jump recipes under seeds of their own, whose jumps the practitioner
knows, as for past runs), identically for every arm, and never on the evaluated runs or their jump
indices (issue 13: fitting it with the evaluated runs' true jumps let the threshold depend on the
very answer being scored). It is part of the metric's definition ("lead time at a fixed
false-alarm rate"), not something an arm learns from labels. Calibration runs cost the arm what
evaluated runs cost (each is scored checkpoint by checkpoint, on its own meter); a seed without
calibration runs of a kind gets no lead-time or miss-rate row, and says so in the log.

Causality: the score at checkpoint t may depend only on checkpoints <= t. Arms compute a feature
per checkpoint from that checkpoint alone, then (for trends) from earlier features only; the
tests check this by scoring every prefix of the run.

The alarm rule, one for every arm: the threshold is the highest score the arm gave on any quiet
checkpoint of the seed's calibration runs of that kind: every checkpoint of a run without a jump,
and those more than `horizon` checkpoints before the jump of a run with one (an alarm that early is
a false alarm too: a signal that only tells recipes apart, or one shown future checkpoints as the
shuffled-order controls are, fires there), past the warm-up (the first `warmup` share of
checkpoints, at least one, where every run's statistics are still settling: alarms there are
ignored, in calibration and evaluated runs alike). The alarm is the first checkpoint past the
warm-up scoring above it; on a jump run it is one of: `warned` (within `horizon` checkpoints
before the jump, or at it), `early` (before that window: a false alarm by the calibration's own
definition, so a signal that fires at random or tells recipes apart earns nothing from it), `late`
(after the jump) or `never`. The false-alarm rate on the evaluated no-jump runs is in each score's
detail.

Metrics, per kind of run (induction, grokking), each its own verdict row:
  lead-time-<kind>     per jump run `warned` or `late`: jump step minus alarm step (positive =
                       warned before the jump, at most `horizon` checkpoints' worth of steps;
                       negative = after it). `early` and `never` runs have no lead time: they
                       count in miss-rate instead.
  miss-rate-<kind>     per jump run: 0 if `warned`, else 1 (early, late or never); lower is
                       better. Lead time and miss rate are read together: a signal may win one
                       by giving up the other.
  auroc-next-k-<kind>  per run with a jump: AUROC of "the jump comes within the next K
                       checkpoints" over its checkpoints before the jump (positives: the last K)
                       and every checkpoint of the seed's evaluated no-jump runs (negatives).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from ..budget import Budget
from ..errors import ConfigError
from ..protocols.forecasting import ForecastContext, Forecaster, validate_checkpoint_scores
from ..protocols.organisms import EMERGENCE_KINDS, EmergentOrganism, emergent
from ..registry import task
from .base import MetricInfo, Score, Task, auroc, metered_session

log = logging.getLogger(__name__)


def arm_kinds(arm: Any) -> tuple[str, ...]:
    """The kinds of run an arm applies to (an induction-head score means nothing on an MLP)."""
    return tuple(getattr(arm, "kinds", EMERGENCE_KINDS))


def warmup_checkpoints(n: int, warmup: float) -> int:
    """How many leading checkpoints the alarm rule ignores: the `warmup` share, at least one."""
    return min(n - 1, max(1, math.ceil(warmup * n))) if n > 1 else 0


def calibration_threshold(scores: list[np.ndarray], jumps: list[int | None], horizon: int, warmup: float) -> float:
    """The highest score on any quiet checkpoint of the calibration runs past the warm-up (every
    checkpoint of a no-jump run; those more than `horizon` before the jump of a jump run): above it
    an alarm is one no calibration run raised falsely. -inf if no checkpoint is quiet."""
    quiet = [s[warmup_checkpoints(len(s), warmup): len(s) if j is None else max(0, j - horizon)]
             for s, j in zip(scores, jumps)]
    return float(max((np.max(q) for q in quiet if len(q)), default=-np.inf))


def alarm_index(scores: np.ndarray, threshold: float, warmup: float) -> int | None:
    """The first checkpoint past the warm-up scoring above the threshold (None: never alarms)."""
    above = np.flatnonzero(np.asarray(scores)[warmup_checkpoints(len(scores), warmup):] > threshold)
    return None if len(above) == 0 else int(above[0]) + warmup_checkpoints(len(scores), warmup)


def alarm_outcome(alarm: int | None, jump: int, horizon: int) -> str:
    """What the first alarm of a jump run was: `warned` (within `horizon` checkpoints before the
    jump, or at it), `early` (a false alarm before that window), `late` or `never`."""
    if alarm is None:
        return "never"
    if alarm < jump - horizon:
        return "early"
    return "warned" if alarm <= jump else "late"


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
    version = "2"
    tois = ("better prediction of future systems", "forecasting discontinuities", "auditing a training run")
    metrics = {
        f"{m}-{kind}": MetricInfo(Forecaster, desc.format(kind=kind), higher_is_better=higher, chance=chance)
        for kind in EMERGENCE_KINDS
        for m, desc, higher, chance in (
            ("lead-time", ("steps from the alarm to the {kind} jump, over runs not missed or falsely alarmed early; "
                           "threshold at zero false alarms on calibration runs"), True, None),
            ("miss-rate", "share of {kind} jumps not warned of within the horizon before them (same threshold)", False, None),
            ("auroc-next-k", "AUROC of 'the {kind} jump comes within the next K checkpoints'", True, 0.5),
        )
    }

    def __init__(self, k: int = 5, horizon: int = 10, warmup: float = 0.05, probe_size: int = 48, train_sample: int = 48):
        super().__init__(k=k, horizon=horizon, warmup=warmup, probe_size=probe_size, train_sample=train_sample)
        if min(k, horizon, probe_size, train_sample) < 1 or not 0 <= warmup < 1:
            raise ConfigError("forecast-emergence: k, horizon, probe_size and train_sample must be >= 1 and warmup in [0, 1)")
        self.k, self.horizon, self.warmup = k, horizon, warmup
        self.probe_size, self.train_sample = probe_size, train_sample

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
        calibration = [(s, org.jump_index) for org, (s, _) in zip(runs, results) if org.calibration]
        evaluated = [(i, org, s, spend) for i, (org, (s, spend)) in enumerate(zip(runs, results)) if not org.calibration]
        jumps = [org.jump_index for _, org, _, _ in evaluated]
        if all(j is None for j in jumps) or all(j is not None for j in jumps):
            return []  # no contrast in this seed: nothing to score (the organism sets are built to avoid it)
        curves = [{"run": org.label, "recipe": org.recipe, "steps": org.steps, "calibration": org.calibration,
                   "scores": [round(float(x), 6) for x in s], "heldout_accuracy": org.heldout_accuracy,
                   "jump_step": org.jump_step, "jump_index": org.jump_index}
                  for org, (s, _) in zip(runs, results)]
        out = self._alarm_scores(kind, evaluated, calibration)
        # One AUROC per jump run (the run is the unit, as for lead time): its own checkpoints within
        # k of the jump are the positives; its earlier checkpoints and every checkpoint of the seed's
        # evaluated no-jump runs are the negatives.
        neg_runs = [(i, s) for i, org, s, _ in evaluated if org.jump_index is None]
        mean_spend = {key: float(np.mean([sp[key] for _, sp in results])) for key in results[0][1]}
        for i, org, s, _ in evaluated:
            if org.jump_index is None:
                continue
            idx, lab = next_k_labels(len(s), org.jump_index, self.k)
            parts = [(i, idx, lab, s[idx])] + [(n, np.arange(len(sn)), np.zeros(len(sn), int), sn) for n, sn in neg_runs]
            y = np.concatenate([p[2] for p in parts])
            v = np.concatenate([p[3] for p in parts])
            if not 0 < y.sum() < len(y):
                continue  # a jump at the first checkpoint leaves nothing to forecast
            out.append(Score(f"auroc-next-k-{kind}", org.label, auroc(y, v), mean_spend, {
                "k": self.k, "n_checkpoints": len(y), "n_positive": int(y.sum()),
                "curves": curves}, items={"labels": y, "scores": v,
                                          "run": np.concatenate([np.full(len(p[1]), p[0]) for p in parts]),
                                          "checkpoint": np.concatenate([p[1] for p in parts])}, kind="auroc"))
        return out

    def _alarm_scores(self, kind: str, evaluated: list, calibration: list[tuple[np.ndarray, int | None]]) -> list[Score]:
        """lead-time and miss-rate of every evaluated jump run, at the threshold the calibration
        runs set (see the module docstring)."""
        threshold = calibration_threshold([s for s, _ in calibration], [j for _, j in calibration], self.horizon, self.warmup)
        if not np.isfinite(threshold):
            log.warning("forecast-emergence: no calibration run of kind %s; no lead-time or miss-rate row", kind)
            return []
        alarms = {i: alarm_index(s, threshold, self.warmup) for i, _, s, _ in evaluated}
        quiet = [i for i, org, _, _ in evaluated if org.jump_index is None]
        false_alarm_rate = float(np.mean([alarms[i] is not None for i in quiet]))
        out = []
        for i, org, s, spend in evaluated:
            j, alarm = org.jump_index, alarms[i]
            if j is None:
                continue
            outcome = alarm_outcome(alarm, j, self.horizon)
            # Evidence: this run's per-checkpoint scores and steps, its jump index and the threshold
            # (set on the calibration runs); not recomputed (the alarm rule is the task's).
            detail = {"jump_step": org.jump_step, "alarm_step": None if alarm is None else org.steps[alarm],
                      "threshold": threshold, "n_calibration_runs": len(calibration), "warmup": self.warmup,
                      "horizon": self.horizon,
                      "outcome": outcome, "false_alarm_rate": false_alarm_rate, "rule": org.rule}
            items = {"scores": s, "steps": np.asarray(org.steps), "jump_index": np.array([j]),
                     "threshold": np.array([threshold])}
            out.append(Score(f"miss-rate-{kind}", org.label, float(outcome != "warned"), spend, detail, items=items))
            if outcome in ("warned", "late"):
                out.append(Score(f"lead-time-{kind}", org.label, float(org.steps[j] - org.steps[alarm]), spend,
                                 detail, items=items))
        return out
