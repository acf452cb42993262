"""The scorecard in the terminal, and the report's shared view of a store (used by the HTML page too).

Everything here is a pure function of the store: score rows in, verdicts from `verdict.compute`,
per-arm summaries from `verdict.arm_summaries`. Nothing is re-run; nothing is re-scored.
`build` takes rows (and, optionally, verdicts already computed), so callers need not hand over a store.

Two layouts: a table for wide terminals, and a compact one (a few short lines per verdict row, no
borders, nothing folded mid-word) for narrow terminals and CI logs.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
from rich import box
from rich.console import Console, Group
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from .. import verdict as V
from ..ladder import budget_key, budget_text
from ..verdict import min_gate_units
from ..store import OVER_BUDGET, Store

FAMILY_ORDER = ("interp", "baseline", "control")

# The verdicts a row can carry (spelled here, so the report reads rows from any verdict.py version).
INTERP_AHEAD, BASELINE_AHEAD, NO_DIFF = "interp ahead", "baseline ahead", "no clear difference"
INTERP_FAILS, BASELINE_FAILS = "interp fails its control", "baseline fails its control"
NEITHER, TOO_FEW, NO_BASELINE = "neither beats its control", "too few organisms", "no baseline"
FAILS_CONTROL = INTERP_FAILS  # the old name
VERDICTS = (INTERP_AHEAD, BASELINE_AHEAD, NO_DIFF, INTERP_FAILS, BASELINE_FAILS, NEITHER, TOO_FEW)
# Rows that compare nothing because a side (or the control) is missing from the run.
INTERP_FAILED, NO_INTERP, BASELINE_FAILED = "interp arm failed", "no interp arm", "baseline arm failed"
NO_CONTROL = "no control scored"
NOT_COMPARED = (INTERP_FAILED, NO_INTERP, BASELINE_FAILED, NO_BASELINE, NO_CONTROL)

VERDICT_STYLE = {
    INTERP_AHEAD: "bold green",
    BASELINE_AHEAD: "bold red",
    INTERP_FAILS: "bold red",
    BASELINE_FAILS: "bold magenta",
    NEITHER: "bold magenta",
    NO_DIFF: "yellow",
    TOO_FEW: "italic bright_black",
    NO_BASELINE: "dim",
    NO_INTERP: "dim",
    NO_CONTROL: "dim",
    INTERP_FAILED: "bold red",
    BASELINE_FAILED: "bold red",
}
WIDE_MIN = 120  # narrower consoles (and anything that is not a terminal) get the compact layout
INDENT = "    "


# ---- the shared view of a store -------------------------------------------------------------

@dataclass
class MetricView:
    """One task metric: its verdict row, its arms (summarised) and its raw score rows."""

    task: str
    metric: str
    higher_is_better: bool
    description: str
    chance: float | None
    verdict: dict
    arms: list[dict]
    rows: list[dict] = field(repr=False)


@dataclass
class ReportData:
    """What both renderers need, computed once from the store."""

    verdicts: list[dict]
    metrics: list[MetricView]
    toi: dict[str, str]
    rows: list[dict] = field(repr=False)
    failures: list[dict] = field(default_factory=list)  # failed_cells(): the run's cells that did not finish
    where: str = "RUN_DIR"  # the run directory, for the command that prints full tracebacks
    over_budget: list[dict] = field(default_factory=list)  # failed_cells(..., OVER_BUDGET): outcomes, not failures


def failed_cells(store: Store, run_id: str | None = None, status: str = "failed") -> list[dict]:
    """The failed cells of one run's plan: task, arm (its registered name), family, seed, budget, the
    error's first line and the full traceback (the store's `cells.error`). `status=OVER_BUDGET`: the
    cells whose method their budget could not pay for instead (not failures: see runner.execute_cell)."""
    out = []
    for c in store.cells(run_id):
        if c["status"] == "done" or (c["status"] == OVER_BUDGET) != (status == OVER_BUDGET):
            continue
        err = (c.get("error") or "").strip()
        out.append({"task": c["task"], "arm": c["arm"], "family": c["family"], "seed": c["seed"],
                    "organism_set": c["organism_set"], "cell_key": c["cell_key"],
                    "budget": json.loads(c["budget"]) if c.get("budget") else None,
                    "error": err.splitlines()[0] if err else "(no error recorded)", "traceback": err,
                    "metrics": _would_score(c["task"], c["arm"]),
                    **({"over_budget": True} if status == OVER_BUDGET else {})})
    return out


def _would_score(task: str, arm: str) -> list[str] | None:
    """The metrics a failed arm would have been scored on, when its class is at hand (a plug-in
    arm that is not imported in this process: None, i.e. any metric of its task)."""
    from .. import registry

    try:
        arm_cls, task_cls = registry.arms().get(arm), registry.tasks().get(task)
        return None if arm_cls is None or task_cls is None else registry.served_metrics(task_cls, arm_cls)
    except Exception:
        return None


TRACEBACK_HINT = "full tracebacks: samecurve report {where} --failures (stored in cells.error of results.sqlite)"


def control_names(rows: list[dict]) -> set[str]:
    """Arms named as someone's control (so they are drawn and labelled as must-lose arms)."""
    out: set[str] = set()
    for r in rows:
        if r.get("control"):
            out.update(c.strip() for c in str(r["control"]).split(",") if c.strip())
    return out


