"""Budget ladders (issue 17): a verdict row at every rung of a suite's budget ladder, where the two
sides cross, and how much budget each side needs.

A ladder is a suite entry's list of budget factors (`SuiteEntry.ladder`); every rung's cells are
ordinary cells keyed by their budget, so verdict.compute decides each rung on its own units exactly
as it decides a single-budget row. This module only orders the rungs and reads across them:

  axis        the budget field the ladder varies most (forward passes first on a tie): what the
              curves' x axis and the statements below are in.
  crossover   the per-rung verdicts, consecutive equal ones merged ("baseline ahead at ≤ 3,000
              forward passes; no clear difference at 12,000"), and whether they change.
  efficiency  per side, the smallest rung at which its selection-aware (out-of-fold) score reaches
              a target (chance + 90% of the way to the best score any side reaches at any rung),
              counting only rungs where the side's arm passed its gates, with a 95% percentile
              bootstrap CI over units, and the ratio of the two sides' needs.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from scipy import stats

# the x axis when several fields vary alike (a ladder scaled together): queries first, then labels
AXIS_PREFERENCE = ("forward_passes", "labelled_examples", "backward_passes", "tuning_trials", "wall_seconds")
AXIS_WORDS = {"forward_passes": "forward passes", "labelled_examples": "labelled examples",
              "backward_passes": "backward passes", "tuning_trials": "tuning trials", "wall_seconds": "seconds"}
TARGET_SHARE = 0.9
SPREAD_TIE = 1.1  # axis_of: spreads within this ratio of the widest count as tied
N_BOOT = 2000


def budget_key(budget: dict) -> str:
    """A budget as a canonical string: rows at the same rung share it."""
    return json.dumps(budget, sort_keys=True)


def describe(entry: Any) -> str:
    """A suite entry's ladder in words: 'x 0.25, 1 of labelled_examples'."""
    return f"x {', '.join(f'{f:g}' for f in sorted(entry.ladder))} of {', '.join(entry.ladder_axes) or 'every field'}"


def budget_text(budget: dict, fields: tuple[str, ...] = ()) -> str:
    """A budget (or the given fields of it) as one line: 'forward_passes 1000, labelled_examples 16'."""
    return ", ".join(f"{k} {v:g}" for k, v in sorted(budget.items()) if not fields or k in fields)


def axis_of(budgets: list[dict]) -> str:
    """The field the rungs vary most (largest max / min ratio); the preference order breaks ties.
    Spreads within 10% of each other tie: counts scaled together differ only by rounding (1/32 of
    2,000 backward passes is 62, a spread of 32.3 against forward passes' 32)."""
    def spread(name: str) -> float:
        vals = [float(b.get(name, 0) or 0) for b in budgets]
        lo, hi = min(vals), max(vals)
        return hi / lo if lo > 0 else (math.inf if hi > 0 else 1.0)

    widest = max(spread(n) for n in AXIS_PREFERENCE)
    return next(n for n in AXIS_PREFERENCE if spread(n) >= widest / SPREAD_TIE)


def scaled_fields(budgets: list[dict]) -> tuple[str, ...]:
    """The budget fields that change along the ladder (the axis among them), in preference order."""
    return tuple(n for n in AXIS_PREFERENCE if len({float(b.get(n, 0) or 0) for b in budgets}) > 1)


# Counts an arm chooses how much of to spend. Labelled examples are charged when the task hands them
# out (every arm "spends" all it is given), so on a ladder that also scales queries they would put
# every arm at its rung's cap and hide an arm that stops early.
CHOSEN = ("forward_passes", "backward_passes", "tuning_trials")


def spend_fields(scaled: tuple[str, ...], axis: str) -> tuple[str, ...]:
    """The scaled fields an arm's position on the curve is read from: the chosen counts among them,
    else the axis alone (a ladder of labels)."""
    return tuple(n for n in scaled if n in CHOSEN) or (axis,)


def largest_share(spend: dict, budget: dict, fields: tuple[str, ...]) -> tuple[float, str] | None:
    """(the largest share of its cap the arm spent on any of `fields`, that field), the first field
    on a tie; None if no field has a cap. The curve's position and the arm table's share both read it."""
    shares = [(float(spend.get(n, 0) or 0) / float(budget[n]), n) for n in fields if budget.get(n)]
    return max(shares, key=lambda t: t[0]) if shares else None


