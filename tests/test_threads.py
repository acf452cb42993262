"""Every worker process stays on one thread, including the libraries a cell loads after the worker
started (scipy's OpenBLAS and scikit-learn's OpenMP load on a cell's first fit)."""

from __future__ import annotations

from samecurve import executors


def threads_after_a_fit(_: int) -> dict:
    """Runs in a worker: load and use what probe cells load, then read every thread pool."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info

    x = np.random.default_rng(0).normal(size=(64, 4))
    LogisticRegression().fit(x, x[:, 0] > 0)
    return {"torch": torch.get_num_threads(),
            "pools": {p["filepath"].rsplit("/", 1)[-1]: p["num_threads"] for p in threadpool_info()}}


def test_process_workers_load_every_library_single_threaded():
    got = dict(executors.run_all(threads_after_a_fit, range(2), "processes", 2))
    for state in got.values():
        assert state["torch"] == 1
        assert any("openblas" in name for name in state["pools"]), state  # scipy's BLAS did load
        assert set(state["pools"].values()) == {1}, state
