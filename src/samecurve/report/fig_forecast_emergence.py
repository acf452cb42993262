"""`forecast-emergence` figures: each arm's signal over training, with the ground-truth jump marked.

Drawn only from what the task stored (the `curves` in each `auroc-next-k-<kind>` score's detail):
per kind, the first seed's runs; each arm's scores min-max scaled per run so interp (blue) and
behavioural (orange) signals share an axis; the held-out accuracy the jump rule reads in black;
the jump as a dashed red line. No-jump runs are drawn too (no line): a good signal stays low on
them, and the alarm threshold comes from the calibration runs (no-jump recipes), which are the
last curves of each score and are titled so.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .plots import FAMILY_COLOURS, RC, legend_below, plt, slug, to_svg

_MAX_RUNS = 4
# one shade per arm within its family's hue (blue interp, orange/red baseline)
_SHADES = {"interp": ("#1d4ed8", "#0891b2", "#7c3aed", "#0f766e", "#60a5fa"),
           "baseline": ("#d97706", "#b91c1c", "#a16207", "#f59e0b")}


def _scaled(v: list[float]) -> np.ndarray:
    """Min-max over the checkpoints after initialisation (step 0 is a random network, whose
    scores would squash the rest), clipped to [0, 1]."""
    a = np.asarray(v, dtype=float)
    ref = a[1:] if len(a) > 2 else a
    span = ref.max() - ref.min()
    return np.clip((a - ref.min()) / span, 0, 1) if span > 0 else np.zeros_like(a)


def _kind_figure(kind: str, rows: list[dict]) -> dict | None:
    seed = min(r["seed"] for r in rows)
    rows = [r for r in rows if r["seed"] == seed and r["family"] in ("interp", "baseline")]
    if not rows:
        return None
    runs = [c["run"] for c in rows[0]["detail"]["curves"]][:_MAX_RUNS]
    with plt.rc_context(RC):
        fig, axes = plt.subplots(1, len(runs), figsize=(2.6 * len(runs), 2.8), sharey=True, squeeze=False)
        for ax, run in zip(axes[0], runs):
            truth, seen = None, defaultdict(int)
            for r in sorted(rows, key=lambda r: (r["family"], r["arm"])):
                curve = next(c for c in r["detail"]["curves"] if c["run"] == run)
                truth = curve
                fam = r["family"]
                shades = _SHADES.get(fam, (FAMILY_COLOURS.get(fam, "#6b7280"),))
                colour = shades[seen[fam] % len(shades)]
                seen[fam] += 1
                style = "-" if fam == "interp" else "--"
                ax.plot(curve["steps"], _scaled(curve["scores"]), style, color=colour,
                        linewidth=0.9, alpha=0.85, label=f"{r['arm']} [{fam}]")
            ax.plot(truth["steps"], truth["heldout_accuracy"], color="black", linewidth=1.4, label="held-out accuracy (rule)")
            if truth["jump_step"] is not None:
                ax.axvline(truth["jump_step"], color="#b91c1c", linestyle=":", linewidth=1.2, label="jump (behavioural rule)")
            what = "calibration" if truth.get("calibration") else ("jump" if truth["jump_step"] is not None else "no jump")
            ax.set_title(f"{truth['recipe']} ({what})")
            ax.set_xlabel("training step")
            ax.grid(alpha=0.25, linewidth=0.5)
        axes[0][0].set_ylabel("signal, min-max scaled per run")
        legend_below(fig, axes[0][0])
        svg = to_svg(fig, slug("forecast", kind, "signals"))
    note = (f"Seed {seed}. Each line is one arm's score at each checkpoint (scaled to [0, 1] per run); "
            "blue/teal/violet solid = interp, orange/red dashed = behavioural baseline; black = held-out accuracy that the "
            "pre-registered rule reads; red dotted = the jump it fixes. An arm forecasts well if its line rises "
            "before the red line on jump runs and stays low on no-jump runs.")
    return {"title": f"forecast-emergence: {kind} signals over training", "note": note, "svg": svg}


def _lead_figure(rows: list[dict]) -> dict | None:
    by_kind: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    fam: dict[str, str] = {}
    for r in rows:
        if r["metric"].startswith("lead-time-"):
            by_kind[r["metric"].removeprefix("lead-time-")][r["arm"]].append(r["value"])
            fam[r["arm"]] = r["family"]
    if not by_kind:
        return None
    with plt.rc_context(RC):
        fig, axes = plt.subplots(1, len(by_kind), figsize=(4.6 * len(by_kind), 3.2), squeeze=False)
        fig.subplots_adjust(wspace=0.9)
        for ax, (kind, arms) in zip(axes[0], sorted(by_kind.items())):
            names = sorted(arms, key=lambda a: np.mean(arms[a]))
            for y, a in enumerate(names):
                v = arms[a]
                c = FAMILY_COLOURS.get(fam[a], "#6b7280")
                ax.scatter(v, [y] * len(v), s=10, color=c, alpha=0.5, linewidths=0)
                ax.scatter([np.mean(v)], [y], s=30, color=c, marker="D")
            ax.axvline(0, color="#9ca3af", linewidth=0.8)
            ax.set_yticks(range(len(names)), names)
            ax.set_xlabel("lead time (steps; > 0 = alarm before the jump)")
            ax.set_title(kind)
            ax.grid(alpha=0.25, linewidth=0.5)
        svg = to_svg(fig, slug("forecast", "lead", "times"))
    return {"title": "forecast-emergence: lead time per run", "note":
            "Dots: one jump run each that was warned or alarmed late (all seeds); diamonds: mean. Blue interp, orange "
            "baseline, grey control. The alarm threshold is the arm's highest quiet score on the calibration runs; runs "
            "alarmed falsely early or never have no dot and count in the miss-rate row instead.", "svg": svg}


def figures(rows: list[dict]) -> list[dict]:
    out = []
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["metric"].startswith("auroc-next-k-") and "curves" in r.get("detail", {}):
            by_kind[r["metric"].removeprefix("auroc-next-k-")].append(r)
    for kind in sorted(by_kind):
        f = _kind_figure(kind, by_kind[kind])
        if f:
            out.append(f)
    lead = _lead_figure(rows)
    if lead:
        out.append(lead)
    return out
