"""`cot-monitor` figure: how early each monitor sees the hidden goal. Per variant (faithful,
performative, obfuscated scratchpad), one line per arm: its AUROC after 1, 2, 3 and 4 scratchpad
tokens and on the whole episode (with the action), mean over organisms, at the full budget's rung.
Drawn from the AUROC by cut each score recorded in its detail, never re-run.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from . import plots

VARIANTS = ("faithful", "performative", "obfuscated")


def curves(rows: list[dict]) -> dict[str, dict[str, list[list[float]]]]:
    """variant -> arm -> one AUROC-by-cut list per (seed, organism), from the `<variant>/auroc` rows
    at the top rung of a ladder."""
    out: dict[str, dict[str, list[list[float]]]] = defaultdict(lambda: defaultdict(list))
    for r in plots.top_rung(rows):
        variant, _, metric = r["metric"].partition("/")
        by_cut = (r.get("detail") or {}).get("auroc_by_cut")
        if metric == "auroc" and variant in VARIANTS and by_cut:
            out[variant][r["arm"]].append([float(v) for v in by_cut])
    return out


def figures(rows: list[dict]) -> list[dict]:
    got = curves(rows)
    if not got:
        return []
    family = {r["arm"]: r["family"] for r in rows}
    variants = [v for v in VARIANTS if v in got]
    with plots.plt.rc_context(plots.RC):
        fig, axes = plots.plt.subplots(1, len(variants), figsize=(2.6 * len(variants) + 1.6, 2.6), sharey=True,
                                       squeeze=False)
        for ax, variant in zip(axes[0], variants):
            for arm in sorted(got[variant]):
                runs = [c for c in got[variant][arm] if len(c) == len(got[variant][arm][0])]
                mean = np.mean(runs, 0)
                style = "-" if family.get(arm) == "interp" else "--" if family.get(arm) == "baseline" else ":"
                ax.plot(range(1, len(mean) + 1), mean, style, marker="o", markersize=3, linewidth=1,
                        color=plots.FAMILY_COLOURS.get(family.get(arm, ""), plots.OTHER_COLOUR), label=arm)
            n = len(next(iter(got[variant].values()))[0])
            ax.set_xticks(range(1, n + 1), [str(i) for i in range(1, n)] + ["+action"])
            ax.axhline(0.5, color="#9ca3af", linestyle="--", linewidth=0.6)
            ax.set_title(f"{variant} scratchpad")
            ax.set_xlabel("scratchpad tokens seen")
        axes[0][0].set_ylabel("AUROC (goal fired), mean over organisms")
        axes[0][-1].legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        svg = plots.to_svg(fig, "cot-monitor-earliness")
    return [{"title": "CoT monitoring: how early each monitor sees the hidden goal",
             "note": "AUROC of 'the hidden goal fired' after each scratchpad token and on the whole episode (the "
                     "action shown), per variant. Solid: interp; dashed: baselines; dotted: controls. A text monitor "
                     "can only rise as the scratchpad shows the goal (never, on the obfuscated variant); the action "
                     "monitor sees nothing before the action.",
             "svg": svg}]
