"""Behaviour removal: the protocol of `behavior-removal`, the context a removal arm is given, and
the check on the sweep it returns."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from ..budget import MeteredModel
from .base import fail


@runtime_checkable
class RemovalEditor(Protocol):
    """Returns edited copies of the model along one strength knob, weakest edit first: a list of
    (strength, module), each module a plain `module(tokens) -> logits` like the organism."""

    def edit_sweep(self, model: MeteredModel, context: Any) -> list[tuple[float, nn.Module]]: ...


@dataclass
class RemovalContext:
    """What a removal arm is given besides the model: the input format, triggered prompts with
    their honest answers and clean prompts with theirs (all charged as labelled examples), a seed
    and an RNG. Answers are the first `language.response_len - 1` answer tokens."""

    language: Any
    triggered: torch.Tensor          # [n_t, prompt_len]
    triggered_answers: torch.Tensor  # [n_t, 2] the honest answers
    clean: torch.Tensor              # [n_c, prompt_len]
    clean_answers: torch.Tensor      # [n_c, 2]
    seed: int
    rng: np.random.Generator
    # How many sweep points the task scores: every arm's sweep is thinned to this many, evenly
    # spaced by index from the weakest to the strongest edit, so no arm's front or operating point
    # gains from having more tries (build exactly this many to choose which ones count).
    sweep_points: int = 6
    dictionary: Callable[[str], Any] | None = None   # its released SAEs (dictionaries.py), site -> Dictionary
    notes: dict = field(default_factory=dict)   # what the arm reports (into the scores' detail)


def thin_sweep(sweep: list, k: int) -> list:
    """At most k points of a sweep, evenly spaced by index, keeping the weakest and the strongest."""
    if len(sweep) <= k:
        return list(sweep)
    if k == 1:
        return [sweep[-1]]
    return [sweep[i] for i in np.round(np.linspace(0, len(sweep) - 1, k)).astype(int)]


def validate_sweep(arm: Any, got: Any) -> list[tuple[float, Any]]:
    """RemovalEditor.edit_sweep: a list of (strength, module) pairs, each strength a finite real
    number and each module callable as `module(tokens) -> logits`."""
    due = "a list of (strength, module) pairs: finite real strengths, modules callable on tokens"
    if isinstance(got, (str, bytes, np.ndarray, torch.Tensor, nn.Module)) or not hasattr(got, "__iter__"):
        raise fail(arm, "edit_sweep", got, due)
    sweep = list(got)
    for i, pair in enumerate(sweep):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise fail(arm, "edit_sweep", got, due, f"item {i} is {type(pair).__name__}, not a (strength, module) pair")
        strength, module = pair
        if isinstance(strength, bool) or not isinstance(strength, numbers.Real) or not math.isfinite(float(strength)):
            raise fail(arm, "edit_sweep", got, due, f"item {i} has strength {strength!r}")
        if not callable(module):
            raise fail(arm, "edit_sweep", got, due, f"item {i} has a {type(module).__name__} for a module")
    return sweep
