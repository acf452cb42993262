"""Where cells run: in this process, or in a pool of worker processes.

Workers only compute; results come back to the parent, which alone writes the store, so a crash
or kill of any process never leaves a half-written cell.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from .errors import ConfigError

EXECUTORS = ("inline", "processes")


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
