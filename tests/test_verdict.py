import numpy as np

from samecurve import verdict


def _rows(arm, family, control, values, metric="m"):
    """values[seed][instance]: each (seed, instance) is one organism, the unit of inference."""
    return [{"task": "t", "metric": metric, "arm": arm, "family": family, "access": "white-box", "control": control,
             "seed": s, "instance": f"i{i}", "value": v, "spend": {"forward_passes": 10}, "budget": {}}
            for s, vs in enumerate(values) for i, v in enumerate(vs)]


META = {"t": {"tois": ["auditing"], "metrics": {"m": {"higher_is_better": True}}}}
CTRL = _rows("ctrl", "control", "", [[0.5, 0.52], [0.48, 0.5], [0.51, 0.49], [0.5, 0.5]])
GOOD = [[0.9, 0.95], [0.92, 0.9], [0.93, 0.91], [0.94, 0.92]]
FAIR = [[0.7, 0.72], [0.71, 0.69], [0.7, 0.68], [0.69, 0.7]]


def test_interp_ahead_when_it_beats_control_and_baseline():
    rows = _rows("probe", "interp", "ctrl", GOOD) + _rows("search", "baseline", "ctrl", FAIR) + CTRL
    (v,) = verdict.compute(rows, META)
    assert v["verdict"] == verdict.INTERP_AHEAD
    assert v["best_interp_arm"] == "probe" and v["best_baseline_arm"] == "search"
    assert 0.15 < v["diff_ci_low"] <= v["diff_ci_high"] < 0.3
    assert v["n_units"] == 8 and v["p_value"] <= 0.05 and v["q_value"] == v["p_value"]
    assert v["seeds"] == [0, 1, 2, 3] and v["tois"] == ["auditing"]
    assert "sign-flip" in v["inference"] and v["selection"]


def test_baseline_ahead_and_no_clear_difference():
    rows = _rows("probe", "interp", "ctrl", FAIR) + _rows("search", "baseline", "ctrl", GOOD) + CTRL
    assert verdict.compute(rows, META)[0]["verdict"] == verdict.BASELINE_AHEAD
    mixed_a = [[0.9, 0.7], [0.7, 0.9], [0.8, 0.8], [0.85, 0.75]]
    mixed_b = [[0.7, 0.9], [0.9, 0.7], [0.8, 0.8], [0.75, 0.85]]
    rows = _rows("probe", "interp", "ctrl", mixed_a) + _rows("search", "baseline", "ctrl", mixed_b) + CTRL
    assert verdict.compute(rows, META)[0]["verdict"] == verdict.NO_DIFF


def test_three_organisms_are_too_few_whatever_the_gap():
    rows = _rows("probe", "interp", "ctrl", [[0.99], [0.98], [0.99]]) + \
        _rows("search", "baseline", "ctrl", [[0.1], [0.1], [0.1]]) + _rows("ctrl", "control", "", [[0.5]] * 3)
    (v,) = verdict.compute(rows, META)
    assert v["verdict"] == verdict.TOO_FEW and v["n_units"] == 3


def test_items_of_one_organism_are_one_unit():
    """Twenty items of one organism count once: 3 organisms × 20 items is still too few."""
    rows = []
    for arm, fam, ctrl, mean in (("probe", "interp", "ctrl", 0.9), ("search", "baseline", "ctrl", 0.7),
                                 ("ctrl", "control", "", 0.5)):
        for u in range(3):
            rows += [{**r, "unit": f"org{u}", "instance": f"org{u}/item{i}"} for i, r in
                     enumerate(_rows(arm, fam, ctrl, [[mean + 0.01 * k for k in range(20)]]))]
    (v,) = verdict.compute(rows, META)
    assert v["n_units"] == 3 and v["verdict"] == verdict.TOO_FEW


def test_interp_that_does_not_beat_its_control_fails_whatever_its_score():
    rows = _rows("probe", "interp", "ctrl", [[0.5, 0.53], [0.49, 0.5], [0.5, 0.5], [0.5, 0.51]]) + \
        _rows("search", "baseline", "ctrl", FAIR) + CTRL
    v = verdict.compute(rows, META)[0]
    assert v["verdict"] == verdict.FAILS_CONTROL


def test_baselines_face_controls_too():
    """A baseline at its control's level does not count; one with no declared control is held to
    the row's strongest control."""
    at_chance = [[0.5, 0.51], [0.49, 0.5], [0.5, 0.5], [0.51, 0.5]]
    rows = _rows("probe", "interp", "ctrl", GOOD) + _rows("search", "baseline", "ctrl", at_chance) + CTRL
    assert verdict.compute(rows, META)[0]["verdict"] == verdict.BASELINE_FAILS
    rows = _rows("probe", "interp", "ctrl", GOOD) + _rows("prompt", "baseline", "", at_chance) + CTRL
    (v,) = verdict.compute(rows, META)
    assert v["verdict"] == verdict.BASELINE_FAILS and not v["baseline_vs_control"]["declared"]


def test_chance_is_a_gate_of_its_own():
    """A control far below chance does not let an arm at chance pass."""
    low = _rows("ctrl", "control", "", [[0.1, 0.1]] * 4)
    meta = {"t": {"tois": ["x"], "metrics": {"m": {"higher_is_better": True, "chance": 0.5}}}}
    rows = _rows("probe", "interp", "ctrl", [[0.5, 0.51], [0.49, 0.5], [0.5, 0.5], [0.5, 0.49]]) + \
        _rows("search", "baseline", "ctrl", FAIR) + low
    (v,) = verdict.compute(rows, meta)
    assert v["interp_vs_control"]["beats"] and not v["interp_vs_chance"]["beats"]
    assert v["verdict"] == verdict.FAILS_CONTROL


