"""Quick suite wall time, cold (fresh organism cache: training included) and warm (cached), and
where the time goes: the organism phase, then per task and per arm (summed cell wall seconds).

Targets on 2 cores: cold < 10 min, warm < 2 min. Uses the processes executor with 2 workers, as
`make run` does. The machine's load average is printed beside every timing: on a shared machine
a timing means little without it.

    python bench/bench_suite.py                  # cold + warm runs in a temporary folder
    BENCH_DIR=/tmp/b python bench/bench_suite.py # keep caches, stores and logs there
    SUITE=smoke python bench/bench_suite.py      # another suite
    python bench/bench_suite.py --split runs/quick [...]   # only the split of finished runs
"""

from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def cpu_seconds() -> float:
    """User + system CPU seconds of this process's finished children (the run and its workers)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed_run(cache: Path, out: Path, suite: str) -> tuple[float, float, str, str]:
    """(wall seconds, CPU seconds, load before, load after) of one `samecurve run`. CPU seconds
    are what the run cost whatever else the machine was doing: on 2 idle cores the wall time
    would be about CPU / 2 (plus the serial verdict and report at the end)."""
    env = {**os.environ, "SAMECURVE_CACHE": str(cache)}
    before, cpu = load(), cpu_seconds()
    t = time.perf_counter()
    with open(out.parent / f"{out.name}.log", "w") as log:
        subprocess.run([sys.executable, "-m", "samecurve", "run", "--suite", suite, "--out", str(out),
                        "--executor", "processes", "--jobs", "2"], env=env, check=True, stdout=log, stderr=log)
    return time.perf_counter() - t, cpu_seconds() - cpu, before, load()


def split(out: Path, top: int = 12) -> str:
    """Organism phase, cell phase, per-task and top-arm cell seconds of the newest run in a store."""
    db = sqlite3.connect(out / "results.sqlite")
    run_id, created = db.execute("SELECT run_id, created FROM runs ORDER BY created DESC LIMIT 1").fetchone()
    rows = db.execute("SELECT task, arm, seed, wall_seconds, finished FROM cells WHERE run_id = ?", (run_id,)).fetchall()
    if not rows:
        return f"{out}: no cells ran in the newest run (all done before?)"
    t0 = datetime.fromisoformat(created)
    first = min(rows, key=lambda r: r[4])
    last = max(datetime.fromisoformat(r[4]) for r in rows)
    org_phase = (datetime.fromisoformat(first[4]) - t0).total_seconds() - first[3]
    cell_phase = (last - t0).total_seconds() - org_phase
    total = sum(r[3] for r in rows)
    by_task, by_arm = defaultdict(float), defaultdict(float)
    n_task = defaultdict(int)
    for task, arm, _seed, wall, _ in rows:
        by_task[task] += wall
        by_arm[(task, arm)] += wall
        n_task[task] += 1
    seeds = sorted({r[2] for r in rows})
    lines = [f"{out}: {len(rows)} cells, seeds {seeds}",
             f"  organism phase ~{org_phase:6.0f} s wall   cell phase ~{cell_phase:6.0f} s wall   "
             f"(cells' own wall seconds sum to {total:.0f} s over 2 workers)"]
    for task, s in sorted(by_task.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {task:26s} {s:7.1f} s  {100 * s / total:4.1f}%  {n_task[task]:4d} cells  {s / len(seeds):6.1f} s/seed")
    lines.append(f"  top {top} arms (cell seconds, all seeds):")
    for (task, arm), s in sorted(by_arm.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"    {task:26s} {arm:34s} {s:7.1f} s")
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["--split"]:
        for d in sys.argv[2:]:
            print(split(Path(d)))
        return
    suite = os.environ.get("SUITE", "quick")
    keep = os.environ.get("BENCH_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(keep or tmp)
        root.mkdir(parents=True, exist_ok=True)
        cold, cold_cpu, b1, a1 = timed_run(root / "cache", root / "cold", suite)
        warm, warm_cpu, b2, a2 = timed_run(root / "cache", root / "warm", suite)
        print(f"{suite} suite cold: {cold:7.1f} s wall, {cold_cpu:7.1f} s CPU   (target < 600 s wall)   {b1} before, {a1} after")
        print(f"{suite} suite warm: {warm:7.1f} s wall, {warm_cpu:7.1f} s CPU   (target < 120 s wall)   {b2} before, {a2} after")
        print(split(root / "cold"))
        print(split(root / "warm"))


if __name__ == "__main__":
    main()