def is_control(arm: dict, controls: set[str]) -> bool:
    """Whether an arm is a must-lose control, by family or by being some arm's control."""
    return arm["family"] == "control" or arm["arm"] in controls


def _bootstrap_mean_ci(values: list[float], seed: int = 0, n_boot: int = 2000) -> tuple[float, float]:
    d = np.asarray(values, dtype=float)
    if len(d) == 0:
        return float("nan"), float("nan")
    if len(d) == 1:
        return float(d[0]), float(d[0])
    boots = d[np.random.default_rng(seed).integers(0, len(d), size=(n_boot, len(d)))].mean(1)
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return float(lo), float(hi)


def unit_ci(units: dict[Any, float]) -> tuple[float, float]:
    """95% bootstrap CI of an arm's mean over its units (verdict's bootstrap when it has one)."""
    values = [float(x) for x in units.values()]
    boot = getattr(V, "bootstrap_ci", None)
    if boot is not None and len(values) > 1:
        try:
            lo, hi = boot(np.asarray(values))
            if not (_missing(lo) or _missing(hi)):
                return float(lo), float(hi)
        except (TypeError, ValueError):
            pass
    return _bootstrap_mean_ci(values)


def _seed_spread(seed_means: dict) -> float:
    vals = list(seed_means.values())
    return float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0


def _arm_sort_key(a: dict, hib: bool) -> tuple:
    fam = FAMILY_ORDER.index(a["family"]) if a["family"] in FAMILY_ORDER else len(FAMILY_ORDER)
    return (fam, -a["mean"] if hib else a["mean"], a["arm"])


def _summarise_arms(rows: list[dict], hib: bool, chance: float | None = None) -> list[dict]:
    if not rows:
        return []
    controls = control_names(rows)
    try:
        summaries = V.arm_summaries(rows, hib, chance=chance)
    except TypeError:  # a verdict.py without chance gates
        summaries = V.arm_summaries(rows, hib)
    arms = []
    for a in summaries.values():
        low, high = unit_ci(a.get("units", {}))
        spend = a.get("spend") or {}
        arms.append({**a, "ci_low": low, "ci_high": high, "seed_sd": _seed_spread(a.get("seed_means", {})),
                     "is_control": is_control(a, controls), "vs_control": a.get("vs_control"),
                     "forward_passes": spend.get("forward_passes", 0.0)})
    return sorted(arms, key=lambda a: _arm_sort_key(a, hib))


def by_toi(verdicts: list[dict]) -> dict[str, list[dict]]:
    """Verdict rows grouped under each theory of impact they test."""
    out: dict[str, list[dict]] = defaultdict(list)
    for v in verdicts:
        for toi in v.get("tois") or []:
            out[toi].append(v)
    return dict(out)


def toi_summary(verdicts: list[dict]) -> dict[str, str]:
    """One phrase per ToI (verdict.toi_summary when it exists): unanimous verdicts stand; mixed ones say so."""
    summary = getattr(V, "toi_summary", None)
    if summary is not None:
        return summary(verdicts)
    out = {}
    for toi, vs in by_toi(verdicts).items():
        kinds = sorted({v["verdict"] for v in vs if v["verdict"] not in NOT_COMPARED})
        out[toi] = "nothing compared" if not kinds else kinds[0] if len(kinds) == 1 else "mixed: " + ", ".join(kinds)
    return out


def build(rows: list[dict], meta: dict[str, dict], verdicts: list[dict] | None = None,
          failures: list[dict] | None = None, where: str = "RUN_DIR", headline_budget: dict | None = None,
          over_budget: list[dict] | None = None) -> ReportData:
    """The report's view of some score rows: verdicts (computed unless given), arm summaries, ToI summaries,
    and the failed cells (`failed_cells`), which verdicts name when a side is missing because of them.
    On a budget ladder each metric's arms and figures are those of its verdict's (headline) rung; the
    other rungs live in the verdict's `levels`."""
    failures, over_budget = list(failures or []), list(over_budget or [])
    if verdicts is None:
        verdicts = V.compute(rows, meta, failed=failures + over_budget, headline_budget=headline_budget)
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["task"], r["metric"], budget_key(r.get("budget") or {}))].append(r)
    views = []
    for v in verdicts:
        info = meta.get(v["task"], {}).get("metrics", {}).get(v["metric"], {})
        hib = v.get("higher_is_better", True)
        rs = groups[(v["task"], v["metric"], budget_key(v.get("budget") or {}))]
        gate_chance = v.get("chance") if v.get("control_gated", True) else None
        views.append(MetricView(v["task"], v["metric"], hib, info.get("description", ""), info.get("chance"), v,
                                _summarise_arms(rs, hib, gate_chance), rs))
    return ReportData(verdicts, views, toi_summary(verdicts), rows, failures, where, over_budget)


