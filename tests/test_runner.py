"""Resume: a rerun writes no duplicate; a run killed with SIGKILL resumes without losing a cell."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

from samecurve import api

CHEAP = ["random-scores", "spectral-signature", "spectral-signature-random-init"]


def _count(db, sql):
    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchone()[0]


def test_rerun_resumes_and_writes_no_duplicate(tmp_path, smoke_population):
    first = api.run("smoke", tmp_path, arms=CHEAP, executor="inline", report=False)
    assert first.summary.cells_done == 3 and first.summary.cells_failed == 0
    db = tmp_path / api.RESULTS
    n_scores = _count(db, "SELECT COUNT(*) FROM scores")
    again = api.run("smoke", tmp_path, arms=CHEAP, executor="inline", report=False)
    assert again.summary.cells_done == 0 and again.summary.cells_skipped == 3
    assert _count(db, "SELECT COUNT(*) FROM cells") == 3
    assert _count(db, "SELECT COUNT(*) FROM scores") == n_scores
    rows = api.load_results(tmp_path)
    assert len({(r["cell_key"], r["metric"], r["instance"]) for r in rows}) == len(rows)


def test_kill_minus_nine_then_same_command_resumes(tmp_path, smoke_population):
    arms = ["defection-probe", "random-direction-probe", "defection-probe-random-init", *CHEAP]
    cmd = [sys.executable, "-m", "samecurve", "run", "--suite", "smoke", "--out", str(tmp_path), "--executor", "inline"]
    for a in arms:
        cmd += ["--arm", a]
    db = tmp_path / api.RESULTS
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if db.exists() and _count(db, "SELECT COUNT(*) FROM cells WHERE status='done'") >= 1:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _count(db, "SELECT COUNT(*) FROM cells WHERE status='done'")
    assert 1 <= done_before < len(arms), "the kill should land mid-run"
    res = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy(), timeout=400)
    assert res.returncode == 0, res.stderr
    assert f"{done_before} already done" in res.stdout
    assert _count(db, "SELECT COUNT(*) FROM cells WHERE status='done'") == len(arms)
    assert _count(db, "SELECT COUNT(*) FROM (SELECT cell_key FROM cells GROUP BY arm, seed HAVING COUNT(*) > 1)") == 0
