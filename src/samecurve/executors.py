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


def _check_executor(executor: str) -> None:
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")


def run_all(fn: Callable[[Any], Any], items: Iterable[Any], executor: str = "inline", jobs: int = 1) -> Iterator[tuple[Any, Any]]:
    """Yield (item, fn(item)) as each finishes. `fn` must be a module-level function."""
    items = list(items)
    _check_executor(executor)
    if not items:
        return
    if executor != "ray" and len(items) <= 1:
        executor = "inline"  # no pool to start for one item (Ray: the point may be a cluster's CPUs)
    with Workers(executor, jobs) as workers:
        for item in items:
            workers.submit(fn, item)
        while workers.in_flight:
            _, item, result = workers.next_done()
            yield item, result


class Workers:
    """A pool fed one job at a time, so the caller decides at every free slot what runs next.

    The runner uses it to pipeline a grid: organisms first, each cell as soon as its organisms are
    built, longest cells first (runner.py). `capacity` jobs keep every worker busy; submitting no
    more than that leaves the order to the caller instead of a FIFO queue. Inline runs each job in
    `next_done`, in submission order."""

    def __init__(self, executor: str = "inline", jobs: int = 1):
        _check_executor(executor)
        if executor == "processes" and jobs <= 1:
            executor = "inline"
        self.executor, self.capacity = executor, (1 if executor == "inline" else max(1, jobs))
        self._pending: dict[Any, tuple[Any, Any]] = {}  # future (or queued job) -> (tag, item)
        self._queue: list[tuple[Callable[[Any], Any], Any, Any]] = []
        self._pool: Any = None
        self._ray: Any = None

    def __enter__(self) -> Workers:
        if self.executor == "processes":
            # spawn, not fork: forking a parent that has already run torch can deadlock its thread pools
            self._pool = ProcessPoolExecutor(max_workers=self.capacity, mp_context=mp.get_context("spawn"),
                                             initializer=_init_worker)
        elif self.executor == "ray":
            self._ray = _ensure_ray(self.capacity)
            if os.environ.get("RAY_ADDRESS"):  # a cluster: as many jobs in flight as it has CPUs
                self.capacity = max(self.capacity, int(self._ray.cluster_resources().get("CPU", self.capacity)))
            self._env = {k: v for k, v in os.environ.items() if k.startswith("SAMECURVE_")}
            self._path = list(sys.path)
        return self

    def __exit__(self, *exc: Any) -> None:
        for job in self._pending:
            if self.executor == "processes":
                job.cancel()
            elif self.executor == "ray":
                self._ray.cancel(job)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def in_flight(self) -> int:
        return len(self._pending) + len(self._queue)

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.in_flight)

    def submit(self, fn: Callable[[Any], Any], item: Any, tag: Any = None) -> None:
        if self.executor == "inline":
            self._queue.append((fn, item, tag))
        elif self.executor == "processes":
            self._pending[self._pool.submit(fn, item)] = (tag, item)
        else:
            self._pending[_remote.remote(pickle.dumps((fn, item)), self._path, self._env)] = (tag, item)

    def next_done(self) -> tuple[Any, Any, Any]:
        """(tag, item, result) of one finished job; blocks until one is."""
        if self.executor == "inline":
            fn, item, tag = self._queue.pop(0)
            return tag, item, fn(item)
        if self.executor == "processes":
            done, _ = wait(self._pending, return_when=FIRST_COMPLETED)
            fut = next(iter(done))
            tag, item = self._pending.pop(fut)
            return tag, item, fut.result()
        done, _ = self._ray.wait(list(self._pending), num_returns=1)
        tag, item = self._pending.pop(done[0])
        return tag, item, self._ray.get(done[0])


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
