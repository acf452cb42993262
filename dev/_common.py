"""Shared by the dev/tune_*.py scripts: run one arm setting through a task on the dev seeds.

Each cell goes through `runner.execute_cell`, the very path a suite cell takes (same task code,
same metering), only with dev seeds (samecurve.dev.DEV_SEEDS), a dev organism set and the arm
parameters under test. Task parameters and the budget are the quick suite's (the main job) unless
a script says otherwise; nothing is written to a store.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any, Iterable

import numpy as np

from samecurve import dev, registry
from samecurve.runner import Cell, execute_cell
from samecurve.threads import single_threaded

single_threaded()


def suite_setup(task: str, suite: str = "quick") -> tuple[dict, dict]:
    """(task params, budget dict) of `task`'s first entry in `suite`."""
    s = registry.get_suite(suite)
    entry = next(e for e in s.entries if e.task == task)
    return dict(entry.task_params), s.budget.to_dict()


def build(organism_set: str, seeds: tuple[int, ...] = dev.DEV_SEEDS) -> tuple[int, ...]:
    """Train (or load) the dev organisms; the seeds whose organisms all passed their checks."""
    t0 = time.perf_counter()
    ok = tuple(dev.dev_organisms(organism_set, seeds))
    print(f"# {organism_set}: dev seeds {list(ok)} ready in {time.perf_counter() - t0:.0f} s", flush=True)
    return ok


def run(task: str, organism_set: str, arm: str, arm_params: dict, seeds: Iterable[int],
        task_params: dict, budget: dict) -> list[tuple[int, Any]]:
    """(seed, Score) for every score the cells return; a failed cell raises (a dev sweep must not
    silently drop a setting)."""
    dev.check_disjoint(tuple(seeds))
    out = []
    for seed in seeds:
        res = execute_cell(Cell(task, task_params, organism_set, arm, seed, budget, dict(arm_params)))
        if res["error"]:
            raise RuntimeError(f"{arm} {arm_params} seed {seed}: {res['error']}")
        out += [(seed, sc) for sc in res["scores"]]
    return out


def run_class(task: str, organism_set: str, arm_cls: type, arm_params: dict, seeds: Iterable[int],
              task_params: dict, budget: dict) -> list[tuple[int, Any]]:
    """As `run`, for an arm class that is not registered (a variant defined in a dev script):
    the body of `runner.execute_cell` with the class handed in."""
    from samecurve.budget import Budget
    from samecurve.organisms.base import load_or_build
    from samecurve.seeding import seed_everything

    dev.check_disjoint(tuple(seeds))
    task_obj = registry.get_task(task)(**task_params)
    out = []
    for seed in seeds:
        organisms = [load_or_build(s) for s in registry.get_organism_set(organism_set).specs(seed)]

        def factory(s: int) -> Any:
            seed_everything(s)
            return arm_cls(**arm_params)

        out += [(seed, sc) for sc in task_obj.run_cell(factory, organisms, seed, Budget.from_dict(budget))]
    return out


def by_metric(scores: list[tuple[int, Any]]) -> dict[str, list[float]]:
    got: dict[str, list[float]] = defaultdict(list)
    for _, sc in scores:
        got[sc.metric].append(float(sc.value))
    return got


def mean_se(values: Iterable[float]) -> tuple[float, float]:
    """Mean and its standard error over independent units (organisms, instances or seeds)."""
    v = np.asarray(list(values), dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


def one_se_choice(rows: list[dict], key: str, prefer, higher_is_better: bool = True) -> int:
    """The one-standard-error rule (Breiman et al.): every row whose `key` is within one standard
    error (`key`-se, of the best row) of the best is tied; among the tied, `prefer(row)` smallest."""
    sign = 1.0 if higher_is_better else -1.0
    best = max(range(len(rows)), key=lambda i: sign * rows[i][key])
    bar = sign * rows[best][key] - rows[best][key + "-se"]
    return min((i for i, r in enumerate(rows) if sign * r[key] >= bar - 1e-12), key=lambda i: prefer(rows[i]))


def table(rows: list[dict], cols: list[str], mark: int | None = None) -> str:
    """A plain text table; row `mark` gets a '<- chosen' flag."""
    def fmt(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, (float, np.floating)) else str(v)

    cells = [[fmt(r[c]) for c in cols] for r in rows]
    w = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w[i]) for i, c in enumerate(cols)), "  ".join("-" * x for x in w)]
    for k, x in enumerate(cells):
        lines.append("  ".join(v.rjust(w[i]) for i, v in enumerate(x)) + ("  <- chosen" if k == mark else ""))
    return "\n".join(lines)


class Timer:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def __str__(self) -> str:
        return f"{time.perf_counter() - self.t0:.0f} s"
