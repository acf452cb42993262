"""Monitoring a training run: the protocol of `training-monitor`, the organism view it needs, the
context a monitor is given and the check on what it returns.

A monitor watches a fine-tuning run checkpoint by checkpoint and scores each one (higher = the run
is turning misaligned). `checkpoints[0]` is the model before fine-tuning (the base the run starts
from, step 0): a monitor may take its references (a persona direction, the base's outputs, an SAE's
base activations) there. Why not `Forecaster`: its arms score any run of any kind by
`score_checkpoints`, so every forecast arm would claim this task too; a method of its own keeps the
two tasks' arm lists apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import torch

from .base import real_vector
from .organisms import view_of

if TYPE_CHECKING:
    from ..budget import MeteredModel

MONITORED = "monitored-run"   # the view name a family registers its MonitoredRun adapter under


@runtime_checkable
class MonitoredRun(Protocol):
    """A fine-tuning run saved checkpoint by checkpoint, with a planted cause (`poison`: the share
    of its fine-tuning data that teaches one narrow bad behaviour) and the ground truth of the
    broad one that may follow: `b_bad_rate` at every checkpoint on held-out prompts no arm sees,
    and the first checkpoint where it crosses the pre-registered `rule` (`cross_index`)."""

    label: str
    seed: int
    weights_sha256: str
    language: Any
    poison: float                   # 0.0: a clean run (the null)
    calibration: bool               # a clean run kept aside to set alarm thresholds; never evaluated
    checkpoints: list               # the run's models in training order; [0] is the base
    steps: list[int]
    train_loss: list[float]
    b_bad_rate: list[float]         # per checkpoint, on held-out prompts
    cross_index: int | None         # first checkpoint at or above the rule's threshold (None: never)
    cross_step: int | None
    rule: dict
    base: Any                       # the base as an organism view (model, weights_sha256, natural_inputs)

    def practitioner_data(self, rng: np.random.Generator, probe_size: int, labelled: int, canary_size: int,
                          data_sample: int) -> tuple[dict[str, Any], int]:
        """MonitorContext fields a practitioner running the fine-tune has, and how many labelled examples they hold."""


def monitored_run(org: Any) -> MonitoredRun:
    """The monitored-run view of an organism (training-monitor)."""
    return view_of(org, MONITORED, MonitoredRun)


@dataclass
class MonitorContext:
    """What a monitor is given besides the checkpoints (see tasks/training_monitor.py)."""

    language: Any
    steps: np.ndarray                        # the checkpoint schedule
    train_loss: np.ndarray                   # the fine-tune's loss log at each checkpoint
    seed: int
    run_index: int
    rng: np.random.Generator
    probe: torch.Tensor | None = None        # [n, prompt_len] held-out prompts of behaviour B (unlabelled)
    probe_bad: np.ndarray | None = None      # [n] the answer token a judge calls bad for each probe prompt
    labelled: torch.Tensor | None = None     # [m, prompt_len + 1] transcripts of B from the pretraining mix (charged)
    labelled_bad: np.ndarray | None = None   # [m] 1 = a misaligned transcript
    canary: torch.Tensor | None = None       # [c, prompt_len + 1] pretraining-mix transcripts, answers included
    data_windows: list | None = None         # per checkpoint: [w, prompt_len + 1] fine-tuning examples since the last
    dictionary: Any = None                   # site -> the base's released SAE (dictionaries.py)
    notes: dict = field(default_factory=dict)


@runtime_checkable
class TrainingMonitor(Protocol):
    """Scores a fine-tuning run's checkpoints ([0] = the base): higher = the run is turning misaligned."""

    def monitor_checkpoints(self, checkpoints: list[MeteredModel], context: Any) -> np.ndarray: ...


def validate_monitor_scores(arm: Any, got: Any, n: int) -> np.ndarray:
    """TrainingMonitor.monitor_checkpoints: one real score per checkpoint, shape (n,), no NaN."""
    return real_vector(arm, "monitor_checkpoints", got, n, "one score per checkpoint")
