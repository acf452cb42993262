"""Re-derive the steering-vector coefficient range (steering_vectors.COEF_RANGE) on dev seeds.

steering on the dev seeds' `topics-tiny` organisms (quick's size; 6 organisms x 2 targets), quick
suite task parameters and budget: with 8 tuning trials and 2 layers each arm tries 4 strengths per
layer, log-spaced over the range, and the task picks one on its tuning split and reports the
held-out split. Every vector arm shares the range (the control too: it is "a random direction of
equal norm"), so a range is scored by the held-out harmonic mean averaged over the four interp
arms; the control's column is shown, not used.

Rule, the one-standard-error rule: every range whose interp mean is within one standard error
(over the 12 instances, each instance's mean over the four arms) of the best is tied; among the
tied, the old default (0.3-2.4) if it is one, else the lower range (the weaker steering).

Usage: nice -n 10 .venv/bin/python dev/tune_steering.py
"""

from __future__ import annotations

import numpy as np
from _common import Timer, build, mean_se, one_se_choice, run, suite_setup, table

INTERP = ("mean-difference-steering", "actadd-steering", "probe-steering", "sae-feature-steering")
CONTROL = "random-direction-steering"
RANGES = ((0.1, 0.8), (0.2, 1.6), (0.3, 2.4), (0.5, 4.0), (1.0, 8.0), (0.25, 8.0))
OLD = (0.3, 2.4)
SHORT = {"mean-difference-steering": "mean-diff", "actadd-steering": "actadd", "probe-steering": "probe",
         "sae-feature-steering": "sae", CONTROL: "control"}


def main() -> None:
    clock = Timer()
    seeds = build("topics-tiny")
    task_params, budget = suite_setup("steering")
    rows = []
    for lo, hi in RANGES:
        row: dict = {"range": f"{lo:g}-{hi:g}", "lo": lo, "hi": hi}
        per_instance: dict[tuple, list[float]] = {}
        for arm in INTERP + (CONTROL,):
            got = [(seed, sc) for seed, sc in run("steering", "topics-tiny", arm, {"coef_range": (lo, hi)}, seeds,
                                                  task_params, budget) if sc.metric == "harmonic-mean"]
            row[SHORT[arm]] = float(np.mean([sc.value for _, sc in got]))
            if arm in INTERP:
                for seed, sc in got:
                    per_instance.setdefault((seed, sc.instance), []).append(sc.value)
        row["interp-mean"], row["interp-mean-se"] = mean_se(np.mean(v) for v in per_instance.values())
        rows.append(row)
        print(f"# {row} ({clock})", flush=True)
    pick = one_se_choice(rows, "interp-mean", lambda r: ((r["lo"], r["hi"]) != OLD, r["lo"], r["hi"]))
    print(f"\nsteering vectors on steering, topics-tiny, dev seeds {list(seeds)}, quick params and budget "
          "(held-out harmonic mean at the task's chosen setting, mean over 6 organisms x 2 targets)")
    print(table(rows, ["range"] + [SHORT[a] for a in INTERP] + ["control", "interp-mean", "interp-mean-se"], pick))
    print("\nrule: one-standard-error rule on the interp mean; among the tied the old default, else the lower range")
    print(f"chosen: coef_range={RANGES[pick]}; {clock}")


if __name__ == "__main__":
    main()
