"""Reading residual-stream activations by TransformerLens hook names, batched and metered."""

from __future__ import annotations

import numpy as np
import torch

from ...budget import MeteredModel


def resid_names(model: MeteredModel) -> list[str]:
    return [f"blocks.{l}.hook_resid_post" for l in range(model.config.n_layers)]


def residuals(model: MeteredModel, tokens: torch.Tensor, pos: int | slice, batch: int = 512) -> np.ndarray:
    """Residual stream after each block at one position [n, n_layers, d_model], or at a slice of
    positions [n, n_layers, n_pos, d_model]."""
    names = resid_names(model)
    out = []
    for i in range(0, tokens.shape[0], batch):
        _, cache = model.run_with_cache(tokens[i:i + batch], names)
        out.append(torch.stack([cache[n][:, pos] for n in names], 1))
    return torch.cat(out).numpy().astype(np.float64)
