"""Where cells run: in this process, or in a pool of worker processes.

Workers only compute; results come back to the parent, which alone writes the store, so a crash
or kill of any process never leaves a half-written cell.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from .errors import ConfigError

EXECUTORS = ("inline", "processes")


# One thread per worker for every native thread pool, set in the environment the workers start
# with. The initializer's threadpool_limits only reaches libraries already loaded when it runs;
# scipy's bundled OpenBLAS and scikit-learn's bundled OpenMP load later (with the first probe) and
# then started one thread per core: 2 workers x 2 threads on 2 cores made every scikit-learn cell
# 4-5x slower than inline (measured: defection-probe 22 s per cell vs 4.7 s inline). Each library
# reads its variable when it loads, so the environment is the one place that reaches them all.
WORKER_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                     "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}


@contextlib.contextmanager
def _worker_env() -> Iterator[None]:
    """The parent's environment with WORKER_THREAD_ENV while workers are spawned (then restored)."""
    saved = {k: os.environ.get(k) for k in WORKER_THREAD_ENV}
    os.environ.update(WORKER_THREAD_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _init_worker() -> None:
    from .threads import single_threaded

    single_threaded()  # one core per worker: N workers on N cores, no oversubscription


def run_all(fn: Callable[[Any], Any], items: Iterable[Any], executor: str = "inline", jobs: int = 1) -> Iterator[tuple[Any, Any]]:
    """Yield (item, fn(item)) as each finishes. `fn` must be a module-level function."""
    items = list(items)
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
    if executor == "inline" or jobs <= 1 or len(items) <= 1:
        for item in items:
            yield item, fn(item)
        return
    # spawn, not fork: forking a parent that has already run torch can deadlock its thread pools
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"), initializer=_init_worker) as pool:
        with _worker_env():  # the workers are spawned by the first submits
            pending = {pool.submit(fn, item): item for item in items}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield pending.pop(fut), fut.result()
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
