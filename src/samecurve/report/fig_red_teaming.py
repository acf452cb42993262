"""`red-teaming` figure: per arm, how often its first guess elicits the target (attack success) beside
how much of the planted trigger its guesses hold (TDC's recall), at the full budget's rung. The gap
between the two is the half-found trigger: a search that ranks one planted token first but never
screens its partner. Drawn from the scores themselves, never re-run.
"""

from __future__ import annotations

from collections import defaultdict

from . import plots

GROUPS = (("attack-success", "attack success (first guess)", "o"), ("trigger-recall", "trigger recall (TDC)", "s"))


def by_arm(rows: list[dict]) -> dict[str, dict[str, list[float]]]:
    """arm -> metric -> value per (seed, organism), at the top rung of a ladder only."""
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in plots.top_rung(rows):
        out[r["arm"]][r["metric"]].append(float(r["value"]))
    return out


def figures(rows: list[dict]) -> list[dict]:
    rows = [r for r in rows if r["metric"] in dict((g[0], g) for g in GROUPS)]
    values = by_arm(rows)
    if not values:
        return []
    family = {r["arm"]: r["family"] for r in rows}
    svg = plots.split_dot_plot(values, family, GROUPS, "mean over each organism's targets (mean ± sd over organisms)",
                               0.0, "red-teaming-success-recall")
    return [{"title": "Red teaming: targets elicited and triggers recovered",
             "note": "Circles: the share of held-out harmful prompts answered with the target under the arm's first "
                     "guess; squares: the best token overlap of its guesses with the planted trigger (TDC's recall; "
                     "0.5 is one of the two tokens). A square far right of its circle is a half-found trigger. "
                     "Random guesses already overlap some triggers, so the control's square sits above 0.",
             "svg": svg}]
