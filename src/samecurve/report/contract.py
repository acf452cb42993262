"""The arm contract, generated from the code (`samecurve list tasks --contract`), so it cannot go stale.

Per task: what it is for, its theories of impact, its metrics and the protocol each scores, the
protocol methods with their signatures and return types, and the fields of the context dataclass an
arm is handed. Then the metered model's methods (what each needs and charges) and every suite's
budget. docs/arm-contract.md embeds this output between two markers; a test checks they match.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from typing import Any

from .. import registry
from ..budget import Budget, MeteredModel
from ..ladder import describe

BEGIN = "<!-- BEGIN GENERATED: samecurve list tasks --contract -->"
END = "<!-- END GENERATED -->"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _doc(obj: Any) -> str:
    return registry.first_sentence(inspect.getdoc(obj) or "")


def _signature(fn: Any) -> str:
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.name != "self"]
    args = ", ".join(f"{p.name}: {_ann(p.annotation)}" if p.annotation is not inspect.Parameter.empty else p.name
                     for p in params)
    ret = _ann(sig.return_annotation) if sig.return_annotation is not inspect.Signature.empty else "?"
    return f"{fn.__name__}({args}) -> {ret}"


def _ann(a: Any) -> str:
    if isinstance(a, str):
        return a
    return getattr(a, "__name__", None) or str(a).replace("typing.", "")


def contexts_for(task_cls: type) -> list[type]:
    """The context dataclasses an arm of this task is handed: the `*Context` dataclasses defined in
    the modules that hold the task's protocols or in the task's own module, that the task uses."""
    task_mod = sys.modules.get(task_cls.__module__)
    mods = list(dict.fromkeys(sys.modules.get(p.__module__) for p in registry.task_protocols(task_cls)))
    found: list[type] = []
    for mod in [m for m in mods + [task_mod] if m is not None]:
        for obj in vars(mod).values():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__name__.endswith("Context") \
                    and obj.__module__ == mod.__name__ and obj not in found:
                found.append(obj)
    used = [c for c in found if task_mod is not None and getattr(task_mod, c.__name__, None) is c]
    return used or found


def _field_comments(cls: type) -> dict[str, str]:
    """Trailing `# comments` on a dataclass's field lines (shapes such as `[n, prompt_len]`)."""
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    out = {}
    for line in src.splitlines():
        m = re.match(r"\s+(\w+)\s*:\s*[^#=]+(?:=[^#]*)?#\s*(.+)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def _context_table(cls: type) -> list[str]:
    notes = _field_comments(cls)
    lines = [f"Context `{cls.__name__}`: {_doc(cls)}", "", "| field | type | note |", "|---|---|---|"]
    for f in dataclasses.fields(cls):
        lines.append(f"| `{f.name}` | `{_cell(_ann(f.type))}` | {_cell(notes.get(f.name, ''))} |")
    return lines


def task_section(name: str, task_cls: type) -> list[str]:
    out = [f"### `{name}`", "", f"{registry.task_description(task_cls)} Theories of impact: "
           f"{', '.join(task_cls.tois)}.", "", "| metric | protocol | better | chance | gated by control | what it measures |",
           "|---|---|---|---|---|---|"]
    for m, info in task_cls.metrics.items():
        out.append(f"| `{_cell(m)}` | `{info.protocol.__name__}` | {'higher' if info.higher_is_better else 'lower'} | "
                   f"{'—' if info.chance is None else info.chance} | {'yes' if info.control_gated else 'no'} | "
                   f"{_cell(info.description)} |")
    out.append("")
    for p in registry.task_protocols(task_cls):
        extra = "" if p in [i.protocol for i in task_cls.metrics.values()] else " (scored on the same metrics)"
        out.append(f"Protocol `{p.__name__}`{extra}: {_doc(p)}")
        out.append("")
        for meth in registry.protocol_methods(p):
            fn = getattr(p, meth)
            out.append(f"- `{_signature(fn)}`" + (f": {_doc(fn)}" if inspect.getdoc(fn) else ""))
        out.append("")
    for ctx in contexts_for(task_cls):
        out += _context_table(ctx) + [""]
    # Built-in arms only: a plug-in imported in the same process (a test's, a user's) is not the package's.
    served = sorted(a for a, cls in registry.arms().items()
                    if cls.__module__.startswith("samecurve.") and registry.served_metrics(task_cls, cls))
    out += [f"Arms registered for it: {len(served)} (`samecurve list arms --task {name}`).", ""]
    return out


def _charges(fn: Any) -> tuple[str, str]:
    """(access it needs, what it charges), read from the method's source."""
    src = inspect.getsource(fn)
    need = re.findall(r'_require\("([\w-]+)"\)', src)
    charged = re.findall(r'charge\("(\w+)"', src)
    return (need[0] if need else "black-box"), (", ".join(charged) if charged else "—")


def model_section(cls: type = MeteredModel) -> list[str]:
    out = [f"`{cls.__name__}`: {_doc(cls)}", "", "| method | needs access | charges | what for |", "|---|---|---|---|"]
    for name, fn in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith("_"):
            continue
        need, charged = _charges(fn)
        out.append(f"| `{_cell(_signature(fn))}` | {need} | {_cell(charged)} | {_cell(_doc(fn))} |")
    return out + [""]


def budget_section() -> list[str]:
    keys = [f.name for f in dataclasses.fields(Budget)]
    out = ["| suite | seeds | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for name, s in sorted(registry.suites().items()):
        b = s.budget.to_dict()
        out.append(f"| `{name}` | {s.seeds_text()} | " + " | ".join(f"{b[k]:,}" if isinstance(b[k], int)
                                                                           else f"{b[k]:g}" for k in keys) + " |")
    # one line per suite and ladder: entries on the same ladder are named together (full's twelve)
    grouped: dict[tuple[str, str], list[str]] = {}
    for name, s in sorted(registry.suites().items()):
        for e in s.entries:
            if e.ladder:
                where = grouped.setdefault((name, describe(e)), [])
                if e.task not in where:
                    where.append(e.task)
    ladders = [f"`{name}` / {', '.join(tasks)}: {how}" for (name, how), tasks in grouped.items()]
    if ladders:  # an arm on a ladder is handed each rung's caps in turn (README, "Budget ladders")
        out += ["", "Budget ladders (the caps above are the headline rung; each rung scales them): "
                + "; ".join(ladders) + "."]
    return out + [""]


def contract_markdown() -> str:
    """The generated part of docs/arm-contract.md, between its markers."""
    lines = [BEGIN, "", "## Per task: metrics, protocols, context", ""]
    for name, t in sorted(registry.tasks().items()):
        lines += task_section(name, t)
    from ..models.pretrained import MeteredEncoder

    lines += ["## The model an arm is handed", "", *model_section(MeteredModel), *model_section(MeteredEncoder),
              "## Budget caps per job, per suite", "", *budget_section(), END, ""]
    return "\n".join(lines)
