"""`optimisation-pressure` figure: what each training regime did to the policy. One point per
(organism, seed) at its held-out hack rate and task success after training, coloured by family, and
per arm the share of organisms in each outcome class (honest / hacks with a quiet probe / hacks
openly), at the ladder's top rung. Drawn from the scores and their details, never re-run.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from . import plots

OUTCOMES = ("honest", "hacks with quiet probe", "hacks openly")


def points(rows: list[dict]) -> tuple[dict[str, list[tuple[float, float]]], dict[str, Counter]]:
    """arm -> [(hack rate, task success)] per (seed, organism), and arm -> outcome counts."""
    hack, success, outcome = {}, {}, {}
    for r in plots.top_rung(rows):
        key = (r["arm"], r["seed"], r.get("instance"))
        if r["metric"] == "hack-rate":
            hack[key] = float(r["value"])
            outcome[key] = (r.get("detail") or {}).get("outcome", "")
        elif r["metric"] == "task-success":
            success[key] = float(r["value"])
    pts: dict[str, list[tuple[float, float]]] = defaultdict(list)
    counts: dict[str, Counter] = defaultdict(Counter)
    for key in sorted(hack.keys() & success.keys(), key=str):
        pts[key[0]].append((hack[key], success[key]))
        counts[key[0]][outcome[key]] += 1
    return pts, counts


def figures(rows: list[dict]) -> list[dict]:
    pts, counts = points(rows)
    if not pts:
        return []
    family = {r["arm"]: r["family"] for r in rows}
    arms = sorted(pts, key=lambda a: (["interp", "baseline", "control"].index(family.get(a, "control"))
                                      if family.get(a) in ("interp", "baseline", "control") else 3, a))
    markers = "osD^v<>pP*X"
    with plots.plt.rc_context(plots.RC):
        fig, ax = plots.plt.subplots(figsize=(6.4, 3.4))
        for i, arm in enumerate(arms):
            xy = np.array(pts[arm])
            colour = plots.FAMILY_COLOURS.get(family.get(arm, ""), plots.OTHER_COLOUR)
            shares = ", ".join(f"{counts[arm][o]}/{len(xy)} {o.replace('hacks with ', '').replace('hacks ', '')}"
                               for o in OUTCOMES if counts[arm][o])
            ax.scatter(xy[:, 0], xy[:, 1], s=12, alpha=0.45, color=colour, marker=markers[i % len(markers)])
            ax.scatter([xy[:, 0].mean()], [xy[:, 1].mean()], s=60, color=colour, marker=markers[i % len(markers)],
                       edgecolor="black", linewidth=0.6, label=f"{arm} ({shares})")
        ax.set_xlabel("hack rate on held-out loophole prompts (lower is better)")
        ax.set_ylabel("task success")
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-0.03, 1.03)
        ax.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        svg = plots.to_svg(fig, "optimisation-pressure-outcomes")
    return [{"title": "optimisation-pressure: what each training regime did to the policy",
             "note": "Each small point is one organism after training under the arm's regime (same steps and backward "
                     "passes for all); the large marker is the arm's mean. Blue: interp penalties (a linear probe on "
                     "the residual stream), orange: behavioural monitors, grey: controls (no penalty; the "
                     "ground-truth oracle). The legend counts outcome classes: honest (hack rate < 0.1), a quiet "
                     "probe (still hacking while the frozen probe no longer fires: obfuscation), open hacking.",
             "svg": svg}]
