"""Organism specs, building and the on-disk cache.

An organism is a small model with a planted, known property. Its spec is a frozen dataclass; the
cache key is a content hash of that spec, the family's recipe version and the source of the module
that builds it together with every samecurve module that one imports (provenance.py), so editing
the recipe's code rebuilds without anyone bumping a version. Weights live in safetensors beside a JSON file holding the spec, the training metrics
and the sha256 of the weights file; a weights file whose hash no longer matches is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Callable

from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import ConfigError, CorruptCacheError, OrganismFailedError, UnknownNameError
from ..provenance import file_sha256, object_source_hash
from ..registry import _REGISTRY, register

_FAMILIES: dict[str, "Family"] = _REGISTRY["organism family"]  # the one registry's table of families


@dataclass(frozen=True)
class Family:
    name: str
    recipe_version: str
    spec_type: type
    build: Callable[[Any], tuple[nn.Module, dict]]          # spec -> (trained model, metrics)
    make_model: Callable[[Any], nn.Module]                  # spec -> untrained model of the right shape
    language: Callable[[Any], Any]                          # spec -> what an auditor may know of the format
    check: Callable[[Any, dict], None]                      # raises OrganismFailedError if not learned
    # What tasks may ask of a built organism: view name -> Organism -> an object implementing that
    # protocol (protocols/organisms.py; e.g. "trojaned" -> TrojanedOrganism).
    views: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    # Specs this one's build loads (e.g. a shared pretrained base): the runner builds them first and
    # their dependants last, so no worker sits waiting on a base another worker is still training.
    prerequisites: Callable[[Any], list] = lambda spec: []


def register_family(family: Family) -> Family:
    """Add a family (built-in or plug-in) to the registry; a name registered by two different
    modules fails with one line naming both (a module imported again replaces itself)."""
    register("organism family", family.name, family, sys._getframe(1).f_globals.get("__name__", "?"))
    return family


def get_family(name: str) -> Family:
    if name not in _FAMILIES:
        raise UnknownNameError(f"unknown organism family {name!r}; valid: {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[name]


def spec_dict(spec: Any) -> dict:
    """The spec as plain JSON-able values: nested parts (spec_parts.ModelShape, Recipe) become
    nested dicts, so the hash is deterministic and the store's `spec` JSON stays readable."""
    return {"family": spec.family, **{f.name: _plain(getattr(spec, f.name)) for f in fields(spec)}}


def _plain(value: Any) -> Any:
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value


def spec_hash(spec: Any) -> str:
    fam = get_family(spec.family)
    blob = json.dumps({"spec": spec_dict(spec), "recipe": fam.recipe_version,
                       "source": object_source_hash(fam.build)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_root() -> Path:
    return Path(os.environ.get("SAMECURVE_CACHE", Path.home() / ".cache" / "samecurve")) / "organisms"


@dataclass
class Organism:
    spec: Any
    model: nn.Module
    metrics: dict
    weights_sha256: str

    @property
    def hash(self) -> str:
        return spec_hash(self.spec)

    @property
    def language(self) -> Any:
        return get_family(self.spec.family).language(self.spec)

    @property
    def label(self) -> str:
        return self.spec.label() if hasattr(self.spec, "label") else self.hash

    def view(self, name: str) -> Any:
        """This organism through one of its family's views (protocols/organisms.py)."""
        fam = get_family(self.spec.family)
        if name not in fam.views:
            offers = ", ".join(sorted(fam.views)) or "none"
            raise ConfigError(f"organism {self.label} of family {fam.name!r} offers no {name!r} view "
                              f"(its views: {offers}); register one with Family(..., views={{{name!r}: ...}})")
        return fam.views[name](self)


def cache_dir(spec: Any) -> Path:
    return cache_root() / spec.family / spec_hash(spec)


def _load_cached(spec: Any, path: Path) -> Organism:
    meta = json.loads((path / "meta.json").read_text())
    weights = path / "model.safetensors"
    digest = file_sha256(weights)
    if digest != meta["weights_sha256"]:
        raise CorruptCacheError(f"cached organism {path} does not match its recorded hash")
    model = get_family(spec.family).make_model(spec)
    model.load_state_dict(load_file(str(weights)))
    return Organism(spec, model.eval(), meta["metrics"], digest)


def load_or_build(spec: Any) -> Organism:
    """The cached organism if intact, else train it, check it learned, and cache it atomically."""
    fam = get_family(spec.family)
    path = cache_dir(spec)
    if (path / "meta.json").exists():
        try:
            org = _load_cached(spec, path)
            fam.check(spec, org.metrics)
            return org
        except (CorruptCacheError, ValueError, KeyError, RuntimeError, OSError, json.JSONDecodeError) as exc:
            warnings.warn(f"rebuilding organism {spec_hash(spec)}: {exc}", stacklevel=2)
            shutil.rmtree(path, ignore_errors=True)
    model, metrics = fam.build(spec)
    fam.check(spec, metrics)  # raises OrganismFailedError: a model that did not learn is never used
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=".tmp-"))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
    digest = file_sha256(tmp / "model.safetensors")
    meta = {"spec": spec_dict(spec), "recipe": fam.recipe_version, "source": object_source_hash(fam.build),
            "metrics": metrics, "weights_sha256": digest}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    try:
        os.replace(tmp, path)  # atomic: a reader sees no half-written organism
    except OSError:  # another process finished the same organism first; theirs is as good
        shutil.rmtree(tmp, ignore_errors=True)
    return Organism(spec, model.eval(), metrics, digest)



