"""Dev-seed check of persona-projection as published (issue 15), seeds 900-905 only (never a suite seed).

Runs, through the task's own cell path on quick-sized persona populations (`persona-small`, the quick
suite's task parameters and budget): the published arm (site chosen by steering at the base), the
same arm forced to each residual site, the previous version (vector and read-out at the decision
position, fixed site blocks.1.hook_resid_mid), and the random-direction control. Prints per arm
auroc-early, miss-rate, lead-time and false-alarm-rate (mean ± s.e. over runs), the sites steering
chose, and CPU seconds per cell. Rule: the published choices stand unless a forced site beats the
steering choice by more than one s.e. of auroc-early (then the docstring says so).

Usage: SAMECURVE_CACHE=... nice -n 10 .venv/bin/python dev/tune_persona_projection.py [900,901,...]
"""
import sys
import time

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _common as C  # noqa: E402  (single-threaded torch on import)

from samecurve import dev  # noqa: E402
from samecurve.arms.interp.persona_monitor import PersonaProjection, _Projection, decision_acts  # noqa: E402

TASK, SET = "training-monitor", "persona-small"
SITES = ("blocks.0.hook_resid_mid", "blocks.0.hook_resid_post", "blocks.1.hook_resid_mid", "blocks.1.hook_resid_post")


class PreviousPersonaProjection(_Projection):
    """The version before issue 15's fix: difference of means of the labelled *prompts* at the
    decision position, fixed site blocks.1.hook_resid_mid."""

    access = "white-box"

    def __init__(self, site: str = "blocks.1.hook_resid_mid"):
        super().__init__(site)

    def reference(self, base, ctx):
        x, y = ctx.labelled[:, : ctx.language.prompt_len], np.asarray(ctx.labelled_bad)
        a = decision_acts(base, x, self.site, ctx.language.decision_pos)
        d = a[torch.from_numpy(y == 1)].mean(0) - a[torch.from_numpy(y == 0)].mean(0)
        return self.site, d / d.norm().clamp(min=1e-8)


def summarise(name: str, scores, seconds: float, n_cells: int) -> dict:
    got = C.by_metric(scores)
    row = {"arm": name, "cpu_s/cell": seconds / n_cells}
    for m in ("auroc-early", "miss-rate", "lead-time", "false-alarm-rate"):
        row[m], row[m + "-se"] = C.mean_se(got.get(m, [np.nan]))
    sites = sorted({str(sc.detail.get(k)) for _, sc in scores for k in sc.detail if k.endswith("_site")})
    row["site"] = ",".join(s.replace("blocks.", "b").replace(".hook_resid_", ".") for s in sites) or "-"
    return row


def main() -> None:
    seeds = tuple(int(s) for s in sys.argv[1].split(",")) if len(sys.argv) > 1 else dev.DEV_SEEDS
    seeds = C.build(SET, seeds)
    task_params, budget = C.suite_setup(TASK)
    rows = []
    plan = [("persona-projection", "persona-projection", {}), ("random-direction-projection", "random-direction-projection", {})]
    plan += [(f"persona-projection@{s}", "persona-projection", {"site": s}) for s in SITES]
    for label, name, params in plan:
        t0 = time.process_time()
        scores = C.run(TASK, SET, name, params, seeds, task_params, budget)
        rows.append(summarise(label, scores, time.process_time() - t0, len(seeds)))
        print(C.table(rows[-1:], list(rows[-1])), flush=True)
    t0 = time.process_time()
    scores = C.run_class(TASK, SET, PreviousPersonaProjection, {}, seeds, task_params, budget)
    rows.append(summarise("previous (b1.mid, prompt vector)", scores, time.process_time() - t0, len(seeds)))
    cols = ["arm", "site", "auroc-early", "auroc-early-se", "miss-rate", "lead-time", "false-alarm-rate", "cpu_s/cell"]
    print(f"\n# dev seeds {list(seeds)}; quick task parameters {task_params}")
    print(C.table(rows, cols))


if __name__ == "__main__":
    main()
