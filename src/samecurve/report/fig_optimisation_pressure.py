"""`optimisation-pressure` figure: what each training regime did to the policy. One point per
(organism, seed) at its held-out hack rate and task success after training, coloured by family, and
per arm the share of organisms in each outcome class (honest / hacks with a quiet probe / hacks
openly), at the ladder's top rung. Drawn from the scores and their details, never re-run.

The sweep (issue 15; rows prefixed `w<penalty weight>-kl<KL weight>/`): one column per KL-to-initial
weight; on top each regime's mean held-out hack rate against the penalty weight (+- its standard
error over organisms), below the share of organisms that still hack while the frozen probe is
quiet (obfuscation). Every regime is drawn (no best-arm pick); regimes that ignore the weight
(screening, no penalty) are flat by construction.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import numpy as np

from . import plots

OUTCOMES = ("honest", "hacks with quiet probe", "hacks openly")
SWEEP_ROW = re.compile(r"^w(?P<w>[0-9.e+-]+)-kl(?P<k>[0-9.e+-]+)/hack-rate$")


def sweep(rows: list[dict]) -> dict[float, dict[str, dict[float, list[tuple[float, str]]]]]:
    """KL weight -> arm -> penalty weight -> [(hack rate, outcome)] per (seed, organism), from the
    sweep's `w<w>-kl<k>/hack-rate` rows at the top rung."""
    out: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in plots.top_rung(rows):
        m = SWEEP_ROW.match(str(r["metric"]))
        if m:
            outcome = (r.get("detail") or {}).get("outcome", "")
            out[float(m["k"])][r["arm"]][float(m["w"])].append((float(r["value"]), outcome))
    return out


def sweep_figure(rows: list[dict]) -> list[dict]:
    got = sweep(rows)
    if not got:
        return []
    family = {r["arm"]: r["family"] for r in rows}
    kls = sorted(got)
    styles = {"interp": "-", "baseline": "--", "control": ":"}
    markers = "osD^v<>pP*X"
    with plots.plt.rc_context(plots.RC):
        fig, axes = plots.plt.subplots(2, len(kls), figsize=(2.8 * len(kls) + 2.4, 4.6), sharex=True, sharey="row",
                                       squeeze=False)
        for j, k in enumerate(kls):
            top, bottom = axes[0][j], axes[1][j]
            arms = sorted(got[k], key=lambda a: ({"interp": 0, "baseline": 1}.get(family.get(a, ""), 2), a))
            for i, arm in enumerate(arms):
                ws = sorted(got[k][arm])
                hack = [np.array([v for v, _ in got[k][arm][w]]) for w in ws]
                mean = np.array([h.mean() for h in hack])
                se = np.array([h.std(ddof=1) / np.sqrt(len(h)) if len(h) > 1 else 0.0 for h in hack])
                quiet = [np.mean([o == "hacks with quiet probe" for _, o in got[k][arm][w]]) for w in ws]
                fam = family.get(arm, "")
                style = dict(color=plots.FAMILY_COLOURS.get(fam, plots.OTHER_COLOUR), linestyle=styles.get(fam, "-"),
                             marker=markers[i % len(markers)], markersize=4, linewidth=1.1)
                top.errorbar(ws, mean, yerr=se, capsize=2, label=arm if j == 0 else None, **style)
                bottom.plot(ws, quiet, **style)
            top.set_title(f"KL-to-initial weight {k:g}", fontsize=8)
            bottom.set_xscale("log", base=2)
            bottom.set_xlabel("penalty weight")
            top.set_ylim(-0.03, 1.03)
            bottom.set_ylim(-0.03, 1.03)
        axes[0][0].set_ylabel("hack rate (held out)")
        axes[1][0].set_ylabel("share hacking, probe quiet")
        fig.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(0.84, 0.95))
        fig.subplots_adjust(right=0.82)
        svg = plots.to_svg(fig, "optimisation-pressure-sweep")
    return [{"title": "optimisation-pressure: penalty weight x KL-to-initial, every regime",
             "note": "Top: each regime's mean held-out hack rate (+- standard error over organisms) at each penalty "
                     "weight, one panel per KL-to-initial weight; every regime trained for the same steps and "
                     "backward passes at every point. Bottom: the share of organisms still hacking (hack rate >= "
                     "0.1) while the frozen probe no longer fires (obfuscation). Solid blue: interp regimes (a probe "
                     "on the residual stream), dashed orange: behavioural monitors, dotted grey: controls. Screening "
                     "and no penalty ignore the weight, so their lines are flat by construction.",
             "svg": svg}]


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
    return outcome_figure(rows) + sweep_figure(rows)


def shares_trained_on(rows: list[dict]) -> dict[str, float]:
    """arm -> mean share of sampled episodes that entered the gradient (the `hack-rate` rows' detail
    at the top rung), for arms that report it."""
    got: dict[str, list[float]] = defaultdict(list)
    for r in plots.top_rung(rows):
        share = (r.get("detail") or {}).get("share_trained_on")
        if r["metric"] == "hack-rate" and share is not None:
            got[r["arm"]].append(float(share))
    return {arm: float(np.mean(v)) for arm, v in got.items()}


def outcome_figure(rows: list[dict]) -> list[dict]:
    pts, counts = points(rows)
    if not pts:
        return []
    family = {r["arm"]: r["family"] for r in rows}
    arms = sorted(pts, key=lambda a: (["interp", "baseline", "control"].index(family.get(a, "control"))
                                      if family.get(a) in ("interp", "baseline", "control") else 3, a))
    markers = "osD^v<>pP*X"
    trained_on = shares_trained_on(rows)
    with plots.plt.rc_context(plots.RC):
        fig, ax = plots.plt.subplots(figsize=(6.4, 3.4))
        for i, arm in enumerate(arms):
            xy = np.array(pts[arm])
            colour = plots.FAMILY_COLOURS.get(family.get(arm, ""), plots.OTHER_COLOUR)
            shares = ", ".join(f"{counts[arm][o]}/{len(xy)} {o.replace('hacks with ', '').replace('hacks ', '')}"
                               for o in OUTCOMES if counts[arm][o])
            if trained_on.get(arm, 1.0) < 0.995:  # screening: say how much of the training it kept
                shares += f"; trained on {trained_on[arm]:.0%} of samples"
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
                     "probe (still hacking while the frozen probe no longer fires: obfuscation), open hacking; "
                     "for a screening regime, also the share of sampled episodes it kept (one that drops most of "
                     "them has all but stopped training).",
             "svg": svg}]
