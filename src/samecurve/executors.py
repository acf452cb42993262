"""Where cells run: in this process, in a pool of worker processes, or as Ray tasks.

Workers only compute; results come back to the parent, which alone writes the store, so a crash
or kill of any process never leaves a half-written cell.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import pickle
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from .errors import ConfigError, MissingDependencyError

EXECUTORS = ("inline", "processes", "ray")


def _init_worker() -> None:
    from .threads import single_threaded

    single_threaded()  # one core per worker: N workers on N cores, no oversubscription


def run_all(fn: Callable[[Any], Any], items: Iterable[Any], executor: str = "inline", jobs: int = 1) -> Iterator[tuple[Any, Any]]:
    """Yield (item, fn(item)) as each finishes. `fn` must be a module-level function."""
    items = list(items)
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
    if executor == "ray":  # even for one item or one job: the point may be a cluster's CPUs
        yield from _run_ray(fn, items, jobs)
        return
    if executor == "inline" or jobs <= 1 or len(items) <= 1:
        for item in items:
            yield item, fn(item)
        return
    # spawn, not fork: forking a parent that has already run torch can deadlock its thread pools
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"), initializer=_init_worker) as pool:
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


# --- Ray -------------------------------------------------------------------------------------

_ray_started: dict[str, Any] = {}  # the local instance this process started: {"num_cpus": n}
_remote: Any = None


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("--executor ray needs Ray: pip install 'samecurve[ray]'") from None
    return ray


def _ray_worker(payload: bytes, driver_path: list[str], env: dict[str, str]) -> Any:
    """Ray task: the process pool's worker set-up (single thread, the parent's sys.path and
    SAMECURVE_* environment, as spawn gives), then fn(item). Unpickled only after sys.path is set,
    so an item or fn from a plug-in module (an arm's or organism's) imports as it does in the driver.
    `payload` is bytes this run's driver pickled in memory a moment ago (Ray pickles every argument
    anyway); no file is ever unpickled here."""
    sys.path[:0] = [p for p in driver_path if p not in sys.path]
    os.environ.update(env)
    _init_worker()
    fn, item = pickle.loads(payload)
    return fn(item)


def _ensure_ray(jobs: int) -> Any:
    """Connect to RAY_ADDRESS's cluster, or start a local instance of `jobs` CPUs; reuse either.

    A Ray instance takes ~10 s to start and its workers ~10 s more to import torch, so the one this
    process started serves every later run_all call (both phases of a run, later runs) and is shut
    down at exit, or when a call asks for a different number of CPUs. One that was already up
    (a user's own `ray.init`) is used as it is and never shut down."""
    global _remote
    ray = _import_ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report sent anywhere
    if ray.is_initialized() and _ray_started and not os.environ.get("RAY_ADDRESS") \
            and _ray_started.get("num_cpus") != jobs:
        shutdown_ray()
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, logging_level="WARNING")
            _ray_started["num_cpus"] = None
        else:
            ray.init(address="local", num_cpus=jobs, include_dashboard=False, logging_level="WARNING")
            _ray_started["num_cpus"] = jobs
        atexit.register(shutdown_ray)
    if _remote is None:
        _remote = ray.remote(num_cpus=1)(_ray_worker)
    return ray


def shutdown_ray() -> None:
    """Stop (or disconnect from) the Ray instance this process started; leave any other alone."""
    if not _ray_started:
        return
    _ray_started.clear()
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()  # a cluster we only connected to keeps running


def _run_ray(fn: Callable[[Any], Any], items: list[Any], jobs: int) -> Iterator[tuple[Any, Any]]:
    if not items:
        return
    ray = _ensure_ray(jobs)
    env = {k: v for k, v in os.environ.items() if k.startswith("SAMECURVE_")}
    path = list(sys.path)
    pending = {_remote.remote(pickle.dumps((fn, item)), path, env): item for item in items}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), ray.get(ref)
    except BaseException:
        for ref in pending:
            ray.cancel(ref)
        raise
