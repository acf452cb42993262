"""One thread per process for torch, BLAS and OpenMP.

On these tiny models and matrices, a second thread mostly spins: measured on 2 cores with one
other busy process, organism training ran 13x slower with 2 torch threads, and a logistic-
regression probe cell 7x slower with 2 OpenBLAS threads (scipy's L-BFGS-B). Parallelism comes
from the processes executor instead.
"""

from __future__ import annotations

import torch
from threadpoolctl import threadpool_limits

_limits = None


def single_threaded() -> None:
    global _limits
    torch.set_num_threads(1)
    if _limits is None:  # keep the limiter alive: it is undone when garbage-collected
        _limits = threadpool_limits(limits=1)
