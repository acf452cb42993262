from samecurve import verdict


def _rows(arm, family, control, values, metric="m"):
    return [{"task": "t", "metric": metric, "arm": arm, "family": family, "access": "white-box", "control": control,
             "seed": s, "instance": f"i{i}", "value": v, "spend": {"forward_passes": 10}, "budget": {}}
            for s, vs in enumerate(values) for i, v in enumerate(vs)]


META = {"t": {"tois": ["auditing"], "metrics": {"m": {"higher_is_better": True}}}}
CTRL = _rows("ctrl", "control", "", [[0.5, 0.52], [0.48, 0.5], [0.51, 0.49]])


def test_interp_ahead_when_it_beats_control_and_baseline():
    rows = _rows("probe", "interp", "ctrl", [[0.9, 0.95], [0.92, 0.9], [0.93, 0.91]]) + \
        _rows("search", "baseline", "ctrl", [[0.7, 0.72], [0.71, 0.69], [0.7, 0.68]]) + CTRL
    (v,) = verdict.compute(rows, META)
    assert v["verdict"] == verdict.INTERP_AHEAD
    assert v["best_interp_arm"] == "probe" and v["best_baseline_arm"] == "search"
    assert 0.15 < v["diff_ci_low"] <= v["diff_ci_high"] < 0.3
    assert v["seeds"] == [0, 1, 2] and v["tois"] == ["auditing"]


def test_baseline_ahead_and_no_clear_difference():
    rows = _rows("probe", "interp", "ctrl", [[0.7, 0.72], [0.71, 0.69], [0.7, 0.68]]) + \
        _rows("search", "baseline", "ctrl", [[0.9, 0.95], [0.92, 0.9], [0.93, 0.91]]) + CTRL
    assert verdict.compute(rows, META)[0]["verdict"] == verdict.BASELINE_AHEAD
    rows = _rows("probe", "interp", "ctrl", [[0.9, 0.7], [0.7, 0.9], [0.8, 0.8]]) + \
        _rows("search", "baseline", "ctrl", [[0.7, 0.9], [0.9, 0.7], [0.8, 0.8]]) + CTRL
    assert verdict.compute(rows, META)[0]["verdict"] == verdict.NO_DIFF


def test_interp_that_does_not_beat_its_control_fails_whatever_its_score():
    rows = _rows("probe", "interp", "ctrl", [[0.5, 0.53], [0.49, 0.5], [0.5, 0.5]]) + \
        _rows("search", "baseline", "ctrl", [[0.1, 0.1], [0.1, 0.1], [0.1, 0.1]]) + CTRL
    v = verdict.compute(rows, META)[0]
    assert v["verdict"] == verdict.FAILS_CONTROL


def test_a_side_effect_metric_is_not_gated_by_the_control():
    """Fluency after steering: a do-nothing control wins it by construction, so it grades arms only."""
    rows = _rows("probe", "interp", "ctrl", [[0.5, 0.53], [0.49, 0.5], [0.5, 0.5]]) + \
        _rows("search", "baseline", "ctrl", [[0.1, 0.1], [0.1, 0.1], [0.1, 0.1]]) + CTRL
    meta = {"t": {"tois": ["auditing"], "metrics": {"m": {"higher_is_better": True, "control_gated": False}}}}
    v = verdict.compute(rows, meta)[0]
    assert v["verdict"] == verdict.INTERP_AHEAD and not v["control_gated"]


def test_arm_is_held_to_its_strongest_control():
    strong = _rows("strong", "control", "", [[0.9, 0.9], [0.9, 0.9], [0.9, 0.9]])
    rows = _rows("probe", "interp", "ctrl,strong", [[0.8, 0.8], [0.8, 0.8], [0.8, 0.8]]) + CTRL + strong
    summary = verdict.arm_summaries(rows)["probe"]["vs_control"]
    assert summary["control"] == "strong" and not summary["beats"]
