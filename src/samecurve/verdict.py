"""From score rows to verdicts: pairing, bootstrap CIs, controls, a verdict per task metric and ToI.

Scores are paired on (seed, instance): the interp and baseline arm saw the same organisms and the
same data. The CI is a percentile bootstrap of the mean paired difference over those units
(numpy, since sklearn/scipy have no paired-bootstrap helper that takes our units as given).
An interp arm only enters the comparison if it beats its control (the CI of arm − control lies
above zero); if none does, the verdict is `interp fails its control`, whatever the raw scores.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

INTERP_AHEAD, BASELINE_AHEAD, NO_DIFF, FAILS_CONTROL = (
    "interp ahead", "baseline ahead", "no clear difference", "interp fails its control")
N_BOOT = 2000


def _by_unit(rows: list[dict]) -> dict[tuple, float]:
    return {(r["seed"], r["instance"]): r["value"] for r in rows}


def paired_ci(a: dict[tuple, float], b: dict[tuple, float], seed: int = 0, level: float = 0.95) -> dict:
    """Mean of a−b over shared units and its percentile-bootstrap CI (degenerate for one unit)."""
    units = sorted(set(a) & set(b))
    if not units:
        return {"n": 0, "diff": float("nan"), "low": float("nan"), "high": float("nan")}
    d = np.array([a[u] - b[u] for u in units])
    if len(d) == 1:
        return {"n": 1, "diff": float(d[0]), "low": float(d[0]), "high": float(d[0])}
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, len(d), size=(N_BOOT, len(d)))].mean(1)
    lo, hi = np.quantile(boots, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {"n": len(d), "diff": float(d.mean()), "low": float(lo), "high": float(hi)}


def _sign(higher_is_better: bool) -> float:
    return 1.0 if higher_is_better else -1.0


def arm_summaries(rows: list[dict], higher_is_better: bool = True) -> dict[str, dict]:
    """Per arm: mean, per-seed means, units, spend, and its comparison with its control."""
    by_arm: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_arm[r["arm"]].append(r)
    out: dict[str, dict] = {}
    for arm, rs in by_arm.items():
        seeds = sorted({r["seed"] for r in rs})
        spend_keys = rs[0]["spend"].keys()
        out[arm] = {
            "arm": arm, "family": rs[0]["family"], "access": rs[0]["access"], "control": rs[0]["control"],
            "mean": float(np.mean([r["value"] for r in rs])),
            "seed_means": {s: float(np.mean([r["value"] for r in rs if r["seed"] == s])) for s in seeds},
            "n": len(rs), "units": _by_unit(rs),
            "spend": {k: float(np.mean([r["spend"].get(k, 0) for r in rs])) for k in spend_keys},
        }
    s = _sign(higher_is_better)
    for arm, info in out.items():
        # An arm may name several controls; it is held to the strongest one present.
        ctrls = [c for c in (info["control"] or "").split(",") if c in out]
        if ctrls:
            ctrl = max(ctrls, key=lambda c: s * out[c]["mean"])
            ci = paired_ci(info["units"], out[ctrl]["units"])
            lo, hi = sorted((s * ci["low"], s * ci["high"]))
            info["vs_control"] = {**ci, "control": ctrl, "control_mean": out[ctrl]["mean"],
                                  "beats": bool(ci["n"] >= 1 and lo > 0)}
        else:
            info["vs_control"] = None
    return out


def verdict_for(task: str, metric: str, rows: list[dict], tois: list[str], higher_is_better: bool = True,
                control_gated: bool = True) -> dict:
    arms = arm_summaries(rows, higher_is_better)
    s = _sign(higher_is_better)

    def best(family: str, need_control: bool) -> dict | None:
        cands = [a for a in arms.values() if a["family"] == family
                 and (not need_control or (a["vs_control"] is not None and a["vs_control"]["beats"]))]
        return max(cands, key=lambda a: s * a["mean"]) if cands else None

    interp_any = best("interp", need_control=False)
    interp = best("interp", need_control=control_gated)
    base = best("baseline", need_control=False)
    budget = rows[0]["budget"] if rows else {}
    row: dict[str, Any] = {
        "task": task, "metric": metric, "tois": tois, "higher_is_better": higher_is_better,
        "best_interp_arm": (interp or interp_any or {}).get("arm"),
        "best_baseline_arm": base["arm"] if base else None,
        "interp_score": (interp or interp_any or {}).get("mean"),
        "baseline_score": base["mean"] if base else None,
        "diff_ci_low": None, "diff_ci_high": None, "n_pairs": 0,
        "seeds": sorted({r["seed"] for r in rows}), "budget": budget,
        "interp_vs_control": (interp or interp_any or {}).get("vs_control"), "control_gated": control_gated,
    }
    if interp_any is None or base is None:
        row["verdict"] = NO_DIFF if interp_any is None else "no baseline"
        return row
    chosen = interp or interp_any
    ci = paired_ci(chosen["units"], base["units"])
    row.update(diff_ci_low=ci["low"], diff_ci_high=ci["high"], n_pairs=ci["n"], diff=ci["diff"])
    if interp is None:
        row["verdict"] = FAILS_CONTROL
    elif ci["n"] >= 2 and s * ci["low"] > 0 and s * ci["high"] > 0:
        row["verdict"] = INTERP_AHEAD
    elif ci["n"] >= 2 and s * ci["low"] < 0 and s * ci["high"] < 0:
        row["verdict"] = BASELINE_AHEAD
    else:
        row["verdict"] = NO_DIFF
    return row


def compute(rows: list[dict], task_meta: dict[str, dict]) -> list[dict]:
    """One verdict row per (task, metric) present in the rows."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["task"], r["metric"])].append(r)
    out = []
    for (task, metric), rs in sorted(groups.items()):
        meta = task_meta.get(task, {})
        info = meta.get("metrics", {}).get(metric, {})
        out.append(verdict_for(task, metric, rs, meta.get("tois", []), info.get("higher_is_better", True),
                               info.get("control_gated", True)))
    return out


def by_toi(verdicts: list[dict]) -> dict[str, list[dict]]:
    """Verdict rows grouped under each theory of impact they test."""
    out: dict[str, list[dict]] = defaultdict(list)
    for v in verdicts:
        for toi in v["tois"]:
            out[toi].append(v)
    return dict(out)


def toi_summary(verdicts: list[dict]) -> dict[str, str]:
    """One word per ToI: unanimous verdicts stand; mixed ones say so."""
    out = {}
    for toi, vs in by_toi(verdicts).items():
        kinds = {v["verdict"] for v in vs}
        out[toi] = kinds.pop() if len(kinds) == 1 else "mixed: " + ", ".join(sorted({v["verdict"] for v in vs}))
    return out
