"""Report figures as inline SVG strings (matplotlib, Agg): no files, no network, nothing external.

Each SVG gets its own id prefix so several can sit in one HTML page without their ids clashing,
and text stays text (svg.fonttype 'none'), which keeps the files small and the labels searchable.
"""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..ladder import spend_fields  # noqa: E402
from . import terminal as T  # noqa: E402
from .terminal import MetricView, _missing  # noqa: E402

FAMILY_COLOURS = {"interp": "#2563eb", "baseline": "#d97706", "control": "#6b7280"}
OTHER_COLOUR = "#7c3aed"
VERDICT_COLOURS = {T.INTERP_AHEAD: "#15803d", T.BASELINE_AHEAD: "#b91c1c", T.INTERP_FAILS: "#b91c1c",
                   T.BASELINE_FAILS: "#c026d3", T.NEITHER: "#c026d3", T.NO_DIFF: "#a16207",
                   T.TOO_FEW: "#6b7280", T.NO_BASELINE: "#6b7280", T.NO_INTERP: "#6b7280", T.NO_CONTROL: "#6b7280",
                   T.INTERP_FAILED: "#b91c1c", T.BASELINE_FAILED: "#b91c1c"}
HOLLOW_VERDICTS = (T.INTERP_FAILS, T.BASELINE_FAILS, T.NEITHER, T.TOO_FEW)
FIGSIZE = (6.0, 3.5)
RC = {"svg.fonttype": "none", "svg.hashsalt": "samecurve", "font.size": 8, "axes.titlesize": 9,
      "axes.spines.top": False, "axes.spines.right": False}
_ID = re.compile(r'id="([^"]+)"')


# Within a family each arm gets its own shade and marker (families keep their hue), so two interp
# arms never look alike; the legend names every arm.
FAMILY_SHADES = {"interp": ("#1d4ed8", "#0891b2", "#4f46e5", "#0d9488", "#2563eb", "#7c3aed", "#0369a1", "#059669"),
                 "baseline": ("#d97706", "#b45309", "#dc2626", "#ca8a04", "#ea580c", "#9a3412", "#be123c", "#a16207"),
                 "control": ("#6b7280", "#374151", "#9ca3af", "#4b5563", "#1f2937", "#d1d5db")}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def arm_styles(arms: list[dict]) -> dict[str, tuple[str, str]]:
    """arm name -> (colour, marker): a different pair for every arm of a family, in the order given."""
    seen: dict[str, int] = defaultdict(int)
    out = {}
    for a in arms:
        fam = "control" if a.get("is_control") else a.get("family", "")
        k = seen[fam]
        seen[fam] += 1
        shades = FAMILY_SHADES.get(fam, (OTHER_COLOUR,))
        out[a["arm"]] = (shades[k % len(shades)], MARKERS[k % len(MARKERS)])
    return out


def _fmt_count(x: float) -> str:
    if x == 0:
        return "0"
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            v = x / div
            return f"{v:g}{suffix}"
    return f"{x:g}"


def log_ticks(hi: float) -> list[float]:
    """Ticks for a count axis from 0 to `hi` on a symlog scale: 0, then 1-2-5 per decade (just
    the powers of ten when that would crowd the axis)."""
    hi = max(float(hi), 1.0)
    top = int(np.ceil(np.log10(hi))) if hi > 1 else 0
    decades = range(0, top + 1)
    steps = (1, 2, 5) if top <= 4 else (1,)
    ticks = [0.0] + [m * 10.0 ** d for d in decades for m in steps if m * 10.0 ** d <= hi * 1.5]
    return sorted(set(ticks))


def verdict_colour(verdict: str) -> str:
    return VERDICT_COLOURS.get(verdict, OTHER_COLOUR)


def colour(arm: dict) -> str:
    """Colour by family; a control is grey even if it is registered under another family."""
    return FAMILY_COLOURS["control"] if arm.get("is_control") else FAMILY_COLOURS.get(arm["family"], OTHER_COLOUR)


def _prefix_ids(svg: str, prefix: str) -> str:
    """Make every id (and every reference to one) unique to this figure."""
    for old in sorted(set(_ID.findall(svg)), key=len, reverse=True):
        new = f"{prefix}-{old}"
        svg = svg.replace(f'id="{old}"', f'id="{new}"').replace(f"#{old})", f"#{new})").replace(f'"#{old}"', f'"#{new}"')
    return svg


def to_svg(fig: Any, prefix: str) -> str:
    """Render a figure to a bare inline <svg> element and close it."""
    buf = io.StringIO()
    try:
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    finally:
        plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and the DOCTYPE (which names an external DTD)
    return _prefix_ids(svg, prefix)


