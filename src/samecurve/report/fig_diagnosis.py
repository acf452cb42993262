"""`diagnosis` figures: what each arm says about the eight named concepts of one organism (its
scores, scaled per arm to [0, 1]), with the planted shortcut's column marked: the concept row's
numbers are about whether the brightest cell of each line falls in that column; and, where the fix
job ran, each arm's worst-group accuracy after its fix beside the unfixed organism's and the
oracle's. Drawn from what each score recorded (`detail["scores"]`, `detail["planted"]`,
`detail["unfixed"]`, `detail["oracle"]`), never re-run.
"""

from __future__ import annotations

import numpy as np

from . import plots


def _concept_figure(rows: list[dict]) -> tuple[str, str] | None:
    got = [r for r in rows if r["metric"] == "concept-rank" and "scores" in (r["detail"] or {})]
    if not got:
        return None
    first = min((r["seed"], r["instance"]) for r in got)
    mine = {r["arm"]: r for r in got if (r["seed"], r["instance"]) == first}
    family = {a: r["family"] for a, r in mine.items()}
    arms = sorted(mine, key=lambda a: ({"interp": 0, "baseline": 1}.get(family[a], 2), a))
    names = list(mine[arms[0]]["detail"]["scores"])
    planted = names.index(mine[arms[0]]["detail"]["planted"])
    grid = np.array([[mine[a]["detail"]["scores"][n] for n in names] for a in arms], float)
    span = np.ptp(grid, axis=1, keepdims=True)
    grid = (grid - grid.min(1, keepdims=True)) / np.where(span > 0, span, 1.0)
    with plots.plt.rc_context(plots.RC):
        fig, ax = plots.plt.subplots(figsize=(5.6, 0.32 * len(arms) + 1.3))
        ax.imshow(grid, cmap="magma", aspect="auto", vmin=0, vmax=1)
        ax.add_patch(plots.plt.Rectangle((planted - 0.5, -0.5), 1, len(arms), fill=False, edgecolor="#22c55e", linewidth=1.2))
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=6)
        ax.set_yticks(range(len(arms)), arms, fontsize=6)
        for label, a in zip(ax.get_yticklabels(), arms):
            label.set_color(plots.FAMILY_COLOURS.get(family[a], plots.OTHER_COLOUR))
        fig.tight_layout()
        return plots.to_svg(fig, "diagnosis-concepts"), f"seed {first[0]}, {first[1]}"


def _fix_figure(rows: list[dict]) -> str | None:
    got = [r for r in rows if r["metric"].endswith("fix/worst-group-accuracy") and "oracle" in (r["detail"] or {})]
    if not got:
        return None
    family = {r["arm"]: r["family"] for r in got}
    means = {a: float(np.mean([r["value"] for r in got if r["arm"] == a])) for a in family}
    arms = sorted(means, key=lambda a: ({"interp": 0, "baseline": 1}.get(family[a], 2), -means[a]))
    unfixed = float(np.mean([r["detail"]["unfixed"] for r in got]))
    oracle = float(np.mean([r["detail"]["oracle"] for r in got]))
    with plots.plt.rc_context(plots.RC):
        fig, ax = plots.plt.subplots(figsize=(5.6, 0.3 * len(arms) + 1.2))
        ax.barh(range(len(arms)), [means[a] for a in arms],
                color=[plots.FAMILY_COLOURS.get(family[a], plots.OTHER_COLOUR) for a in arms])
        ax.axvline(unfixed, color="#6b7280", linestyle=":", linewidth=1, label=f"unfixed ({unfixed:.2f})")
        ax.axvline(oracle, color="#22c55e", linestyle="--", linewidth=1, label=f"oracle ({oracle:.2f})")
        ax.set_yticks(range(len(arms)), arms, fontsize=6)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("worst-group accuracy after the fix (mean over organisms)", fontsize=7)
        ax.legend(fontsize=6, loc="lower right")
        fig.tight_layout()
        return plots.to_svg(fig, "diagnosis-fix")


def figures(rows: list[dict]) -> list[dict]:
    top = plots.top_rung(rows, "labelled_examples")
    out = []
    got = _concept_figure(top)
    if got is not None:
        out.append({"title": "Diagnosis: which concept each arm names",
                    "note": f"One organism ({got[1]}): each line is an arm's score for the eight named concepts, scaled "
                            "to [0, 1] within the line; green: the concept planted as a shortcut in training. The "
                            "concept row scores where the brightest cell falls. Blue labels: interp arms; orange: "
                            "baselines; grey: controls.",
                    "svg": got[0]})
    fix = _fix_figure(top)
    if fix is not None:
        out.append({"title": "Diagnosis: worst group after each side's fix",
                    "note": "Each bar is an arm's worst-group accuracy (class x planted concept, on held-out images "
                            "where the concept is independent of the label) after its fix, the mean over organisms; "
                            "dotted: the unfixed organism; dashed: the oracle (retrained with the planted concept made "
                            "independent of the label). Blue: interp arms (an activation edit); orange: baselines "
                            "(a retraining plan); grey: controls.",
                    "svg": fix})
    return out
