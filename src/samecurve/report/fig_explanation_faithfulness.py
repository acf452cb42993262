"""`explanation-faithfulness` figures: the loss-recovered curve of every arm beside the line of tiny
models trained from scratch, once against the share of the model kept (edges for subgraphs,
parameters for models: the task's matching convention) and once against parameters held (for a
subgraph: what its nodes own); and the compute-equivalent ("performs like a model N x smaller").

Drawn only from `detail` of the `{ioi|induction}/compute-equivalent` rows (one set of figures per
algorithm): each holds the arm's whole curve, the organism's parameter count and the from-scratch
ladder measured on the same prompts.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from . import plots

MARKERS = "o^vDsP*X"
Y_FLOOR = -1.0  # points below are drawn on this line (fully ablated paths mislead; see the note)


def _curve_rows(rows: list[dict]) -> dict[str, list[dict]]:
    """behaviour key -> its `compute-equivalent` rows (each holds the whole curve; a task run at one
    size has no `loss-recovered-mean` row, every run has these)."""
    out: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["metric"].endswith("compute-equivalent") and (r.get("detail") or {}).get("curve"):
            out[r["detail"].get("behaviour", "ioi")].append(r)
    return dict(sorted(out.items()))


def _arm_points(rows: list[dict], x_of) -> dict[tuple[str, str], list[tuple[float, float, float]]]:
    """(arm, family) -> [(x, mean y, spread)] over (seed, organism), per size of the grid."""
    by: dict[tuple[str, str], dict[float, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        n = r["detail"]["n_params"]
        for pt in r["detail"]["curve"]:
            by[(r["arm"], r["family"])][pt["fraction"]].append((x_of(pt, n), pt["recovered"]))
    out = {}
    for key, per in by.items():
        out[key] = sorted((float(np.mean([x for x, _ in v])), float(np.mean([y for _, y in v])),
                           float(np.std([y for _, y in v]))) for v in per.values())
    return out


def _ladder(rows: list[dict]) -> list[tuple[float, float]]:
    """(params share, mean recovered) of each from-scratch rung, over the rows that measured it."""
    by: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        n = r["detail"]["n_params"]
        for rung in r["detail"]["ladder"]:
            by[rung["params"]].append((rung["params"] / n, rung["recovered"]))
    return sorted((float(np.mean([x for x, _ in v])), float(np.mean([y for _, y in v]))) for v in by.values())


def _curve_figure(rows: list[dict], x_of, xlabel: str, title: str, note: str, slug: str) -> dict:
    with plots.plt.rc_context(plots.RC):
        fig, ax = plots.plt.subplots(figsize=plots.FIGSIZE)
        lad = _ladder(rows)
        ax.plot([x for x, _ in lad], [max(y, Y_FLOOR) for _, y in lad], "-", color="#111827", marker="s", ms=4,
                linewidth=1.6, label="tiny models from scratch (same data)")
        for i, ((arm, family), pts) in enumerate(sorted(_arm_points(rows, x_of).items())):
            colour = plots.FAMILY_COLOURS.get(family, plots.OTHER_COLOUR)
            style = ":" if family == "control" else ("--" if family == "baseline" else "-")
            xs, ys, sd = (np.array(c) for c in zip(*pts))
            ax.errorbar(xs, np.maximum(ys, Y_FLOOR), yerr=np.where(ys > Y_FLOOR, sd, 0), fmt=style, marker=MARKERS[i % len(MARKERS)], ms=3,
                        color=colour, capsize=2, linewidth=1.1, label=f"{arm} ({family})")
        ax.axhline(1.0, color="#9ca3af", linestyle="--", linewidth=0.8)
        ax.axhline(0.0, color="#d1d5db", linestyle="-", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_ylim(Y_FLOOR - 0.05, 1.1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("fraction of loss recovered")
        ax.set_title(title)
        ax.grid(alpha=0.25, linewidth=0.5)
        ax.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        svg = plots.to_svg(fig, plots.slug("faithfulness", slug))
    return {"title": title, "note": note, "svg": svg}


def _equivalent_figure(rows: list[dict], key: str) -> dict:
    with plots.plt.rc_context(plots.RC):
        fig, ax = plots.plt.subplots(figsize=plots.FIGSIZE)
        by: dict[tuple[str, str], dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in rows:
            for pt in r["detail"]["curve"]:
                by[(r["arm"], r["family"])][pt["fraction"]].append(np.log10(pt["times_smaller"]))
        for i, ((arm, family), per) in enumerate(sorted(by.items())):
            fr = sorted(per)
            ys = [10 ** float(np.mean(per[f])) for f in fr]
            style = ":" if family == "control" else ("--" if family == "baseline" else "-")
            ax.plot(fr, ys, style, marker=MARKERS[i % len(MARKERS)], ms=3, color=plots.FAMILY_COLOURS.get(family, plots.OTHER_COLOUR),
                    label=f"{arm} ({family})")
        ax.axhline(1.0, color="#9ca3af", linestyle="--", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("share of the model kept (edges | parameters)")
        ax.set_ylabel("performs like a model N x smaller")
        ax.set_title(f"{key}: compute-equivalent of each answer")
        ax.grid(alpha=0.25, linewidth=0.5)
        ax.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        svg = plots.to_svg(fig, plots.slug("faithfulness", key, "equivalent"))
    note = ("N = organism parameters / parameters of the smallest from-scratch model whose loss is at least as good "
            "(log-linear on the ladder's lower envelope; geometric mean over seeds and organisms). N = 1: as good as "
            "the organism; large N: the explanation is worth only a much tinier model.")
    return {"title": f"Explanation-faithfulness ({key}): compute-equivalent", "note": note, "svg": svg}


def figures(rows: list[dict]) -> list[dict]:
    out = []
    for key, curve_rows in _curve_rows(rows).items():
        out += _figures(curve_rows, key)
    return out


def _figures(curve_rows: list[dict], key: str) -> list[dict]:
    share_note = ("y: (L_unigram - L) / (L_unigram - L_organism) on held-out prompts; edges outside a subgraph are "
                  "resample-ablated. x: share of edges kept for subgraphs, share of parameters for compressed and "
                  f"from-scratch models (the task's convention). Points below {Y_FLOOR:g} are drawn at {Y_FLOOR:g}; "
                  "bars: standard deviation over seeds and organisms. With the circuit papers' normalisation (0 = everything "
                  "resample-ablated, stored in each point's detail) every curve sits higher.")
    params_note = ("The same curves with a subgraph placed at the parameters its nodes own (embedding, heads' q/k/v/o "
                   "slices, MLPs, unembedding): a subgraph that touches every node counts as the whole model.")
    return [
        _curve_figure(curve_rows, lambda pt, n: pt["fraction"], "share of the model kept (edges | parameters)",
                      f"Explanation-faithfulness ({key}): loss recovered vs size", share_note, f"{key}-share"),
        _curve_figure(curve_rows, lambda pt, n: pt.get("params_touched", pt.get("params", n)) / n,
                      "parameters held / organism parameters",
                      f"Explanation-faithfulness ({key}): loss recovered vs parameters held", params_note, f"{key}-params"),
        _equivalent_figure(curve_rows, key),
    ]
