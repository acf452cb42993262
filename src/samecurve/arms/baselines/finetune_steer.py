"""Fine-tuning baseline for `steering`: train the last layers on the labelled target-topic texts.

A private copy of the organism; the last `train_blocks` blocks, the final LayerNorm and the
unembedding are trained (AdamW, full batch, next-token loss) on the labelled texts of the target
topic only, the concept-positive examples AxBench's SFT baseline uses. The strength is the number
of epochs: the sweep generates at checkpoints spread in log space up to what the backward-pass
budget allows (one tuning trial per checkpoint). Every training forward/backward and every
generation step is charged.

lr = 1e-2, chosen on dev seeds 900-905 (topics-tiny, quick budget) by dev/tune_finetune_steer.py:
held-out harmonic mean 0.948 (SE 0.020) against 0.887 / 0.924 / 0.910 at 1e-3 / 3e-3 (the old
default) / 3e-2 (one-standard-error rule; the old default missed the tie band by 0.004).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...budget import MeteredModel
from ...models.training import adamw
from ...protocols.steering import Setting, SteerContext
from ...registry import arm


@arm("finetune-steer", family="baseline", access="white-box")
class FinetuneSteer:
    def __init__(self, lr: float = 1e-2, train_blocks: int = 1, max_epochs: int = 64):
        self.lr, self.train_blocks, self.max_epochs = lr, train_blocks, max_epochs

    def checkpoints(self, model: MeteredModel, ctx: SteerContext, n: int) -> list[int]:
        """Epoch counts to generate at: log-spaced, within the trials and passes the budget leaves."""
        trials = int(model.meter.remaining("tuning_trials"))
        if n == 0 or trials < 1:
            return []
        fwd_left = model.meter.remaining("forward_passes") - trials * ctx.generation_cost
        e_max = int(min(self.max_epochs, model.meter.remaining("backward_passes") // n, max(fwd_left, 0) // n))
        if e_max < 1:
            return []
        return sorted({int(e) for e in np.geomspace(1, e_max, trials).round()})

    def steer(self, model: MeteredModel, ctx: SteerContext, target: int) -> list[Setting]:
        x = ctx.labelled[torch.from_numpy(np.asarray(ctx.labels) == target)]
        stops = self.checkpoints(model, ctx, len(x))
        if not stops:
            return []
        net = model.copy_model()
        trainable = [*net.blocks[-self.train_blocks:], net.ln_final, net.unembed]
        for p in net.parameters():
            p.requires_grad_(False)
        params = [p for m in trainable for p in m.parameters()]
        for p in params:
            p.requires_grad_(True)
        opt = adamw(params, lr=self.lr)

        def logits(toks: torch.Tensor) -> torch.Tensor:
            model.meter.charge("forward_passes", toks.shape[0])
            return net(toks)

        settings, epoch = [], 0
        for stop in stops:
            net.train()
            while epoch < stop:
                model.meter.charge("forward_passes", len(x))
                model.backward_charge(len(x))
                loss = F.cross_entropy(net(x[:, :-1]).flatten(0, 1), x[:, 1:].flatten())
                opt.zero_grad()
                loss.backward()
                opt.step()
                epoch += 1
            net.eval()
            model.meter.charge("tuning_trials")
            with torch.no_grad():
                settings.append(Setting("epochs", float(epoch), ctx.sample(logits)))
        return settings
