"""Render the report's figures side by side on the machine's cores.

Every figure is a pure function of data already read from the store, and matplotlib draws on one
core; a quick run's ~80 figures were most of its serial tail (21 s of a report, at the end of a run
whose workers are idle by then). Forked workers inherit the imported modules, so a figure costs what
it costs in-process; the output is the same SVG text whatever the number of workers (each figure's
ids are its own, and matplotlib's hash salt is fixed). `SAMECURVE_REPORT_JOBS=1` renders in-process.
The standard library's pool does the work: only the choice of workers is ours.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Sequence, TypeVar

from ..errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")
MAX_JOBS = 4  # beyond this the pickling of each figure's data outweighs the drawing it saves


def report_jobs() -> int:
    """Workers for figures: SAMECURVE_REPORT_JOBS if set, else the cores this process may use (<= 4)."""
    raw = os.environ.get("SAMECURVE_REPORT_JOBS", "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigError(f"SAMECURVE_REPORT_JOBS must be a whole number >= 1, got {raw!r}")
        return int(raw)
    return max(1, min(MAX_JOBS, len(os.sched_getaffinity(0))))


def map_figures(render: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`[render(x) for x in items]`, in order, spread over `report_jobs()` forked workers.
    `render` must be a module-level function (it is sent to the workers by name)."""
    jobs = min(report_jobs(), len(items))
    if jobs < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [render(x) for x in items]
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(render, items))
