"""Print every `cot-monitor` arm's rows on dev seeds (the scratchpad-small organisms of dev seeds
900-902), at quick's budget and n_eval 400: the table the arms' docstrings quote. The organism recipe
was chosen by builds alone (organisms/scratchpad.py's table); the arms choose their C and features
inside the budget, so nothing here is a grid: it checks the fixed choices (the probe's read position)
on dev organisms, never on suite ones.

Usage: nice -n 10 .venv/bin/python dev/tune_cot_monitor.py [--seeds=900,901,902] [arm ...]
"""

from __future__ import annotations

import sys
import time

from _common import by_metric, mean_se, run

TASK = {"n_eval": 400}
BUDGET = {"labelled_examples": 64, "forward_passes": 12_000, "backward_passes": 600, "wall_seconds": 600,
          "tuning_trials": 8}
ARMS = ("cot-activation-probe", "cot-activation-probe-random-init", "cot-text-monitor", "cot-action-monitor",
        "cot-hybrid-monitor", "prompt-only-monitor", "random-cot-monitor")


def main(args: list[str]) -> None:
    seeds_arg = next((a for a in args if a.startswith("--seeds")), "--seeds=900,901,902")
    seeds = tuple(int(s) for s in seeds_arg.split("=", 1)[1].split(","))
    only = [a for a in args if not a.startswith("--")] or list(ARMS)
    for arm in only:
        t0 = time.process_time()
        # execute_cell resolves each spec as a suite does (a refused organism's replacement)
        got = by_metric(run("cot-monitor", "scratchpad-small", arm, {}, seeds, TASK, BUDGET))
        print(f"\n## {arm}  ({(time.process_time() - t0) / len(seeds):.1f} CPU s per cell)")
        for metric in sorted(got):
            m, se = mean_se(got[metric])
            print(f"  {metric:32s} {m:.3f} +- {se:.3f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
