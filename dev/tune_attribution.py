"""Tune attribution-sanity's trigger-rediscovery arms and the random-patch-search baseline on dev spec
seeds 900-902 (outside every suite's organisms), at quick's budget. Prints each setting's mean scores;
the defaults in arms/interp/feature_synthesis.py and arms/baselines/patch_search.py cite this script.

    SAMECURVE_CACHE=/tmp/cache .venv/bin/python dev/tune_attribution.py [arm ...]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from samecurve import registry
from samecurve.budget import Budget
from samecurve.organisms.base import load_or_build
from samecurve.organisms.shapes import ShapesSpec
from samecurve.protocols.organisms import patched
from samecurve.seeding import seed_everything
from samecurve.tasks.attribution_sanity import AttributionSanity
from samecurve.threads import single_threaded

single_threaded()   # torch's own threads thrash on 2 shared cores (a run of this grid took 10x longer)

DEV_SEEDS = (900, 901, 902)
QUICK = Budget(labelled_examples=64, forward_passes=12_000, backward_passes=600, wall_seconds=600, tuning_trials=8)
GRID = {
    # explicit settings (the first is the untuned start: batch 8, lr 0.1, mask logits from 0)
    "neural-cleanse": [dict(batch=b, lr=lr, mask_init=m, l1=l1) for b, lr, m, l1 in
                       [(8, 0.1, 0.0, 0.05), (16, 0.1, 0.0, 0.05), (4, 0.1, 0.0, 0.05), (16, 0.1, 0.0, 0.01),
                        (16, 0.1, 0.0, 0.2), (16, 0.1, 0.0, 0.5), (16, 0.05, 0.0, 0.05), (16, 0.1, -2.0, 0.05),
                        (16, 0.1, -3.0, 0.05), (16, 0.3, -2.0, 0.05), (8, 0.3, -2.0, 0.05)]],
    "target-visualisation": [dict(), dict(l2=0.0), dict(l2=0.05), dict(lr=0.05), dict(lr=0.3)],
    "random-trigger-search": [dict(), dict(batch=4), dict(batch=16)],
    "evolutionary-trigger-search": [dict(), dict(batch=4), dict(sigma=0.1), dict(sigma=0.6), dict(parents=2, children=4)],
    "random-trigger": [dict()],
    "neural-cleanse-random-init": [dict()],
    "target-visualisation-random-init": [dict()],
}


def main(names: list[str]) -> None:
    orgs = [patched(load_or_build(ShapesSpec(s))) for s in DEV_SEEDS]
    task = AttributionSanity()
    for name in names or list(GRID):
        cls = registry.arms()[name]
        for kw in GRID.get(name, [dict()]):
            rows, t = [], time.process_time()
            for org in orgs:
                for seed in (0, 1):
                    seed_everything(seed)
                    got = {s.metric: s.value for s in task.score_rediscovery(lambda s: cls(**kw), org, seed, QUICK)}
                    rows.append([got["trigger-rediscovery-asr"], got["trigger-rediscovery-similarity"]])
            m = np.mean(rows, 0)
            print(f"{name:34s} {str(kw):32s} asr {m[0]:.3f} similarity {m[1]:.3f}  "
                  f"{(time.process_time() - t) / len(rows):.2f} CPU-s/organism", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
