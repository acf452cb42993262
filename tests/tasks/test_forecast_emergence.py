"""forecast-emergence: lead time, miss rate and AUROC are computed against the organisms'
behavioural jump, alarm thresholds come from calibration runs only, arms are causal (a
checkpoint's score never depends on later checkpoints), spend is charged."""

import numpy as np
import pytest
from torch import nn

from samecurve import registry
from samecurve.budget import Budget, Meter, MeteredModel
from samecurve.organisms.base import load_or_build
from samecurve.tasks.forecast_emergence import (
    ForecastEmergence,
    alarm_index,
    alarm_outcome,
    arm_kinds,
    calibration_threshold,
    next_k_labels,
    warmup_checkpoints,
)
from tests.organisms.test_emergence import small_specs

BUDGET = Budget(labelled_examples=32, forward_passes=4_000, backward_passes=0, wall_seconds=300, tuning_trials=4)
FORECASTERS = ("induction-score", "fourier-sparsity", "restricted-loss", "excluded-loss", "weight-norm",
               "in-context-loss", "targeted-eval", "loss-trend", "train-loss-trend", "random-head")
SHUFFLED = ("induction-score-shuffled-order", "fourier-sparsity-shuffled-order", "restricted-loss-shuffled-order",
            "excluded-loss-shuffled-order", "weight-norm-shuffled-order")


@pytest.fixture(scope="module")
def runs(organism_cache):
    return [load_or_build(s) for s in small_specs()]


def test_alarm_rule_and_labels_by_hand():
    s = np.array([0.0, 0.1, 0.5, 0.9, 1.0, 1.0])
    assert warmup_checkpoints(6, 0.05) == 1 and warmup_checkpoints(40, 0.05) == 2 and warmup_checkpoints(6, 0.0) == 1
    assert alarm_index(s, 0.4, 0.05) == 2 and alarm_index(s, 0.95, 0.05) == 4 and alarm_index(s, 2.0, 0.05) is None
    assert alarm_index(np.array([5.0, 0.0, 0.0]), 1.0, 0.05) is None         # a warm-up alarm is ignored
    assert [alarm_outcome(a, 6, 2) for a in (None, 3, 4, 6, 7)] == ["never", "early", "warned", "warned", "late"]
    # the threshold: the highest quiet calibration score past the warm-up (checkpoint 0 ignored):
    # all of a no-jump run, and a jump run's checkpoints more than `horizon` before its jump
    cal = [np.array([9.0, 0.3, 0.2]), np.array([0.1, 0.5, 0.4, 0.7, 3.0, 4.0])]
    assert calibration_threshold(cal, [None, 5], horizon=2, warmup=0.05) == 0.5
    assert calibration_threshold(cal, [None, None], horizon=2, warmup=0.05) == 4.0
    idx, lab = next_k_labels(6, 4, 2)
    assert idx.tolist() == [0, 1, 2, 3] and lab.tolist() == [0, 0, 1, 1]
    idx, lab = next_k_labels(3, None, 2)
    assert idx.tolist() == [0, 1, 2] and lab.tolist() == [0, 0, 0]


def _scores(arm, org, n=None, seed=0):
    task = ForecastEmergence()
    ckpt_models = list(org.model.ckpts)[:n]
    meter = Meter(BUDGET)
    ckpts = [MeteredModel(m, meter, arm.access) for m in ckpt_models]
    ctx, _ = task.context(org, seed, 0, BUDGET)
    # the run so far: its checkpoints and loss log; the checkpoint schedule (`steps`) is the plan
    ctx.train_loss = ctx.train_loss[: len(ckpts)]
    return np.asarray(arm.score_checkpoints(ckpts, ctx), float), meter


