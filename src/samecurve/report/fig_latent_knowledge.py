"""`latent-knowledge` figure: each arm's AUROC on the easy and the hard half of the test set.

Drawn from the per-item evidence (labels, scores and each statement's split, `hard`), so the
report shows where an arm's number comes from (a half alone is not de-confounded: the tens digit
separates true from false within it, so these are diagnostics, never verdicts): labels come from Alice on easy statements only, and
on hard ones Alice drops the carry, so asking her is right on the easy half and wrong on the hard
half. An arm that elicits what the organism knows scores high on both. Runs stored before the
split was kept with the evidence draw nothing.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..metrics import auroc
from . import plots

WANTS_ITEMS = True
HALVES = (("easy", "easy half", "o"), ("hard", "hard half", "s"))   # (key, legend label, marker)


def split_aurocs(rows: list[dict]) -> dict[str, dict[str, list[float]]]:
    """arm -> half -> AUROC per (seed, organism), from the stored items; halves with one class skipped."""
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        items = r.get("items") or {}
        if not {"labels", "scores", "hard"} <= set(items):
            continue
        y, s, hard = (np.asarray(items[k]) for k in ("labels", "scores", "hard"))
        for name, _, _ in HALVES:
            half = hard.astype(bool) == (name == "hard")
            if len(np.unique(y[half])) == 2:
                out[r["arm"]][name].append(auroc(y[half], s[half]))
    return out


def _figure(aurocs: dict[str, dict[str, list[float]]], family: dict[str, str]) -> str:
    return plots.split_dot_plot(aurocs, family, HALVES, "truth AUROC on that half (mean ± sd over seeds and organisms)",
                                0.5, "latent-knowledge-halves")


def figures(rows: list[dict]) -> list[dict]:
    rows = [r for r in rows if r["metric"] == "truth-auroc"]
    aurocs = split_aurocs(rows)
    if not aurocs:
        return []
    family = {r["arm"]: r["family"] for r in rows}
    return [{"title": "Latent knowledge: truth AUROC on the easy and the hard half of the test set",
             "note": "Circles: easy statements (no carry), where Alice's word is the truth and the labels come from; "
                     "squares: hard statements, where Alice drops the carry and Bob adds ten, so no persona is "
                     "reliable. Asking as Alice sits at 1 on the easy half and near 0 on the hard half; an arm that "
                     "reads what the organism knows is high on both. Only the whole set is de-confounded: within a "
                     "half the tens digit alone tells true from false (easy true sums have tens digit 0, hard ones 1), "
                     "so a control that reads it sits high on one half and low on the other. Read the halves as where "
                     "an arm's score comes from, not as scores. Dashed: chance.",
             "svg": _figure(aurocs, family)}]
