"""Re-derive `sae-feature-probe`'s defaults (d_sae, l1, C; steps fixed at 400) on dev seeds.

harm-filter on all-MiniLM-L6-v2 has no organisms: the task seed draws the data splits, so the dev
seeds (samecurve.dev.DEV_SEEDS) are other draws of train/test/unlabelled sentences. Quick suite
task parameters and budget. Each point is scored by the mean of auroc-id and auroc-attacked over
the dev seeds. Not auroc-ood: the task's OOD split is the same sentences for every seed (held-out
templates x held-out categories is a small set), so a dev seed's OOD split *is* every suite seed's
and choosing on it would choose on reported data. The in-distribution and attacked splits are other
draws, though from a finite template space: the script prints how many dev-split sentences also
occur in some suite seed's test splits.

Search: the full d_sae x l1 grid at C 2.0 (these two interact: a small dictionary wants little
L1, a big one dies under strong L1), then C at the grid's choice (~10 s a point on 2 loaded cores).
Rule at each stage, the one-standard-error rule: every point within one standard error (over the
6 dev seeds) of the best mean is tied; among the tied, the old default if it is one (no change
without evidence), else the simplest: the smallest d_sae, then the strongest l1 (grid), and the
smallest C (the C stage).

Usage: nice -n 10 .venv/bin/python dev/tune_sae_probe.py
"""

from __future__ import annotations

import numpy as np
from _common import Timer, by_metric, mean_se, one_se_choice, run, suite_setup, table

from samecurve import dev

START = {"d_sae": 512, "l1": 0.01, "C": 2.0}   # the defaults before this script
D_SAE = (128, 256, 512, 1024)
L1 = (0.001, 0.003, 0.01, 0.03)
CS = (0.5, 2.0, 8.0)
COLS = ["d_sae", "l1", "C", "auroc-id", "auroc-attacked", "mean-auroc", "mean-auroc-se", "auroc-ood", "fnr@1%fpr-att"]


def overlap(task_params: dict, budget: dict, seeds: tuple[int, ...]) -> str:
    """Share of the dev seeds' sentences, per split, that some suite seed's test splits also hold."""
    from samecurve.tasks.harm_filter import make_splits

    def split_texts(s: int) -> dict[str, set[str]]:
        sp = make_splits(s, budget["labelled_examples"], task_params["n_test"], task_params["n_unlabelled"])
        return {k: {i.text for i in getattr(sp, k)} for k in ("train", "id", "ood", "attacked", "unlabelled")}

    reported: set[str] = set()
    for s in sorted(dev.suite_seeds()):
        t = split_texts(s)
        reported |= t["id"] | t["ood"] | t["attacked"]
    got = [split_texts(s) for s in seeds]
    return ", ".join(f"{k} {np.mean([len(g[k] & reported) / len(g[k]) for g in got]):.2f}" for k in got[0])


def main() -> None:
    clock = Timer()
    task_params, budget = suite_setup("harm-filter")
    seeds = dev.DEV_SEEDS
    memo: dict[tuple, dict] = {}

    def score(params: dict) -> dict:
        key = tuple(sorted(params.items()))
        if key not in memo:
            m = by_metric(run("harm-filter", "minilm", "sae-feature-probe", params, seeds, task_params, budget))
            row = {**params, **{k: float(np.mean(m[k])) for k in ("auroc-id", "auroc-ood", "auroc-attacked")}}
            # per seed: mean of id and attacked AUROC (not ood: see above); one score per seed per metric
            row["mean-auroc"], row["mean-auroc-se"] = mean_se((np.asarray(m["auroc-id"]) + np.asarray(m["auroc-attacked"])) / 2)
            row["fnr@1%fpr-att"] = float(np.mean(m["fnr@1%fpr-attacked"]))
            memo[key] = row
            print(f"# {params}: mean AUROC {row['mean-auroc']:.3f} ({clock})", flush=True)
        return memo[key]

    print(f"sae-feature-probe on harm-filter, dev seeds {seeds[0]}-{seeds[-1]}, quick params and budget "
          "(steps 400; means over seeds)")
    print(f"dev sentences also in some suite seed's test splits: {overlap(task_params, budget, seeds)}")
    grid = [score({"d_sae": d, "l1": l1, "C": START["C"]}) for d in D_SAE for l1 in L1]
    pick = one_se_choice(grid, "mean-auroc", lambda r: (r["d_sae"] != START["d_sae"] or r["l1"] != START["l1"],
                                                        r["d_sae"], -r["l1"]))
    print("\nd_sae x l1 at C 2.0:")
    print(table(grid, COLS, pick))
    d_sae, l1 = grid[pick]["d_sae"], grid[pick]["l1"]
    rows = [score({"d_sae": d_sae, "l1": l1, "C": C}) for C in CS]
    pick_c = one_se_choice(rows, "mean-auroc", lambda r: (r["C"] != START["C"], r["C"]))
    print(f"\nC at d_sae {d_sae}, l1 {l1}:")
    print(table(rows, COLS, pick_c))
    r = rows[pick_c]
    print("\nrule per stage: one-standard-error rule; among the tied the old default, else the simplest (docstring)")
    print(f"chosen: d_sae={r['d_sae']} l1={r['l1']} C={r['C']} (mean AUROC {r['mean-auroc']:.3f}; "
          f"old default {score(START)['mean-auroc']:.3f}); {clock}")


if __name__ == "__main__":
    main()
