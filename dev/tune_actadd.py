"""Choose ActAdd's coefficient range (steering_vectors.ACTADD_RANGE) on dev seeds, and measure the
injection of mean-difference-steering (prompt positions only, Turner et al.'s, against every position).

steering on the dev seeds' `topics-three` organisms (quick's set; 6 seeds x 3 organisms x 2 targets
= 36 instances), quick suite task parameters and budget (8 tuning trials: 4 strengths per layer).
ActAdd's coefficient multiplies the raw difference of its prompt pair, so its range is its own:
candidates from the shared 0.2-1.6 up to 2-16 (the paper's coefficients on GPT-2-XL run 1-15).

Rule, the one-standard-error rule on the held-out harmonic mean (SE over the 36 instances): among
the ranges tied with the best, the lowest (the weaker steering). The injection of mean-difference
steering is shown, not chosen (steering_vectors.py docstring: the default stays every position);
the table shows what prompt-only injection would give.

Usage: nice -n 10 .venv/bin/python dev/tune_actadd.py
"""

from __future__ import annotations

from _common import Timer, build, mean_se, one_se_choice, run, suite_setup, table

RANGES = ((0.2, 1.6), (0.5, 4.0), (1.0, 8.0), (2.0, 16.0))
ORGS = "topics-three"


def harmonic(scores) -> list[float]:
    return [sc.value for _, sc in scores if sc.metric == "harmonic-mean"]


def main() -> None:
    clock = Timer()
    seeds = build(ORGS)
    task_params, budget = suite_setup("steering")
    rows = []
    for lo, hi in RANGES:
        m, se = mean_se(harmonic(run("steering", ORGS, "actadd-steering", {"coef_range": (lo, hi)}, seeds,
                                     task_params, budget)))
        rows.append({"range": f"{lo:g}-{hi:g}", "lo": lo, "hi": hi, "actadd": m, "actadd-se": se})
        print(f"# {rows[-1]} ({clock})", flush=True)
    pick = one_se_choice(rows, "actadd", lambda r: (r["lo"], r["hi"]))
    print(f"\nactadd-steering on steering, {ORGS}, dev seeds {list(seeds)}, quick params and budget "
          "(held-out harmonic mean at the task's chosen setting, 36 instances)")
    print(table(rows, ["range", "actadd", "actadd-se"], pick))
    print(f"chosen: ACTADD_RANGE={RANGES[pick]} (one-SE rule, ties to the lower range)")
    inj = []
    for inject in ("all", "prompt"):
        m, se = mean_se(harmonic(run("steering", ORGS, "mean-difference-steering", {"inject": inject}, seeds,
                                     task_params, budget)))
        inj.append({"inject": inject, "mean-diff": m, "se": se})
    print("\nmean-difference-steering by injection (shown, not chosen)")
    print(table(inj, ["inject", "mean-diff", "se"]))
    print(f"{clock}")


if __name__ == "__main__":
    main()
