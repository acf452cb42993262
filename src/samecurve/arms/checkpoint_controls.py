"""Controls for arms that watch a training run's checkpoints (`training-monitor`), shared by both
sides so that an interp monitor and a baseline monitor each face the same kind of control."""

from __future__ import annotations

import numpy as np

from ..budget import MeteredModel
from ..registry import arm


def shuffled_order(base: type, name: str) -> type:
    """Register `name`: `base` where checkpoint t is replaced by one drawn uniformly from checkpoints
    1..t (per seed and run; the base kept first): values kept, time course lost. Shuffled within the
    past only: a shuffle over the whole run would put late checkpoints, where the poison is
    plainest, first, and "warn" from the future (seed 900: lead times as long as the arm's own)."""

    def monitor_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        rng = np.random.default_rng([ctx.seed, ctx.run_index, 43])
        order = [0] + [int(rng.integers(1, t + 1)) for t in range(1, len(checkpoints))]
        return base.monitor_checkpoints(self, [checkpoints[i] for i in order], ctx)

    cls = type(base.__name__ + "ShuffledOrder", (base,), {
        "monitor_checkpoints": monitor_checkpoints,
        "__doc__": f"{base.__name__} on checkpoints drawn at random from each one's past (the base kept first)."})
    return arm(name, family="control", access=base.access)(cls)


@arm("random-monitor", family="control", access="data-only")
class RandomMonitor:
    """Chance: a random score per checkpoint (seeded per run), never reading a model."""

    def monitor_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        return np.random.default_rng([ctx.seed, ctx.run_index, 47]).random(len(checkpoints))
