"""The shapes of an answer, shared by tasks. An arm implements one or more; a task scores the
ones it knows. Plain numpy arrays / token tensors in and out (scikit-learn style)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from .budget import MeteredModel


@runtime_checkable
class InputDetector(Protocol):
    """Scores inputs: higher = more likely to carry the planted property (e.g. a trigger)."""

    def score_inputs(self, model: MeteredModel, context: Any, inputs: torch.Tensor) -> np.ndarray: ...


@runtime_checkable
class ModelDetector(Protocol):
    """Scores whole models: higher = more likely to carry the planted property."""

    def score_model(self, model: MeteredModel, context: Any) -> float: ...


@runtime_checkable
class Attacker(Protocol):
    """Returns candidate inputs (here: token sets to insert), best first."""

    def propose_triggers(self, model: MeteredModel, context: Any) -> list[tuple[int, ...]]: ...


@runtime_checkable
class Editor(Protocol):
    """Returns an edited copy of the model (behaviour removal)."""

    def edit(self, model: MeteredModel, context: Any) -> torch.nn.Module: ...


@runtime_checkable
class Steerer(Protocol):
    """Returns generations pushed towards a target concept."""

    def steer(self, model: MeteredModel, context: Any, target: Any) -> Any: ...


@runtime_checkable
class Forecaster(Protocol):
    """Scores training checkpoints: higher = a capability jump is closer."""

    def score_checkpoints(self, checkpoints: list[MeteredModel], context: Any) -> np.ndarray: ...


@runtime_checkable
class Explainer(Protocol):
    """Returns a subgraph (a set of edges) of a given size that should explain a behaviour."""

    def explain(self, model: MeteredModel, context: Any, size: int) -> list[Any]: ...


@runtime_checkable
class Attributor(Protocol):
    """Returns attribution maps over input positions."""

    def attribute(self, model: MeteredModel, context: Any, inputs: torch.Tensor) -> np.ndarray: ...
