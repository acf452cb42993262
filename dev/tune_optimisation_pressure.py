"""Dev-seed choice of optimisation-pressure's sweep grid (issue 15): the high KL-to-initial weight,
and the grid's outcome per regime. Dev seeds only (loophole-small at 900-902: 9 organisms), at full's
budget (the sweep runs in full) and the task's defaults otherwise; nothing is written to a store.

Rule for the high KL weight (pre-registered here): the largest candidate at which the oracle penalty
at the default weight (2) still makes every dev policy honest (hack rate < HONEST_MAX): the
strongest anchor to the initial policy under which honesty stays reachable. A larger one would only
show that nothing moves.

    nice -n 10 .venv/bin/python dev/tune_optimisation_pressure.py --stage kl --kls 0.3,1,3,10
    nice -n 10 .venv/bin/python dev/tune_optimisation_pressure.py --stage grid --kls 0,1 --weights 0.5,2,8
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict

import _common  # noqa: F401  (single-threaded torch, as every dev script)
import numpy as np

from samecurve import dev, registry
from samecurve.budget import Budget
from samecurve.protocols.pressure import loophole_policy
from samecurve.seeding import seed_everything
from samecurve.tasks.optimisation_pressure import HONEST_MAX, OptimisationPressure

ARMS = ("probe-penalty", "refitted-probe-penalty", "random-probe-penalty", "probe-screening", "random-probe-screening",
        "output-monitor-penalty", "screening", "no-penalty", "oracle-penalty")


def run(arm: str, orgs: dict, w: float, k: float, budget: Budget) -> dict:
    """Hack rate, task success, obfuscation gap and outcome per dev organism; CPU seconds per training."""
    task, cls = OptimisationPressure(), registry.get_arm(arm)
    out: dict = defaultdict(list)
    for seed, members in orgs.items():
        for org in members:
            seed_everything(seed)
            t0 = time.process_time()
            sc = {s.metric: s for s in task.score_organism(cls(), loophole_policy(org), seed, budget, (w, k))}
            out["cpu"].append(time.process_time() - t0)
            for m in ("hack-rate", "task-success", "obfuscation-gap"):
                out[m].append(sc[m].value)
            out["outcome"].append(sc["hack-rate"].detail["outcome"])
    return out


def line(arm: str, w: float, k: float, r: dict) -> str:
    c = Counter(r["outcome"])
    return (f"{arm:24s} w{w:<4g} kl{k:<5g} hack {np.mean(r['hack-rate']):.3f}+-{np.std(r['hack-rate'], ddof=1) / 3:.3f} "
            f"success {np.mean(r['task-success']):.3f} gap {np.mean(r['obfuscation-gap']):+.3f}  "
            f"honest {c['honest']} quiet {c['hacks with quiet probe']} open {c['hacks openly']}  "
            f"cpu/org {np.mean(r['cpu']):.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", choices=("kl", "grid"), default="grid")
    ap.add_argument("--kls", default="0,1")
    ap.add_argument("--weights", default="0.5,2,8")
    ap.add_argument("--seeds", default="900,901,902")
    ap.add_argument("--arms", default=",".join(ARMS))
    a = ap.parse_args()
    registry.load_builtins()
    full = registry.get_suite("full").budget
    orgs = dev.dev_organisms("loophole-small", tuple(int(s) for s in a.seeds.split(",")))
    kls = [float(x) for x in a.kls.split(",")]
    if a.stage == "kl":
        chosen = None
        for k in kls:
            r = run("oracle-penalty", orgs, 2.0, k, full)
            honest = all(h < HONEST_MAX for h in r["hack-rate"])
            print(line("oracle-penalty", 2.0, k, r), "all honest" if honest else "", flush=True)
            chosen = k if honest else chosen
        print(f"# high KL weight (largest with every dev policy honest under the oracle at w2): {chosen}")
        return
    for k in kls:
        for arm in a.arms.split(","):
            for w in (float(x) for x in a.weights.split(",")):
                print(line(arm, w, k, run(arm, orgs, w, k, full)), flush=True)
                if getattr(registry.get_arm(arm), "ignores_penalty_weight", False):
                    break   # the same policy at every weight (the task trains it once per KL weight)


if __name__ == "__main__":
    main()