def legend_below(fig: Any, ax: Any, ncol: int = 3) -> None:
    """One legend under a grid of panels, from the first panel's lines, each label once (the panels
    repeat the same arms)."""
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    fig.legend(uniq.values(), uniq.keys(), fontsize=6, frameon=False, loc="upper center",
               bbox_to_anchor=(0.5, -0.02), ncol=ncol)


def slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", "-".join(parts)).strip("-").lower()


def _new_figure(size: tuple[float, float] = FIGSIZE) -> tuple[Any, Any]:
    with plt.rc_context(RC):
        return plt.subplots(figsize=size)


def mean_and_ci(ax: Any, at: float, mean: float, lo: float, hi: float, *, vertical: bool, color: str,
                marker: str = "o", mfc: str | None = None, label: str | None = None) -> None:
    """A mean as a marker and its CI as a capped bar from `lo` to `hi`, drawn apart: the mean need
    not lie inside the interval (on a full-suite row every unit was equal and the mean came out one
    rounding above both ends; a BCa interval may also leave it out), and matplotlib refuses an
    error bar measured from the mean then, which took the whole report down."""
    mid, half = (lo + hi) / 2, abs(hi - lo) / 2
    bar = dict(fmt="none", ecolor=color, capsize=3, elinewidth=1)
    ax.errorbar(*(([at], [mid]) if vertical else ([mid], [at])), **({"yerr": [half]} if vertical else {"xerr": [half]}), **bar)
    ax.plot(*(([at], [mean]) if vertical else ([mean], [at])), marker=marker, ms=6, color=color,
            mfc=mfc or color, linestyle="none", label=label)


def arms_down_unit_across(ax: Any, arms: list[str], xlabel: str) -> None:
    """Finish a dot plot with one row per arm (first on top) and a 0..1 score across, legend outside."""
    ax.set_yticks(range(len(arms)))
    ax.set_yticklabels(arms)
    ax.invert_yaxis()
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.25, linewidth=0.5)
    ax.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def top_rung(rows: list[dict], axis: str = "forward_passes") -> list[dict]:
    """The rows of a budget ladder's top rung (the most of `axis`): what a task figure drawn at the
    headline budget shows; all rows when the entry has no ladder."""
    top = max((r["budget"] or {}).get(axis, 0) for r in rows) if rows else 0
    return [r for r in rows if (r["budget"] or {}).get(axis, 0) == top]


def split_dot_plot(values: dict[str, dict[str, list[float]]], family: dict[str, str],
                   groups: tuple[tuple[str, str, str], ...], xlabel: str, ref: float, prefix: str) -> str:
    """One row per arm (interp, then baselines, then controls), a dot per group (`(key, legend
    label, marker)`) at its mean over `values[arm][key]` with a +- sd bar, a dashed line at `ref`."""
    arms = sorted(values, key=lambda a: ({"interp": 0, "baseline": 1}.get(family[a], 2), a))
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(6.0, 0.3 * len(arms) + 1.3))
        for j, (key, label, marker) in enumerate(groups):
            ys = [i + (0.12 if j else -0.12) for i in range(len(arms))]
            means = [float(np.mean(values[a][key])) if values[a][key] else np.nan for a in arms]
            sds = [float(np.std(values[a][key])) if values[a][key] else np.nan for a in arms]
            ax.errorbar(means, ys, xerr=sds, fmt="none", ecolor="#9ca3af", elinewidth=0.6)
            ax.scatter(means, ys, marker=marker, s=24, edgecolors="black", linewidths=0.3,
                       color=[FAMILY_COLOURS.get(family[a], OTHER_COLOUR) for a in arms])
            ax.scatter([], [], marker=marker, s=24, color="white", edgecolors="black", linewidths=0.5, label=label)
        ax.axvline(ref, color="#9ca3af", linestyle="--", linewidth=0.8)
        arms_down_unit_across(ax, arms, xlabel)
        return to_svg(fig, prefix)


def _per_seed_budget(rows: list[dict]) -> dict[tuple, tuple[float, float]]:
    """(seed, budget) -> (mean value, mean forward passes) for one arm: one point per seed and budget."""
    acc: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        acc[(r["seed"], json.dumps(r["budget"], sort_keys=True))].append(r)
    return {k: (float(np.mean([r["value"] for r in rs])),
                float(np.mean([r["spend"].get("forward_passes", 0) for r in rs]))) for k, rs in acc.items()}


