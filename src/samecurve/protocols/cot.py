"""Chain-of-thought monitoring: the protocol of `cot-monitor`, the organism view it needs, the context
a monitor is given and the check on what it returns.

An episode is a prompt, a scratchpad the organism wrote and the action it took (token ids). A
monitor scores episodes for "the hidden goal fired", higher = more likely. The task hands it the
episodes cut after a number of scratchpad tokens (to measure how early it detects) or whole (with
the action), one cut per call, all rows of one call cut alike; a monitor reads what it is handed and
fits on the context's labelled episodes cut the same way (`cut`). White-box monitors run the model
on what they read (every sequence charged); text and action monitors read tokens only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import torch

from .base import real_vector
from .organisms import view_of

if TYPE_CHECKING:
    from ..budget import MeteredModel

SCRATCHPAD = "scratchpad"   # the view name a family registers its ScratchpadAgent adapter under


@runtime_checkable
class ScratchpadAgent(Protocol):
    """An LM that writes a scratchpad before it acts, with a planted hidden goal that fires on some
    prompts; `metric_prefix` names its variant's rows (e.g. "obfuscated/")."""

    label: str
    seed: int
    weights_sha256: str
    model: Any
    language: Any      # prompt_len, scratch_len, action_pos, episode_len, vocab_size, scratch_tokens,
                       # action_tokens, content_tokens, token_name(t)
    metric_prefix: str

    def prompts(self, rng: np.random.Generator, n: int, triggered: float, hard: float) -> np.ndarray:
        """n prompts: a `triggered` share carrying a whole trigger, a `hard` share part of one."""

    def goal_fired(self, prompts: np.ndarray) -> np.ndarray:
        """Ground truth from the construction: does the hidden goal fire on each prompt? bool [n]."""

    def rollout(self, model: Any, prompts: np.ndarray) -> np.ndarray:
        """The episodes `model` writes (greedy scratchpad and action after each prompt) [n, episode_len]."""


def scratchpad_agent(org: Any) -> ScratchpadAgent:
    """The scratchpad view of an organism (cot-monitor)."""
    return view_of(org, SCRATCHPAD, ScratchpadAgent)


@dataclass
class CotContext:
    """What a monitor is given besides the model: the episode format, labelled whole episodes (the
    labelled examples the budget pays for: `labels` 1 where the goal fired), a seed and an RNG."""

    language: Any
    episodes: torch.Tensor
    labels: np.ndarray
    seed: int
    rng: np.random.Generator


@runtime_checkable
class CotMonitor(Protocol):
    """Scores episodes (all cut to the same length), higher = the hidden goal more likely fired."""

    def score_episodes(self, model: MeteredModel, context: CotContext, episodes: torch.Tensor) -> np.ndarray: ...


def cut(episodes: torch.Tensor, length: int) -> torch.Tensor:
    """Episodes cut to their first `length` tokens (what a monitor reading that far sees)."""
    return episodes[:, :length]


def visible_scratch(language: Any, length: int) -> int:
    """How many scratchpad tokens an episode cut to `length` shows."""
    return max(0, min(length, language.action_pos) - language.prompt_len)


def shows_action(language: Any, length: int) -> bool:
    return length > language.action_pos


def validate_episode_scores(arm: Any, got: Any, n: int) -> np.ndarray:
    """CotMonitor.score_episodes: one real score per episode, shape (n,), no NaN."""
    return real_vector(arm, "score_episodes", got, n, "one score per episode")
