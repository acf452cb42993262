"""`behavior-removal` figures: the removal Pareto fronts, every interp arm against its control along
its own strength knob, and the robustness of each arm's removal.

Drawn only from `detail` of the `residual-asr` rows (each holds the arm's whole sweep: strengths,
held-out attack success and clean accuracy per point, the unedited organism's, the operating point)
and from the values of the `asr-trigger-variants` and `asr-after-relearning` rows.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from . import plots

ORDER = {"interp": 0, "baseline": 1, "control": 2}
ROBUST = (("residual-asr", "at the operating point"), ("asr-trigger-variants", "trigger variants"),
          ("asr-after-relearning", "after clean relearning"))


def _kind(instance: str) -> str:
    return instance.split("/")[0]


def _sweeps(rows: list[dict]) -> dict[str, dict[str, dict[float, list[tuple[float, float]]]]]:
    """arm -> trigger kind -> strength -> [(asr, clean)] over seeds."""
    out: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in rows:
        d = r["detail"]
        for s, a, c in zip(d["strengths"], d["asr"], d["clean"]):
            out[r["arm"]][_kind(r["instance"])][s].append((a, c))
    return out


def _style(family: str) -> tuple[str, str]:
    return plots.FAMILY_COLOURS.get(family, plots.OTHER_COLOUR), (":" if family == "control" else "-")


def _pareto(rows: list[dict], sweeps: dict, fam: dict[str, str]) -> str:
    kinds = sorted({_kind(r["instance"]) for r in rows})
    original = {k: np.mean([(r["detail"]["original_clean"], r["detail"]["original_asr"]) for r in rows
                            if _kind(r["instance"]) == k], 0) for k in kinds}
    arms = sorted(sweeps, key=lambda a: (ORDER.get(fam[a], 3), a))
    markers = dict(zip(arms, "osD^v<>ph*XP" * 3))
    with plots.plt.rc_context(plots.RC):
        fig, axes = plots.plt.subplots(1, len(kinds), figsize=(3.3 * len(kinds) + 1.8, 3.2), sharey=True, squeeze=False)
        lo = 1.0
        for ax, kind in zip(axes[0], kinds):
            for arm in arms:
                pts = sweeps[arm].get(kind)
                if not pts:
                    continue
                xy = np.array([np.mean(v, 0) for _, v in sorted(pts.items())])  # mean (asr, clean) per strength
                colour, ls = _style(fam[arm])
                ax.plot(xy[:, 1], xy[:, 0], ls, marker=markers[arm], ms=3, lw=0.9, color=colour, alpha=0.85, label=arm)
                lo = min(lo, float(xy[:, 1].min()))
            ox, oy = original[kind]
            ax.scatter([ox], [oy], marker="*", s=60, color="black", zorder=5, label="unedited organism")
            ax.set_title(f"{kind} trigger")
            ax.set_xlabel("clean accuracy (held out)")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.25, linewidth=0.5)
        for ax in axes[0]:  # zoom on where the points are: most edits keep clean accuracy high
            ax.set_xlim(min(lo, 0.8) - 0.02, 1.01)
        axes[0][0].set_ylabel("attack success rate (held out)")
        axes[0][-1].legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return plots.to_svg(fig, "behavior-removal-pareto")


def _versus_control(arm: str, control: str, sweeps: dict, fam: dict[str, str]) -> str:
    """ASR and clean accuracy against strength, arm (solid) and its control (dotted), per trigger kind."""
    kinds = sorted(sweeps[arm])
    with plots.plt.rc_context(plots.RC):
        fig, axes = plots.plt.subplots(1, 2, figsize=(7.5, 2.6), sharex=True)
        kind_colours = dict(zip(kinds, ("#2563eb", "#059669", "#db2777", "#7c3aed")))
        for name, ls in ((arm, "-"), (control, ":")):
            for kind in kinds:
                pts = sweeps.get(name, {}).get(kind)
                if not pts:
                    continue
                s = sorted(pts)
                m = np.array([np.mean(pts[k], 0) for k in s])
                for ax, col in zip(axes, (0, 1)):
                    ax.plot(s, m[:, col], ls, marker="o", ms=2.5, lw=0.9, color=kind_colours[kind],
                            label=f"{name} ({kind})")
        for ax, label in zip(axes, ("attack success rate", "clean accuracy")):
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("strength (neurons or SAE features ablated; or erasure scale)")
            ax.set_title(label)
            ax.grid(alpha=0.25, linewidth=0.5)
        axes[-1].legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return plots.to_svg(fig, plots.slug("behavior-removal-vs-control", arm))


def _robustness(all_rows: list[dict], fam: dict[str, str]) -> str:
    vals: dict = defaultdict(lambda: defaultdict(list))
    for r in all_rows:
        vals[r["arm"]][r["metric"]].append(r["value"])
    arms = sorted(vals, key=lambda a: (ORDER.get(fam.get(a, ""), 3), a))
    with plots.plt.rc_context(plots.RC):
        fig, ax = plots.plt.subplots(figsize=(max(6.0, 0.55 * len(arms) + 1.5), 3.2))
        width = 0.8 / len(ROBUST)
        shades = ("#1f2937", "#9ca3af", "#e5e7eb")
        for i, ((metric, label), shade) in enumerate(zip(ROBUST, shades)):
            means = [np.mean(vals[a][metric]) if vals[a][metric] else np.nan for a in arms]
            ax.bar(np.arange(len(arms)) + (i - 1) * width, means, width, color=shade, edgecolor="black",
                   linewidth=0.3, label=label)
        ax.set_xticks(np.arange(len(arms)))
        ax.set_xticklabels(arms, rotation=40, ha="right", fontsize=6)
        for tick, a in zip(ax.get_xticklabels(), arms):
            tick.set_color(_style(fam.get(a, ""))[0])
        ax.set_ylabel("attack success rate (lower is better)")
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=6, frameon=False)
        ax.grid(alpha=0.25, linewidth=0.5, axis="y")
        return plots.to_svg(fig, "behavior-removal-robustness")


def figures(rows: list[dict]) -> list[dict]:
    curve_rows = [r for r in rows if r["metric"] == "residual-asr" and (r.get("detail") or {}).get("strengths") is not None]
    if not curve_rows:
        return []
    fam = {r["arm"]: r["family"] for r in rows}
    controls = {r["arm"]: [c for c in (r.get("control") or "").split(",") if c] for r in rows}
    sweeps = _sweeps(curve_rows)
    out = [{"title": "Behaviour removal: attack success against clean accuracy along each arm's sweep",
            "note": "Held-out prompts, one panel per trigger kind, mean over seeds per sweep point; the star is the "
                    "unedited organism; the clean-accuracy axis is zoomed to where the points are. Bottom right is best "
                    "(behaviour gone, clean skill kept). Solid blue: interp "
                    "arms; solid orange: baselines; dotted grey: controls.",
            "svg": _pareto(curve_rows, sweeps, fam)},
           {"title": "Behaviour removal: how robust is each removal?",
            "note": "Attack success at each arm's operating point (best point keeping 95% of clean accuracy), under "
                    "trigger variants the arm never saw, and after a short fine-tune on clean data; mean over "
                    "organisms and seeds.",
            "svg": _robustness([r for r in rows if r["metric"] in dict(ROBUST)], fam)}]
    for arm in sorted(sweeps):
        if fam[arm] != "interp":
            continue
        for control in controls.get(arm, []):
            if control in sweeps:
                out.append({"title": f"Behaviour removal: {arm} vs its control {control}",
                            "note": "Attack success and clean accuracy against the shared strength knob; solid: the arm, "
                                    "dotted: the control at equal count / scale; colours are trigger kinds.",
                            "svg": _versus_control(arm, control, sweeps, fam)})
    return out
