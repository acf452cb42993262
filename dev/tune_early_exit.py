"""Set the defaults of the trained early-exit arms on dev seeds: the tuned lens (steps, lr), CALM's
exit classifier (C) and the distilled cascade's student (width, depth, steps); and print the
parameter-free arms beside them, so the table shows both sides tuned alike.

early-exit on the dev seeds' `layered-small` organisms (3 per seed), quick suite task parameters and
budget. Per setting: mean +- standard error over organisms of saved@99% (the headline row) and
saved@95%, and the mean CPU seconds per cell (one cell = one seed's three organisms).

Rule, per arm: the one-standard-error rule on saved@99% (every setting within one standard error
of the best is tied); among the tied, the cheapest cell (CPU seconds), then the first listed.

Usage: nice -n 10 .venv/bin/python dev/tune_early_exit.py [arm ...]   (no arm: every arm)
"""

from __future__ import annotations

import sys
import time

from _common import build, by_metric, mean_se, one_se_choice, run, suite_setup, table

GRID = {
    "tuned-lens-exit": [{"steps": s, "lr": lr} for s in (30, 100, 300, 600) for lr in (3e-3, 1e-2)],
    "calm-exit-classifier": [{"C": c} for c in (0.1, 1.0, 10.0)],
    "distilled-cascade": [{"d_model": d, "n_layers": n, "steps": s} for d, n in ((16, 1), (24, 1), (32, 1), (32, 2), (48, 2))
                          for s in (400, 800)],
    "logit-lens-exit": [{}], "hidden-saturation-exit": [{}], "data-bigram-exit": [{}], "random-exit": [{}],
}


def main(only: list[str]) -> None:
    params, budget = suite_setup("early-exit")
    seeds = build("layered-small")
    for arm, settings in GRID.items():
        if only and arm not in only:
            continue
        rows = []
        for setting in settings:
            t0 = time.process_time()
            got = by_metric(run("early-exit", "layered-small", arm, setting, seeds, params, budget))
            m99, se99 = mean_se(got["saved@99%"])
            m95, se95 = mean_se(got["saved@95%"])
            rows.append({"setting": setting, "saved@99%": m99, "saved@99%-se": se99, "saved@95%": m95,
                         "saved@95%-se": se95, "cpu": (time.process_time() - t0) / len(seeds)})
        best = one_se_choice(rows, "saved@99%", prefer=lambda r: r["cpu"])
        print(f"\n## {arm}")
        print(table(rows, ["setting", "saved@99%", "saved@99%-se", "saved@95%", "saved@95%-se", "cpu"], mark=best), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
