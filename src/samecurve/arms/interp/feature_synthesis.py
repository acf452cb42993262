"""Trigger synthesis from gradients (attribution-sanity's `trigger-rediscovery` rows; Casper et al.
2023 test feature-synthesis tools on exactly this job and find they "often fail"): given the trojaned
model, clean images and the target class, return a pattern and a mask that make the model answer
the target. Each has a random-init control (the same method on a freshly initialised network: a
trigger found there came from the method, not from the trojan) and `random-trigger`.

  neural-cleanse          (Wang et al. 2019) a mask and a pattern optimised together so that pasting
                          them on clean images gives the target, with an L1 penalty on the mask;
                          steps of `batch` images as the session's backward passes allow, then the
                          mask's `max_area` largest pixels kept (logits start at -2: a small mask
                          to grow, which the cap truncates less than a diffuse one)
  target-visualisation    feature visualisation of the target logit (Olah et al. 2017; Casper et al.'s
                          "feature synthesis"): an image optimised from the clean images' mean to
                          raise the target logit over the others, L2-regularised; the trigger is that
                          image on its `max_area` most changed pixels (a binary mask)

Both bound the pattern by `value_bound` through a tanh. Defaults tuned on dev spec seeds 900-902,
two arm seeds each, at quick's budget (dev/tune_attribution.py; never on suite organisms), by attack
success (what both methods optimise; similarity with the checkerboard stayed 0.25-0.38 at every
setting): neural-cleanse batch 16, lr 0.3, mask logits from -2 (ASR 1.00, similarity 0.28; lr 0.1:
0.86; lr 0.1 from 0: 0.97, 0.31; batch 8 from 0: 0.92; batch 4: 0.86; l1 0.01/0.2/0.5 from 0:
0.98/0.98/0.94; lr 0.05: 0.65; penalising only area above the cap: 0.68-0.80), target-visualisation lr 0.1, l2 0.01 (ASR 1.00,
similarity 0.28; l2 0 or 0.05 the same; lr 0.05: 0.67). Their random-init controls: ASR 0.33 and 0.01;
random-trigger: 0.54 (these trojans answer many high-contrast patches, not only the checkerboard).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...models.cnn import MeteredClassifier
from ...protocols.attribution import SynthesisContext, limit_area, paste
from ...registry import arm
from ..controls import on_random_init

@arm("neural-cleanse", family="interp", access="gradients", control=("random-trigger", "neural-cleanse-random-init"))
class NeuralCleanse:
    """Optimise a mask and pattern that flip clean images to the target, the mask L1-penalised."""

    def __init__(self, batch: int = 16, lr: float = 0.3, l1: float = 0.05, max_steps: int = 300, mask_init: float = -2.0):
        self.batch, self.lr, self.l1, self.max_steps, self.mask_init = batch, lr, l1, max_steps, mask_init

    def synthesize_trigger(self, model: MeteredClassifier, ctx: SynthesisContext) -> tuple[np.ndarray, np.ndarray]:
        h, w = ctx.clean_images.shape[-2:]
        gen = torch.Generator().manual_seed(int(ctx.seed))
        mask_logit = torch.full((h, w), float(self.mask_init), requires_grad=True)
        pattern_z = (0.1 * torch.randn(h, w, generator=gen)).requires_grad_(True)
        opt = torch.optim.Adam([mask_logit, pattern_z], lr=self.lr)
        net = model.differentiable()
        target = torch.full((self.batch,), int(ctx.target))
        steps = min(self.max_steps, model.meter.remaining("backward_passes") // self.batch)
        for _ in range(int(steps)):
            idx = torch.randint(0, ctx.clean_images.shape[0], (self.batch,), generator=gen)
            mask, pattern = torch.sigmoid(mask_logit), ctx.value_bound * torch.tanh(pattern_z)
            loss = F.cross_entropy(net(paste(ctx.clean_images[idx], pattern, mask)), target) + self.l1 * mask.sum() / ctx.max_area
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            return ((ctx.value_bound * torch.tanh(pattern_z)).numpy(),
                    limit_area(torch.sigmoid(mask_logit).numpy(), ctx.max_area))


@arm("target-visualisation", family="interp", access="gradients",
     control=("random-trigger", "target-visualisation-random-init"))
class TargetVisualisation:
    """Feature visualisation of the target logit; its most changed pixels are the trigger."""

    def __init__(self, lr: float = 0.1, l2: float = 0.01, max_steps: int = 200):
        self.lr, self.l2, self.max_steps = lr, l2, max_steps

    def synthesize_trigger(self, model: MeteredClassifier, ctx: SynthesisContext) -> tuple[np.ndarray, np.ndarray]:
        start = ctx.clean_images.mean(0, keepdim=True).clamp(-ctx.value_bound * 0.99, ctx.value_bound * 0.99)
        z = torch.atanh(start / ctx.value_bound).clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=self.lr)
        net = model.differentiable()
        for _ in range(int(min(self.max_steps, model.meter.remaining("backward_passes")))):
            x = ctx.value_bound * torch.tanh(z)
            logits = net(x)[0]
            others = torch.arange(logits.shape[0]) != int(ctx.target)
            loss = -(logits[int(ctx.target)] - torch.logsumexp(logits[others], 0)) + self.l2 * ((x - start) ** 2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            x = (ctx.value_bound * torch.tanh(z))[0, 0]
            change = (x - start[0, 0]).abs().numpy()
        return x.numpy(), limit_area((change >= np.sort(change.ravel())[-ctx.max_area]).astype(float), ctx.max_area)


NeuralCleanseOnRandomInit = on_random_init(NeuralCleanse, "neural-cleanse-random-init")
TargetVisualisationOnRandomInit = on_random_init(TargetVisualisation, "target-visualisation-random-init")