def _legend(ax: Any) -> None:
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def spend_plot(view: MetricView) -> str:
    """(a) metric vs forward passes per job: a point per seed, the arm mean with its 95% CI bar; each
    arm its own colour and marker (within its family's hue), the budget cap as a dashed line."""
    styles = arm_styles(view.arms)
    with plt.rc_context(RC):
        fig, ax = _new_figure((FIGSIZE[0] + 1.0, FIGSIZE[1]))
        by_arm: dict[str, list[dict]] = defaultdict(list)
        for r in view.rows:
            by_arm[r["arm"]].append(r)
        xmax = 1.0
        for arm in view.arms:
            c, mk = styles[arm["arm"]]
            pts = _per_seed_budget(by_arm[arm["arm"]])
            ax.scatter([p[1] for p in pts.values()], [p[0] for p in pts.values()], s=14, color=c, alpha=0.4,
                       linewidths=0, marker=mk)
            x = arm["forward_passes"]
            xmax = max([xmax, x, *(p[1] for p in pts.values())])
            mean_and_ci(ax, x, arm["mean"], arm["ci_low"], arm["ci_high"], vertical=True, color=c, marker=mk,
                        mfc="white" if arm["is_control"] else c,
                        label=f"{arm['arm']} [{'control' if arm['is_control'] else arm['family']}]")
        caps = sorted({float(r["budget"].get("forward_passes")) for r in view.rows
                       if isinstance(r.get("budget"), dict) and r["budget"].get("forward_passes")})
        for cap in caps:
            ax.axvline(cap, color="#b91c1c", linestyle="--", linewidth=0.9,
                       label=f"budget cap ({_fmt_count(cap)} fwd / job)")
            xmax = max(xmax, cap)
        ax.set_xscale("symlog", linthresh=1)
        ticks = log_ticks(xmax)
        ax.set_xticks(ticks, [_fmt_count(t) for t in ticks])
        ax.set_xlim(-0.3, xmax * 1.6)
        ax.set_xlabel("forward passes per job (log scale; 0 at left)")
        ax.set_ylabel(f"{view.metric} ({'↑' if view.higher_is_better else '↓'} better)")
        ax.set_title(f"{view.task} / {view.metric}: score vs spend")
        ax.grid(alpha=0.25, linewidth=0.5)
        _legend(ax)
        return to_svg(fig, slug("spend", view.task, view.metric))


def arm_plot(view: MetricView) -> str:
    """(b) each arm's mean with its bootstrap CI over (seed, instance) units; controls hollow."""
    arms = view.arms
    with plt.rc_context(RC):
        fig, ax = _new_figure((FIGSIZE[0], max(1.8, 0.32 * len(arms) + 1.0)))
        ys = np.arange(len(arms))[::-1]
        styles = arm_styles(arms)
        for y, a in zip(ys, arms):
            c, mk = styles[a["arm"]]
            mean_and_ci(ax, y, a["mean"], a["ci_low"], a["ci_high"], vertical=False, color=c, marker=mk,
                        mfc="white" if a["is_control"] else c)
        for y0, y1 in zip(ys[:-1], ys[1:]):
            i = len(arms) - 1 - y0
            if arms[i]["family"] != arms[i + 1]["family"]:
                ax.axhline((y0 + y1) / 2, color="#d1d5db", linewidth=0.6)
        if view.chance is not None:
            ax.axvline(view.chance, color="#9ca3af", linestyle=":", linewidth=1, label=f"chance ({view.chance:g})")
            ax.legend(fontsize=7, frameon=False, loc="lower right")
        ax.set_yticks(ys, [f"{a['arm']} [{'control' if a['is_control'] else a['family']}]" for a in arms])
        for tick, a in zip(ax.get_yticklabels(), arms):
            tick.set_color(styles[a["arm"]][0])
        ax.set_xlabel(f"{view.metric}: mean and 95% bootstrap CI over (seed, instance)")
        ax.set_title(f"{view.task} / {view.metric}: arms ({'higher' if view.higher_is_better else 'lower'} is better)")
        ax.set_ylim(-0.6, len(arms) - 0.4)
        ax.grid(axis="x", alpha=0.25, linewidth=0.5)
        return to_svg(fig, slug("arms", view.task, view.metric))


STD_AXIS = "standardised paired difference, interp − baseline (higher = interp better)"


