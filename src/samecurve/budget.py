"""What an arm may spend, what it did spend, and the only door to the model (so spend is real).

Forward and backward passes are counted per sequence (a batch of 32 is 32 passes), because that is
what a black-box API would bill, and it makes batched and unbatched arms comparable.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Literal

import torch
from torch import nn

from .errors import AccessDenied, BudgetExceeded, ConfigError
from .models import hooks as _hooks
from .models.transformer import TinyTransformer

Access = Literal["data-only", "black-box", "gradients", "white-box"]
# data-only: an arm that reads only the data it is handed (e.g. `input-novelty`); the model refuses it.
ACCESS_LEVELS: dict[str, int] = {"data-only": -1, "black-box": 0, "gradients": 1, "white-box": 2}


@dataclass(frozen=True)
class Budget:
    labelled_examples: int = 64
    forward_passes: int = 20_000
    backward_passes: int = 1_000
    wall_seconds: float = 120.0
    tuning_trials: int = 8

    def to_dict(self) -> dict:
        return asdict(self)

    def scaled(self, factor: float, axes: tuple[str, ...] = ()) -> Budget:
        """This budget with `axes` (every field if empty) multiplied by `factor`: one rung of a
        budget ladder (issue 17). Counts are rounded and kept >= 1, so no rung forbids what the
        budget allows at all; the other fields stay as they are."""
        names = [f.name for f in fields(self)]
        bad = [a for a in axes if a not in names]
        if bad or factor <= 0 or not isinstance(factor, (int, float)):
            raise ConfigError(f"budget ladder: factor must be > 0 and axes among {names}; got {factor!r}, {list(axes)}")
        out = {}
        for name in names:
            v = getattr(self, name)
            if not axes or name in axes:
                v = v * factor if isinstance(v, float) else max(1, int(round(v * factor)))
            out[name] = v
        return Budget(**out)

    @classmethod
    def from_dict(cls, d: dict) -> Budget:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown budget field(s) {sorted(unknown)}; valid: {sorted(names)}")
        return cls(**d)


@dataclass
class Spend:
    labelled_examples: int = 0
    forward_passes: int = 0
    backward_passes: int = 0
    wall_seconds: float = 0.0
    tuning_trials: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def add(self, other: Spend) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class Meter:
    """Counts spend against a budget; raises BudgetExceeded the moment a charge would overdraw it."""

    budget: Budget
    spend: Spend = field(default_factory=Spend)
    started: float = field(default_factory=time.perf_counter)

    def remaining(self, kind: str) -> float:
        if kind == "wall_seconds":
            return self.budget.wall_seconds - (time.perf_counter() - self.started)
        return getattr(self.budget, kind) - getattr(self.spend, kind)

    def can_afford(self, kind: str, n: float = 1) -> bool:
        return self.remaining(kind) >= n and self.remaining("wall_seconds") > 0

    def try_charge(self, kind: str, n: int = 1) -> bool:
        """Charge if affordable and say so: for optional spend such as one more tuning trial."""
        if not self.can_afford(kind, n):
            return False
        self.charge(kind, n)
        return True

    def charge(self, kind: str, n: int = 1) -> None:
        if n > self.remaining(kind):
            raise BudgetExceeded(f"{kind}: spending {n} more would exceed the budget of {getattr(self.budget, kind)}", kind)
        if self.remaining("wall_seconds") <= 0:
            raise BudgetExceeded(f"wall_seconds: the budget of {self.budget.wall_seconds}s is spent", "wall_seconds")
        setattr(self.spend, kind, getattr(self.spend, kind) + n)

    def close(self) -> Spend:
        self.spend.wall_seconds = round(time.perf_counter() - self.started, 4)
        return self.spend


def reinitialised(model: nn.Module, seed: int) -> nn.Module:
    """The same architecture with fresh weights drawn under `seed` (the random-network control).

    The interface, in order: a model's own `reinitialised(seed)` if it defines one; a TinyTransformer
    is rebuilt from its config (`type(m)(m.cfg)`, the organisms' own initialisation, as always); any
    other module is deep-copied and every submodule's `reset_parameters()` called, refusing a module
    that owns parameters but has no `reset_parameters` (it would keep its trained weights)."""
    torch.manual_seed(seed)
    if callable(getattr(model, "reinitialised", None)):
        return model.reinitialised(seed)
    if isinstance(model, TinyTransformer):
        return type(model)(model.cfg)
    fresh = copy.deepcopy(model)
    for name, mod in fresh.named_modules():
        if callable(getattr(mod, "reset_parameters", None)):
            mod.reset_parameters()
        elif any(True for _ in mod.parameters(recurse=False)):
            raise ConfigError(f"cannot re-initialise {type(model).__name__}: its module '{name}' "
                              f"({type(mod).__name__}) has parameters but no reset_parameters(); "
                              "give the model a reinitialised(seed) method")
    return fresh


class MeteredModel:
    """An organism's model as an arm sees it: every forward/backward is charged; activations and
    weights need white-box access, gradients need at least `gradients` access.

    What it needs of the model (an `nn.Module`; TinyTransformer has all of it): `forward(tokens)` ->
    logits; `HookPoint` submodules under the hook names (models/hooks.py) for white-box reads; for
    gradient arms `forward(token_embeds=...)` and an `embed` embedding table; its shape as `cfg`
    (or `config`), shown to arms as `config`; and a way to re-initialise (see `reinitialised`)."""

    def __init__(self, model: nn.Module, meter: Meter, access: Access):
        self._model = model.eval()
        self.meter = meter
        self.access = access
        self.config = getattr(model, "cfg", getattr(model, "config", None))

    def _require(self, level: Access) -> None:
        if ACCESS_LEVELS[self.access] < ACCESS_LEVELS[level]:
            raise AccessDenied(f"this arm declared access '{self.access}' but asked for '{level}'")

    @torch.no_grad()
    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Black-box: output logits for a batch of token sequences."""
        self._require("black-box")
        self.meter.charge("forward_passes", tokens.shape[0])
        return self._model(tokens)

    @torch.no_grad()
    def run_with_cache(self, tokens: torch.Tensor, names: list[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        self._require("white-box")
        self.meter.charge("forward_passes", tokens.shape[0])
        return _hooks.run_with_cache(self._model, tokens, names)

    @torch.no_grad()
    def run_with_hooks(self, tokens: torch.Tensor, fwd_hooks: list) -> torch.Tensor:
        self._require("white-box")
        self.meter.charge("forward_passes", tokens.shape[0])
        return _hooks.run_with_hooks(self._model, tokens, fwd_hooks)

    def embedding_matrix(self) -> torch.Tensor:
        """The token embedding table: needed to take gradients over one-hot inputs."""
        self._require("gradients")
        return self._model.embed.weight.detach()

    def logits_from_embeddings(self, token_embeds: torch.Tensor) -> torch.Tensor:
        """Differentiable forward from input embeddings; call `backward_charge` for the backward."""
        self._require("gradients")
        self.meter.charge("forward_passes", token_embeds.shape[0])
        return self._model(token_embeds=token_embeds)

    def backward_charge(self, n: int) -> None:
        self.meter.charge("backward_passes", n)

    def hook_names(self) -> list[str]:
        self._require("white-box")
        return list(_hooks.hook_points(self._model))

    def copy_model(self) -> nn.Module:
        """A private copy of the weights (white-box), e.g. for editing or fine-tuning."""
        self._require("white-box")
        return copy.deepcopy(self._model)

    def randomised(self, seed: int) -> MeteredModel:
        """The same architecture, freshly initialised (`reinitialised`): the 'probe on a random network' control."""
        return MeteredModel(reinitialised(self._model, seed), self.meter, self.access)
