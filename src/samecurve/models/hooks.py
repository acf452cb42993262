"""Activation access by TransformerLens hook names on plain PyTorch modules.

TransformerLens 4.x no longer ships HookedTransformer, and its TransformerBridge pulls ~1.8 GB of
dependencies to wrap Hugging Face models; our organisms are tiny, so they are plain modules that
expose identity `HookPoint`s under the names a researcher already knows
(`blocks.{l}.hook_resid_post`, `blocks.{l}.attn.hook_pattern`, ...). Hooks are attached only for
the names asked for, and always removed, so an ordinary forward pays nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

from ..errors import ConfigError

HookFn = Callable[[torch.Tensor, str], torch.Tensor | None]


class HookPoint(nn.Module):
    """Identity module that marks a named activation (as in TransformerLens)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def watched(module: nn.Module) -> bool:
    """Does any forward hook watch the module or one of its submodules (a hook point of ours, a
    user's hook on any submodule, or a global module hook)? Models take their shortcuts (a fused
    attention kernel, the last block at the positions a loss reads) only when none does."""
    from torch.nn.modules import module as _module

    return bool(_module._global_forward_hooks or _module._global_forward_pre_hooks) or any(
        m._forward_hooks or m._forward_pre_hooks for m in module.modules())


def hook_points(model: nn.Module) -> dict[str, HookPoint]:
    return {name: mod for name, mod in model.named_modules() if isinstance(mod, HookPoint)}


def _resolve(model: nn.Module, names: Iterable[str]) -> dict[str, HookPoint]:
    points = hook_points(model)
    missing = [n for n in names if n not in points]
    if missing:
        raise ConfigError(f"unknown hook name(s) {missing}; valid: {sorted(points)[:8]}...")
    return {n: points[n] for n in names}


@contextlib.contextmanager
def hooks(model: nn.Module, fwd_hooks: list[tuple[str, HookFn]]) -> Iterator[None]:
    """Attach `fn(activation, name)` at each named point; a non-None return replaces the activation."""
    points = _resolve(model, [n for n, _ in fwd_hooks])
    handles = []
    try:
        for name, fn in fwd_hooks:
            def _hook(_mod, _inp, out, fn=fn, name=name):
                return fn(out, name)
            handles.append(points[name].register_forward_hook(_hook))
        yield
    finally:
        for h in handles:
            h.remove()


def run_with_cache(
    model: nn.Module, tokens: torch.Tensor, names: Iterable[str], **forward_kwargs
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Forward once and return (logits, {hook name: activation}) for just the names asked."""
    names = list(names)
    cache: dict[str, torch.Tensor] = {}

    def store(act: torch.Tensor, name: str) -> None:
        cache[name] = act.detach()

    with hooks(model, [(n, store) for n in names]):
        logits = model(tokens, **forward_kwargs)
    return logits, cache


def run_with_hooks(
    model: nn.Module, tokens: torch.Tensor, fwd_hooks: list[tuple[str, HookFn]], **forward_kwargs
) -> torch.Tensor:
    with hooks(model, fwd_hooks):
        return model(tokens, **forward_kwargs)