@pytest.mark.parametrize("name", FORECASTERS)
def test_forecasters_are_causal_and_charged(name, runs):
    """(Shape, determinism and budget: tests/arms/test_conformance.py.)"""
    arm_cls = registry.get_arm(name)
    for org in runs:
        if org.spec.kind not in arm_kinds(arm_cls()):
            continue
        full, meter = _scores(arm_cls(), org)
        for cut in (3, len(full) // 2):
            np.testing.assert_allclose(_scores(arm_cls(), org, cut)[0], full[:cut], atol=1e-9)
        reads_log_only = name == "train-loss-trend"   # the run's own loss log: no pass over a checkpoint
        if not reads_log_only and (arm_cls.access == "black-box" or name in ("induction-score", "random-head", "restricted-loss")):
            assert meter.spend.forward_passes > 0    # every checkpoint read went through the meter
        if reads_log_only:
            assert meter.spend.forward_passes == 0


def test_shuffled_controls_keep_values_and_lose_order(runs):
    org = next(o for o in runs if o.spec.kind == "induction" and o.metrics["jumped"])
    base = _scores(registry.get_arm("induction-score")(), org)[0]
    shuf = _scores(registry.get_arm("induction-score-shuffled-order")(), org)[0]
    np.testing.assert_allclose(np.sort(base), np.sort(shuf))
    assert not np.allclose(base, shuf)
    assert set(SHUFFLED) <= set(registry.arms())


def test_task_scores_against_the_behavioural_jump(runs):
    task = ForecastEmergence(k=3)
    scores = task.run_cell(lambda seed: registry.get_arm("induction-score")(), runs, 0, BUDGET)
    by = {(s.metric, s.instance): s for s in scores}
    assert {m for m, _ in by} <= {"lead-time-induction", "miss-rate-induction", "auroc-next-k-induction"}  # induction only
    jump_run = next(o for o in runs if o.spec.kind == "induction" and o.metrics["jumped"])
    miss = by[("miss-rate-induction", jump_run.label)]
    assert miss.detail["jump_step"] == jump_run.metrics["jump_step"]            # ground truth from the organism
    au = by[("auroc-next-k-induction", jump_run.label)]  # one AUROC per jump run, the run is the unit
    assert au.value >= 0.8, au.value          # the induction-head score does see the phase change coming
    # the threshold is the calibration run's highest score past the warm-up, nothing else
    cal = [c for c in au.detail["curves"] if c["calibration"]]
    quiet = [c["scores"][warmup_checkpoints(len(c["scores"]), task.warmup): None if c["jump_index"] is None
                         else max(0, c["jump_index"] - task.horizon)] for c in cal]
    assert miss.detail["threshold"] == pytest.approx(max(max(q) for q in quiet if q), abs=1e-6)
    assert miss.detail["n_calibration_runs"] == 2 and {c["jump_index"] is None for c in cal} == {True, False}
    alarm = miss.detail["alarm_step"]
    assert miss.value == float(miss.detail["outcome"] != "warned")
    if miss.detail["outcome"] in ("warned", "late"):
        assert by[("lead-time-induction", jump_run.label)].value == jump_run.metrics["jump_step"] - alarm
    assert not any("calibration" in i for _, i in by)   # calibration runs are never evaluated
    for s in scores:
        assert 0 < s.spend["forward_passes"] <= BUDGET.forward_passes


def test_grokking_baseline_is_charged_for_its_labels(runs):
    task = ForecastEmergence()
    scores = task.run_cell(lambda seed: registry.get_arm("targeted-eval")(), runs, 0, BUDGET)
    metrics = {s.metric for s in scores}
    assert {"miss-rate-grokking", "auroc-next-k-grokking", "miss-rate-induction"} <= metrics
    grok = [s for s in scores if s.metric == "miss-rate-grokking"]
    assert grok and all(s.spend["labelled_examples"] == BUDGET.labelled_examples for s in grok)


class _Run:
    """An EmergentOrganism with hand-made checkpoint scores (read back by `_Replay`)."""

    def __init__(self, label, scores, jump_index, calibration=False):
        n = len(scores)
        self.label, self.seed, self.weights_sha256, self.language = label, 0, "0" * 64, None
        self.kind, self.recipe, self.calibration, self.rule = "induction", "hand", calibration, {}
        self.scores, self.checkpoints = np.asarray(scores, float), [nn.Linear(1, 1) for _ in range(n)]
        self.steps, self.train_loss, self.heldout_accuracy = list(range(0, 10 * n, 10)), [1.0] * n, [0.0] * n
        self.jump_index, self.jump_step = jump_index, None if jump_index is None else 10 * jump_index

    def practitioner_data(self, rng, probe_size, train_sample, labelled):
        return {}, 0


class _Replay:
    """An arm that reports each run's hand-made scores."""

    access, kinds = "black-box", ("induction",)

    def __init__(self, runs):
        self.runs = runs

    def score_checkpoints(self, checkpoints, ctx):
        return self.runs[ctx.run_index].scores


def _alarms(runs):
    scores = ForecastEmergence(k=2, horizon=2).run_cell(lambda seed: _Replay(runs), runs, 0, BUDGET)
    return {(s.metric, s.instance): s for s in scores}


def _population(jump_at=6, quiet_level=0.2):
    return [_Run("early", [9, 0, 1, 2, 5, 6, 7, 8], jump_at),          # alarms (past the warm-up) at 4
            _Run("late", [9, 0, 0, 0, 0, 0, 0, 8], 6),                  # alarms at 7, after its jump
            _Run("never", [9, 0, 0, 0, 0, 0, 0, 0], 5),
            _Run("quiet", [9] + [quiet_level] * 7, None),
            _Run("cal", [9, 1, 2, 3, 4, 3, 2, 1], None, calibration=True),     # threshold 4: checkpoint 0 is warm-up
            _Run("cal-jump", [9, 0, 1, 0, 9, 9, 9, 9], 6, calibration=True)]   # quiet only up to checkpoint 3


def test_thresholds_come_from_calibration_runs_only():
    base = _alarms(_population())
    assert base[("miss-rate-induction", "early")].detail["threshold"] == 4.0
    # moving an evaluated run's true jump or raising an evaluated no-jump run's scores changes no threshold
    for other in (_alarms(_population(jump_at=5)), _alarms(_population(quiet_level=50.0))):
        assert {k: v.detail["threshold"] for k, v in other.items() if k[0] == "miss-rate-induction"} == \
               {k: v.detail["threshold"] for k, v in base.items() if k[0] == "miss-rate-induction"}
    assert base[("miss-rate-induction", "early")].detail["false_alarm_rate"] == 0.0
    assert _alarms(_population(quiet_level=50.0))[("miss-rate-induction", "early")].detail["false_alarm_rate"] == 1.0


def test_warmup_alarms_are_ignored_and_missed_jumps_are_misses():
    got = _alarms(_population())
    # every run scores 9 at checkpoint 0: inside the warm-up, so nobody alarms there
    assert got[("lead-time-induction", "early")].value == 20.0 and got[("miss-rate-induction", "early")].value == 0.0
    assert got[("lead-time-induction", "late")].value == -10.0 and got[("miss-rate-induction", "late")].value == 1.0
    assert ("lead-time-induction", "never") not in got and got[("miss-rate-induction", "never")].value == 1.0
    assert not any(i in ("quiet", "cal") for m, i in got if not m.startswith("auroc"))
    assert ("auroc-next-k-induction", "cal") not in got


def test_a_signal_that_only_tells_recipes_apart_raises_no_early_alarm():
    # High from the start on every jump run (as a larger learning rate would make a weight statistic),
    # low on no-jump runs: it "leads" every jump only if the calibration runs hold no jump run.
    recipe = lambda name, jump, cal=False: _Run(name, [9] + ([5.0] * 7 if jump is not None else [1.0] * 7), jump, cal)
    runs = [recipe("j1", 6), recipe("j2", 5), recipe("q", None), recipe("cal-q", None, True)]
    fooled = _alarms(runs)    # no jump run among the calibration runs: the threshold lets it fire at once...
    assert fooled[("miss-rate-induction", "j1")].detail["outcome"] == "early"   # ...which is a false alarm, not a lead
    assert fooled[("miss-rate-induction", "j1")].value == 1.0 and ("lead-time-induction", "j1") not in fooled
    got = _alarms(runs + [recipe("cal-j", 6, True)])   # a past jump run shows it firing early: threshold above it
    assert got[("miss-rate-induction", "j1")].detail["outcome"] == "never"
