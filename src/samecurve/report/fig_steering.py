"""`steering` figures: strength curves (every arm against its control) and the concept/fluency plane.

Drawn only from `detail` of the `harmonic-mean` rows: each holds the arm's whole sweep (per setting:
curve name, strength, tuning- and held-out-split scores), the chosen setting and the unsteered
organism's score on the same prompts.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from . import plots

CONTROL = "random-direction-steering"
SERIES = (("harmonic_mean", "harmonic mean"), ("concept", "concept score"), ("fluency", "fluency"))


def _curves(rows: list[dict]) -> dict[str, dict[tuple[str, float], list[dict]]]:
    """arm -> (curve, strength) -> held-out scores over (seed, instance)."""
    out: dict[str, dict] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        for pt in (r.get("detail") or {}).get("curve", []):
            out[r["arm"]][(pt["curve"], pt["strength"])].append(pt["test"])
    return out


def _mean(points: list[dict], key: str) -> float:
    return float(np.mean([p[key] for p in points]))


def _arm_figure(arm: str, curves: dict, control: dict | None, unsteered: float, family: str) -> dict:
    with plots.plt.rc_context(plots.RC):
        fig, axes = plots.plt.subplots(1, 3, figsize=(9.0, 2.8), sharex=True)
        for ax, (key, label) in zip(axes, SERIES):
            for name, pts, style in ((arm, curves, "-"), (CONTROL, control or {}, ":")):
                by_curve: dict[str, list] = defaultdict(list)
                for (c, s), v in pts.items():
                    by_curve[c].append((s, _mean(v, key)))
                for c, xy in sorted(by_curve.items()):
                    xy.sort()
                    colour = plots.FAMILY_COLOURS["control"] if name == CONTROL else plots.FAMILY_COLOURS.get(family, plots.OTHER_COLOUR)
                    ax.plot([p[0] for p in xy], [p[1] for p in xy], style, marker="o", ms=3, color=colour,
                            alpha=0.55 + 0.45 * (c.endswith("1.hook_resid_pre") or "hook" not in c),
                            label=f"{name}: {c}")
            if key == "harmonic_mean":
                ax.axhline(unsteered, color="#9ca3af", linestyle="--", linewidth=0.8, label="unsteered")
            if curves and all("hook" in c for c, _ in curves):
                ax.set_xscale("log")
                ax.xaxis.set_major_formatter(plots.matplotlib.ticker.FormatStrFormatter("%.2g"))
                ax.xaxis.set_minor_formatter(plots.matplotlib.ticker.NullFormatter())
            ticks = sorted({s for _, s in curves})
            ax.set_xticks(ticks)
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(label)
            ax.set_xlabel("strength")
            ax.grid(alpha=0.25, linewidth=0.5)
        axes[-1].legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        svg = plots.to_svg(fig, plots.slug("steering-curve", arm))
    return svg


def _plane(rows: list[dict]) -> str:
    """Each arm at its tuned setting: mean concept score vs mean fluency (held-out split)."""
    by_arm: dict[str, list[dict]] = defaultdict(list)
    fam: dict[str, str] = {}
    for r in rows:
        d = r.get("detail") or {}
        if d.get("chosen") is not None:
            by_arm[r["arm"]].append(d["curve"][d["chosen"]]["test"])
        elif d:
            by_arm[r["arm"]].append(d["unsteered"])
        fam[r["arm"]] = r["family"]
    with plots.plt.rc_context(plots.RC):
        fig, ax = plots.plt.subplots(figsize=(5.5, 3.5))
        for arm, pts in sorted(by_arm.items()):
            colour = plots.FAMILY_COLOURS.get(fam[arm], plots.OTHER_COLOUR)
            ax.scatter([p["fluency"] for p in pts], [p["concept"] for p in pts], s=10, color=colour, alpha=0.3, linewidths=0)
            ax.scatter([_mean(pts, "fluency")], [_mean(pts, "concept")], s=40, color=colour,
                       marker="o" if fam[arm] != "control" else "s", edgecolors="black", linewidths=0.4)
            ax.annotate(arm, (_mean(pts, "fluency"), _mean(pts, "concept")), fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.set_xlim(-0.02, 1.05)
        ax.set_ylim(-0.02, 1.05)
        ax.set_xlabel("fluency (validity x exp(-excess clean loss))")
        ax.set_ylabel("concept score (share of target-topic words)")
        ax.set_title("steering: each arm at its tuned strength (held-out prompts)")
        ax.grid(alpha=0.25, linewidth=0.5)
        return plots.to_svg(fig, "steering-plane")


def _by_organism(rows: list[dict]) -> str:
    """Held-out harmonic mean per arm and organism (organisms differ in how often they saw the prefix)."""
    vals: dict[tuple[str, str], list[float]] = defaultdict(list)
    fam: dict[str, str] = {}
    for r in rows:
        vals[(r["arm"], r["instance"].split("/")[0])].append(r["value"])
        fam[r["arm"]] = r["family"]
    arms = sorted(fam, key=lambda a: ({"interp": 0, "baseline": 1}.get(fam[a], 2), a))
    orgs = sorted({o for _, o in vals})
    with plots.plt.rc_context(plots.RC):
        fig, ax = plots.plt.subplots(figsize=(6.0, 0.3 * len(arms) + 1.2))
        markers = "osD^v<>"
        for j, org in enumerate(orgs):
            ys = [i + 0.15 * (j - (len(orgs) - 1) / 2) for i in range(len(arms))]
            xs = [float(np.mean(vals[(a, org)])) if vals.get((a, org)) else np.nan for a in arms]
            ax.scatter(xs, ys, marker=markers[j % len(markers)], s=22, color=[plots.FAMILY_COLOURS.get(fam[a], plots.OTHER_COLOUR) for a in arms],
                       label=org, edgecolors="black", linewidths=0.3)
        plots.arms_down_unit_across(ax, arms, "harmonic mean (held-out, mean over seeds and targets)")
        return plots.to_svg(fig, "steering-by-organism")


def figures(rows: list[dict]) -> list[dict]:
    rows = [r for r in rows if r["metric"] == "harmonic-mean" and (r.get("detail") or {}).get("curve") is not None]
    if not rows:
        return []
    curves = _curves(rows)
    fam = {r["arm"]: r["family"] for r in rows}
    unsteered = float(np.mean([r["detail"]["unsteered"]["harmonic_mean"] for r in rows]))
    out = [{"title": "Steering: concept score against fluency at each arm's tuned strength",
            "note": "Held-out prompts; small dots are (seed, target) instances, big ones the means; squares are controls. "
                    "Top right is best: on topic and grammatical.",
            "svg": _plane(rows)},
           {"title": "Steering: harmonic mean per organism",
            "note": "One marker per organism (its label gives the share of training sentences preceded by the topic "
                    "prefix, m): the prompting baseline's lever is only as strong as the organism's exposure to it.",
            "svg": _by_organism(rows)}]
    for arm in sorted(curves, key=lambda a: ({"interp": 0, "baseline": 1}.get(fam[a], 2), a)):
        if fam[arm] == "control":
            continue
        control = curves.get(CONTROL) if fam[arm] == "interp" else None
        note = ("Held-out harmonic mean, concept score and fluency against strength, one line per layer "
                "(strength in multiples of the layer's mean-difference norm), mean over seeds and targets; "
                f"dotted grey: {CONTROL}, a random direction of equal norm on the same sweep.") if control else (
                "Held-out scores against the arm's own strength (prompting: 1 = topic prefix once, 2 = before "
                "every sentence; fine-tuning: epochs), mean over seeds and targets.")
        out.append({"title": f"Steering strength curve: {arm}" + (f" vs {CONTROL}" if control else ""), "note": note,
                    "svg": _arm_figure(arm, curves[arm], control, unsteered, fam[arm])})
    return out
