"""The scorecard in the terminal, and the report's shared view of a store (used by the HTML page too).

Everything here is a pure function of the store: score rows in, verdicts from `verdict.compute`,
per-arm summaries from `verdict.arm_summaries`. Nothing is re-run; nothing is re-scored.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from .. import verdict as V
from ..store import Store

FAMILY_ORDER = ("interp", "baseline", "control")
VERDICT_STYLE = {
    V.INTERP_AHEAD: "bold green",
    V.BASELINE_AHEAD: "bold red",
    V.FAILS_CONTROL: "bold red",
    V.NO_DIFF: "yellow",
    "no baseline": "dim",
}


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


def unit_ci(units: dict[tuple, float]) -> tuple[float, float]:
    """Bootstrap CI of an arm's mean over its (seed, instance) units (verdict's bootstrap, against zero)."""
    ci = V.paired_ci(units, dict.fromkeys(units, 0.0))
    return ci["low"], ci["high"]


def _seed_spread(seed_means: dict) -> float:
    vals = list(seed_means.values())
    return float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0


def _arm_sort_key(a: dict, hib: bool) -> tuple:
    fam = FAMILY_ORDER.index(a["family"]) if a["family"] in FAMILY_ORDER else len(FAMILY_ORDER)
    return (fam, -a["mean"] if hib else a["mean"], a["arm"])


def _summarise_arms(rows: list[dict], hib: bool) -> list[dict]:
    controls = control_names(rows)
    arms = []
    for a in V.arm_summaries(rows, hib).values():
        low, high = unit_ci(a["units"])
        arms.append({**a, "ci_low": low, "ci_high": high, "seed_sd": _seed_spread(a["seed_means"]),
                     "is_control": is_control(a, controls),
                     "forward_passes": a["spend"].get("forward_passes", 0.0)})
    return sorted(arms, key=lambda a: _arm_sort_key(a, hib))


def collect(store: Store) -> ReportData:
    """Read the store once and derive verdicts, arm summaries and ToI summaries from it."""
    rows, meta = store.score_rows(), store.tasks()
    verdicts = V.compute(rows, meta)
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["task"], r["metric"])].append(r)
    views = []
    for v in verdicts:
        info = meta.get(v["task"], {}).get("metrics", {}).get(v["metric"], {})
        rs = groups[(v["task"], v["metric"])]
        views.append(MetricView(v["task"], v["metric"], v["higher_is_better"], info.get("description", ""),
                                info.get("chance"), v, _summarise_arms(rs, v["higher_is_better"]), rs))
    return ReportData(verdicts, views, V.toi_summary(verdicts), rows)


# ---- formatting ------------------------------------------------------------------------------

def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


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


def fmt_int(x: Any) -> str:
    return "—" if _missing(x) else f"{x:,.0f}"


def fmt_seeds(seeds: list) -> str:
    return f"{len(seeds)} ({', '.join(str(s) for s in seeds)})" if seeds else "0"


def fmt_diff(v: dict) -> str:
    """interp − baseline with its 95% CI and pair count, as one cell."""
    if v.get("diff") is None:
        return "—"
    return f"{fmt_signed(v['diff'])} {fmt_ci(v['diff_ci_low'], v['diff_ci_high'])} n={v['n_pairs']}"


def direction(hib: bool) -> str:
    return "higher is better" if hib else "lower is better"


def control_status(arm: dict) -> str:
    """'beats' / 'FAILS' / 'is a control' / 'no control', for one arm."""
    vc = arm.get("vs_control")
    if vc is not None:
        return "beats" if vc["beats"] else "FAILS"
    if arm.get("is_control"):
        return "is a control"
    return "no control" if arm["family"] == "interp" else "—"


def control_cell(arm: dict) -> str:
    vc = arm.get("vs_control")
    if vc is None:
        return control_status(arm)
    return f"{fmt_signed(vc['diff'])} {fmt_ci(vc['low'], vc['high'])} vs {arm['control']}: {control_status(arm)}"


def _fails_control_sentence(v: dict) -> str:
    arm, vc = v["best_interp_arm"], v.get("interp_vs_control")
    if vc is None:
        return (f"Interp fails its control: {arm} has no control arm scored, so it cannot be credited; "
                f"its raw score {fmt(v['interp_score'])} is not compared.")
    return (f"Interp fails its control: the best interp arm, {arm}, did not beat its must-lose control "
            f"(difference {fmt_signed(vc['diff'])}, 95% CI {fmt_ci(vc['low'], vc['high'])}), "
            f"so no interp arm enters the comparison.")


def sentence(v: dict) -> str:
    """The verdict row in one plain sentence, with no softening when interp loses or fails."""
    i, b, verdict = v["best_interp_arm"], v["best_baseline_arm"], v["verdict"]
    ci = f"95% CI {fmt_ci(v['diff_ci_low'], v['diff_ci_high'])}, {v['n_pairs']} paired units, {direction(v['higher_is_better'])}"
    if verdict == V.FAILS_CONTROL:
        return _fails_control_sentence(v)
    if verdict == V.INTERP_AHEAD:
        return f"Interp ahead: {i} beats {b} by {fmt_signed(v.get('diff'))} ({ci})."
    if verdict == V.BASELINE_AHEAD:
        return f"Interp loses: the baseline {b} beats the best interp arm {i} ({fmt_signed(v.get('diff'))} for interp; {ci})."
    if verdict == "no baseline":
        return f"No baseline was scored on this metric, so {i} is not compared with anything."
    if i is None:
        return "No interp arm was scored on this metric."
    if v.get("n_pairs", 0) < 2:
        return f"No clear difference: only {v.get('n_pairs', 0)} paired unit(s) between {i} and {b}, too few for a CI."
    return f"No clear difference between {i} and {b}: the CI includes zero ({fmt_signed(v.get('diff'))}; {ci})."


def toi_lines(data: ReportData) -> list[tuple[str, str, str]]:
    """(ToI, summary, per-metric breakdown) for each theory of impact."""
    out = []
    for toi, vs in V.by_toi(data.verdicts).items():
        parts = "; ".join(f"{v['task']}/{v['metric']}: {v['verdict']}" for v in vs)
        out.append((toi, data.toi[toi], parts))
    return out


def verdict_style(verdict: str) -> str:
    return VERDICT_STYLE.get(verdict, "yellow" if verdict.startswith("mixed") else "")


# ---- rich tables ----------------------------------------------------------------------------

def arm_score(arm: str | None, score: Any, note: str = "") -> str:
    """An arm and its score as one cell (a dash when there is no such arm)."""
    return "—" if arm is None else f"{arm} {fmt(score)}{note}"


def verdict_table(data: ReportData) -> Table:
    """One row per (task, metric): the headline comparison and its verdict."""
    t = Table(title="samecurve scorecard: interp vs baseline, same task, same budget", title_justify="left")
    for col in ("task", "metric", "ToIs", "best interp", "best baseline", "interp − baseline [95% CI]", "verdict", "seeds"):
        t.add_column(col, overflow="fold")
    for v in data.verdicts:
        note = " (fails control)" if v["verdict"] == V.FAILS_CONTROL else ""
        t.add_row(v["task"], f"{v['metric']} ({'↑' if v['higher_is_better'] else '↓'})", ", ".join(v["tois"]),
                  arm_score(v["best_interp_arm"], v["interp_score"], note),
                  arm_score(v["best_baseline_arm"], v["baseline_score"]), fmt_diff(v),
                  Text(v["verdict"], style=verdict_style(v["verdict"])), fmt_seeds(v["seeds"]))
    return t


def arm_table(view: MetricView) -> Table:
    """Every arm on one task metric, with its spread over seeds and its control comparison."""
    t = Table(title=f"{view.task} / {view.metric} ({direction(view.higher_is_better)})", title_justify="left")
    for col in ("arm", "family", "access", "mean ± sd over seeds", "vs control (diff [95% CI])", "fwd passes / job"):
        t.add_column(col, overflow="fold")
    for a in view.arms:
        status = control_status(a)
        style = "red" if status == "FAILS" else ("green" if status == "beats" else "")
        t.add_row(a["arm"], a["family"] + (" (control)" if a["is_control"] and a["family"] != "control" else ""),
                  a["access"], f"{fmt(a['mean'])} ± {fmt(a['seed_sd'])}", Text(control_cell(a), style=style),
                  fmt_int(a["forward_passes"]))
    return t


def toi_text(data: ReportData) -> Text:
    text = Text("Per theory of impact\n", style="bold")
    for toi, summary, parts in toi_lines(data):
        text.append(f"  {toi}: ")
        text.append(summary, style=verdict_style(summary))
        text.append(f"  ({parts})\n", style="dim")
    return text


def scorecard(store: Store) -> Group:
    """The whole scorecard as one rich renderable: verdicts, per-arm tables, per-ToI lines."""
    data = collect(store)
    if not data.verdicts:
        return Group(Text("No finished cells in this store yet: nothing to grade.", style="yellow"))
    parts: list[Any] = [verdict_table(data)]
    parts += [Text(f"  {v['task']}/{v['metric']}: {sentence(v)}", style=verdict_style(v["verdict"]))
              for v in data.verdicts]
    parts += [Text(""), *[arm_table(m) for m in data.metrics], toi_text(data)]
    return Group(*parts)


def print_scorecard(store: Store, console: Console | None = None) -> None:
    """Print the scorecard (to a fresh console unless one is given)."""
    (console or Console()).print(scorecard(store))