def collect(store: Store, run_id: str | None = None, verdicts: list[dict] | None = None) -> ReportData:
    """Read the store once and derive verdicts, arm summaries, ToI summaries and failed cells from it."""
    rows = store.score_rows() if run_id is None else store.score_rows(run_id=run_id)
    run = store.run(run_id)
    return build(rows, store.tasks(), verdicts, failed_cells(store, run_id), str(store.path.parent),
                 (run or {}).get("config", {}).get("budget"), failed_cells(store, run_id, OVER_BUDGET))


# ---- formatting ------------------------------------------------------------------------------

def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, (float, np.floating)) and math.isnan(x))


def fmt(x: Any, digits: int = 3) -> str:
    """A score, or a dash when there is none."""
    return "—" if _missing(x) else f"{x:.{digits}f}"


def fmt_signed(x: Any, digits: int = 3) -> str:
    return "—" if _missing(x) else f"{x:+.{digits}f}"


def fmt_ci(low: Any, high: Any, digits: int = 3, signed: bool = True) -> str:
    """An interval; signed for differences, unsigned for plain scores."""
    if _missing(low) or _missing(high):
        return "—"
    spec = f"+.{digits}f" if signed else f".{digits}f"
    return f"[{low:{spec}}, {high:{spec}}]"


def digits_for(*xs: Any) -> int:
    """Decimals that suit the largest magnitude present: 0.123, 1.234, 12.3, 123.4, 1234."""
    m = max((abs(x) for x in xs if not _missing(x)), default=0.0)
    return 3 if m < 10 else 1 if m < 1000 else 0


def fmt_score(x: Any) -> str:
    """A raw score at a precision that suits its size (AUROCs keep three decimals)."""
    return fmt(x, digits_for(x))


def fmt_int(x: Any) -> str:
    return "—" if _missing(x) else f"{x:,.0f}"


def fmt_seeds(seeds: list | None) -> str:
    return f"{len(seeds)} ({', '.join(str(s) for s in seeds)})" if seeds else "0"


def fmt_p(x: Any) -> str:
    """A p- or q-value: three significant figures, '<0.001' below that."""
    if _missing(x):
        return "—"
    return "<0.001" if x < 0.001 else f"{x:.2f}" if x >= 0.1 else f"{x:.3g}"


def fmt_diff(v: dict) -> str:
    """interp − baseline with its 95% CI (raw units), as one cell."""
    d, lo, hi = v.get("diff"), v.get("diff_ci_low"), v.get("diff_ci_high")
    if _missing(d):
        return "—"
    k = digits_for(d, lo, hi)
    ci = fmt_ci(lo, hi, k)
    return fmt_signed(d, k) if ci == "—" else f"{fmt_signed(d, k)} {ci}"


def fmt_std(v: dict) -> str:
    """The standardised difference with its CI, as one cell (raw sign: interp − baseline)."""
    d = v.get("std_diff")
    if _missing(d):
        return "—"
    ci = fmt_ci(v.get("std_ci_low"), v.get("std_ci_high"), 2)
    return fmt_signed(d, 2) if ci == "—" else f"{fmt_signed(d, 2)} {ci}"


def n_units(v: dict) -> int | None:
    n = v.get("n_units", v.get("n_pairs"))
    return None if _missing(n) else int(n)


def plural(n: int | None, unit: str) -> str:
    """'1 organism', '4 organisms', '3 seeds (one pretrained model)'."""
    word, _, rest = unit.partition(" ")
    word = word if n == 1 or word.endswith("s") else word + "s"
    return f"{'—' if n is None else n} {word}{' ' + rest if rest else ''}"


def fmt_units(v: dict) -> str:
    """How many independent units the row rests on, with their kind."""
    return plural(n_units(v), v.get("unit") or "paired unit")


def direction(hib: bool) -> str:
    return "higher is better" if hib else "lower is better"


def arrow(v: dict) -> str:
    return "↑" if v.get("higher_is_better", True) else "↓"


def control_status(arm: dict) -> str:
    """'beats' / 'FAILS control' / 'FAILS chance' / 'is a control' / 'no control', for one arm."""
    if arm.get("is_control") and arm.get("family") == "control":
        return "is a control"
    vc, ch = arm.get("vs_control"), arm.get("vs_chance")
    if vc is None and ch is None:
        if arm.get("is_control"):
            return "is a control"
        return "no control" if arm["family"] == "interp" else "—"
    gates = [(name, gate) for name, gate in (("control", vc), ("chance", ch)) if gate is not None and not gate.get("beats")]
    if gates and all(gate.get("decidable") is False for _, gate in gates):
        return f"unproven (n {max(gate.get('n') or 0 for _, gate in gates)} < {min_gate_units()})"
    failed = [name for name, _ in gates]
    return f"FAILS {' and '.join(failed)}" if failed else "beats"


