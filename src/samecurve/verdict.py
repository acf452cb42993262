"""From score rows to verdicts: organisms as units, exact sign-flip tests, no selection bias.

How a row is decided (the same for both sides):
  1. **Units.** Each score row names its unit, the organism it was measured on (for a population
     score, the population of one seed; for a single pretrained model, the seed's resample of test
     items and arm seeds). Items within a unit are correlated, so they are averaged into one value
     per unit and never resampled as if independent.
  2. **Gate.** An arm (interp *or* baseline) enters only if it beats its strongest declared control
     and the metric's chance level, each by a one-sided exact sign-flip permutation test over units
     (the test of `scipy.stats.permutation_test`) at level ALPHA. An arm that declares no control is held to the
     strongest control arm of the row. A control far below chance does not let an arm pass: chance
     is a gate of its own.
  3. **Selection that cannot favour a side.** A side is ahead only if one of its gated arms beats
     the other side's strongest gated arm (chosen by in-sample mean, which can only make the win
     harder) by a one-sided exact sign-flip test over units, Bonferroni over the side's own arms
     (so fielding more arms costs, never pays), each direction at ALPHA / 2. The row's p is twice the smaller side's; Benjamini–Hochberg over the
     rows of a run gives q (`scipy.stats.false_discovery_control`); ahead means q <= ALPHA.
     (Choosing the best arm leave-one-unit-out and sign-flipping the held-out differences was
     tried first: its differences are dependent through the selection and it called 8-20% of
     null rows ahead in tests/test_calibration.py.)
  4. **Honest scores.** The named arms are the side's best by mean (or the arm that carries a
     win); beside their in-sample means the row gives out-of-fold scores: for each unit the best
     arm chosen on the *other* units, scored on it (`*_score_oof`), which the winner's curse cannot
     inflate. The CI is a BCa bootstrap over units (`scipy.stats.bootstrap`) of the named pair.
  5. **Too few.** With n units the smallest one-sided p is 1 / 2**n; a row whose design cannot reach
     ALPHA / 2 says `too few organisms`, never ahead or behind.
  6. **Does the data give it away?** Where a row has a data-only arm (access "data-only": it never
     runs the model), `data_only` says whether the row's best other arm beats it, by the gate's
     test; if not, the task leaks its answer through the data (`data_only_check`).
Calibration on synthetic null data shaped like each suite is checked in tests/test_calibration.py.
"""

from __future__ import annotations

import json
import math
import warnings
from collections import defaultdict
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import stats

from . import ladder as _ladder

INTERP_AHEAD, BASELINE_AHEAD, NO_DIFF = "interp ahead", "baseline ahead", "no clear difference"
FAILS_CONTROL, BASELINE_FAILS, NEITHER = ("interp fails its control", "baseline fails its control",
                                          "neither beats its control")
TOO_FEW = "too few organisms"
VERDICTS = (INTERP_AHEAD, BASELINE_AHEAD, NO_DIFF, FAILS_CONTROL, BASELINE_FAILS, NEITHER, TOO_FEW)
# Rows that compare nothing because a side is missing from the run: they borrow no verdict word
# and stay out of the per-ToI summaries.
INTERP_FAILED, NO_INTERP = "interp arm failed", "no interp arm"
BASELINE_FAILED, NO_BASELINE = "baseline arm failed", "no baseline"
NO_CONTROL = "no control scored"
NOT_COMPARED = (INTERP_FAILED, NO_INTERP, BASELINE_FAILED, NO_BASELINE, NO_CONTROL)
ALPHA = 0.05
N_BOOT = 2000
INFERENCE = ("exact sign-flip permutation tests over units (the test of scipy.stats.permutation_test), "
             "Benjamini-Hochberg q over the run's rows; 95% BCa bootstrap CI over units")
SELECTION = ("a side is ahead only if one of its gated arms beats the other side's strongest gated arm "
             "(Bonferroni over the side's arms); out-of-fold scores choose each unit's best arm on the "
             "other units")


def min_units(alpha: float = ALPHA) -> int:
    """The fewest units at which an exact sign-flip test, one-sided at alpha / 2, can reach it."""
    return max(1, math.ceil(math.log2(2 / alpha) - 1e-9))


