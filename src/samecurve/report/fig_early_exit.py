"""`early-exit` figure: where each arm saves compute, on easy tokens (bigrams: the current token
decides) and on hard ones (copied from the first copy: attention decides), at the threshold chosen
for 99% agreement. Drawn from what each score recorded (`detail["by_kind"]`), never re-run.
"""

from __future__ import annotations

from collections import defaultdict

from . import plots

KINDS = (("kind1", "easy tokens", "o"), ("kind2", "hard tokens", "s"))
METRIC = "saved@99%"


def saved_by_kind(rows: list[dict]) -> dict[str, dict[str, list[float]]]:
    """arm -> kind -> saved share per (seed, organism) at the full budget's rung."""
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in plots.top_rung(rows):   # a ladder's top rung only
        for kind, _, _ in KINDS:
            got = (r["detail"] or {}).get("by_kind", {}).get(kind)
            if got is not None:
                out[r["arm"]][kind].append(float(got["saved"]))
    return out


def _figure(saved: dict[str, dict[str, list[float]]], family: dict[str, str]) -> str:
    return plots.split_dot_plot(saved, family, KINDS, "share of the full model's FLOPs saved at 99% agreement (mean ± sd)",
                                0.0, "early-exit-kinds")


def figures(rows: list[dict]) -> list[dict]:
    rows = [r for r in rows if r["metric"] == METRIC]
    saved = saved_by_kind(rows)
    if not saved:
        return []
    family = {r["arm"]: r["family"] for r in rows}
    return [{"title": "Early exit: compute saved on easy and on hard tokens (99% agreement)",
             "note": "Circles: easy tokens, whose next token the current one decides (a bigram); squares: hard "
                     "tokens, copied from the first half of the sequence, which only attention decides. The data's "
                     "bigram table saves everything on easy tokens and nothing on hard ones; an exit rule that reads "
                     "the layers can also let hard tokens leave once their layer has decided. Negative: the rule's "
                     "checks cost more than its exits saved. Dashed: no saving (the full model).",
             "svg": _figure(saved, family)}]