def gate_word(gate: dict) -> str:
    """'beats', 'FAILS', or 'unproven (n 3 < 5)' where too few units make the gate unpassable."""
    if gate.get("beats"):
        return "beats"
    if gate.get("decidable") is False:
        return f"unproven (n {gate.get('n')} < {min_gate_units()})"
    return "FAILS"


def control_name(arm: dict) -> str:
    vc = arm.get("vs_control") or {}
    return str(vc.get("control") or arm.get("control") or "—")


def control_cell(arm: dict) -> str:
    vc = arm.get("vs_control")
    if vc is None:
        return control_status(arm)
    ci = fmt_ci(vc.get("low"), vc.get("high"))
    return f"{fmt_signed(vc.get('diff'))} {ci} vs {control_name(arm)}: {control_status(arm)}"


def _vs_control_text(vc: dict) -> str:
    p = f", p {fmt_p(vc['p_value'])}" if not _missing(vc.get("p_value")) else ""
    return f"difference {fmt_signed(vc.get('diff'))}, 95% CI {fmt_ci(vc.get('low'), vc.get('high'))}{p}"


def gate_reason(vc: dict | None, ch: dict | None) -> str:
    """Why an arm was not credited: the gates it failed, with their numbers."""
    reasons = []
    if vc is not None and not vc.get("beats"):
        name = f" {vc['control']}" if vc.get("control") else ""
        reasons.append(f"did not beat its control{name} ({_vs_control_text(vc)})")
    if ch is not None and not ch.get("beats"):
        p = f", p {fmt_p(ch['p_value'])}" if not _missing(ch.get("p_value")) else ""
        reasons.append(f"did not beat chance ({ch.get('chance')}{p})")
    if vc is None and ch is None:
        return "has no control arm scored, so it cannot be credited"
    return " and ".join(reasons) or "was not credited by its gates"


def _fails_control_sentence(v: dict) -> str:
    arm, vc, ch = v.get("best_interp_arm"), v.get("interp_vs_control"), v.get("interp_vs_chance")
    if vc is None and ch is None:
        return (f"Interp fails its control: {arm} has no control arm scored, so it cannot be credited; "
                f"its raw score {fmt_score(v.get('interp_score'))} is not compared.")
    return (f"Interp fails its control: the best interp arm, {arm}, {gate_reason(vc, ch)}, "
            f"so no interp arm enters the comparison.")


def _baseline_fails_sentence(v: dict) -> str:
    arm, vc, ch = v.get("best_baseline_arm"), v.get("baseline_vs_control"), v.get("baseline_vs_chance")
    return (f"Baseline fails its control: the best baseline, {arm}, {gate_reason(vc, ch)}; a baseline that "
            f"does not beat its control is not a baseline, so this row compares nothing.")


def _neither_sentence(v: dict) -> str:
    return (f"Neither side beats its control: the best interp arm, {v.get('best_interp_arm')}, "
            f"{gate_reason(v.get('interp_vs_control'), v.get('interp_vs_chance'))}, and the best baseline, "
            f"{v.get('best_baseline_arm')}, {gate_reason(v.get('baseline_vs_control'), v.get('baseline_vs_chance'))}; "
            f"this row compares nothing.")


def _stats(v: dict) -> str:
    lo, hi = v.get("diff_ci_low"), v.get("diff_ci_high")
    parts = [f"95% CI {fmt_ci(lo, hi, digits_for(v.get('diff'), lo, hi))}"]
    if not _missing(v.get("q_value")):
        parts.append(f"q {fmt_p(v['q_value'])}")
    parts += [fmt_units(v), direction(v.get("higher_is_better", True))]
    return ", ".join(parts)


def _failed_note(v: dict) -> str:
    arms = v.get("failed_arms") or []
    return f" Cells of {', '.join(arms)} failed and are not in this row (see Failed cells)." if arms else ""


def _missing_side_sentence(v: dict) -> str:
    """Rows that compare nothing because a side or the control is missing from the run."""
    i, b, verdict = v.get("best_interp_arm"), v.get("best_baseline_arm"), v.get("verdict")
    failed = ", ".join(v.get("failed_arms") or []) or "its arms"
    if verdict == INTERP_FAILED:
        return (f"Interp arm failed: no interp arm finished on this metric ({failed} failed; see Failed cells), "
                f"so {b or 'the baseline'} is not compared with anything.")
    over = ", ".join(v.get("over_budget_arms") or [])
    if verdict == NO_INTERP and over:
        return (f"No interp arm finished within this budget ({over} needed more than it gives), "
                f"so {b or 'the baseline'} is not compared with anything.")
    if verdict == NO_INTERP:
        return f"No interp arm was run on this metric, so {b or 'the baseline'} is not compared with anything."
    if verdict == BASELINE_FAILED:
        return (f"Baseline arm failed: no baseline finished on this metric ({failed} failed; see Failed cells), "
                f"so {i or 'the interp arm'} is not compared with anything.")
    if verdict == NO_BASELINE and over:
        return (f"No baseline finished within this budget ({over} needed more than it gives), "
                f"so {i or 'the interp arm'} is not compared with anything.")
    if verdict == NO_BASELINE:
        return f"No baseline was run on this metric, so {i or 'the interp arm'} is not compared with anything."
    return (f"No control run: no control arm was scored on this metric, so no arm can be credited "
            f"({arm_score(i, v.get('interp_score'))} vs {arm_score(b, v.get('baseline_score'))} is not compared); "
            f"run the arms' declared controls too.")