def spent_on_axis(spend: dict | None, budget: dict, axis: str, scaled: tuple[str, ...]) -> float | None:
    """What an arm spent at a rung, in the axis's units: its largest share of any scaled count's cap
    (`spend_fields`) times the rung's amount on the axis. On a one-field ladder that is the spend on
    the axis itself; on a ladder scaling forward and backward passes together it puts a fine-tune that
    uses all its backward passes (and few forward ones) at the rung it used up, not at its handful of
    forward passes, so arms spending different counts share one axis. None if the spend is unknown."""
    if not spend:
        return None
    share = largest_share(spend, budget, spend_fields(scaled, axis))
    return (share[0] if share else 0.0) * float(budget.get(axis, 0))


def order(budgets: list[dict]) -> list[dict]:
    """Rungs smallest first, along the axis (then the other fields, for a stable order)."""
    axis = axis_of(budgets)
    return sorted(budgets, key=lambda b: (float(b.get(axis, 0)), [float(b.get(n, 0)) for n in AXIS_PREFERENCE]))


def fmt_amount(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() or x >= 100 else f"{x:g}"


def crossover(levels: list[dict], axis: str) -> dict:
    """The per-rung verdicts merged into runs of equal verdicts, as one sentence, and whether the
    verdict changes along the ladder (`crossover`) and whether each side is ahead somewhere
    (`sides_cross`: interp ahead at one rung and baseline at another)."""
    if len(levels) < 2:
        return {"statement": None, "crossover": False, "sides_cross": False}
    runs: list[list[dict]] = []
    for lv in levels:
        if runs and runs[-1][-1]["verdict"] == lv["verdict"]:
            runs[-1].append(lv)
        else:
            runs.append([lv])
    word = AXIS_WORDS.get(axis, axis)
    amount = lambda lv: fmt_amount(lv["budget"][axis])
    if len(runs) == 1:
        return {"statement": f"no crossover within the ladder: {levels[0]['verdict']} at every rung "
                             f"({amount(levels[0])} to {amount(levels[-1])} {word})",
                "crossover": False, "sides_cross": False}
    parts = []
    for i, run in enumerate(runs):
        if len(run) == 1:
            where = f"at {amount(run[0])}"
        elif i == 0:
            where = f"at ≤ {amount(run[-1])}"
        elif i == len(runs) - 1:
            where = f"at ≥ {amount(run[0])}"
        else:
            where = f"at {amount(run[0])} to {amount(run[-1])}"
        parts.append(f"{run[0]['verdict']} {where}")
    kinds = {lv["verdict"] for lv in levels}
    return {"statement": "; ".join(parts) + f" {word}", "crossover": True,
            "sides_cross": {"interp ahead", "baseline ahead"} <= kinds}


def _needed(values: np.ndarray, target: float, s: float, amounts: np.ndarray, counts: np.ndarray) -> float:
    """The smallest rung amount whose mean (over the rows given) reaches the target, among the rungs
    that count (`counts`: the side's arm passed its gates there); beyond the ladder: twice the top
    rung (a finite stand-in the bootstrap can take percentiles of)."""
    means = values.mean(0)
    hit = np.flatnonzero((s * means >= s * target - 1e-12) & counts)
    return float(amounts[hit[0]]) if len(hit) else float(2 * amounts[-1])


def efficiency(levels: list[dict], axis: str, higher_is_better: bool, chance: float | None,
               min_units: int = 2, seed: int = 0) -> dict | None:
    """Budget each side needs to reach the target, with a CI over units, and their ratio.

    Per rung, each side's value on a unit is its out-of-fold score there (the side's best arm chosen
    on the other units: `oof_units` of the level rows), so choosing the best arm per rung does not
    inflate the curve. A rung counts for a side only where the side's named arm passed its gates
    (beat its control and chance), so a score no better than a control's never "reaches" anything.
    Units are the ones present at every rung for both sides; with fewer than `min_units` (what a
    verdict needs to reach significance) the CI would mean nothing: none given."""
    if len(levels) < 2 or any(not lv.get("oof_units") for lv in levels):
        return None
    units = sorted(set.intersection(*(set(lv["oof_units"]["interp"]) & set(lv["oof_units"]["baseline"])
                                      for lv in levels)))
    if len(units) < max(2, min_units):
        return {"target": None, "axis": axis, "n_units": len(units),
                "statement": f"too few units ({len(units)}) to say how much budget each side needs"}
    s = 1.0 if higher_is_better else -1.0
    mats = {side: np.array([[lv["oof_units"][side][u] for lv in levels] for u in units]) for side in ("interp", "baseline")}
    counts = {side: np.array([lv.get(f"{side}_gated") is not False or not lv.get("control_gated", True)
                              for lv in levels]) for side in mats}
    if not any(c.any() for c in counts.values()):
        return {"target": None, "axis": axis, "n_units": len(units),
                "statement": "no side's arm beats its controls at any rung"}
    best = max((s * m.mean(0))[counts[side]].max() for side, m in mats.items() if counts[side].any()) * s
    # the target's starting point: chance; where a row declares none, 0 for a higher-is-better row
    # (nothing recalled, no lead), unless some mean is below 0 (a log size ratio: explanation-
    # faithfulness's compute-equivalent, where 0 is the organism itself, the best score, not a
    # floor); and for a lower-is-better one (a hack rate, a miss rate) 0 is the best score too:
    # there, the worst mean of either side at any rung
    worst = min((s * m.mean(0)).min() for m in mats.values()) * s
    if chance is not None:
        c, start = float(chance), "chance"
    elif higher_is_better and worst >= 0:
        c, start = 0.0, "0"
    else:
        c, start = worst, "the worst mean of either side at any rung"
    if s * (best - c) <= 0:
        return {"target": None, "axis": axis,
                "statement": {"chance": "no side beats chance at any rung", "0": "no side scores above 0 at any rung"}
                .get(start, "no side improves on the worst score")}
    # rounded to 12 places: the same scores summed in another order (cells read back in another
    # order) differ in the last bit, and 0.8975 would print 0.897 on one machine and 0.898 on another
    target = round(c + TARGET_SHARE * (best - c), 12)
    amounts = np.array([float(lv["budget"][axis]) for lv in levels])
    out: dict[str, Any] = {"target": target, "axis": axis, "target_rule": f"{start} + {TARGET_SHARE:.0%} of the way to "
                           "the best out-of-fold score of either side at any rung", "n_units": len(units)}
    for side, m in mats.items():
        need = _needed(m, target, s, amounts, counts[side])
        res = stats.bootstrap((np.arange(len(units)),),
                              lambda idx: _needed(m[np.asarray(idx, int)], target, s, amounts, counts[side]),
                              vectorized=False, method="percentile", n_resamples=N_BOOT,
                              random_state=np.random.default_rng(seed))
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        beyond = float(2 * amounts[-1])
        out[side] = {"needs": None if need >= beyond else need,
                     "ci_low": None if lo >= beyond else lo, "ci_high": None if hi >= beyond else hi}
    out["ratio"] = None if out["interp"]["needs"] is None or out["baseline"]["needs"] is None \
        else out["baseline"]["needs"] / out["interp"]["needs"]
    out["statement"] = _efficiency_statement(out, f"{target:.3g}", AXIS_WORDS.get(axis, axis), float(amounts[-1]))
    return out


def _ci_text(need: dict, top: float) -> str:
    """A side's need's 95% CI in brackets; an end beyond the ladder is "> top rung"."""
    end = lambda x: fmt_amount(x) if x is not None else f"> {fmt_amount(top)}"
    return f"[95% CI {end(need['ci_low'])}, {end(need['ci_high'])}]"


def _efficiency_statement(out: dict, tgt: str, word: str, top: float) -> str:
    """'baseline reaches 0.85 at 64 labelled examples [95% CI 64, 128]; interp never within the
    ladder'. Each need carries its CI over units (a bootstrap that can land beyond the ladder), so a
    ratio drawn from two rungs is read with how firmly each side sits on its rung."""
    ni, nb = out["interp"], out["baseline"]
    # a side that never reaches the target shows its CI only where some resamples do reach it
    never = lambda side: "never within the ladder" + (f" {_ci_text(side, top)}" if side["ci_low"] is not None else "")
    if ni["needs"] is None and nb["needs"] is None:
        partly = [f"{name} {_ci_text(side, top)}" for name, side in (("interp", ni), ("baseline", nb)) if side["ci_low"] is not None]
        return f"neither side reaches {tgt} within the ladder" + (f" ({', '.join(partly)})" if partly else "")
    if ni["needs"] is None or nb["needs"] is None:
        (who, got), (other, missed) = (("baseline", nb), ("interp", ni)) if ni["needs"] is None else (("interp", ni), ("baseline", nb))
        return f"{who} reaches {tgt} at {fmt_amount(got['needs'])} {word} {_ci_text(got, top)}; {other} {never(missed)}"
    both = f"interp {fmt_amount(ni['needs'])} {_ci_text(ni, top)}, baseline {fmt_amount(nb['needs'])} {_ci_text(nb, top)}"
    if ni["needs"] == nb["needs"]:
        return f"both sides reach {tgt} at {fmt_amount(ni['needs'])} {word} ({both})"
    fewer, r = ("interp", nb["needs"] / ni["needs"]) if ni["needs"] < nb["needs"] else ("baseline", ni["needs"] / nb["needs"])
    return f"{fewer} reaches {tgt} with {r:.3g}x fewer {word} ({both})"