def standardised(v: dict) -> tuple[float, float, float] | None:
    """(x, low, high) of a row on the one standardised scale, oriented so that right is interp-better:
    the sign is flipped for lower-is-better metrics. None when the row has no standardised difference."""
    d, lo, hi = v.get("std_diff"), v.get("std_ci_low"), v.get("std_ci_high")
    if _missing(d):
        return None
    lo = d if _missing(lo) else lo
    hi = d if _missing(hi) else hi
    if not v.get("higher_is_better", True):
        d, lo, hi = -d, -hi, -lo
    return float(d), float(min(lo, hi)), float(max(lo, hi))


def _raw_label(v: dict) -> str:
    raw = T.fmt_diff(v)
    return "" if raw == "—" else f"raw Δ {raw}"


def diff_plot(verdicts: list[dict]) -> str:
    """(c) every verdict row on one standardised scale (interp − baseline over the SD of the per-unit
    differences, sign flipped for lower-is-better metrics so right is always interp-better), with its
    95% CI, a zero line and its colour by verdict; the raw difference is written at the right."""
    with plt.rc_context(RC):
        fig, ax = _new_figure((FIGSIZE[0] + 1.2, max(1.6, 0.42 * len(verdicts) + 1.1)))
        ys = np.arange(len(verdicts))[::-1]
        xs: list[float] = []
        for y, v in zip(ys, verdicts):
            c = verdict_colour(v.get("verdict", ""))
            pt = standardised(v)
            if pt is None:
                if v.get("verdict") in T.NOT_COMPARED:  # a side or the control missing: say which, nothing else
                    label = f"not compared: {v.get('verdict')}"
                elif _missing(v.get("diff")):
                    label = "no paired difference"
                else:
                    label = "no standardised difference"
                ax.text(0, y, label, ha="center", va="center", fontsize=7, color=c)
                continue
            x, lo, hi = pt
            xs += [lo, hi]
            hollow = v.get("verdict") in HOLLOW_VERDICTS
            mean_and_ci(ax, y, x, lo, hi, vertical=False, color=c, mfc="white" if hollow else c)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(ys, [f"{v['task']}/{v['metric']} ({'↑' if v.get('higher_is_better', True) else '↓, sign flipped'})"
                           f"\n{v.get('verdict')}" for v in verdicts])
        for tick, v in zip(ax.get_yticklabels(), verdicts):
            tick.set_color(verdict_colour(v.get("verdict", "")))
        for y, v in zip(ys, verdicts):  # the raw difference in the metric's own units, beside its row
            ax.text(1.01, y, _raw_label(v), transform=ax.get_yaxis_transform(), ha="left", va="center",
                    fontsize=6.5, color="#4b5563")
        if xs:
            span = max(abs(min(xs)), abs(max(xs)), 0.5) * 1.1
            ax.set_xlim(-span, span)
        ax.set_ylim(-0.6, len(verdicts) - 0.4)
        ax.set_xlabel(STD_AXIS)
        ax.set_title("Paired difference per verdict row, one scale for every metric "
                     "(hollow: a side failed its control; raw units at right)")
        ax.grid(axis="x", alpha=0.25, linewidth=0.5)
        return to_svg(fig, "diff")