# The pre-registered replacement rule (DESIGN.md: "a suite never fails on a refused organism"): an
# organism its family's check refuses is replaced by the same spec with its seed moved by
# REPLACEMENT_STRIDE, up to MAX_REPLACEMENTS times, in that order. It was fixed before any result
# was seen and is the same for every family. Organism sets give suite seed s the spec seeds
# s * 1000 + i (i < 100), so a replacement stays inside that seed's block: never another suite
# seed's organism, never a dev seed's (900 and up).
REPLACEMENT_STRIDE, MAX_REPLACEMENTS = 100, 3
REPLACEMENT_RULE = f"seed + {REPLACEMENT_STRIDE}, up to {MAX_REPLACEMENTS} times"  # as runs and reports state it


def candidates(spec: Any) -> list[Any]:
    """The spec, then its pre-registered replacements (none for a spec without an integer seed)."""
    if not isinstance(getattr(spec, "seed", None), int) or "seed" not in {f.name for f in fields(spec)}:
        return [spec]
    return [spec] + [replace(spec, seed=spec.seed + k * REPLACEMENT_STRIDE) for k in range(1, MAX_REPLACEMENTS + 1)]


def _refusal_marker(spec: Any) -> Path:
    """Where a refusal is remembered, so the next run does not retrain a model known to fail (the
    key is the spec hash, so an edit to the recipe's source retries it)."""
    return cache_root() / spec.family / f"{spec_hash(spec)}.refused.json"


def resolve(spec: Any) -> tuple[Organism, list[dict]]:
    """The organism a suite uses for `spec`: the spec itself or its first replacement its family's
    check accepts, and the refusals on the way (hash, label, error, spec), for the report to count."""
    refused: list[dict] = []
    for cand in candidates(spec):
        marker = _refusal_marker(cand)
        if marker.exists():
            try:
                refused.append({**json.loads(marker.read_text()), "spec": cand})
                continue
            except (OSError, json.JSONDecodeError):
                marker.unlink(missing_ok=True)  # unreadable: build again
        try:
            return load_or_build(cand), refused
        except OrganismFailedError as exc:
            rec = {"hash": spec_hash(cand), "label": cand.label() if hasattr(cand, "label") else spec_hash(cand),
                   "error": str(exc)}
            marker.parent.mkdir(parents=True, exist_ok=True)
            tmp = marker.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(rec))
            os.replace(tmp, marker)  # atomic, as the organisms beside it
            refused.append({**rec, "spec": cand})
    raise OrganismFailedError(f"organism {refused[0]['label']} and its {len(refused) - 1} pre-registered "
                              f"replacements were all refused; first: {refused[0]['error']}")
