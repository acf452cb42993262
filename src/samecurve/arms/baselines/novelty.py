"""A data-only baseline: the canary that says whether the audit's data gives the trigger away.

  input-novelty  never runs the model. From the labelled clean inputs alone it counts how often each
                 content token fills a filler slot, smooths those counts (additive, `alpha` per
                 token) and calls a token's surprisal -log p(token | clean filler) its novelty.
                 An input scores the max (or sum) of its filler tokens' novelty; the proposed
                 trigger is the most novel token. If clean inputs are made by rejecting prompts
                 that fire the trigger, the trigger tokens are exactly the ones the clean set never
                 shows, and this arm finds them without a single forward pass (issue 12). On a
                 natural auditing distribution it should sit near chance.

It knows only what `AuditContext` gives every arm (the input format and the clean set); it holds
no model-level detector, since twins trained on the same inputs have the same data.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from ...registry import arm


@arm("input-novelty", family="baseline", access="data-only", control="random-scores")
class InputNovelty:
    """Flag inputs whose filler tokens are rare or unseen in the labelled clean set (never runs the model)."""

    def __init__(self, alpha: float = 0.5, reduce: Literal["max", "sum"] = "max", n_proposals: int = 8):
        # alpha=0.5 (Jeffreys' pseudo-count) and reduce="max" (one unseen token is the leak the
        # issue describes) were fixed a priori, not tuned on any suite seed.
        if reduce not in ("max", "sum"):
            raise ValueError(f"reduce must be 'max' or 'sum', not {reduce!r}")
        self.alpha, self.reduce, self.n_proposals = alpha, reduce, n_proposals

    def fit(self, context: Any) -> InputNovelty:
        """Count the clean set's filler tokens; novelty_[t] = -log smoothed frequency of token t."""
        lang = context.language
        filler = list(lang.filler_positions)
        content = np.asarray(sorted(lang.content_tokens), dtype=np.int64)
        seen = np.asarray(context.clean_inputs)[:, filler].ravel().astype(np.int64)
        counts = np.bincount(seen, minlength=int(lang.vocab_size))[: int(lang.vocab_size)].astype(float)
        total = float(counts[content].sum())
        p = (counts + self.alpha) / (total + self.alpha * len(content))
        self.content_, self.counts_ = content, counts
        self.novelty_ = -np.log(p)
        return self

    def score_inputs(self, model: Any, context: Any, inputs: torch.Tensor) -> np.ndarray:
        """Max (or sum) over an input's filler slots of its tokens' novelty; `model` is never touched."""
        self.fit(context)
        toks = np.asarray(inputs)[:, list(context.language.filler_positions)].astype(np.int64)
        toks = np.clip(toks, 0, len(self.novelty_) - 1)
        nov = self.novelty_[toks]
        return (nov.max(1) if self.reduce == "max" else nov.sum(1)).astype(float)

    def propose_triggers(self, model: Any, context: Any) -> list[tuple[int, ...]]:
        """Content tokens, most novel first (ties in a seeded random order); `model` is never touched."""
        self.fit(context)
        nov = self.novelty_[self.content_]
        tiebreak = context.rng.permutation(len(self.content_))
        order = np.lexsort((tiebreak, -nov))  # last key is primary: novelty, descending
        return [(int(self.content_[i]),) for i in order[: self.n_proposals]]


__all__ = ["InputNovelty"]
