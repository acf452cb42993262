"""Quick suite wall time, cold (fresh organism cache: training included) and warm (cached).

Targets on 2 cores: cold < 10 min, warm < 2 min. Uses the processes executor with 2 workers,
as `make run` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_run(cache: Path, out: Path) -> float:
    env = {**os.environ, "SAMECURVE_CACHE": str(cache)}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "samecurve", "run", "--suite", os.environ.get("SUITE", "quick"),
                    "--out", str(out), "--executor", "processes", "--jobs", "2"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    """BENCH_DIR keeps the caches and both runs for inspection; by default they are thrown away."""
    keep = os.environ.get("BENCH_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(keep or tmp)
        cold = timed_run(tmp / "cache", tmp / "cold")
        warm = timed_run(tmp / "cache", tmp / "warm")
    print(f"quick suite cold: {cold:7.1f} s   (target < 600 s)")
    print(f"quick suite warm: {warm:7.1f} s   (target < 120 s)")


if __name__ == "__main__":
    main()
