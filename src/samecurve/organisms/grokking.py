"""Grokking runs of the `emergence` family (organisms/emergence.py): modular addition
`(a, b) -> (a + b) mod P` on a fixed train split, full batch, AdamW with weight decay (Power et al.
2022; Nanda et al. 2023).

The model is a small MLP on the *concatenated* embeddings of a and b (a 1-layer transformer did
not grok within a CPU budget of seconds). Concatenated, not summed (issue 14): a sum is symmetric
in a and b, so every test pair whose mirror (b, a) was trained on is right from memorisation and
test accuracy started near the train fraction, leaving no plateau to forecast from. With the
halves apart, test accuracy sits at chance until the generalising circuit forms, as in the paper.

Recipe (emergence.py), chosen on dev seeds 900-902 by the held-out curve alone (no arm's score;
dev/tune_grokking.py): P = 37 (18 non-zero frequencies; P = 23 left 11, where a random embedding's
top three already held a third of the power), half of the pairs for training, AdamW lr 1e-2 with
weight decay 1 (lr x wd 1e-2 per step, 10x the paper's: at 3e-3 the runs did not jump within
3,000 steps in 2 of 3 seeds at P = 37 or 53, beyond the quick suite's time), 1,500 steps, a
checkpoint every 50.
Test accuracy on the 31 checkpoints:

    recipe            jump checkpoint (seed 900, 901, 902)   checkpoints below 0.2 before it
    lr1e-2            21, 18, 16                              67-72%
    lr1e-2-frac0.6    12, 10, 10                              67-70%
    lr2e-2            13,  9, 10                              60-78%
    lr5e-3 (near miss) none, 27, none (climbs to 0.68-0.85 by the end)
    wd0.1, frac0.3    none (test accuracy 0.00-0.02 throughout; train accuracy 1.00)
  (the old summed-embedding recipe, P = 23, lr 3e-2, 800 steps, in an ad-hoc copy: test accuracy
  0.44-0.49 at the first checkpoint after initialisation, 12-14% of checkpoints below 0.2.)
~2 CPU-s per run (the old recipe: 0.6 s).

This module holds what is particular to the kind (model, data split, loss, held-out curve); the
spec, the checkpointed training loop, the ground-truth rule and the organism sets are the family's
(emergence.py). Functions take the family's `EmergenceSpec` (fields `seed`, `modulus`,
`train_frac`, `shape.d_model`, `shape.d_mlp` as the hidden width, `training.lr`, `training.weight_decay`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.hooks import HookPoint
from ..models.training import adamw

VAL_POOL = 32             # test pairs set aside as the practitioner's labelled validation set


@dataclass(frozen=True)
class ModAddConfig:
    modulus: int
    d_model: int = 32
    d_hidden: int = 128

    @property
    def vocab_size(self) -> int:
        return self.modulus


class ModAddMLP(nn.Module):
    """(a, b) -> logits over (a + b) mod P: ReLU MLP on [embed[a]; embed[b]] (hook names as in TL)."""

    def __init__(self, cfg: ModAddConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.modulus, cfg.d_model)
        self.hook_embed = HookPoint()
        self.fc_in = nn.Linear(2 * cfg.d_model, cfg.d_hidden)
        self.hook_hidden = HookPoint()
        self.unembed = nn.Linear(cfg.d_hidden, cfg.modulus)

    def forward(self, tokens: torch.Tensor | None = None, *, token_embeds: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.embed(tokens) if token_embeds is None else token_embeds   # [n, 2, d]
        h = self.hook_hidden(F.relu(self.fc_in(self.hook_embed(emb.reshape(emb.shape[0], -1)))))
        return self.unembed(h)


def make_model(spec: Any) -> ModAddMLP:
    return ModAddMLP(ModAddConfig(spec.modulus, spec.shape.d_model, spec.shape.d_mlp))


@dataclass(frozen=True)
class ModAddSplit:
    inputs: np.ndarray    # [P*P, 2] every (a, b)
    targets: np.ndarray   # [P*P]
    train: np.ndarray     # indices
    val: np.ndarray       # the practitioner's labelled validation pool (VAL_POOL test pairs)
    heldout: np.ndarray   # ground-truth evaluation: every other test pair (no arm sees it)


def modadd_split(spec: Any) -> ModAddSplit:
    p = spec.modulus
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    x = np.stack([a.ravel(), b.ravel()], 1)
    y = (x[:, 0] + x[:, 1]) % p
    perm = np.random.default_rng([spec.seed, 23]).permutation(p * p)
    n_train = round(spec.train_frac * p * p)
    return ModAddSplit(x, y, np.sort(perm[:n_train]), perm[n_train:n_train + VAL_POOL], np.sort(perm[n_train + VAL_POOL:]))


def modadd_accuracy(model: nn.Module, split: ModAddSplit, idx: np.ndarray) -> float:
    with torch.no_grad():
        pred = model(torch.from_numpy(split.inputs[idx])).argmax(-1).numpy()
    return float((pred == split.targets[idx]).mean())


def training(spec: Any, model: nn.Module) -> tuple[torch.optim.Optimizer, Callable[[int], torch.Tensor]]:
    """The optimiser and the loss at each step: full batch on the train split."""
    split = modadd_split(spec)
    x, y = torch.from_numpy(split.inputs[split.train]), torch.from_numpy(split.targets[split.train])
    opt = adamw(model.parameters(), lr=spec.training.lr, weight_decay=spec.training.weight_decay, betas=(0.9, 0.98))
    return opt, lambda step: F.cross_entropy(model(x), y)


def heldout_curve(spec: Any, ckpts: list[nn.Module]) -> list[float]:
    """Held-out test accuracy at every checkpoint (pairs outside the train split and the validation pool)."""
    split = modadd_split(spec)
    return [round(modadd_accuracy(m, split, split.heldout), 4) for m in ckpts]


def extra_metrics(spec: Any, final: nn.Module) -> dict:
    """What `check` needs: a run that did not fit its train split says nothing by not grokking."""
    split = modadd_split(spec)
    return {"final_train_accuracy": modadd_accuracy(final, split, split.train)}


def practitioner_data(spec: Any, rng: np.random.Generator, probe_size: int, train_sample: int,
                      labelled: int) -> tuple[dict[str, Any], int]:
    """forecast-emergence: a sample of the train split (the practitioner's own training data) and at
    most `labelled` labelled validation pairs from the validation pool (charged; disjoint from the
    ground-truth held-out pairs)."""
    split = modadd_split(spec)
    tr = rng.choice(split.train, min(train_sample, len(split.train)), replace=False)
    val = split.val[: min(labelled, len(split.val))]
    return {"train_inputs": torch.from_numpy(split.inputs[tr]), "train_targets": torch.from_numpy(split.targets[tr]),
            "val_inputs": torch.from_numpy(split.inputs[val]), "val_targets": torch.from_numpy(split.targets[val])}, len(val)
