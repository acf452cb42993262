"""What a task is: a downstream job with ground truth and metrics, named for the job.

A task builds its instances from organisms and a seed, hands each arm only what its budget
allows (through a fresh Meter per job), and scores what the arm returns. Ground truth comes from
how the organisms were built, never from an interp method.

Metering is structure, not per-task discipline: every arm call runs inside `metered_session`, which
opens a fresh meter, charges the labelled examples the task's context hands out (a required
argument: a task states 0 rather than forgets), and closes the meter on exit; the only spend a
task can put in a Score is `session.spend`, which exists once the meter is closed. Why a session
and not a base `run_cell` with per-instance hooks: the tasks' loops differ in kind (backdoor-audit
pairs twins, forecast-emergence shares one meter over a run's checkpoints and scores a seed's runs
together, explanation-faithfulness interleaves arm calls with its own evaluation), so one loop
would need a hook per exception; the session is the part they all share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, ClassVar, TypeVar

from ..budget import Budget, Meter, MeteredModel
from ..metrics import auroc, fnr_at_fpr, recall_at_fpr  # noqa: F401  (tasks import them from here)


@dataclass(frozen=True)
class MetricInfo:
    protocol: type
    description: str
    higher_is_better: bool = True
    chance: float | None = None
    # False for a side-effect metric (e.g. fluency after steering) that a do-nothing control wins by
    # construction: there the verdict compares arms without holding interp to its control.
    control_gated: bool = True


@dataclass
class Score:
    metric: str
    instance: str
    value: float
    spend: dict
    detail: dict = field(default_factory=dict)
    # What the value is computed from (see evidence.py): name -> numeric array, and the
    # evidence.RECOMPUTE kind that turns them into `value` (None: kept and shown, not recomputed).
    items: dict = field(default_factory=dict)
    kind: str | None = None


class Task:
    name: ClassVar[str]
    version: ClassVar[str] = "1"
    tois: ClassVar[tuple[str, ...]] = ()
    metrics: ClassVar[dict[str, MetricInfo]] = {}

    def __init__(self, **params: Any):
        self.params = params

    def provenance(self) -> dict:
        """Inputs besides organisms that determine the numbers (e.g. a pretrained model's weights
        hash as `{"model": name, "weights_sha256": ...}`); they enter every cell key."""
        return {}

    def metrics_for(self, arm: Any) -> list[str]:
        """The metrics this arm can be scored on: those whose protocol it implements."""
        return [m for m, info in self.metrics.items() if isinstance(arm, info.protocol)]

    def run_cell(self, arm_factory: Any, organisms: list, seed: int, budget: Budget) -> list[Score]:
        raise NotImplementedError


R = TypeVar("R")


def once_per_organism(cache: dict, key: tuple, compute: Callable[[], R], limit: int = 64) -> R:
    """The task's own evaluation of an organism (no arm involved, nothing to charge), computed once
    per process: a pure cache, the same numbers as computing them again. `key[0]` is the
    organism's weights hash; without one (None) nothing is cached. At most `limit` entries."""
    if key[0] is None:
        return compute()
    if key not in cache:
        if len(cache) >= limit:
            cache.clear()
        cache[key] = compute()
    return cache[key]


class Session:
    """One arm's job under one fresh meter: `model` is what the arm is handed; `spend` (a dict) is
    readable only after the `metered_session` block, from the closed meter."""

    def __init__(self, model: Any, meter: Meter):
        self.model, self.meter = model, meter
        self._spend: dict | None = None

    @property
    def spend(self) -> dict:
        if self._spend is None:
            raise RuntimeError("session.spend is read after the metered_session block, once the meter is closed")
        return self._spend


@contextmanager
def metered_session(model: Any, arm: Any, budget: Budget, *, labelled: int,
                    door: Callable[..., Any] = MeteredModel) -> Iterator[Session]:
    """A fresh meter for one arm's job: `model` (or a list of models, e.g. a run's checkpoints,
    sharing the meter) behind `door` (MeteredModel, or e.g. MeteredEncoder) at the arm's declared
    access; `labelled` examples (what the context hands out) charged up front; the meter closed on
    exit, whatever happens inside."""
    meter = Meter(budget)
    wrapped = [door(m, meter, arm.access) for m in model] if isinstance(model, (list, tuple)) else door(model, meter, arm.access)
    session = Session(wrapped, meter)
    meter.charge("labelled_examples", labelled)
    try:
        yield session
    finally:
        session._spend = meter.close().to_dict()
