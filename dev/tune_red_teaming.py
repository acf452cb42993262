"""Set the defaults of the red-teaming searches on dev seeds, both sides alike: the logit lens's
layers, the refusal direction's layer, MELBO's radius and number of vectors, GCG's top-k and batch,
the greedy and evolutionary searches' breadth; the parameter-free arms are printed beside them.

red-teaming on the dev seeds' `refusal-v1024` organisms (3 per seed: the rung where the searches
part; on `refusal-small` at the quick budget the best of both sides elicit every target), task
parameters and budget as the quick suite would give them (TASK, BUDGET below; red-teaming is not in
a suite yet). Per setting: mean +- standard error over organisms of attack-success (the headline row)
and REASR, and the mean CPU seconds per cell (one cell = one seed's three organisms).

Rule, per arm: the one-standard-error rule on attack-success (every setting within one standard
error of the best is tied); among the tied, the cheapest cell (CPU seconds), then the first listed.
Passes, in the order run (results in the arms' docstrings): 1 the grid (GRID) at the quick budget;
2 the scanners' screening prompts and scan share, the gradient arms' gradient prompts; 3 the other
searches' screening prompts (--screen); 4 at a quarter of the budget (--rung=0.25), because at the
full quick budget the best settings of both sides tie at the ceiling (0.98-1.00) and the rule could
only pick by CPU seconds there. Pass 4's choices are the defaults.

Usage: nice -n 10 .venv/bin/python dev/tune_red_teaming.py [--seeds=900,901] [--screen] [arm ...]   (no arm:
every arm; --screen: pass 3, the screening-prompt count of the arms tuned without it; --rung=0.25: pass 4,
at that share of the forward and backward budget)
"""

from __future__ import annotations

import sys
import time

from _common import build, by_metric, mean_se, one_se_choice, run, table

TASK = {"k": 20, "n_eval": 64}
BUDGET = {"labelled_examples": 64, "forward_passes": 12_000, "backward_passes": 600, "wall_seconds": 600,
          "tuning_trials": 8}
GRID = {
    "logit-lens-search": [{"layers": l, "max_rank": m} for l in ((0,), (1,), (0, 1)) for m in (24, 48)]
    + [{"scan_share": f, "n_screen": n} for f in (0.5, 0.75) for n in (4, 8)],
    "refusal-direction-search": [{"layer": l, "top_k": k} for l in (0, 1, 2) for k in (8, 16)]
    + [{"layer": 2, "n_grad": g} for g in (2, 8)],
    "melbo-search": [{"radius": r, "n_vectors": n} for r in (1.0, 2.0, 4.0) for n in (8, 16)],
    "gcg-redteam": [{"top_k": k, "n_candidates": c} for k in (4, 8, 16) for c in (8, 16)]
    + [{"n_grad": g} for g in (2, 8)],
    "greedy-query-search": [{"max_rank": m, "batch": b} for m in (24, 48) for b in (4, 8)]
    + [{"scan_share": f, "n_screen": n} for f in (0.5, 0.75) for n in (4, 8)],
    "evolutionary-redteam": [{"population_size": p, "n_children": c} for p in (8, 16) for c in (8, 16)],
    "random-redteam": [{}], "rare-token-guess": [{}], "random-tokens": [{}],
}
# pass 3: the screening prompts per candidate (4 or 8) for the arms whose defaults the passes above set
# without it (the scanning twins took 4 in pass 2); each at its chosen defaults otherwise
SCREEN_GRID = {
    arm: [{"n_screen": n} for n in (4, 8)]
    for arm in ("gcg-redteam", "refusal-direction-search", "melbo-search", "evolutionary-redteam", "random-redteam")
}
# pass 4, at a quarter of the budget (--rung=0.25: 3,000 forward / 150 backward passes), where the top
# rung's ties part: what each gradient step costs, and the scanners' screens
LOW_GRID = {
    "gcg-redteam": [{"n_grad": g, "top_k": k, "n_candidates": c} for g in (2, 4) for k in (4, 8) for c in (8, 16)],
    "refusal-direction-search": [{"n_grad": g, "top_k": k, "layer": l} for g in (2, 4) for k in (4, 8) for l in (1, 2)],
    "melbo-search": [{"n_train": t, "steps": s} for t in (2, 4) for s in (10, 20)],
    "logit-lens-search": [{"n_screen": n, "scan_share": f} for n in (2, 4) for f in (0.5, 0.75)],
    "greedy-query-search": [{"n_screen": n, "scan_share": f} for n in (2, 4) for f in (0.5, 0.75)],
    "evolutionary-redteam": [{"n_screen": n, "population_size": p} for n in (2, 4) for p in (8, 16)],
}


def main(args: list[str]) -> None:
    seeds_arg = next((a for a in args if a.startswith("--seeds")), None)
    only = [a for a in args if not a.startswith("--")]
    wanted = tuple(int(s) for s in seeds_arg.split("=", 1)[1].split(",")) if seeds_arg else None
    seeds = build("refusal-v1024", wanted) if wanted else build("refusal-v1024")
    grid = SCREEN_GRID if "--screen" in args else LOW_GRID if any(a.startswith("--rung") for a in args) else GRID
    rung = next((float(a.split("=", 1)[1]) for a in args if a.startswith("--rung")), 1.0)
    budget = {**BUDGET, **{k: max(1, int(round(BUDGET[k] * rung))) for k in ("forward_passes", "backward_passes")}}
    for arm, settings in grid.items():
        if only and arm not in only:
            continue
        rows = []
        for setting in settings:
            t0 = time.process_time()
            got = by_metric(run("red-teaming", "refusal-v1024", arm, setting, seeds, TASK, budget))
            m, se = mean_se(got["attack-success"])
            r, rse = mean_se(got["reasr"])
            rows.append({"setting": setting, "attack-success": m, "attack-success-se": se, "reasr": r,
                         "reasr-se": rse, "cpu": (time.process_time() - t0) / len(seeds)})
        best = one_se_choice(rows, "attack-success", prefer=lambda r: r["cpu"])
        print(f"\n## {arm}")
        print(table(rows, ["setting", "attack-success", "attack-success-se", "reasr", "reasr-se", "cpu"], mark=best),
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