def test_a_side_effect_metric_is_not_gated_by_the_control():
    """Fluency after steering: a do-nothing control wins it by construction, so it grades arms only."""
    rows = _rows("probe", "interp", "ctrl", [[0.5, 0.53], [0.49, 0.5], [0.5, 0.5], [0.52, 0.51]]) + \
        _rows("search", "baseline", "ctrl", [[0.1, 0.1]] * 4) + CTRL
    meta = {"t": {"tois": ["auditing"], "metrics": {"m": {"higher_is_better": True, "control_gated": False}}}}
    v = verdict.compute(rows, meta)[0]
    assert v["verdict"] == verdict.INTERP_AHEAD and not v["control_gated"]


def test_arm_is_held_to_its_strongest_control():
    strong = _rows("strong", "control", "", [[0.9, 0.9]] * 4)
    rows = _rows("probe", "interp", "ctrl,strong", [[0.8, 0.8]] * 4) + CTRL + strong
    summary = verdict.arm_summaries(rows)["probe"]["vs_control"]
    assert summary["control"] == "strong" and not summary["beats"]


def test_more_arms_do_not_buy_a_win():
    """Ten lucky-looking interp arms against one baseline, all truly equal: no winner."""
    rng = np.random.default_rng(0)
    rows = CTRL + _rows("search", "baseline", "ctrl", (0.7 + rng.normal(0, 0.03, (4, 2))).tolist())
    for k in range(10):
        rows += _rows(f"probe{k}", "interp", "ctrl", (0.7 + rng.normal(0, 0.03, (4, 2))).tolist())
    (v,) = verdict.compute(rows, META)
    assert v["verdict"] == verdict.NO_DIFF
    assert v["interp_score_oof"] <= max(verdict.arm_summaries(rows)[f"probe{k}"]["mean"] for k in range(10))


def test_q_values_are_benjamini_hochberg_over_rows():
    rows = []
    for m, (a, b) in {"m1": (GOOD, FAIR), "m2": (FAIR, GOOD), "m3": (FAIR, FAIR)}.items():
        rows += _rows("probe", "interp", "ctrl", a, m) + _rows("search", "baseline", "ctrl", b, m) + \
            _rows("ctrl", "control", "", [[0.5, 0.5]] * 4, m)
    meta = {"t": {"tois": ["x"], "metrics": {m: {"higher_is_better": True} for m in ("m1", "m2", "m3")}}}
    vs = verdict.compute(rows, meta)
    ps = [v["p_value"] for v in vs]
    from scipy import stats
    assert np.allclose([v["q_value"] for v in vs], stats.false_discovery_control(ps))
    assert [v["verdict"] for v in vs] == [verdict.INTERP_AHEAD, verdict.BASELINE_AHEAD, verdict.NO_DIFF]


def test_a_pretrained_model_row_says_its_scope():
    rows = [{**r, "pretrained": "all-MiniLM-L6-v2"} for r in
            _rows("probe", "interp", "ctrl", GOOD) + _rows("search", "baseline", "ctrl", FAIR) + CTRL]
    (v,) = verdict.compute(rows, META)
    assert "all-MiniLM-L6-v2 only" in v["scope"] and v["unit"].startswith("seed")


def _data_only(values):
    return [{**r, "access": "data-only"} for r in _rows("input-novelty", "baseline", "ctrl", values)]


def test_a_row_the_data_gives_away_says_so():
    """A data-only arm that ties the best arm: the model was not needed to score this well."""
    tie = [[v + (0.01 if (s + i) % 2 else -0.01) for i, v in enumerate(vs)] for s, vs in enumerate(GOOD)]
    rows = _rows("probe", "interp", "ctrl", GOOD) + _rows("search", "baseline", "ctrl", FAIR) + _data_only(tie) + CTRL
    (v,) = verdict.compute(rows, META)
    d = v["data_only"]
    assert d["arm"] == "input-novelty" and d["best_arm"] == "probe" and d["n"] == 8
    assert d["given_away"] is True and d["p_value"] > verdict.ALPHA and d["decidable"]
    assert abs(d["mean"] - np.mean(tie)) < 1e-12


def test_a_row_whose_best_arm_beats_the_data_only_arm_is_not_given_away():
    rows = _rows("probe", "interp", "ctrl", GOOD) + _rows("search", "baseline", "ctrl", FAIR) + _data_only(FAIR) + CTRL
    (v,) = verdict.compute(rows, META)
    d = v["data_only"]
    assert d["best_arm"] == "probe" and d["given_away"] is False and d["p_value"] <= verdict.ALPHA
    assert 0.15 < d["diff"] < 0.3
    # Lower is better: the same scores negated, the same answer.
    neg = lambda rs: [{**r, "value": -r["value"]} for r in rs]
    meta = {"t": {"tois": ["auditing"], "metrics": {"m": {"higher_is_better": False}}}}
    (w,) = verdict.compute(neg(rows), meta)
    assert w["data_only"]["given_away"] is False and abs(w["data_only"]["diff"] + d["diff"]) < 1e-12


def test_the_data_only_arm_winning_gives_the_row_away_and_rows_without_one_say_nothing():
    rows = _rows("probe", "interp", "ctrl", FAIR) + _data_only(GOOD) + CTRL
    (v,) = verdict.compute(rows, META)
    assert v["data_only"]["given_away"] is True and v["data_only"]["best_arm"] == "probe"
    rows = _rows("probe", "interp", "ctrl", GOOD) + _rows("search", "baseline", "ctrl", FAIR) + CTRL
    assert verdict.compute(rows, META)[0]["data_only"] is None
