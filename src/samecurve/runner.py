"""Expand the grid task × organism set × arm × seed, ask the store what is done, run the rest.

One pool runs the whole grid as a small dependency graph: every organism the grid needs is trained
(or loaded from the cache) once, shared bases before the organisms built from them, and each cell
starts as soon as its organisms exist, so parallel cells never train the same organism twice and
no core waits at a barrier between the two. Each finished cell is one store transaction, so a
killed run loses at most the cells in flight, and a rerun resumes.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
import traceback
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from . import __version__, registry
from .budget import Budget
from .errors import BudgetExceeded, ConfigError, SamecurveError
from .executors import Workers
from .ladder import budget_text
from .organisms.base import REPLACEMENT_RULE, get_family, resolve, spec_hash
from .provenance import fingerprint, object_source_hash, package_hash, resolved_params
from .registry import SuiteEntry
from .seeding import seed_everything
from .store import OVER_BUDGET, Store
from .threads import single_threaded


def versions() -> dict[str, str]:
    import numpy
    import sklearn
    import torch

    return {"samecurve": __version__, "source": package_hash(), "torch": torch.__version__,
            "numpy": numpy.__version__, "scikit-learn": sklearn.__version__, "python": platform.python_version()}


@dataclass(frozen=True)
class Cell:
    task: str
    task_params: dict
    organism_set: str
    arm: str            # a registered name or package.module:Class
    seed: int
    budget: dict
    arm_params: dict = field(default_factory=dict)
    # False on a budget ladder's rungs other than the suite's own budget: there a method the budget
    # cannot pay for is an outcome (`over-budget`), while at the suite's budget it fails the cell as
    # the arm contract says. Not in the cell key: the budget already is.
    headline: bool = True


def _arm_key(ref: str) -> tuple[str, type]:
    """(the name a cell records for an arm reference, its class): registered names stay as they
    are; `module:Class` keeps the reference, so worker processes can import it."""
    cls = registry.get_arm(ref)
    return (cls.name if ":" not in ref else ref), cls


def plan(suite_name: str, tasks: list[str] | None = None, arms: list[str] | None = None,
         seeds: list[int] | None = None, extra_arms: list[str] | None = None,
         notes: list[str] | None = None, add_controls: bool = False,
         organisms: str | None = None, ladder: tuple[float, ...] | None = None,
         ladder_axes: tuple[str, ...] | None = None) -> tuple[Any, list[Cell]]:
    """The cells of a suite, filtered by task / arm / seed.

    `ladder` (factors of the suite's budget, 1.0 among them) replaces the budget ladder of every
    entry the run selects; `ladder_axes` the budget fields it scales (default: the entry's own axes
    if it has a ladder, else every field). Each rung is ordinary cells, so a rung the store already
    holds is not re-run.

    `organisms` (a registered organism set or `package.module:function`, see registry.py) replaces
    the organism set of every task the run selects; it needs `tasks`, each a task that names the
    organism interface it needs (`organism_view`), which the set's families must offer.

    `arms` restricts the run to those arms, built-in or plug-in alike: an arm the suite lists for a
    task runs there; an arm it lists nowhere runs on every task of the suite that scores a protocol
    it implements. `extra_arms` join the suite's own arms (or `arms`) the same way. With
    `add_controls` (the CLI's behaviour), each arm's declared controls join it wherever it runs.
    What was added, and any arm that no task of the run scores, is said in `notes`."""
    s = registry.get_suite(suite_name)
    notes = notes if notes is not None else []
    for t in tasks or []:
        registry.get_task(t)  # unknown names fail before any work
    chosen = {ref: _arm_key(ref) for ref in dict.fromkeys((arms or []) + (extra_arms or []))}
    registry.check_controls(sorted({cls.name for _, cls in chosen.values()}))
    listed = {a for e in s.entries for a in e.arms}
    entries = [e for e in s.entries if not tasks or e.task in tasks]
    if organisms is not None:
        entries = _with_organisms(s, entries, organisms, tasks, seeds)
    if ladder is not None or ladder_axes is not None:
        entries = _with_ladder(s, entries, ladder, ladder_axes)
    cells, placed, added = [], {ref: [] for ref in chosen}, []
    for entry in entries:
        task_cls = registry.get_task(entry.task)
        names: list[str] = [] if arms else list(entry.arms)
        for ref, (key, cls) in chosen.items():
            if key in entry.arms or (key not in listed and registry.served_metrics(task_cls, cls, entry.task_params)):
                names.append(key)
                placed[ref].append(entry.task)
        for key in list(names) if add_controls else []:  # declared controls join the arm that names them
            for ctrl in registry.get_arm(key).controls:
                if ctrl not in names and registry.served_metrics(task_cls, registry.get_arm(ctrl), entry.task_params):
                    names.append(ctrl)
                    added.append((ctrl, registry.get_arm(key).name, entry.task))
        for arm in dict.fromkeys(names):
            for budget in s.budgets_of(entry):  # a ladder's rungs are ordinary cells, each keyed by its budget
                for seed in seeds if seeds is not None else s.seeds_of(entry):
                    cells.append(Cell(entry.task, dict(entry.task_params), entry.organisms, arm, seed, budget.to_dict(),
                                      headline=budget == s.budget))
    by_ctrl: dict[tuple[str, str], list[str]] = {}
    for ctrl, by, task_name in added:
        by_ctrl.setdefault((ctrl, task_name), [])
        if by not in by_ctrl[(ctrl, task_name)]:
            by_ctrl[(ctrl, task_name)].append(by)
    for (ctrl, task_name), bys in by_ctrl.items():
        notes.append(f"added control {ctrl} to {task_name}: declared by {', '.join(bys)} (control=...)")
    scope = f"tasks {', '.join(tasks)}" if tasks else f"suite {suite_name!r}"
    for ref, where in placed.items():
        if not where:
            cls = chosen[ref][1]
            in_suite = [e.task for e in s.entries if cls.name in e.arms]
            why = (f"the suite runs it only on {', '.join(dict.fromkeys(in_suite))}" if in_suite else
                   "it implements no protocol those tasks score ("
                   + "; ".join(f"{t}: {', '.join(p.__name__ for p in registry.task_protocols(registry.get_task(t)))}"
                               for t in dict.fromkeys(e.task for e in entries)) + ")")
            notes.append(f"warning: arm {cls.name} runs nowhere in {scope}: {why}")
    if not cells:
        detail = "; ".join(n for n in notes if n.startswith("warning")) or f"tasks={tasks} arms={arms}"
        raise ConfigError(f"nothing to run: suite {suite_name!r} has no cells ({detail})")
    return s, cells


def _with_ladder(s: Any, entries: list[SuiteEntry], ladder: tuple[float, ...] | None,
                 axes: tuple[str, ...] | None) -> list[SuiteEntry]:
    """The entries on the given ladder (checked here, before any work: SuiteEntry refuses a ladder
    without the headline rung 1.0, Budget.scaled an unknown field)."""
    if ladder is None:
        raise ConfigError("--ladder-axes needs --ladder (the factors of the suite's budget, e.g. 0.25,0.5,1)")
    out = [replace(e, ladder=tuple(ladder), ladder_axes=tuple(axes) if axes is not None else e.ladder_axes)
           for e in entries]
    for e in out:
        s.budgets_of(e)
    return out


def _with_organisms(s: Any, entries: list[SuiteEntry], organisms: str, tasks: list[str] | None,
                    seeds: list[int] | None) -> list[SuiteEntry]:
    """The entries with their organism set replaced (one entry per task), after checking, for the
    seeds they run, that the set returns specs of registered families offering the task's view."""
    able = sorted(n for n, t in registry.tasks().items() if getattr(t, "organism_view", None))
    if not tasks:
        raise ConfigError(f"--organisms needs --task: which tasks should run on {organisms!r}? "
                          f"(tasks that take plug-in organisms: {', '.join(able)})")
    out: dict[str, SuiteEntry] = {}
    for e in entries:
        view = getattr(registry.get_task(e.task), "organism_view", None)
        if view is None:
            raise ConfigError(f"task {e.task!r} does not take plug-in organisms (it names no organism interface); "
                              f"tasks that do: {', '.join(able)}")
        out.setdefault(e.task, replace(e, organisms=organisms))
    for e in out.values():
        registry.check_organism_set(organisms, seeds if seeds is not None else s.seeds_of(e),
                                    registry.get_task(e.task).organism_view)
    return list(out.values())


def organism_specs(cells: list[Cell]) -> list[Any]:
    """Every organism the cells need, once, in build order: prerequisites (shared bases) first,
    organisms built from one last, so a dependant never waits on a base still in training."""
    seen: dict[str, Any] = {}
    for c in cells:
        for spec in registry.get_organism_set(c.organism_set).specs(c.seed):
            seen.setdefault(spec_hash(spec), spec)
    needs = {h: get_family(sp.family).prerequisites(sp) for h, sp in seen.items()}
    bases = {spec_hash(b): b for pre in needs.values() for b in pre}
    return ([*bases.values()] + [sp for h, sp in seen.items() if not needs[h] and h not in bases]
            + [sp for h, sp in seen.items() if needs[h] and h not in bases])


@dataclass(frozen=True)
class _Recorded:
    """What the store records of an organism a worker built (or refused), without loading its
    weights in this process."""

    spec: Any
    hash: str
    label: str
    metrics: dict
    weights_sha256: str


def build_organism(spec: Any) -> dict:
    """Worker: train or load one organism; failures come back as data, not exceptions."""
    registry.load_builtins()
    try:
        org, refused = resolve(spec)  # the spec, or its pre-registered replacement if refused
        return {"ok": True, "hash": spec_hash(spec), "used_hash": org.hash, "spec": org.spec, "sha": org.weights_sha256,
                "label": org.label, "metrics": org.metrics, "refused": refused}
    except SamecurveError as exc:
        return {"ok": False, "hash": spec_hash(spec), "error": str(exc), "refused": []}


def cell_source(cell: Cell) -> str:
    """Source hash of the task and the arm behind a cell, each with what it imports (provenance.py)."""
    return object_source_hash(registry.get_task(cell.task)) + object_source_hash(registry.get_arm(cell.arm))


def cell_key(cell: Cell, organism_shas: list[str]) -> str:
    """Hash of what determines the numbers; never runtime options (executor, jobs).

    The task's and the arm's source (and every samecurve module they import), the arm's resolved
    constructor arguments (defaults included), the organisms' weight hashes, any pretrained weights
    the task loads, seed and budget: editing an arm re-runs its cells, with no version to bump."""
    task_cls = registry.get_task(cell.task)
    arm_cls = registry.get_arm(cell.arm)
    blob = {"task": cell.task, "task_params": cell.task_params, "task_inputs": task_cls(**cell.task_params).provenance(),
            "arm": arm_cls.name, "arm_params": resolved_params(arm_cls, cell.arm_params), "organisms": organism_shas,
            "seed": cell.seed, "budget": cell.budget, "source": cell_source(cell)}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:24]


def score_units(organisms: list, scores: list) -> dict[str, str]:
    """Each score's unit of inference: the organism it was measured on (its spec hash, which differs
    across sizes and seeds; `label/...` instances such as steering targets are items of that
    organism), or for a population score the population (the hash of its organisms)."""
    by_label = {o.label: o.hash for o in organisms}
    population = hashlib.sha256(",".join(sorted(by_label.values())).encode()).hexdigest()[:12]

    def unit(instance: str) -> str:
        if instance in by_label:
            return by_label[instance]
        owner = [lab for lab in by_label if instance.startswith(lab + "/")]
        if owner:
            return by_label[max(owner, key=len)]
        return f"{instance}@{population}" if organisms else instance

    return {s.instance: unit(s.instance) for s in scores}


def execute_cell(cell: Cell) -> dict:
    """Worker: run one cell; returns scores or the error, never raises."""
    registry.load_builtins()
    t0 = time.perf_counter()
    try:
        task = registry.get_task(cell.task)(**cell.task_params)
        arm_cls = registry.get_arm(cell.arm)
        # resolve: a refused organism's replacement (its refusal is cached, so this only loads)
        organisms = [resolve(s)[0] for s in registry.get_organism_set(cell.organism_set).specs(cell.seed)]

        def factory(seed: int) -> Any:
            seed_everything(seed)
            return arm_cls(**cell.arm_params)

        scores = task.run_cell(factory, organisms, cell.seed, Budget.from_dict(cell.budget))
        return {"scores": scores, "units": score_units(organisms, scores), "error": None,
                "wall_seconds": time.perf_counter() - t0}
    except BudgetExceeded as exc:
        if cell.headline or exc.resource == "wall_seconds":
            # at the suite's budget an overdraw fails the cell (the arm contract); running out of
            # seconds is the machine's speed, not the method: a failure, retried by a rerun
            return {"scores": [], "error": f"BudgetExceeded: {exc}\n{traceback.format_exc()}",
                    "wall_seconds": time.perf_counter() - t0}
        # On a ladder's other rungs the method cannot do its job within that budget: an outcome, not
        # a failure. Recorded as such, kept on resume (it is deterministic), scored nowhere.
        return {"scores": [], "error": None, "over_budget": f"BudgetExceeded: {exc}",
                "wall_seconds": time.perf_counter() - t0}
    except Exception as exc:  # one broken arm must not lose the rest of the run
        return {"scores": [], "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}",
                "wall_seconds": time.perf_counter() - t0}


@dataclass
class RunSummary:
    run_id: str
    cells_total: int
    cells_skipped: int
    cells_done: int
    cells_failed: int
    organisms_failed: list[str]
    wall_seconds: float
    failures: list[str]   # one line each: task/arm/seed: the error's first line (arm by registered name)
    notes: list[str] = field(default_factory=list)  # controls added, arms that run nowhere
    over_budget: list[str] = field(default_factory=list)  # task/arm/seed @ budget: cells whose method the budget could not pay for


def run(store: Store, suite_name: str, *, tasks: list[str] | None = None, arms: list[str] | None = None,
        seeds: list[int] | None = None, extra_arms: list[str] | None = None, executor: str = "inline",
        jobs: int = 1, progress: Callable[[str, int, int], None] | None = None,
        add_controls: bool = False, organisms: str | None = None, ladder: tuple[float, ...] | None = None,
        ladder_axes: tuple[str, ...] | None = None) -> RunSummary:
    t0 = time.perf_counter()
    single_threaded()
    notes: list[str] = []
    s, cells = plan(suite_name, tasks, arms, seeds, extra_arms, notes, add_controls, organisms, ladder, ladder_axes)
    run_id = uuid.uuid4().hex[:12]
    cfg = {"suite": suite_name, "tasks": tasks, "arms": arms, "seeds": seeds, "extra_arms": extra_arms,
           "budget": s.budget.to_dict(), **({"organisms": organisms} if organisms else {}),
           **({"ladder": list(ladder)} if ladder is not None else {}),
           **({"ladder_axes": list(ladder_axes)} if ladder_axes is not None else {})}
    store.add_run(run_id, suite_name, cfg, versions(), fingerprint())
    for name in {c.task for c in cells}:
        t = registry.get_task(name)
        store.add_task(name, t.version, t.tois, {m: {"description": i.description, "higher_is_better": i.higher_is_better,
                                                     "chance": i.chance, "control_gated": i.control_gated}
                                                 for m, i in t.metrics.items()})
    note = progress or (lambda *_: None)

    specs = organism_specs(cells)
    waiting_orgs = {spec_hash(sp): sp for sp in specs}  # build order: shared bases, the rest, dependants last
    needs = {h: [spec_hash(b) for b in get_family(sp.family).prerequisites(sp)] for h, sp in waiting_orgs.items()}
    cell_orgs = [[spec_hash(sp) for sp in registry.get_organism_set(c.organism_set).specs(c.seed)] for c in cells]
    cost = store.cell_costs()  # the longest-first order of ready cells
    built: dict[str, dict] = {}
    done = store.done_keys()
    keys: dict[int, tuple[str, list[str]]] = {}
    failures, failed_orgs, over_budget, n_done, skipped, vers = [], [], [], 0, 0, versions()
    waiting_cells = list(range(len(cells)))
    ready: list[int] = []               # cells whose organisms are built, not yet submitted
    n_cells_run = 0

    def row_of(c: Cell, res: dict) -> dict:
        arm_cls = registry.get_arm(c.arm)
        key, hashes = keys[id(c)]
        return {"cell_key": key, "run_id": run_id, "task": c.task, "task_version": registry.get_task(c.task).version,
                "organism_set": c.organism_set, "arm": arm_cls.name, "family": arm_cls.family,
                "access": arm_cls.access, "control": ",".join(arm_cls.controls), "seed": c.seed,
                "params": resolved_params(arm_cls, c.arm_params), "organism_hashes": hashes, "budget": c.budget,
                "versions": vers, "wall_seconds": round(res.get("wall_seconds", 0.0), 3), "source": cell_source(c),
                "pretrained": registry.get_task(c.task)(**c.task_params).provenance().get("model"),
                "units": res.get("units", {})}

    def resolve_cells() -> None:
        """Move every cell whose organisms are all resolved out of waiting: skipped (done in the
        store), blocked (an organism failed: recorded failed, keyed by the specs, retried by the
        next run) or ready to run."""
        nonlocal skipped
        still, planned = [], []
        for i in waiting_cells:
            c, hashes = cells[i], cell_orgs[i]
            if not all(h in built for h in hashes):
                still.append(i)
                continue
            res = [built[h] for h in hashes]
            if not all(r["ok"] for r in res):
                keys[id(c)] = (cell_key(c, ["unbuilt:" + r["hash"] for r in res]), hashes)
                planned.append(keys[id(c)][0])
                why = "; ".join(f"organism {r['hash']} failed to build: {r.get('error', '')}" for r in res if not r["ok"])
                store.add_cell(row_of(c, {}), [], status="failed", error=why)
                failures.append(f"{c.task}/{registry.get_arm(c.arm).name}/seed {c.seed}: {why.splitlines()[0]}")
                continue
            keys[id(c)] = (cell_key(c, [r["sha"] for r in res]), [r.get("used_hash", r["hash"]) for r in res])
            planned.append(keys[id(c)][0])
            if keys[id(c)][0] in done:
                skipped += 1
            else:
                ready.append(i)
        store.add_run_cells(run_id, planned)  # the plan grows as organisms resolve: a killed run keeps its part
        waiting_cells[:] = still

    def next_job() -> tuple[Callable[[Any], Any], Any, Any] | None:
        """Organisms first (they unlock cells); a dependant only once its bases are built; then
        the ready cell expected to take longest (its arm's mean wall time in this store, kept up
        to date as cells finish; unknown first), so short cells fill the end of the run instead of
        one long cell idling a core."""
        for h, spec in list(waiting_orgs.items()):
            bases = needs[h]
            if not all(b in built for b in bases):
                continue
            del waiting_orgs[h]
            broken = [b for b in bases if not built[b]["ok"]]
            if broken:  # building it would retrain the failed base only to fail again
                built[h] = {"ok": False, "hash": h, "error": f"its base organism {broken[0]} failed to build"}
                failed_orgs.append(f"{h}: {built[h]['error']}")
                continue
            return build_organism, spec, ("organism", h)
        if ready:
            i = max(ready, key=lambda j: (cost.get((cells[j].task, cells[j].arm), math.inf), -j))
            ready.remove(i)
            return execute_cell, cells[i], "cell"
        return None

    resolve_cells()  # cells that need no organism are ready at once
    # One pool for the whole grid: a cell starts as soon as its organisms exist, so no core waits
    # at a barrier between training organisms and running cells.
    with Workers(executor, jobs) as workers:
        while True:
            while workers.free and (job := next_job()) is not None:
                workers.submit(*job)
            if not workers.in_flight:
                break
            tag, item, res = workers.next_done()
            if tag != "cell":
                h = tag[1]
                if res["hash"] != h:  # the worker hashes the spec's source anew: it was edited mid-run
                    res = {"ok": False, "hash": h, "refused": [], "error": (
                        f"the worker built organism {res['hash']}, not {h}: samecurve's source changed "
                        "during the run; run the command again")}
                built[h] = res
                for r in res["refused"]:  # recorded beside the organisms, weightless: the report counts them
                    store.add_organism(_Recorded(r["spec"], r["hash"], r["label"], {"refused": r["error"]}, ""))
                    notes.append(f"organism {r['label']} refused by its check ({r['error'].split(':')[0]}); "
                                 f"pre-registered rule: replaced ({REPLACEMENT_RULE})")
                if res["ok"]:
                    if res["refused"]:
                        notes.append(f"  -> {res['label']} used in its place")
                    store.add_organism(_Recorded(res["spec"], res["used_hash"], res["label"], res["metrics"], res["sha"]))
                else:
                    failed_orgs.append(f"{res['hash']}: {res['error']}")
                note("organisms", len(built), len(specs))
                resolve_cells()
                continue
            n_cells_run += 1
            row = row_of(item, res)
            if res.get("over_budget"):
                over_budget.append(f"{item.task}/{row['arm']}/seed {item.seed} at {budget_text(item.budget)}: "
                                   f"{res['over_budget']}")
                store.add_cell(row, [], status=OVER_BUDGET, error=res["over_budget"])
            elif res["error"]:
                failures.append(f"{item.task}/{row['arm']}/seed {item.seed}: {res['error'].splitlines()[0]}")
                store.add_cell(row, [], status="failed", error=res["error"])
            else:
                store.add_cell(row, res["scores"])
                n_done += 1
                cost.update(store.cell_costs())  # a cold store learns each arm's cost from its first seed
            note("cells", n_cells_run, n_cells_run + len(ready) + len(waiting_cells) + workers.in_flight)
    resolve_cells()  # cells of dependants marked failed without a build
    return RunSummary(run_id, len(cells), skipped, n_done, len(failures), failed_orgs,
                      round(time.perf_counter() - t0, 2), failures, notes, over_budget)