def min_gate_units(alpha: float = ALPHA) -> int:
    """The fewest units at which the gate's one-sided sign-flip test can reach alpha (5 at 0.05):
    below that a gate cannot be passed, whatever the scores, and says so instead of "FAILS"."""
    return max(1, math.ceil(math.log2(1 / alpha) - 1e-9))


def unit_of(row: dict) -> Any:
    return row.get("unit") or (row["seed"], row["instance"])


def _order_free_mean(values) -> float:
    """Exactly rounded mean (`math.fsum`): the same digits whatever order the store returns rows in."""
    vals = [float(v) for v in values]
    return math.fsum(vals) / len(vals) if vals else float("nan")


def unit_values(rows: list[dict]) -> dict[Any, float]:
    """One value per unit: the mean over the unit's items (instances sharing an organism).

    `math.fsum` makes the mean independent of the order the store returns the items in (cells
    finish in a different order on every run), so a fresh clone reproduces every digit."""
    acc: dict[Any, list[float]] = defaultdict(list)
    for r in rows:
        acc[unit_of(r)].append(float(r["value"]))
    return {u: _order_free_mean(v) for u, v in acc.items()}


@lru_cache(maxsize=None)
def _sign_matrix(n: int) -> np.ndarray:
    """Every sign pattern of n units (2**n rows), or 20,000 random ones beyond 16 units."""
    if n <= 16:
        return 1.0 - 2.0 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)
    return np.random.default_rng(0).choice([-1.0, 1.0], size=(20_000, n))


def signflip_p(d: np.ndarray, alternative: str = "two-sided") -> float:
    """Sign-flip permutation p-value of mean(d) = 0, exact up to 16 units.

    The same test as `scipy.stats.permutation_test((d,), mean, permutation_type="samples")` (a test
    checks they agree to 1e-12); written with one cached sign matrix because scipy's builds the
    2**n patterns in Python on every call, ~100x slower, and the calibration test runs it ~10^5 times.
    """
    d = np.sort(np.asarray(d, dtype=float))  # beyond 16 units the random patterns meet d in order
    if len(d) == 0:
        return float("nan")
    null = _sign_matrix(len(d)) @ d / len(d)
    obs = d.mean()
    tol = 1e-12 * max(1.0, abs(obs))  # ties with the observed statistic count as extreme, as in scipy
    greater = float(np.mean(null >= obs - tol))
    less = float(np.mean(null <= obs + tol))
    if alternative == "greater":
        return greater
    if alternative == "less":
        return less
    return min(1.0, 2 * min(greater, less))


