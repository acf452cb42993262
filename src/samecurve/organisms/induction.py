"""Induction runs of the `emergence` family (organisms/emergence.py): a 2-layer attention-only
transformer on sequences `BOS pre seg seg tail`: a random segment repeated once after a random-length
prefix (so no fixed-offset positional copy solves it), then random tokens. Predicting the second
copy needs an induction circuit (Olsson et al. 2022); the jump is the phase change in held-out
repeated-token accuracy.

This module holds what is particular to the kind (data layout, model, loss, held-out curve); the
spec, the checkpointed training loop, the ground-truth rule and the organism sets are the family's
(emergence.py). Functions take the family's `EmergenceSpec` (fields `seed`, `repeat_share`,
`shape` and `training`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import OrganismFailedError
from ..models.transformer import TinyTransformer, TransformerConfig
from ..models.training import adamw

BOS = 0
IND_VOCAB = 20            # BOS + 19 content tokens
IND_CTX = 24
SEG_LEN = 8                # repeated segment length
MAX_OFFSET = 4             # the segment starts after 0..4 random tokens (so copying is relative, not absolute)
HELDOUT_SEQS = 256
NOTES = "BOS pre seg seg tail; pre 0..4 random tokens, seg 8 tokens from 1..19"


def make_model(spec: Any) -> TinyTransformer:
    s = spec.shape  # attention only: no MLP, so d_mlp is not read
    return TinyTransformer(TransformerConfig(vocab_size=IND_VOCAB, n_ctx=IND_CTX, d_model=s.d_model,
                                             n_layers=s.n_layers, n_heads=s.n_heads, attn_only=True))


@dataclass(frozen=True)
class RepeatBatch:
    tokens: np.ndarray   # [n, IND_CTX]
    mask: np.ndarray     # [n, IND_CTX - 1] bool: position p predicts token p+1 inside the second copy (tokens 2..l)


def repeat_batch(rng: np.random.Generator, n: int, repeat_share: float = 1.0) -> RepeatBatch:
    """`BOS pre seg seg tail`: a random segment of SEG_LEN tokens after a random-length prefix,
    repeated once; rows without a repeat are all random."""
    toks = rng.integers(1, IND_VOCAB, (n, IND_CTX))
    toks[:, 0] = BOS
    mask = np.zeros((n, IND_CTX - 1), bool)
    starts = 1 + rng.integers(0, MAX_OFFSET + 1, n)
    rep = rng.random(n) < repeat_share
    for i in np.flatnonzero(rep):
        s, ln = starts[i], SEG_LEN
        toks[i, s + ln: s + 2 * ln] = toks[i, s: s + ln]
        # position p predicts token p+1: tokens 2..ln of the second copy
        mask[i, s + ln: s + 2 * ln - 1] = True
    return RepeatBatch(toks, mask)


def repeat_accuracy(model: nn.Module, batch: RepeatBatch) -> float:
    with torch.no_grad():
        pred = model(torch.from_numpy(batch.tokens))[:, :-1].argmax(-1).numpy()
    return float((pred == batch.tokens[:, 1:])[batch.mask].mean())


def training(spec: Any, model: nn.Module) -> tuple[torch.optim.Optimizer, Callable[[int], torch.Tensor]]:
    """The optimiser and the loss at each step: a fresh batch of sequences per step (next-token loss)."""
    rng, recipe = np.random.default_rng([spec.seed, 1]), spec.training

    def loss_at(step: int) -> torch.Tensor:
        x = torch.from_numpy(repeat_batch(rng, recipe.batch_size, spec.repeat_share).tokens)
        logits = model(x)
        return F.cross_entropy(logits[:, :-1].reshape(-1, IND_VOCAB), x[:, 1:].reshape(-1))

    return adamw(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay), loss_at


def heldout_curve(spec: Any, ckpts: list[nn.Module]) -> list[float]:
    """Held-out repeated-token accuracy at every checkpoint, on sequences no arm is given."""
    batch = repeat_batch(np.random.default_rng([spec.seed, 777]), HELDOUT_SEQS)
    return [round(repeat_accuracy(m, batch), 4) for m in ckpts]


def extra_metrics(spec: Any, final: nn.Module) -> dict:
    return {}


# ---- what tasks ask of an induction run (protocols/organisms.py, through emergence.py's views) ---

def practitioner_data(spec: Any, rng: np.random.Generator, probe_size: int, train_sample: int,
                      labelled: int) -> tuple[dict[str, Any], int]:
    """forecast-emergence: a probe batch of fresh sequences with a repeated segment (never the
    held-out set); its next tokens label themselves, so no labelled example is charged."""
    b = repeat_batch(rng, probe_size)
    return {"probe": torch.from_numpy(b.tokens), "probe_mask": b.mask}, 0


def behaviour_sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """explanation-faithfulness: sequences, the positions predicting tokens 2..l of the second copy
    of the segment, and the tokens they must predict."""
    b = repeat_batch(rng, n)
    scored, targets = np.zeros(b.tokens.shape, bool), np.zeros_like(b.tokens)
    scored[:, :-1], targets[:, :-1] = b.mask, b.tokens[:, 1:]
    return b.tokens, scored, targets


ACCURACY_NEEDED = 0.9   # final held-out repeated-token accuracy an organism (not a yardstick) needs to be explained


class InductionAlgorithm:
    """A built induction run (its final checkpoint) as a KnownAlgorithmOrganism: the induction
    circuit, or, for a `yardstick-*` recipe, a from-scratch ladder rung on the same data."""

    algorithm, algorithm_name = "induction", "second copy of a repeated segment"

    def __init__(self, org: Any):
        self.organism, self.language = org, org.language
        self.label, self.seed, self.weights_sha256 = org.label, org.spec.seed, org.weights_sha256
        self.network = org.model.final if hasattr(org.model, "final") else org.model
        self.yardstick = str(org.spec.recipe).startswith("yardstick")

    def sample_behaviour(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return behaviour_sample(rng, n)

    def check_learned(self) -> None:
        acc = self.organism.metrics["heldout_accuracy"][-1]
        if not self.yardstick and acc < ACCURACY_NEEDED:
            raise OrganismFailedError(f"induction organism {self.label} did not learn induction (held-out accuracy "
                                      f"{acc:.3f}, need >= {ACCURACY_NEEDED})")
