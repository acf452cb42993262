"""Steering: the protocol of `steering`, the context a steering arm is given, helpers arms share
(`can_generate`, `steered_logits`), and the check on the settings an arm returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from ..budget import MeteredModel
from .base import fail


@dataclass(frozen=True)
class Setting:
    """Generations at one point of an arm's sweep. `curve` names the line the point sits on (e.g.
    a hook name); `strength` is its x coordinate, in the arm's own units."""

    curve: str
    strength: float
    generations: torch.Tensor  # [n_prompts, n_new] new tokens only


@runtime_checkable
class SweepSteerer(Protocol):
    """Returns generations pushed towards `target` at each setting of the arm's sweep."""

    def steer(self, model: MeteredModel, context: Any, target: int) -> list[Setting]: ...


@dataclass
class SteerContext:
    """What a steering arm is given besides the model: the format, the prompts (tuning and held-out
    mixed; the arm is not told which), how many tokens to generate, the labelled examples (each a
    single-topic text and its topic), the sampling seed every arm shares, an RNG, and the
    organism's sampler (TopicalOrganism.generate; arms reach it through `sample`/`sample_copies`)."""

    language: Any
    prompts: torch.Tensor       # [n, prompt_len]
    n_new: int
    labelled: torch.Tensor      # [m, n_ctx]
    labels: np.ndarray          # topic of each labelled text
    seed: int
    sample_seed: int            # the sampling noise every arm shares (common random numbers)
    rng: np.random.Generator
    sampler: Callable[..., torch.Tensor]   # TopicalOrganism.generate of the organism steered
    dictionary: Callable[[str], Any] | None = None   # its released SAEs (dictionaries.py), site -> Dictionary
    notes: dict = field(default_factory=dict)        # what the arm reports (into the scores' detail)

    @property
    def generation_cost(self) -> int:
        """Forward passes one setting costs (one per prompt per generated token, no KV cache)."""
        return int(self.prompts.shape[0]) * self.n_new

    def sample(self, logits_fn: Callable[[torch.Tensor], torch.Tensor], prompts: torch.Tensor | None = None) -> torch.Tensor:
        """Generate from the prompts with the shared sampling seed (common random numbers across arms)."""
        return self.sampler(logits_fn, self.prompts if prompts is None else prompts, self.n_new, self.sample_seed)

    def sample_copies(self, logits_fn: Callable[[torch.Tensor], torch.Tensor], copies: int,
                      prompts: torch.Tensor | None = None,
                      force: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> list[torch.Tensor]:
        """`copies` generations in one batch (TopicalOrganism.generate): `logits_fn` sees the prompts
        repeated `copies` times, copy i in rows i*n..(i+1)*n, and every copy draws with the shared
        sampling seed, so copy i equals `sample` with the i-th copy's logits. The meter charges the
        same forward passes as `copies` separate calls (one per row per step). `force(seq, next)`
        may overwrite the sampled next tokens (e.g. write a marker) before they are appended."""
        p = self.prompts if prompts is None else prompts
        if copies < 1:
            return []
        out = self.sampler(logits_fn, p, self.n_new, self.sample_seed, copies=copies, force=force)
        return list(out.split(p.shape[0]))


def can_generate(model: MeteredModel, ctx: SteerContext) -> bool:
    """One more setting is affordable (a tuning trial is left and the forward passes for it)."""
    return model.meter.can_afford("forward_passes", ctx.generation_cost) and model.meter.can_afford("tuning_trials", 1)


def affordable(model: MeteredModel, ctx: SteerContext, k: int) -> int:
    """How many of k more settings the budget allows (each costs a tuning trial and
    `ctx.generation_cost` forward passes): the count `can_generate` would pass one by one."""
    cost = max(ctx.generation_cost, 1)
    return max(0, min(int(k), int(model.meter.remaining("tuning_trials")),
                      int(model.meter.remaining("forward_passes") // cost)))


def steered_logits(model: MeteredModel, hook: str, vector: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Logits with `vector` added to the residual stream at `hook`, every position (ActAdd-style)."""
    v = vector.to(torch.float32)
    return lambda toks: model.run_with_hooks(toks, [(hook, lambda act, _name: act + v)])


def steered_logits_per_copy(model: MeteredModel, vectors: list[tuple[str, torch.Tensor]],
                            n: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Logits for `ctx.sample_copies`: copy i (rows i*n..(i+1)*n) gets vectors[i] = (hook, vector)
    added at its hook, every position, as `steered_logits` does for one setting; the other copies
    get zero there (x + 0 is x). One forward per step for every setting, every row charged."""
    d = int(vectors[0][1].shape[-1])
    per_hook: dict[str, torch.Tensor] = {}
    for i, (hook, vec) in enumerate(vectors):
        rows = per_hook.setdefault(hook, torch.zeros(len(vectors) * n, 1, d))
        rows[i * n:(i + 1) * n, 0] = vec.to(torch.float32)
    hooks = [(hook, lambda act, _name, v=v: act + v) for hook, v in per_hook.items()]
    return lambda toks: model.run_with_hooks(toks, hooks)


def validate_settings(arm: Any, got: Any, n_prompts: int, n_new: int, vocab: int) -> list[Setting]:
    """SweepSteerer.steer: a list of Settings, each with integer generations of shape
    (n_prompts, n_new) (the new tokens only) and token ids in [0, vocab)."""
    due = (f"a list of Setting(curve, strength, generations), generations an integer tensor of shape "
           f"({n_prompts}, {n_new}) (only the new tokens) with ids in [0, {vocab})")
    if isinstance(got, (str, bytes, Setting, torch.Tensor)) or not hasattr(got, "__iter__"):
        raise fail(arm, "steer", got, due)
    settings = list(got)
    for i, s in enumerate(settings):
        g = getattr(s, "generations", None)
        if not isinstance(g, torch.Tensor):
            raise fail(arm, "steer", got, due, f"setting {i} has generations {type(g).__name__}")
        if tuple(g.shape) != (n_prompts, n_new):
            raise fail(arm, "steer", got, due, f"setting {i} has generations of shape {tuple(g.shape)}")
        if g.is_floating_point() or g.is_complex() or g.dtype == torch.bool:
            raise fail(arm, "steer", got, due, f"setting {i} has generations of dtype {g.dtype}")
        if g.numel() and (int(g.min()) < 0 or int(g.max()) >= vocab):
            raise fail(arm, "steer", got, due, f"setting {i} has token ids in [{int(g.min())}, {int(g.max())}]")
    return settings
