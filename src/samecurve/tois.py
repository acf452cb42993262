"""The map of the theories of impact (issue 16): the twenty of the longlist ("A Longlist of Theories
of Impact for Interpretability", Nanda 2022) and the topics of the critique samecurve answers, each
either tested by the tasks that name it in their `tois` (derived from the registry, so the map cannot
drift from the code), planned as a named task of an open issue, measurable but not yet planned (what
a task would take), or out of a benchmark's reach, with the reason in one line. `samecurve list tois`, the report's top and README show it.

The names are the strings tasks use in `tois`; `also` lists other spellings a reader may look for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import registry

LONGLIST, ESSAY = "longlist", "essay"


@dataclass(frozen=True)
class Toi:
    name: str
    source: str                      # LONGLIST (with its number) or ESSAY
    number: int | None = None        # its place in the longlist
    planned: str = ""                # the open issue's task that would test it
    gap: str = ""                    # measurable, but no task or issue yet: what one would take
    unmeasurable: str = ""           # why no benchmark row can test it
    also: tuple[str, ...] = field(default=())


MAP: tuple[Toi, ...] = (
    Toi("force multiplier on alignment research", LONGLIST, 1),
    Toi("better prediction of future systems", LONGLIST, 2, also=("prediction of future systems",)),
    Toi("auditing", LONGLIST, 3),
    Toi("auditing for deception", LONGLIST, 4),
    Toi("enabling coordination", LONGLIST, 5, unmeasurable="a claim about labs and governments agreeing, "
        "not about any model: no organism has it"),
    Toi("empirical evidence for threat models", LONGLIST, 6),
    Toi("improving human feedback", LONGLIST, 7, gap="it needs a model trained from "
        "feedback whose raters are helped by interp, against raters helped otherwise"),
    Toi("informed oversight", LONGLIST, 8, gap="an overseer scoring a policy's actions "
        "with and without access to its internals (close to `backdoor-audit`, not the same job)"),
    Toi("interpretability tools in the loss", LONGLIST, 9),
    Toi("norm setting", LONGLIST, 10, unmeasurable="a claim about what the field comes to expect of "
        "developers: social, not a property of a model"),
    Toi("enabling regulation", LONGLIST, 11, unmeasurable="a claim about what regulators can require; "
        "the tasks measure the tools such rules would lean on (auditing rows), not the rules"),
    Toi("cultural shift: the ML field", LONGLIST, 12, unmeasurable="a claim about researchers' habits "
        "and beliefs: no benchmark row can hold it"),
    Toi("cultural shift: safety-minded developers", LONGLIST, 13, unmeasurable="as the first cultural "
        "shift: about people, not models"),
    Toi("epistemic learned helplessness", LONGLIST, 14, unmeasurable="a claim about when people stop "
        "trusting arguments they cannot check; about reasoning, not models"),
    Toi("microscope AI", LONGLIST, 15),
    Toi("training AIs to interpret other AIs", LONGLIST, 16, gap="an interp arm that is "
        "itself a trained model fits the arm protocols, but none is built"),
    Toi("forecasting discontinuities", LONGLIST, 17),
    Toi("intervening on training", LONGLIST, 18),
    Toi("auditing a training run", LONGLIST, 19),
    Toi("eliciting latent knowledge", LONGLIST, 20, also=("ELK",)),
    Toi("enumerative safety", ESSAY),
    Toi("reverse-engineering", ESSAY, also=("reverse engineering",)),
    Toi("retargeting the search", ESSAY, also=("steering",)),
    Toi("saliency and feature visualisation", ESSAY),
    Toi("red-teaming", ESSAY, also=("relaxed adversarial training",)),
    Toi("dual use", ESSAY, also=("logit lens for faster inference",)),
    Toi("translucent thoughts", ESSAY, also=("chain-of-thought monitoring",)),
)


def tested_by() -> dict[str, list[str]]:
    """ToI name -> the registered tasks that name it in their `tois`."""
    out: dict[str, list[str]] = {}
    for name, task in sorted(registry.tasks().items()):
        for toi in task.tois:
            out.setdefault(toi, []).append(name)
    return out


def rows() -> list[dict]:
    """The map as rows: every ToI of MAP, then any ToI a task names that MAP lacks (a plug-in task's
    own), each with its status: tested (by which tasks), planned (an open issue's task), untested
    (measurable, but nothing planned yet), or unmeasurable (out of a benchmark's reach, and why)."""
    by = tested_by()
    out = []
    for t in MAP:
        tasks = by.pop(t.name, [])
        status = ("tested" if tasks else "planned" if t.planned else "unmeasurable" if t.unmeasurable else "untested")
        note = {"planned": t.planned, "unmeasurable": t.unmeasurable, "untested": t.gap}.get(status, "")
        out.append({"toi": t.name, "source": f"longlist #{t.number}" if t.number else "essay",
                    "status": status, "tasks": ", ".join(tasks), "note": note})
    for name, tasks in sorted(by.items()):  # named by a task, not in the longlist or the essay
        out.append({"toi": name, "source": "a task's own", "status": "tested", "tasks": ", ".join(tasks), "note": ""})
    return out