def sentence(v: dict) -> str:
    """The verdict row in one plain sentence, with no softening when interp loses or fails."""
    text = _sentence(v)
    return (text if v.get("verdict") in NOT_COMPARED else text + _failed_note(v)) + data_only_sentence(v)


GIVEN_AWAY = "data gives it away"


def given_away(v: dict) -> bool:
    """Whether the row's data-only check (verdict.data_only_check) says the data gives it away."""
    return bool((v.get("data_only") or {}).get("given_away"))


def data_only_marker(v: dict) -> str:
    """'data gives it away' on a row whose best arm does not beat its data-only arm, else ''."""
    return GIVEN_AWAY if given_away(v) else ""


def data_only_sentence(v: dict) -> str:
    """' The data gives it away: ...' (or that it does not), for a row with a data-only arm."""
    d = v.get("data_only")
    if not d:
        return ""
    canary = f"the data-only arm {d['arm']} ({fmt_score(d.get('mean'))}, which never runs the model)"
    if d.get("best_arm") is None:
        return f" The data gives it away: no arm but {canary} was scored."
    p = f", p {fmt_p(d['p_value'])}" if not _missing(d.get("p_value")) else ""
    best = f"{d['best_arm']} ({fmt_score(d.get('best_mean'))})"
    if d.get("given_away"):
        few = "" if d.get("decidable", True) else f"; {plural(d.get('n'), v.get('unit') or 'organism')} cannot show it"
        return f" The data gives it away: the best arm, {best}, does not beat {canary}{p}{few}."
    return f" The data does not give it away: the best arm, {best}, beats {canary}{p}."


def _sentence(v: dict) -> str:
    i, b, verdict = v.get("best_interp_arm"), v.get("best_baseline_arm"), v.get("verdict")
    d = fmt_diff({"diff": v.get("diff")})
    if verdict == INTERP_FAILS:
        return _fails_control_sentence(v)
    if verdict == BASELINE_FAILS:
        return _baseline_fails_sentence(v)
    if verdict == NEITHER:
        return _neither_sentence(v)
    if verdict == INTERP_AHEAD:
        return f"Interp ahead: {i} beats {b} by {d} ({_stats(v)})."
    if verdict == BASELINE_AHEAD:
        return f"Interp loses: the baseline {b} beats the best interp arm {i} ({d} for interp; {_stats(v)})."
    if verdict == TOO_FEW:
        need = v.get("min_units")
        unit = v.get("unit") or "organism"
        why = f"; the test cannot reach significance with fewer than {plural(need, unit)}" if need else ""
        return (f"Too few organisms: {fmt_units(v)}{why}, so no verdict is drawn"
                + (f" ({i} vs {b}: {d})." if i and b and d != "—" else "."))
    if verdict in NOT_COMPARED:
        return _missing_side_sentence(v)
    if i is None:
        return "No interp arm was scored on this metric."
    if b is None:
        return f"No baseline was scored on this metric, so {i} is not compared with anything."
    n = n_units(v) or 0
    if n < 2:
        return f"No clear difference: only {fmt_units(v)} between {i} and {b}, too few for a CI."
    return f"No clear difference between {i} and {b} ({d}; {_stats(v)})."


def method_lines(verdicts: list[dict]) -> list[tuple[str, str]]:
    """(label, sentence) for the inference and selection sentences; shared ones once, with label ''."""
    out = []
    for key in ("inference", "selection"):
        said = [v.get(key) for v in verdicts if v.get(key)]
        if said and len(set(said)) == 1 and len(said) == len(verdicts):
            out.append(("", said[0]))
        else:
            out += [(f"{v['task']}/{v['metric']}", v[key]) for v in verdicts if v.get(key)]
    return out


def toi_lines(data: ReportData) -> list[tuple[str, str, str]]:
    """(ToI, summary, breakdown) for each theory of impact; the breakdown counts each task's rows by
    verdict once per task (the rows themselves are listed above), rows that compare nothing included."""
    out = []
    for toi, vs in by_toi(data.verdicts).items():
        per_task: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for v in vs:
            per_task[v["task"]][v["verdict"]] += 1
        parts = "; ".join(f"{t}: " + ", ".join(f"{k} ({n})" for k, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))
                          for t, c in per_task.items())
        out.append((toi, data.toi.get(toi, ""), parts))
    return out


def verdict_style(verdict: str) -> str:
    return VERDICT_STYLE.get(verdict, "yellow" if str(verdict).startswith("mixed") else "")


def arm_score(arm: str | None, score: Any, note: str = "") -> str:
    """An arm and its score as one cell (a dash when there is no such arm)."""
    return "—" if arm is None else f"{arm} {fmt_score(score)}{note}"


