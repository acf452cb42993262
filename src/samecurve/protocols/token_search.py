"""The moves every search over inserted token sets shares, for backdoor-audit's trigger searches
(arms/baselines/search.py) and red-teaming's (protocols/redteam.py and its arms): one key per
token set, where a set's tokens land in the prompts, GCG's one-hot relaxation and its batch of
gradient-ranked swaps (Zou et al. 2023). Written by hand: no maintained library implements GCG
over a model behind a meter (nanoGCG and llm-attacks drive a Hugging Face chat model end to end)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

Candidate = tuple[int, ...]


def canonical(tokens: Any) -> Candidate:
    """Insertion slots are random, so a token set's order carries no meaning: one key per set."""
    return tuple(sorted(int(t) for t in tokens))


def distinct(c: Candidate) -> bool:
    return len(set(c)) == len(c)


def sentinel_slots(language: Any, prompts: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    """Where `size` inserted tokens land in each prompt, as the language writes them: [n, pos, size]
    one-hot masks (found by inserting sentinel ids -1..-size)."""
    marked = language.insert(prompts, tuple(-1 - j for j in range(size)), rng)
    return torch.stack([(marked == -1 - j) for j in range(size)], -1)


def onehot_inputs(emb: torch.Tensor, prompts: torch.Tensor, tokens: Candidate,
                  slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Input embeddings [n, pos, d] with `tokens` at `slots`, as a differentiable function of their
    one-hot rows [size, vocab] (GCG's relaxation; returned too, requiring grad)."""
    onehot = torch.nn.functional.one_hot(torch.tensor(tokens), emb.shape[0]).to(emb.dtype).requires_grad_(True)
    occupied = slots.to(emb.dtype)
    base = emb[prompts] * (1 - occupied.sum(-1, keepdim=True))
    return base + occupied @ (onehot @ emb), onehot


def top_swaps(grad: torch.Tensor, current: Candidate, content: torch.Tensor, top_k: int, n: int,
              rng: np.random.Generator, keep: Callable[[Candidate], bool] = distinct) -> list[Candidate]:
    """GCG's candidate batch: up to `n` single-slot swaps drawn from each slot's top-k tokens by the
    gradient of the objective to *lower* (grad: [size, vocab]), each new and passing `keep` (by
    default: no token twice; a search may also skip sets it knows to be redundant)."""
    top = []
    for j in range(len(current)):
        score = -grad[j, content]
        score[torch.isin(content, torch.tensor(current))] = -torch.inf
        top.append(content[score.topk(min(top_k, len(content) - len(current))).indices].numpy())
    out: list[Candidate] = []
    for _ in range(4 * n):
        if len(out) >= n:
            break
        j = int(rng.integers(len(current)))
        toks = list(current)
        toks[j] = int(rng.choice(top[j]))
        c = canonical(toks)
        if c not in out and keep(c):
            out.append(c)
    return out
