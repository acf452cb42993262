"""`training-monitor` figure: each arm's signal over fine-tuning beside the B-bad rate, per run of the
first seed, drawn only from the `curves` the task stored in each `auroc-early` score's detail."""

from __future__ import annotations

import numpy as np

from .plots import FAMILY_COLOURS, RC, legend_below, plt, slug, to_svg

_MAX_RUNS = 5


def _scaled(v: list[float]) -> np.ndarray:
    """Min-max past the base (checkpoint 0 is the same model in every run), clipped to [0, 1]."""
    a = np.asarray(v, dtype=float)
    ref = a[1:] if len(a) > 2 else a
    span = ref.max() - ref.min()
    return np.clip((a - ref.min()) / span, 0, 1) if span > 0 else np.zeros_like(a)


def figures(rows: list[dict]) -> list[dict]:
    rows = [r for r in rows if r["metric"] == "auroc-early" and "curves" in r.get("detail", {})
            and r["family"] in ("interp", "baseline")]
    if not rows:
        return []
    seed = min(r["seed"] for r in rows)
    rows = [r for r in rows if r["seed"] == seed]
    by_arm = {r["arm"]: r for r in rows}
    runs = [c for c in rows[0]["detail"]["curves"] if not c["calibration"]][:_MAX_RUNS]
    with plt.rc_context(RC):
        fig, axes = plt.subplots(1, len(runs), figsize=(2.6 * len(runs), 2.8), sharey=True, squeeze=False)
        for ax, run in zip(axes[0], runs):
            for arm, r in sorted(by_arm.items(), key=lambda kv: (kv[1]["family"], kv[0])):
                curve = next(c for c in r["detail"]["curves"] if c["run"] == run["run"])
                ax.plot(curve["steps"], _scaled(curve["scores"]), "-" if r["family"] == "interp" else "--",
                        color=FAMILY_COLOURS.get(r["family"], "#6b7280"), linewidth=0.9, alpha=0.7,
                        label=f"{arm} [{r['family']}]")
            ax.plot(run["steps"], run["b_bad_rate"], color="black", linewidth=1.4, label="B-bad rate (ground truth)")
            if run["cross_step"] is not None:
                ax.axvline(run["cross_step"], color="#b91c1c", linestyle=":", linewidth=1.2, label="crossing (rule)")
            ax.set_title(f"poison {run['poison']:.0%}")
            ax.set_xlabel("fine-tuning step")
            ax.grid(alpha=0.25, linewidth=0.5)
        axes[0][0].set_ylabel("signal, min-max scaled per run")
        legend_below(fig, axes[0][0])
        svg = to_svg(fig, slug("training", "monitor", "signals"))
    return [{"title": "training-monitor: signals over fine-tuning", "svg": svg, "note":
             f"Seed {seed}. Each line is one arm's score per checkpoint (scaled per run); solid = interp, dashed = "
             "baseline; black = the B-bad rate the pre-registered rule reads; red dotted = where it crosses. A good "
             "monitor rises before the red line on poisoned runs and stays low on the clean (0%) run."}]