def arm_note(v: dict, side: str) -> str:
    """' (fails control)' after the arm that failed its control."""
    fails = (INTERP_FAILS if side == "interp" else BASELINE_FAILS, NEITHER)
    return " (fails control)" if v.get("verdict") in fails else ""


# ---- wide layout: rich tables --------------------------------------------------------------

TITLE = "samecurve scorecard: interp vs baseline, same task, same budget"
LEGEND = ("Δ = interp − baseline in the metric's own units with its 95% CI; q = Benjamini–Hochberg "
          "adjusted p over this run's rows; n = independent units.")


def _longest_word(texts: Iterable[str]) -> int:
    return max((len(w) for t in texts for w in str(t).split()), default=1)


def verdict_table(data: ReportData) -> Table:
    """One row per (task, metric): the headline comparison and its verdict. No cell is narrower than its
    longest word, so nothing is folded or cut (when that cannot fit, `wants_compact` says so)."""
    cols = ("task", "metric", "verdict", "best interp", "best baseline", "Δ [95% CI]", "p", "q", "n")
    whole = {"task", "metric", "verdict", "Δ [95% CI]", "p", "q"}  # never wrapped
    cells = [[v["task"], f"{v['metric']} {arrow(v)}", v["verdict"] + (f" ({GIVEN_AWAY})" if given_away(v) else ""),
              arm_score(v.get("best_interp_arm"), v.get("interp_score"), arm_note(v, "interp")),
              arm_score(v.get("best_baseline_arm"), v.get("baseline_score"), arm_note(v, "baseline")),
              fmt_diff(v), fmt_p(v.get("p_value")), fmt_p(v.get("q_value")), fmt_units(v)]
             for v in data.verdicts]  # ToIs: in the per-ToI lines below the tables
    t = Table(title=TITLE, title_justify="left", box=box.SIMPLE_HEAD)
    for i, col in enumerate(cols):
        texts = [col, *(c[i] for c in cells)]
        t.add_column(col, no_wrap=col in whole, justify="right" if col in ("p", "q") else "left",
                     min_width=max(map(len, texts)) if col in whole else _longest_word(texts))
    for v, c in zip(data.verdicts, cells):
        cell = Text(v["verdict"], style=verdict_style(v["verdict"]))
        if given_away(v):
            cell.append(f" ({GIVEN_AWAY})", style="bold magenta")
        t.add_row(*c[:2], cell, *c[3:])
    return t


def arm_table(view: MetricView) -> Table:
    """Every arm on one task metric, with its spread over seeds and its control comparison."""
    t = Table(title=f"{view.task} / {view.metric} ({direction(view.higher_is_better)})", title_justify="left",
              box=box.SIMPLE_HEAD)
    t.add_column("arm")
    t.add_column("family")
    t.add_column("access")
    t.add_column("mean ± sd over seeds", no_wrap=True)
    t.add_column("vs control (diff [95% CI])")
    t.add_column("fwd passes / job", no_wrap=True, justify="right")
    for a in view.arms:
        status = control_status(a)
        style = "red" if status.startswith("FAILS") else ("green" if status == "beats" else "")
        t.add_row(a["arm"], a["family"] + (" (control)" if a["is_control"] and a["family"] != "control" else ""),
                  a.get("access") or "—", f"{fmt_score(a['mean'])} ± {fmt_score(a['seed_sd'])}",
                  Text(control_cell(a), style=style), fmt_int(a["forward_passes"]))
    return t


def toi_text(data: ReportData) -> Text:
    text = Text()
    text.append("Per theory of impact\n", style="bold")
    for toi, summary, parts in toi_lines(data):
        text.append(f"  {toi}: ")
        text.append(summary, style=verdict_style(summary))
        text.append(f"  ({parts})\n", style="dim")
    return text


def _scope_text(v: dict) -> str:
    return v.get("scope") or ""


def _method_text(verdicts: list[dict]) -> list[Text]:
    out = []
    for label, said in method_lines(verdicts):
        out.append(Text(f"  {label + ': ' if label else ''}{said}", style="dim"))
    return out


def wide_scorecard(data: ReportData) -> Group:
    parts: list[Any] = [verdict_table(data), Text(LEGEND, style="dim"), *_method_text(data.verdicts), Text("")]
    for v in data.verdicts:
        line = Text(f"  {v['task']}/{v['metric']}: {sentence(v)}", style=verdict_style(v["verdict"]))
        if _scope_text(v):
            line.append(f" Scope: {_scope_text(v)}", style="dim")
        parts.append(line)
    parts += [Text(""), *[arm_table(m) for m in data.metrics if m.arms], toi_text(data)]
    return Group(*parts)


# ---- compact layout: short lines, no borders -------------------------------------------------