def bootstrap_ci(d: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """BCa bootstrap CI of the mean over units; degenerate (constant or one unit) data give a point.

    The differences are sorted first, so the CI depends on their values only: not on the units'
    names (spec hashes, which change with any organism source edit) nor on the order rows came in."""
    d = np.sort(np.asarray(d, dtype=float))
    if len(d) < 2 or np.ptp(d) == 0:
        m = float(d.mean()) if len(d) else float("nan")
        return m, m
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BCa warns on tiny, lumpy samples; the percentile fallback covers it
        ci = stats.bootstrap((d,), np.mean, method="BCa", n_resamples=N_BOOT, confidence_level=level,
                             rng=np.random.default_rng(0)).confidence_interval
        lo, hi = float(ci.low), float(ci.high)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            ci = stats.bootstrap((d,), np.mean, method="percentile", n_resamples=N_BOOT, confidence_level=level,
                                 rng=np.random.default_rng(0)).confidence_interval
            lo, hi = float(ci.low), float(ci.high)
    return lo, hi


def paired(a: dict, b: dict, alternative: str = "two-sided", with_ci: bool = True) -> dict:
    """Mean of a − b over shared units, its SD, CI (None without `with_ci`) and sign-flip p-value."""
    units = sorted(set(a) & set(b), key=str)
    # Rounded to 12 digits: BCa's bias correction counts resamples below the observed mean, and
    # with few units many resamples tie with it exactly; float noise in the last bit would flip
    # those ties and move the CI in its third decimal between two runs of the same cells.
    d = np.sort(np.round(np.array([a[u] - b[u] for u in units], dtype=float), 12))  # order-free: see bootstrap_ci
    if not units:
        return {"n": 0, "diff": None, "sd": None, "low": None, "high": None, "p_value": None}
    lo, hi = bootstrap_ci(d) if with_ci else (None, None)
    sd = float(np.std(d, ddof=1)) if len(d) > 1 else 0.0
    return {"n": len(d), "diff": float(d.mean()), "sd": sd, "low": lo, "high": hi,
            "p_value": signflip_p(d, alternative)}


def _sign(higher_is_better: bool) -> float:
    return 1.0 if higher_is_better else -1.0


def _gate(info: dict, summaries: dict, s: float, chance: float | None, row_controls: list[str],
          with_ci: bool) -> None:
    """Fill `vs_control`, `vs_chance` and `gated` (beats every gate it has) for one arm."""
    declared = [c for c in (info["control"] or "").split(",") if c in summaries]
    ctrls = declared or ([] if info["family"] == "control" else row_controls)
    info["vs_control"] = None
    beats = True
    if ctrls:
        ctrl = max(ctrls, key=lambda c: s * summaries[c]["mean"])
        oriented = {u: s * v for u, v in info["units"].items()}
        c_oriented = {u: s * v for u, v in summaries[ctrl]["units"].items()}
        res = paired(oriented, c_oriented, alternative="greater", with_ci=with_ci)
        ok = res["n"] > 0 and res["p_value"] is not None and res["p_value"] <= ALPHA
        info["vs_control"] = {"control": ctrl, "control_mean": summaries[ctrl]["mean"], "declared": bool(declared),
                              "n": res["n"], "diff": None if res["diff"] is None else s * res["diff"],
                              "low": None if res["low"] is None else min(s * res["low"], s * res["high"]),
                              "high": None if res["low"] is None else max(s * res["low"], s * res["high"]),
                              "p_value": res["p_value"], "beats": bool(ok),
                              "decidable": res["n"] >= min_gate_units()}
        beats = beats and ok
    info["vs_chance"] = None
    if chance is not None:
        d = np.array([s * (v - chance) for v in info["units"].values()])
        p = signflip_p(d, "greater")
        ok = bool(len(d) and p <= ALPHA)
        info["vs_chance"] = {"chance": chance, "p_value": p, "beats": ok, "n": len(d),
                             "decidable": len(d) >= min_gate_units()}
        beats = beats and ok
    info["gated"] = beats


def arm_summaries(rows: list[dict], higher_is_better: bool = True, chance: float | None = None,
                  with_ci: bool = True) -> dict[str, dict]:
    """Per arm: mean over units, per-seed means, units, spend, and its gates (control, chance)."""
    by_arm: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_arm[r["arm"]].append(r)
    out: dict[str, dict] = {}
    for arm, rs in by_arm.items():
        seeds = sorted({r["seed"] for r in rs})
        spend_keys = rs[0]["spend"].keys()
        units = unit_values(rs)
        out[arm] = {
            "arm": arm, "family": rs[0]["family"], "access": rs[0]["access"], "control": rs[0]["control"],
            "mean": _order_free_mean(units.values()),
            "seed_means": {s: _order_free_mean(r["value"] for r in rs if r["seed"] == s) for s in seeds},
            "n": len(units), "units": units,
            "spend": {k: float(np.mean([r["spend"].get(k, 0) for r in rs])) for k in spend_keys},
        }
    s = _sign(higher_is_better)
    row_controls = [a for a, i in out.items() if i["family"] == "control"]
    for info in out.values():
        _gate(info, out, s, chance, row_controls, with_ci)
    return out


def _choose(cands: list[dict], units: list, s: float) -> dict | None:
    """The candidate with the best oriented mean over `units` (ties: name order, for determinism)."""
    best, best_v = None, -math.inf
    for a in sorted(cands, key=lambda a: a["arm"]):
        vals = [a["units"][u] for u in units if u in a["units"]]
        if not vals:
            continue
        v = s * float(np.mean(vals))
        if v > best_v:
            best, best_v = a, v
    return best


def crossfit(interp: list[dict], base: list[dict], s: float) -> dict:
    """Leave-one-unit-out selection on both sides; per held-out unit the paired difference."""
    all_units = sorted({u for a in interp for u in a["units"]} & {u for a in base for u in a["units"]}, key=str)
    diffs, iv, bv, used, picks_i, picks_b = [], [], [], [], defaultdict(int), defaultdict(int)
    for u in all_units:
        rest = [w for w in all_units if w != u] or [u]
        ai = _choose([a for a in interp if u in a["units"]], rest, s)
        ab = _choose([a for a in base if u in a["units"]], rest, s)
        if ai is None or ab is None:
            continue
        iv.append(ai["units"][u])
        bv.append(ab["units"][u])
        used.append(u)
        diffs.append(ai["units"][u] - ab["units"][u])
        picks_i[ai["arm"]] += 1
        picks_b[ab["arm"]] += 1
    return {"diffs": np.array(diffs), "interp": np.array(iv), "baseline": np.array(bv), "units": used,
            "picks_interp": dict(picks_i), "picks_baseline": dict(picks_b)}


def verdict_for(task: str, metric: str, rows: list[dict], tois: list[str], higher_is_better: bool = True,
                control_gated: bool = True, chance: float | None = None, scope: str = "",
                unit: str = "organism", with_ci: bool = True, failed: list[dict] | None = None) -> dict:
    """One verdict row. `failed`: the task's failed cells (arm, family), which name a missing side;
    those flagged `over_budget` (the method needs more than the budget gives) are named apart."""
    arms = arm_summaries(rows, higher_is_better, chance if control_gated else None, with_ci)
    s = _sign(higher_is_better)
    side = {f: [a for a in arms.values() if a["family"] == f] for f in ("interp", "baseline")}
    eligible = {f: [a for a in arms_ if a["gated"] or not control_gated] for f, arms_ in side.items()}
    n_units = len({u for a in side["interp"] + side["baseline"] for u in a["units"]})
    need = min_units()
    row: dict[str, Any] = {
        "task": task, "metric": metric, "tois": tois, "higher_is_better": higher_is_better,
        "control_gated": control_gated, "chance": chance,
        "best_interp_arm": None, "best_baseline_arm": None, "interp_score": None, "baseline_score": None,
        "diff": None, "diff_ci_low": None, "diff_ci_high": None,
        "std_diff": None, "std_ci_low": None, "std_ci_high": None, "p_value": None, "q_value": None,
        "n_units": n_units, "n_pairs": 0, "unit": unit, "scope": scope, "min_units": need,
        "inference": INFERENCE, "selection": SELECTION,
        "seeds": sorted({r["seed"] for r in rows}), "budget": rows[0]["budget"] if rows else {},
        "interp_vs_control": None, "baseline_vs_control": None, "picks": {},
        "failed_arms": sorted({f["arm"] for f in failed or [] if not f.get("over_budget")}),
        "over_budget_arms": sorted({f["arm"] for f in failed or [] if f.get("over_budget")}),
        "data_only": None,
    }
    # The arm each side would field if chosen on every unit (what the row names), and its gates.
    all_units = sorted({u for a in arms.values() for u in a["units"]}, key=str)
    for f, key in (("interp", "interp"), ("baseline", "baseline")):
        shown = _choose(eligible[f], all_units, s) or _choose(side[f], all_units, s)
        if shown is not None:
            row[f"best_{key}_arm"] = shown["arm"]
            row[f"{key}_vs_control"] = shown["vs_control"]
            row[f"{key}_vs_chance"] = shown["vs_chance"]
            row[f"{key}_gated"] = shown["gated"]
            row[f"{key}_score"] = shown["mean"]
            row[f"{key}_spend"] = shown["spend"]
    row["data_only"] = data_only_check(arms, s, control_gated)
    failed_families = {f.get("family") for f in failed or [] if not f.get("over_budget")}
    if not side["interp"] or not side["baseline"]:
        if not side["interp"]:
            row["verdict"] = INTERP_FAILED if "interp" in failed_families else NO_INTERP
        else:
            row["verdict"] = BASELINE_FAILED if "baseline" in failed_families else NO_BASELINE
        return row
    ci_arms = eligible["interp"] or side["interp"], eligible["baseline"] or side["baseline"]
    cf = crossfit(*ci_arms, s)
    if len(cf["diffs"]):
        row.update(interp_score_oof=float(cf["interp"].mean()), baseline_score_oof=float(cf["baseline"].mean()),
                   picks={"interp": cf["picks_interp"], "baseline": cf["picks_baseline"]},
                   # per unit, for the ladder's curves and efficiency (ladder.py)
                   oof_units={side: {str(u): float(v) for u, v in zip(cf["units"], cf[side])}
                              for side in ("interp", "baseline")})
    bi, bb = arms.get(row["best_interp_arm"]), arms.get(row["best_baseline_arm"])
    pair = paired(bi["units"], bb["units"], with_ci=with_ci)
    row.update(diff=pair["diff"], diff_ci_low=pair["low"], diff_ci_high=pair["high"], n_pairs=pair["n"])
    if with_ci and pair["sd"]:
        sd = pair["sd"]
        row.update(std_diff=pair["diff"] / sd, std_ci_low=pair["low"] / sd, std_ci_high=pair["high"] / sd)
    tests = {f: eligible[f] if control_gated else side[f] for f in side}
    p_i, win_i = _side_beats_strongest(tests["interp"], tests["baseline"], s)
    p_b, win_b = _side_beats_strongest(tests["baseline"], tests["interp"], s)
    row.update(p_interp_ahead=p_i, p_baseline_ahead=p_b,
               p_value=None if p_i is None else min(1.0, 2 * min(p_i, p_b)))
    row["min_units"] = need = min_units(ALPHA / max(1, min(len(tests["interp"]), len(tests["baseline"]))))
    for f, win, p_f in (("interp", win_i, p_i), ("baseline", win_b, p_b)):
        # name the arm that carries a win (it may not be the best mean); with no win in sight
        # (every arm's p tied at 1, say) the row keeps naming the best mean, not the first name
        if win is not None and p_f is not None and p_f <= ALPHA:
            row[f"best_{f}_arm"] = win["arm"]
            row[f"{f}_vs_control"], row[f"{f}_vs_chance"] = win["vs_control"], win["vs_chance"]
            row[f"{f}_gated"], row[f"{f}_score"], row[f"{f}_spend"] = win["gated"], win["mean"], win["spend"]
    declared = {c for a in side["interp"] + side["baseline"] for c in (a["control"] or "").split(",") if c}
    if control_gated and not any(a["family"] == "control" or a["arm"] in declared for a in arms.values()):
        row["verdict"] = NO_CONTROL  # nothing to gate on: no verdict, whatever the scores
    elif n_units < min_units():
        row["verdict"] = TOO_FEW
    elif control_gated and not eligible["interp"] and not eligible["baseline"]:
        row["verdict"] = NEITHER
    elif control_gated and not eligible["interp"]:
        row["verdict"] = FAILS_CONTROL
    elif control_gated and not eligible["baseline"]:
        row["verdict"] = BASELINE_FAILS
    elif n_units < need:
        row["verdict"] = TOO_FEW
    else:
        row["verdict"] = "pending q"  # decided in `compute`, once every row's p is known
    return row


def data_only_check(arms: dict[str, dict], s: float, control_gated: bool = True) -> dict | None:
    """Does the data give the row away? The strongest data-only arm (access "data-only": it never
    runs the model) against the best other arm of either side (gated ones first, as the row names
    them), by the control gate's test: one-sided exact sign-flip over shared units at ALPHA. Given
    away when the best arm does not beat the data-only arm. None without a data-only arm."""
    real = [a for a in arms.values() if a["family"] in ("interp", "baseline")]
    data = [a for a in real if a.get("access") == "data-only"]
    others = [a for a in real if a.get("access") != "data-only"]
    if not data:
        return None
    units = sorted({u for a in arms.values() for u in a["units"]}, key=str)
    canary = _choose(data, units, s)
    best = _choose([a for a in others if a["gated"] or not control_gated], units, s) or _choose(others, units, s)
    out = {"arm": canary["arm"], "mean": canary["mean"], "best_arm": None, "best_mean": None, "n": 0,
           "diff": None, "p_value": None, "decidable": False, "given_away": True}
    if best is None:  # nothing but the data-only arm: nothing shows that the model was needed
        return out
    res = paired({u: s * v for u, v in best["units"].items()}, {u: s * v for u, v in canary["units"].items()},
                 alternative="greater", with_ci=False)
    beats = res["n"] > 0 and res["p_value"] is not None and res["p_value"] <= ALPHA
    out.update(best_arm=best["arm"], best_mean=best["mean"], n=res["n"],
               diff=None if res["diff"] is None else s * res["diff"], p_value=res["p_value"],
               decidable=res["n"] >= min_gate_units(), given_away=not beats)
    return out


def _side_beats_strongest(mine: list[dict], theirs: list[dict], s: float) -> tuple[float | None, dict | None]:
    """Test that some arm of `mine` beats the other side's strongest arm; adjusted p and that arm.

    The opponent is the other side's best arm by in-sample mean: choosing the strongest opponent
    on the same data inflates *its* score, so it can only make a win harder (conservative; checked
    in tests/test_calibration.py). For each arm of `mine`, a one-sided exact sign-flip test over
    shared units; over the k arms of `mine`, Bonferroni (k * min p), so a side fielding more arms
    pays for them instead of profiting from the winner's curse.
    """
    if not mine or not theirs:
        return None, None
    opponent = _choose(theirs, sorted({u for b in theirs for u in b["units"]}, key=str), s)
    best_p, best_arm = math.inf, None
    for a in sorted(mine, key=lambda a: a["arm"]):
        units = [u for u in a["units"] if u in opponent["units"]]
        d = np.array([s * (a["units"][u] - opponent["units"][u]) for u in units])
        p = signflip_p(d, "greater") if len(d) else 1.0
        if p < best_p:
            best_p, best_arm = p, a
    return min(1.0, len(mine) * best_p), best_arm


def _decide(rows: list[dict]) -> None:
    """Benjamini-Hochberg over the rows that reached a test; a side is ahead when q <= ALPHA."""
    tested = [r for r in rows if r["verdict"] == "pending q" and r["p_value"] is not None]
    if tested:
        qs = stats.false_discovery_control([r["p_value"] for r in tested])
        for r, q in zip(tested, qs):
            r["q_value"] = float(q)
    for r in rows:
        if r["verdict"] != "pending q":
            continue
        if r["q_value"] is not None and r["q_value"] <= ALPHA:
            r["verdict"] = INTERP_AHEAD if r["p_interp_ahead"] < r["p_baseline_ahead"] else BASELINE_AHEAD
        else:
            r["verdict"] = NO_DIFF


def compute(rows: list[dict], task_meta: dict[str, dict], with_ci: bool = True,
            failed: list[dict] | None = None, headline_budget: dict | None = None) -> list[dict]:
    """One verdict row per (task, metric) present in the rows, with q-values over all of them.

    `with_ci=False` skips the bootstrap CIs (verdicts do not depend on them): for simulations.
    `failed`: the run's failed cells (task, arm, family, and `metrics` it would have been scored on,
    None if unknown), so that a row whose side is missing because its arm failed says so.

    Rows at several budgets (a ladder, issue 17) are decided rung by rung, each on its own units;
    the row returned is the rung at `headline_budget` (the suite's budget; else the largest rung),
    with every rung's summary in `levels`, and `crossover` / `efficiency` read across them
    (ladder.py). Benjamini-Hochberg runs over every rung of every row."""
    failed_by_task: dict[str, list[dict]] = defaultdict(list)
    for f in failed or []:
        failed_by_task[f["task"]].append(f)
    groups: dict[tuple[str, str], dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        groups[(r["task"], r["metric"])][_ladder.budget_key(r.get("budget") or {})].append(r)
    out, rungs, ladders = [], [], []
    for (task, metric), by_budget in sorted(groups.items()):
        meta = task_meta.get(task, {})
        info = meta.get("metrics", {}).get(metric, {})
        levels = []
        for budget in _ladder.order([json.loads(k) for k in by_budget]):
            rs = by_budget[_ladder.budget_key(budget)]
            pretrained = sorted({r.get("pretrained") for r in rs if r.get("pretrained")})
            scope = f"holds for {', '.join(pretrained)} only (one pretrained model)" if pretrained else ""
            unit = "seed (one pretrained model)" if pretrained else "organism"
            levels.append(verdict_for(task, metric, rs, meta.get("tois", []), info.get("higher_is_better", True),
                                      info.get("control_gated", True), info.get("chance"), scope, unit, with_ci,
                                      [f for f in failed_by_task.get(task, []) if (f.get("metrics") is None
                                       or metric in f["metrics"]) and f.get("budget") in (None, budget)]))
        rungs += levels
        head = next((lv for lv in levels if headline_budget is not None
                     and _ladder.budget_key(lv["budget"]) == _ladder.budget_key(headline_budget)), levels[-1])
        out.append(head)
        if len(levels) > 1:
            ladders.append((head, levels))
    _decide(rungs)
    for head, levels in ladders:
        axis = _ladder.axis_of([lv["budget"] for lv in levels])
        scaled = _ladder.scaled_fields([lv["budget"] for lv in levels])
        head["levels"] = [_level_summary(lv, axis, scaled) for lv in levels]
        head["ladder_scaled"] = list(scaled)
        head["ladder_axis"] = axis
        head["headline_level"] = f"{_ladder.fmt_amount(head['budget'][axis])} {_ladder.AXIS_WORDS.get(axis, axis)}"
        cross = _ladder.crossover(head["levels"], axis)
        head.update(crossover=cross["statement"], crosses=cross["crossover"], sides_cross=cross["sides_cross"])
        head["efficiency"] = _ladder.efficiency(levels, axis, head["higher_is_better"], head.get("chance"), min_units())
    return out


def _level_summary(row: dict, axis: str, scaled: tuple[str, ...]) -> dict:
    """What a rung contributes to its row's curve and ladder table. `{side}_spent` is what the side's
    named arm used in the axis's units (ladder.spent_on_axis: its largest share of any scaled count),
    `{side}_spent_by_field` its raw mean spend per job on each of those counts."""
    keep = ("budget", "verdict", "best_interp_arm", "best_baseline_arm", "interp_score", "baseline_score",
            "interp_score_oof", "baseline_score_oof", "diff", "diff_ci_low", "diff_ci_high", "p_value", "q_value",
            "n_units", "oof_units", "interp_gated", "baseline_gated")
    out = {k: row.get(k) for k in keep}
    out["amount"] = row["budget"].get(axis)
    for side in ("interp", "baseline"):  # what the side's named arm actually spent along the ladder
        spend = row.get(f"{side}_spend") or {}
        out[f"{side}_spent"] = _ladder.spent_on_axis(spend, row["budget"], axis, scaled)
        out[f"{side}_spent_by_field"] = {n: spend[n] for n in _ladder.spend_fields(scaled, axis) if n in spend} or None
        vals = list((row.get("oof_units") or {}).get(side, {}).values())
        out[f"{side}_oof_ci"] = bootstrap_ci(vals) if vals else (None, None)  # the rows' own CI, BCa over units
    return out


def by_toi(verdicts: list[dict]) -> dict[str, list[dict]]:
    """Verdict rows grouped under each theory of impact they test."""
    out: dict[str, list[dict]] = defaultdict(list)
    for v in verdicts:
        for toi in v["tois"]:
            out[toi].append(v)
    return dict(out)


def toi_summary(verdicts: list[dict]) -> dict[str, str]:
    """One word per ToI: unanimous verdicts stand; mixed ones say so; rows that compare nothing
    (a side or the control missing from the run) do not count."""
    out = {}
    for toi, vs in by_toi(verdicts).items():
        kinds = {v["verdict"] for v in vs if v["verdict"] not in NOT_COMPARED}
        if not kinds:
            out[toi] = "nothing compared"
        else:
            out[toi] = kinds.pop() if len(kinds) == 1 else "mixed: " + ", ".join(sorted(kinds))
    return out