def ladder_overview(verdicts: list[dict]) -> str:
    """(c) every laddered row of the run at every rung: one cell per rung coloured by that rung's
    verdict (the verdict table's colours; a pale cell: no side ahead or not decided), the rung's
    amount written in it, the headline rung outlined. Where the sides cross, across the run, at a
    glance; the rows' own sections hold the curves and numbers."""
    rows = [v for v in verdicts if len(v.get("levels") or []) >= 2]
    if not rows:
        return ""
    ahead = (T.INTERP_AHEAD, T.BASELINE_AHEAD)
    width = max(len(v["levels"]) for v in rows)
    with plt.rc_context(RC):
        fig, ax = _new_figure((FIGSIZE[0] + 1.2, max(1.5, 0.26 * len(rows) + 1.1)))
        seen: dict[str, str] = {}
        for i, v in enumerate(rows):
            y = len(rows) - 1 - i
            for j, lv in enumerate(v["levels"]):
                c = verdict_colour(lv["verdict"])
                seen.setdefault(lv["verdict"], c)
                strong = lv["verdict"] in ahead
                headline = lv["budget"] == v.get("budget")
                ax.add_patch(plt.Rectangle((j + 0.04, y - 0.4), 0.92, 0.8, facecolor=c, alpha=0.9 if strong else 0.22,
                                           edgecolor="none"))
                if headline:  # its own patch: the fill's alpha would fade the outline of a pale cell
                    ax.add_patch(plt.Rectangle((j + 0.04, y - 0.4), 0.92, 0.8, facecolor="none", edgecolor="black",
                                               linewidth=0.9))
                ax.text(j + 0.5, y, _fmt_count(lv["amount"]), ha="center", va="center", fontsize=6,
                        color="white" if strong else "#111827")
        ax.set_yticks(range(len(rows))[::-1], [f"{v['task']}/{v['metric']} ({(v.get('ladder_axis') or '').replace('_', ' ')})"
                                               for v in rows], fontsize=6.5)
        ax.set_xticks([])
        ax.tick_params(axis="y", length=0)
        ax.set_xlim(0, width)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        handles = [plt.Rectangle((0, 0), 1, 1, facecolor=c, alpha=0.9 if k in ahead else 0.22) for k, c in seen.items()]
        ax.legend(handles, list(seen), fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.set_title("Every laddered row, rung by rung (smallest budget left; outlined: the headline rung)")
        return to_svg(fig, "ladder-overview")


def curve_plot(view: MetricView) -> str:
    """(c) a budget ladder's curve: per rung, each family's selection-aware (out-of-fold) score with
    its 95% CI over units, at what the side's named arm actually spent, in the axis's units (on a
    ladder scaling several counts: its largest share of any of them, times the rung's amount; the
    rung's cap if it spent none), a dotted flat line from there to the rung's cap (budget left
    unused), both families on one log axis; rung caps dotted grey, headline dashed."""
    v = view.verdict
    levels, axis = v.get("levels") or [], v.get("ladder_axis")
    if len(levels) < 2 or not axis:
        return ""
    word = axis.replace("_", " ")
    with plt.rc_context(RC):
        fig, ax = _new_figure((FIGSIZE[0] + 1.0, FIGSIZE[1]))
        for lv in levels:
            ax.axvline(lv["amount"], color="#d1d5db", linestyle=":", linewidth=0.8)
        ax.axvline(v["budget"][axis], color="#6b7280", linestyle="--", linewidth=0.9,
                   label=f"headline rung ({_fmt_count(v['budget'][axis])})")
        for side, mk in (("interp", "o"), ("baseline", "s")):
            c = FAMILY_COLOURS[side]
            kept = [lv for lv in levels if lv.get(f"{side}_score_oof") is not None]
            pts = [(lv.get(f"{side}_spent") or lv["amount"], lv.get(f"{side}_score_oof"), *lv[f"{side}_oof_ci"])
                   for lv in kept]
            if not pts:
                continue
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=c, linewidth=1, alpha=0.6)
            # what the rung offered and the arm left unused: a dotted flat line out to the rung's cap, so
            # a method that stops early (or cannot use more) reads as flat, not as one stacked point
            for lv, (x, m, *_ci) in zip(kept, pts):
                if x < lv["amount"]:
                    ax.hlines(m, x, lv["amount"], colors=c, linestyles=":", linewidth=0.9, alpha=0.55)
                    ax.plot([lv["amount"]], [m], marker="|", color=c, alpha=0.55, markersize=6)
            for i, (x, m, lo, hi) in enumerate(pts):
                mean_and_ci(ax, x, m, lo, hi, vertical=True, color=c, marker=mk,
                            label=f"{side} (best arm per rung, out-of-fold)" if i == 0 else None)
        if view.chance is not None:
            ax.axhline(view.chance, color="#9ca3af", linewidth=0.8, label=f"chance ({view.chance:g})")
        ax.set_xscale("log")
        amounts = sorted({float(lv["amount"]) for lv in levels})
        ax.set_xticks(amounts, [_fmt_count(a) for a in amounts])
        ax.minorticks_off()
        counted = [n.replace("_", " ") for n in spend_fields(tuple(v.get("ladder_scaled") or ()), axis)]
        ax.set_xlabel(f"{word} per job used by the named arm (log scale; ticks at the rungs; dotted: the rung's budget left unused)" + (
            f"\nthe rung's {word} x the largest share of its {' / '.join(counted)} the arm used" if len(counted) > 1 else ""))
        ax.set_ylabel(f"{view.metric} ({'↑' if view.higher_is_better else '↓'} better)")
        ax.set_title(f"{view.task} / {view.metric}: the budget ladder")
        ax.grid(alpha=0.25, linewidth=0.5)
        _legend(ax)
        return to_svg(fig, slug("curve", view.task, view.metric))


def metric_plots(view: MetricView) -> dict[str, str]:
    """The per-metric figures, keyed 'spend', 'arms' and 'curve' (empty without a budget ladder)."""
    return {"spend": spend_plot(view), "arms": arm_plot(view), "curve": curve_plot(view)}
