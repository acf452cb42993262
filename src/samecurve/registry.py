"""Names -> tasks, arms, organism sets and suites. Built-ins register by decorator when their
module is imported; plug-ins come from the `samecurve.arms` entry-point group or a
`package.module:Class` reference (both imported lazily, as lm-eval does)."""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable

from .errors import ConfigError, UnknownNameError

FAMILIES = ("interp", "baseline", "control")
ACCESSES = ("black-box", "gradients", "white-box")

_TASKS: dict[str, type] = {}
_ARMS: dict[str, type] = {}
_ORGANISM_SETS: dict[str, Any] = {}
_SUITES: dict[str, Any] = {}

# Built-in packages whose modules register by decorator. Every module under them is imported
# (pkgutil walk), so a new organism family, task or arm module needs no line here.
BUILTIN_PACKAGES = ("samecurve.organisms", "samecurve.tasks", "samecurve.arms")


def task(name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        cls.name = name
        _TASKS[name] = cls
        return cls

    return deco


def arm(name: str, *, family: str, access: str, control: str | tuple[str, ...] | None = None) -> Callable[[type], type]:
    """Register an arm class. `control` names the control arm(s) it must beat (held to the strongest)."""
    if family not in FAMILIES:
        raise ConfigError(f"arm {name!r}: family must be one of {FAMILIES}, not {family!r}")
    if access not in ACCESSES:
        raise ConfigError(f"arm {name!r}: access must be one of {ACCESSES}, not {access!r}")

    def deco(cls: type) -> type:
        controls = (control,) if isinstance(control, str) else tuple(control or ())
        cls.name, cls.family, cls.access, cls.controls = name, family, access, controls
        _ARMS[name] = cls
        return cls

    return deco


def organism_set(name: str, *, family: str, description: str) -> Callable[[Callable], Callable]:
    """Register a named population: `fn(seed) -> list[OrganismSpec]`."""

    def deco(fn: Callable) -> Callable:
        _ORGANISM_SETS[name] = OrganismSet(name, family, description, fn)
        return fn

    return deco


@dataclass(frozen=True)
class OrganismSet:
    name: str
    family: str
    description: str
    specs: Callable[[int], list]


@dataclass(frozen=True)
class SuiteEntry:
    task: str
    organisms: str
    arms: tuple[str, ...]
    task_params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    seeds: tuple[int, ...]
    entries: tuple[SuiteEntry, ...]
    budget: Any  # budget.Budget


def suite(s: Suite) -> Suite:
    _SUITES[s.name] = s
    return s


_loaded = False


def builtin_modules() -> list[str]:
    """Every module of the built-in packages, then the suites (which name what those register)."""
    mods = []
    for pkg_name in BUILTIN_PACKAGES:
        pkg = importlib.import_module(pkg_name)
        mods += sorted(m.name for m in pkgutil.walk_packages(pkg.__path__, pkg_name + ".") if not m.ispkg)
    return mods + ["samecurve.suites"]


def load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in builtin_modules():
        importlib.import_module(mod)
    for ep in entry_points(group="samecurve.arms"):
        try:
            ep.load()  # importing the plug-in's module runs its @arm decorators
        except Exception as exc:  # a broken plug-in must not take the built-ins down
            raise ConfigError(f"plug-in entry point {ep.name!r} ({ep.value}) failed to load: {exc}") from exc


def _lookup(kind: str, table: dict, name: str) -> Any:
    load_builtins()
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name, table, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownNameError(f"unknown {kind} {name!r}{hint} valid: {', '.join(sorted(table))}")


def get_task(name: str) -> type:
    return _lookup("task", _TASKS, name)


def get_arm(name: str) -> type:
    """A registered arm name, or `package.module:Class` for an arm that is not registered."""
    if ":" in name and name not in _ARMS:
        return import_arm(name)
    return _lookup("arm", _ARMS, name)


def import_arm(ref: str) -> type:
    mod_name, _, attr = ref.partition(":")
    try:
        obj = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UnknownNameError(f"cannot import arm {ref!r}: {exc}") from exc
    if not hasattr(obj, "family") or not hasattr(obj, "access"):
        raise ConfigError(f"{ref!r} is not an arm: decorate it with @samecurve.registry.arm(...)")
    _ARMS.setdefault(obj.name, obj)
    return obj


def get_organism_set(name: str) -> OrganismSet:
    return _lookup("organism set", _ORGANISM_SETS, name)


def get_suite(name: str) -> Suite:
    return _lookup("suite", _SUITES, name)


def tasks() -> dict[str, type]:
    load_builtins()
    return dict(_TASKS)


def arms() -> dict[str, type]:
    load_builtins()
    return dict(_ARMS)


def organism_sets() -> dict[str, OrganismSet]:
    load_builtins()
    return dict(_ORGANISM_SETS)


def suites() -> dict[str, Suite]:
    load_builtins()
    return dict(_SUITES)
