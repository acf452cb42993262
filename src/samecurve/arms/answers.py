"""The model's own answer (argmax decoding), charged per sequence: shared by every arm that needs
to know what the model says before asking why."""

from __future__ import annotations

import torch

from ..budget import MeteredModel

_CHUNK = 4096  # sequences per forward call: bounds memory, not spend (spend is per sequence)


@torch.no_grad()
def greedy_answers(model: MeteredModel, prompts: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """The model's own first `n_tokens` answer tokens, [n, n_tokens]."""
    out = []
    for chunk in torch.split(prompts, _CHUNK):
        seq, toks = chunk, []
        for _ in range(n_tokens):
            nxt = model.logits(seq)[:, -1].argmax(-1)
            toks.append(nxt)
            seq = torch.cat([seq, nxt[:, None]], 1)
        out.append(torch.stack(toks, 1))
    return torch.cat(out) if out else torch.empty(0, n_tokens, dtype=torch.long)


def greedy_first_answer(model: MeteredModel, prompts: torch.Tensor) -> torch.Tensor:
    """The model's own first answer token per prompt, [n]."""
    return greedy_answers(model, prompts, 1)[:, 0]
