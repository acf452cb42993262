"""`diagnosis` figure: what each arm says about the eight named concepts of one organism (its
scores, scaled per arm to [0, 1]), with the planted shortcut's column marked: the concept row's
numbers are about whether the brightest cell of each line falls in that column. Drawn from what each
score recorded (`detail["scores"]`, `detail["planted"]`), never re-run.
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


def figures(rows: list[dict]) -> list[dict]:
    got = _concept_figure(plots.top_rung(rows, "labelled_examples"))
    if got is None:
        return []
    return [{"title": "Diagnosis: which concept each arm names",
             "note": f"One organism ({got[1]}): each line is an arm's score for the eight named concepts, scaled to "
                     "[0, 1] within the line; green: the concept planted as a shortcut in training. The concept "
                     "row scores where the brightest cell falls. Blue labels: interp arms; orange: baselines; "
                     "grey: controls.",
             "svg": got[0]}]
