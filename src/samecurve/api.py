"""The notebook face of samecurve; the CLI is a thin layer over these functions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import registry, verdict as _verdict
from .runner import RunSummary
from .runner import run as _run
from .store import Store
from .errors import ConfigError

RESULTS, REPORT, VERDICTS = "results.sqlite", "report.html", "verdicts.json"


@dataclass
class RunResult:
    out: Path
    summary: RunSummary
    verdicts: list[dict]


def run(suite: str = "quick", out: str | Path = "runs/quick", *, tasks: list[str] | None = None,
        arms: list[str] | None = None, seeds: list[int] | None = None, extra_arms: list[str] | None = None,
        executor: str = "inline", jobs: int = 1, progress: Callable[[str, int, int], None] | None = None,
        report: bool = True) -> RunResult:
    """Run (or resume) a suite into `out`, then write verdicts.json and report.html there."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with Store(out / RESULTS) as store:
        summary = _run(store, suite, tasks=tasks, arms=arms, seeds=seeds, extra_arms=extra_arms,
                       executor=executor, jobs=jobs, progress=progress)
    vs = write_outputs(out) if report else []
    return RunResult(out, summary, vs)


def load_results(out: str | Path) -> list[dict]:
    """Every score row of a run directory (or a results.sqlite path)."""
    with Store(_results_path(out)) as store:
        return store.score_rows()


def verdicts(out: str | Path) -> list[dict]:
    with Store(_results_path(out)) as store:
        return _verdict.compute(store.score_rows(), store.tasks())


def write_outputs(out: str | Path) -> list[dict]:
    """verdicts.json and report.html, both pure functions of the store."""
    from .report.html import write_html

    out = Path(out)
    path = _results_path(out)
    with Store(path) as store:
        vs = _verdict.compute(store.score_rows(), store.tasks())
        (path.parent / VERDICTS).write_text(json.dumps(vs, indent=1, default=str))
        write_html(store, path.parent / REPORT)
    return vs


def _results_path(out: str | Path) -> Path:
    out = Path(out)
    path = out / RESULTS if out.is_dir() else out
    if not path.exists():
        raise ConfigError(f"no results at {path}: run `samecurve run --out {out}` first")
    return path


def list_names(kind: str) -> list[dict]:
    if kind == "tasks":
        return [{"name": n, "tois": ", ".join(t.tois), "metrics": ", ".join(t.metrics)} for n, t in sorted(registry.tasks().items())]
    if kind == "arms":
        return [{"name": n, "family": a.family, "access": a.access, "controls": "\n".join(a.controls),
                 "doc": (a.__doc__ or "").strip().splitlines()[0] if a.__doc__ else ""}
                for n, a in sorted(registry.arms().items(), key=lambda kv: (kv[1].family, kv[0]))]
    if kind == "organisms":
        return [{"name": n, "family": o.family, "description": o.description} for n, o in sorted(registry.organism_sets().items())]
    if kind == "suites":
        return [{"name": n, "seeds": ", ".join(map(str, s.seeds)), "description": s.description} for n, s in sorted(registry.suites().items())]
    raise ConfigError(f"unknown kind {kind!r}; valid: tasks, arms, organisms, suites")