def pack(segments: Iterable[tuple[str, str]], width: int, indent: str = "", cont: str = INDENT,
         sep: str = "  ") -> list[Text]:
    """Lay unbreakable segments out in lines of at most `width`; a segment longer than any line is
    laid out word by word (a single word longer than a line gets a line to itself); continuation
    lines start with `cont`."""
    lines: list[Text] = []
    line, used = Text(indent), len(indent)
    fresh = True
    flat: list[tuple[str, str, str]] = []  # (text, style, separator before it)
    for text, style in segments:
        if len(text) > width - len(cont) and " " in text:  # too long for any line: lay its words out
            words = text.split()
            flat += [(words[0], style, sep)] + [(w, style, " ") for w in words[1:]]
        else:
            flat.append((text, style, sep))
    for text, style, sep in flat:
        if not text:
            continue
        need = len(text) + (0 if fresh else len(sep))
        if not fresh and used + need > width:
            line.rstrip()
            lines.append(line)
            line, used, fresh = Text(cont), len(cont), True
            need = len(text)
        if not fresh:
            line.append(sep)
        line.append(text, style=style)
        used += need
        fresh = False
    if not fresh:
        lines.append(line)
    for ln in lines:
        ln.rstrip()
    return lines


def compact_row(v: dict, width: int, verdict_w: int) -> list[Text]:
    """A verdict row in a few lines: verdict and name; Δ, p, q, n; the two arms; the scope."""
    verdict, name = v["verdict"], f"{v['task']}/{v['metric']} {arrow(v)}"
    padded = verdict.ljust(verdict_w) if verdict_w + 2 + len(name) <= width else verdict  # align when it fits
    lines = pack([(padded, verdict_style(verdict)), (name, "bold")], width)
    if given_away(v):
        d = v["data_only"]
        lines += pack([(GIVEN_AWAY + ":", "bold magenta"), (f"data-only {d['arm']} {fmt_score(d.get('mean'))}", ""),
                       (f"vs best {arm_score(d.get('best_arm'), d.get('best_mean'))}", ""),
                       (f"p {fmt_p(d.get('p_value'))}", "dim")], width, indent=INDENT)
    stats = [(f"Δ {fmt_diff(v)}", ""), (f"p {fmt_p(v.get('p_value'))}", "dim"),
             (f"q {fmt_p(v.get('q_value'))}", ""), (f"n {fmt_units(v)}", "")]
    lines += pack(stats, width, indent=INDENT)
    arms = [(f"interp {arm_score(v.get('best_interp_arm'), v.get('interp_score'), arm_note(v, 'interp'))}", ""),
            (f"baseline {arm_score(v.get('best_baseline_arm'), v.get('baseline_score'), arm_note(v, 'baseline'))}", "")]
    lines += pack(arms, width, indent=INDENT, sep=" · ")
    if _scope_text(v):
        lines += pack([(w, "dim") for w in _scope_text(v).split()], width, indent=INDENT, sep=" ")
    return lines


def compact_arms(view: MetricView, width: int) -> list[Text]:
    """Every arm on one task metric, one (or two) lines each."""
    out = [Text(f"{view.task}/{view.metric} ({direction(view.higher_is_better)})", style="bold")]
    arm_w = max(len(a["arm"]) for a in view.arms)
    for a in view.arms:
        fam = "control" if a["is_control"] else a["family"]
        status = control_status(a)
        style = "red" if status.startswith("FAILS") else ("green" if status == "beats" else "dim")
        segs = [(f"{fam:<8} {a['arm']:<{arm_w}}", ""),
                (f"{fmt_score(a['mean'])} ± {fmt_score(a['seed_sd'])}", ""),
                (f"{fmt_int(a['forward_passes'])} fwd", "dim")]
        if status not in ("—", "is a control"):
            nums, _, rest = control_cell(a).partition(" vs ")  # the difference and its CI stay on one line
            segs += [(nums, style), (f"vs {rest}", style)] if rest else [(nums, style)]
        out += pack(segs, width, indent="  ", cont="  " + INDENT)
    return out


def _wrap(text: str, width: int, indent: str = "  ", style: str = "") -> list[Text]:
    return pack([(w, style) for w in text.split()], width, indent=indent, cont=indent, sep=" ")


def compact_scorecard(data: ReportData, width: int = 80) -> Group:
    verdict_w = max(len(v["verdict"]) for v in data.verdicts)
    parts: list[Any] = [Text(TITLE, style="bold"), *_wrap("Each row: its verdict and task/metric (↑/↓: higher/lower "
                                                          "is better), then the numbers, then the best arm of each "
                                                          "side. " + LEGEND, width, "", "dim")]
    for label, said in method_lines(data.verdicts):
        parts += _wrap(f"{label + ': ' if label else ''}{said}", width, "", "dim")
    last_task = None
    for v in data.verdicts:
        if v["task"] != last_task:  # the task and its theories of impact, once
            last_task = v["task"]
            parts.append(Text(""))
            tois = ", ".join(v.get("tois") or []) or "—"
            parts += pack([(v["task"], "bold underline"), *((w, "dim") for w in f"(ToIs: {tois})".split())], width,
                          sep=" ", cont=INDENT)
        parts += compact_row(v, width, verdict_w)
    for m in data.metrics:
        if m.arms:
            parts += [Text(""), *compact_arms(m, width)]
    tois = toi_lines(data)
    if tois:
        parts += [Text(""), Text("Per theory of impact", style="bold")]
        for toi, summary, breakdown in tois:
            parts += pack([(f"{toi}:", ""), *((w, verdict_style(summary)) for w in summary.split())], width,
                          indent="  ", cont=INDENT, sep=" ")
            parts += _wrap(breakdown, width, INDENT, "dim")
    return Group(*parts)


