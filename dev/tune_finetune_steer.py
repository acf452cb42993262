"""Re-derive `finetune-steer`'s learning rate on dev seeds.

steering on the dev seeds' `topics-tiny` organisms (6 organisms x 2 targets), quick suite task
parameters and budget; the arm's own sweep (epochs as strength) and the task's choice of setting
on its tuning split are unchanged. A learning rate is scored by the held-out harmonic mean.

Rule, the one-standard-error rule: every rate within one standard error (over the 12 instances)
of the best mean harmonic mean is tied; among the tied, the old default (3e-3) if it is one, else
the smaller rate.

Usage: nice -n 10 .venv/bin/python dev/tune_finetune_steer.py
"""

from __future__ import annotations

import numpy as np
from _common import Timer, build, by_metric, mean_se, one_se_choice, run, suite_setup, table

LRS = (1e-3, 3e-3, 1e-2, 3e-2)
OLD = 3e-3


def main() -> None:
    clock = Timer()
    seeds = build("topics-tiny")
    task_params, budget = suite_setup("steering")
    rows = []
    for lr in LRS:
        m = by_metric(run("steering", "topics-tiny", "finetune-steer", {"lr": lr}, seeds, task_params, budget))
        hm, se = mean_se(m["harmonic-mean"])
        rows.append({"lr": lr, "concept": float(np.mean(m["concept-score"])), "fluency": float(np.mean(m["fluency"])),
                     "harmonic-mean": hm, "harmonic-mean-se": se})
        print(f"# {rows[-1]} ({clock})", flush=True)
    pick = one_se_choice(rows, "harmonic-mean", lambda r: (r["lr"] != OLD, r["lr"]))
    print(f"\nfinetune-steer on steering, topics-tiny, dev seeds {list(seeds)}, quick params and budget "
          "(held-out, mean over 6 organisms x 2 targets)")
    print(table([{**r, "lr": f"{r['lr']:g}"} for r in rows], ["lr", "concept", "fluency", "harmonic-mean", "harmonic-mean-se"], pick))
    print("\nrule: one-standard-error rule on the harmonic mean; among the tied the old default, else the smaller rate")
    print(f"chosen: lr={LRS[pick]:g}; {clock}")


if __name__ == "__main__":
    main()
