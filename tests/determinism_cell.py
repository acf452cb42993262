"""Run smoke cells in this process and print their scores as JSON (for test_determinism.py, which
starts this script twice under different PYTHONHASHSEED values).

    python tests/determinism_cell.py '[["harm-filter", "minilm", "keyword-filter"], ...]'

Each cell is [task, organism set, arm] with the smoke suite's task params, budget and seed 0.
Prints one JSON object: "hash" (this process's hash() of a fixed string, so the caller can check
that the salts really differed) and "cells": per cell, the runner's error and each score's metric,
instance, value and per-item arrays, floats as exact hex (spend and wall time are left out: they
are not numbers of the result)."""

from __future__ import annotations

import json
import math
import sys


def plain(x):
    import numpy as np

    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return plain(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (np.floating, float)):
        return float(x).hex() if math.isfinite(x) else repr(float(x))   # exact bits, NaN-safe
    if isinstance(x, np.integer):
        return int(x)
    return x


def main(cells: list[list[str]]) -> dict:
    from samecurve import registry
    from samecurve.runner import Cell, execute_cell
    from samecurve.threads import single_threaded

    single_threaded()
    registry.load_builtins()
    suite = registry.get_suite("smoke")
    out = []
    for task, organisms, arm in cells:
        entry = next(e for e in suite.entries if e.task == task and e.organisms == organisms)
        res = execute_cell(Cell(task=task, task_params=dict(entry.task_params), organism_set=organisms,
                                arm=arm, seed=suite.seeds[0], budget=suite.budget.to_dict()))
        out.append({"cell": [task, organisms, arm], "error": res["error"], "wall_seconds": res["wall_seconds"],
                    "scores": [{"metric": s.metric, "instance": s.instance, "value": plain(s.value),
                                "items": plain(getattr(s, "items", None) or {})} for s in res["scores"]]})
    return {"hash": hash("samecurve"), "cells": out}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
