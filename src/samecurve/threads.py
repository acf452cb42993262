"""One thread per process for torch, BLAS and OpenMP.

On these tiny models and matrices, a second thread mostly spins: measured on 2 cores with one
other busy process, organism training ran 13x slower with 2 torch threads, and a logistic-
regression probe cell 7x slower with 2 OpenBLAS threads (scipy's L-BFGS-B). Parallelism comes
from the processes executor instead.

A limiter reaches only the libraries already loaded, and scipy's OpenBLAS and scikit-learn's
OpenMP load later, on a cell's first fit: they came up with a thread per core in every worker
(tests/test_threads.py; a cold quick run took 1944 CPU-s with the fix against 2105 before). So the
thread variables are set too: libraries read them when they load, and worker processes (spawned
or Ray's) inherit them.
"""

from __future__ import annotations

import os

import torch
from threadpoolctl import threadpool_limits

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_limits = None


def single_threaded() -> None:
    global _limits
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    torch.set_num_threads(1)
    if _limits is None:  # keep the limiter alive: it is undone when garbage-collected
        _limits = threadpool_limits(limits=1)