def failure_lines(data: ReportData, width: int) -> list[Text]:
    """The failed cells: where (task, arm by registered name, seed), the error's first line, and
    where the full traceback is. Each error on lines of its own, wrapped at spaces."""
    if not data.failures:
        return []
    n = len(data.failures)
    out = [Text(f"Failed cells ({n}): not in any verdict above", style="bold red")]
    for f in data.failures:
        out += pack([(f"{f['task']}", "bold"), (f"{f['arm']}", "bold red"), (f"seed {f['seed']}", "")], width,
                    indent="  ", cont=INDENT)
        out += _wrap(f["error"], width, INDENT, "red")
    out += _wrap(TRACEBACK_HINT.format(where=data.where), width, "  ", "dim")
    return out


def failure_banner(data: ReportData, width: int) -> list[Text]:
    if not data.failures:
        return []
    arms = ", ".join(dict.fromkeys(f["arm"] for f in data.failures))
    return _wrap(f"{len(data.failures)} cell(s) failed ({arms}): see Failed cells at the end.", width, "", "bold red")


def wants_compact(console: Console, data: ReportData | None = None) -> bool:
    """Compact for narrow consoles, for output that is not a terminal (CI logs, pipes), and whenever
    the wide table could not fit without folding words."""
    if console.width < WIDE_MIN or not console.is_terminal:
        return True
    if data is not None and data.verdicts:
        need = Measurement.get(console, console.options.update_width(10_000), verdict_table(data)).minimum
        return need > console.width
    return False


def render(data: ReportData, compact: bool, width: int = 80) -> Group:
    """The whole scorecard as one rich renderable, failed cells last (and announced first)."""
    if not data.verdicts:
        parts: list[Any] = [Text("No finished cells in this store yet: nothing to grade.", style="yellow")]
        if data.failures:
            parts += [Text(""), *failure_lines(data, width)]
        return Group(*parts)
    body = compact_scorecard(data, width) if compact else wide_scorecard(data)
    extra = ladder_lines(data, width) + over_budget_lines(data, width)
    if extra:
        body = Group(body, Text(""), *extra)
    if not data.failures:
        return body
    return Group(*failure_banner(data, width), body, Text(""), *failure_lines(data, width))


def over_budget_lines(data: ReportData, width: int) -> list[Text]:
    """Cells whose method their budget could not pay for: not failures, but no scores either."""
    if not data.over_budget:
        return []
    by: dict[str, list[str]] = defaultdict(list)
    for f in data.over_budget:
        by[f"{f['task']}/{f['arm']}"].append(budget_text(f.get("budget") or {}, ("forward_passes", "labelled_examples")))
    out = [Text(f"{len(data.over_budget)} cell(s) over budget (the method needs more than the budget gives; "
                "no scores, not failures)", style="yellow")]
    for name, budgets in by.items():
        out += _wrap(f"{name}: at {'; '.join(dict.fromkeys(budgets))}", width, "  ")
    return out


def ladder_lines(data: ReportData, width: int) -> list[Text]:
    """Rows run on a budget ladder: the rung their verdict is at, and what happens along the ladder."""
    rows = [v for v in data.verdicts if v.get("levels")]
    if not rows:
        return []
    out = [Text("Budget ladders (each verdict above is at its headline rung)", style="bold")]
    for v in rows:
        out += _wrap(f"{v['task']}/{v['metric']} (headline {v.get('headline_level')}): {ladder_sentence(v)}", width, "  ")
    return out


def ladder_sentence(v: dict) -> str:
    """A laddered row's crossover statement, then its efficiency statement if it has one."""
    eff = (v.get("efficiency") or {}).get("statement")
    return f"{v.get('crossover')}" + (f"; {eff}" if eff else "")


def scorecard(store: Store, compact: bool = False, width: int = 80, run_id: str | None = None) -> Group:
    """The whole scorecard of a store as one rich renderable: verdicts, per-arm tables, per-ToI lines."""
    return render(collect(store, run_id), compact, width)


def print_data(data: ReportData, console: Console | None = None, compact: bool | None = None) -> None:
    """Print the scorecard of already-collected data, in the layout the console suits (unless told)."""
    console = console or Console()
    if compact is None:
        compact = wants_compact(console, data)
    console.print(render(data, compact, console.width), soft_wrap=False)


def print_scorecard(store: Store, console: Console | None = None, compact: bool | None = None,
                    run_id: str | None = None, verdicts: list[dict] | None = None) -> None:
    """Print the scorecard (to a fresh console unless one is given)."""
    print_data(collect(store, run_id, verdicts), console, compact)
