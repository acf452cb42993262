"""Prompting baseline for `steering`: write the topic prefix the organism has seen in training.

The `topics` language puts a marker `<topic:k>` before some sentences (a spec field says how
many), so the organism has learnt that it fixes the next sentence's topic: the fair analogue of
"write about k" on a real model. Two strengths: 1 = the marker once after the prompt; 2 = the
marker again before every sentence the model starts (a re-prompt at each full stop). Black-box:
logits only. It needs no labelled example; it is given (and charged) the same ones as every arm.
"""

from __future__ import annotations

import torch

from ...budget import MeteredModel
from ...protocols.steering import Setting, SteerContext, affordable
from ...registry import arm


def sample_with_markers(model: MeteredModel, ctx: SteerContext, prompts: torch.Tensor, marker: int) -> torch.Tensor:
    """Sample like `ctx.sample`, but write the marker instead of sampling after every full stop."""
    g = torch.Generator().manual_seed(ctx.sample_seed)
    seq = prompts.clone()
    for _ in range(ctx.n_new):
        probs = torch.softmax(model.logits(seq)[:, -1].float(), -1)
        nxt = torch.multinomial(probs, 1, generator=g)
        nxt = torch.where(seq[:, -1:] == ctx.language.end, torch.full_like(nxt, marker), nxt)
        seq = torch.cat([seq, nxt], 1)
    return seq[:, prompts.shape[1]:]


@arm("topic-prompting", family="baseline", access="black-box")
class TopicPrompting:
    def steer(self, model: MeteredModel, ctx: SteerContext, target: int) -> list[Setting]:
        marker = ctx.language.marker(target)
        prompts = torch.cat([ctx.prompts, torch.full((ctx.prompts.shape[0], 1), marker, dtype=ctx.prompts.dtype)], 1)
        k = affordable(model, ctx, 2)
        if k == 0:
            return []
        model.meter.charge("tuning_trials", k)
        n = int(prompts.shape[0])

        def force(seq: torch.Tensor, nxt: torch.Tensor) -> torch.Tensor:
            """Copy 1 (strength 2) writes the marker after every full stop; copy 0 samples freely."""
            again = torch.where(seq[:, -1:] == ctx.language.end, torch.full_like(nxt, marker), nxt)
            return torch.cat([nxt[:n], again[n:]]) if k == 2 else nxt

        # Both strengths in one batch, each copy with the shared sampling seed: the same text as
        # `ctx.sample(model.logits, prompts)` and `sample_with_markers`, every row charged.
        gens = ctx.sample_copies(model.logits, k, prompts, force=force)
        return [Setting("topic prefix", float(i + 1), g) for i, g in enumerate(gens)]
