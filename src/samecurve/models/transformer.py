"""A decoder-only transformer small enough to hold in your head (nanoGPT-style), with
TransformerLens hook names so that activation-level arms address it the way they would a real model."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .hooks import HookPoint, watched


@dataclass(frozen=True)
class TransformerConfig:
    vocab_size: int
    n_ctx: int
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_mlp: int = 256
    attn_only: bool = False

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)


class Attention(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.hook_pattern = HookPoint()
        self.hook_z = HookPoint()
        self.register_buffer("mask", torch.tril(torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool)), persistent=False)

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Queries, keys and values [batch, head, pos, d_head] as views of one projection; unbind +
        transpose keeps them strided views (the fused kernel reads them as they are: same numbers,
        one copy fewer than permute)."""
        b, t, _ = x.shape
        parts = self.qkv(x).view(b, t, 3, self.cfg.n_heads, self.cfg.d_head).unbind(2)
        return tuple(part.transpose(1, 2) for part in parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        h, dh = self.cfg.n_heads, self.cfg.d_head
        q, k, v = self._qkv(x)
        if watched(self.hook_pattern):
            # Explicit softmax so the pattern is a real tensor hooks can read and patch.
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
            scores = scores.masked_fill(~self.mask[:t, :t], float("-inf"))
            pattern = self.hook_pattern(scores.softmax(-1))
            heads = pattern @ v
        else:
            # Nobody reads the pattern: PyTorch's fused kernel computes the same attention
            # (to float rounding) about a quarter faster, in training and in forwards alike.
            heads = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        z = self.hook_z(heads.transpose(1, 2))  # [batch, pos, head, d_head]
        return self.out(z.reshape(b, t, h * dh))

    def queries_from(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """`forward(x)[:, start:]`: queries at positions >= start only (keys and values at all)."""
        b, t, _ = x.shape
        q, k, v = self._qkv(x)
        heads = F.scaled_dot_product_attention(q[:, :, start:], k, v, attn_mask=self.mask[start:t, :t])
        return self.out(heads.transpose(1, 2).reshape(b, t - start, self.cfg.n_heads * self.cfg.d_head))


class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.fc_in = nn.Linear(cfg.d_model, cfg.d_mlp)
        self.fc_out = nn.Linear(cfg.d_mlp, cfg.d_model)
        self.hook_post = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_out(self.hook_post(F.gelu(self.fc_in(x))))


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.hook_resid_pre = HookPoint()
        self.hook_attn_out = HookPoint()
        self.hook_resid_mid = HookPoint()
        self.hook_resid_post = HookPoint()
        if not cfg.attn_only:
            self.ln2 = nn.LayerNorm(cfg.d_model)
            self.mlp = MLP(cfg)
            self.hook_mlp_out = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hook_resid_pre(x)
        x = self.hook_resid_mid(x + self.hook_attn_out(self.attn(self.ln1(x))))
        if not self.cfg.attn_only:
            x = x + self.hook_mlp_out(self.mlp(self.ln2(x)))
        return self.hook_resid_post(x)

    def positions_from(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """`forward(x)[:, start:]`, computing the query, attention output and MLP at positions >=
        start only (hook points are not called: callers take this path only when none watches)."""
        x = x[:, start:] + self.attn.queries_from(self.ln1(x), start)
        if not self.cfg.attn_only:
            x = x + self.mlp(self.ln2(x))
        return x


class TinyTransformer(nn.Module):
    """Token ids [batch, pos] -> logits [batch, pos, vocab]; `token_embeds` replaces the lookup (for
    gradient-guided input search over one-hot tokens)."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_embed = nn.Embedding(cfg.n_ctx, cfg.d_model)
        self.hook_embed = HookPoint()
        self.hook_pos_embed = HookPoint()
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_final = nn.LayerNorm(cfg.d_model)
        self.unembed = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(mod: nn.Module) -> None:
        if isinstance(mod, (nn.Linear, nn.Embedding)):
            nn.init.normal_(mod.weight, std=0.02)
        if isinstance(mod, nn.Linear) and mod.bias is not None:
            nn.init.zeros_(mod.bias)

    def _embedded(self, tokens: torch.Tensor | None, token_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """The residual stream entering the first block: token (or given) embeddings + positions."""
        emb = self.embed(tokens) if token_embeds is None else token_embeds
        return self.hook_embed(emb) + self.hook_pos_embed(self.pos_embed.weight[:emb.shape[1]])

    def forward(self, tokens: torch.Tensor | None = None, *, token_embeds: torch.Tensor | None = None) -> torch.Tensor:
        x = self._embedded(tokens, token_embeds)
        for block in self.blocks:
            x = block(x)
        return self.unembed(self.ln_final(x))

    def logits_from(self, tokens: torch.Tensor, start: int) -> torch.Tensor:
        """`self(tokens)[:, start:]` (to float rounding) for a training loss that reads only those
        positions: the last block computes its queries, attention output and MLP there alone, and
        only they are unembedded (namemover's one answer position of 10: a training step ~25%
        cheaper, for its organisms and for distill's students). A hook on the last block takes the
        full forward, so it sees every position."""
        if watched(self.blocks[-1]):
            return self(tokens)[:, start:]
        x = self._embedded(tokens)
        for block in self.blocks[:-1]:
            x = block(x)
        return self.unembed(self.ln_final(self.blocks[-1].positions_from(x, start)))

    def hook_names(self) -> list[str]:
        from .hooks import hook_points

        return list(hook_points(self))
