"""The results table as GitHub markdown (what README's table is: printed by a command, never typed).

`markdown_table(verdicts, fingerprint, run)` takes verdict rows (as `verdict.compute` returns them or as
verdicts.json holds them), the run's fingerprint (source hash, package versions, CPU, BLAS, threads...)
and the run's record, and returns the table followed by one paragraph naming where the numbers came from.
No store and no matplotlib: rows in, a string out.
"""

from __future__ import annotations

import json
from typing import Any

from .terminal import arm_note, data_only_marker, fmt_diff, fmt_p, fmt_score, fmt_units, ladder_sentence

COLUMNS = ("task", "metric", "verdict", "best interp (score)", "best baseline (score)", "diff [95% CI]", "q", "units")
MINUS = "\u2212"


def cell(x: Any) -> str:
    """One table cell: pipes escaped, no line breaks, a dash when empty."""
    text = "—" if x is None or x == "" else str(x)
    return " ".join(text.split()).replace("|", "\\|")


def _minus(text: str) -> str:
    """Typographic minus signs in numbers (as README has always shown them)."""
    out = []
    for i, ch in enumerate(text):
        nxt = text[i + 1] if i + 1 < len(text) else ""
        out.append(MINUS if ch == "-" and nxt.isdigit() and (i == 0 or not text[i - 1].isalnum()) else ch)
    return "".join(out)


def _arm(arm: str | None, score: Any, note: str = "") -> str:
    return "—" if arm is None else f"{arm} ({_minus(fmt_score(score))}){note}"


def _metric(v: dict) -> str:
    return v["metric"] + ("" if v.get("higher_is_better", True) else " (lower is better)")


def _verdict(v: dict) -> str:
    scope, marker = v.get("scope"), data_only_marker(v)
    return f"{v.get('verdict', '—')}" + (f" ({scope})" if scope else "") + (f"; **{marker}**" if marker else "")


def row(v: dict) -> list[str]:
    return [v.get("task", "—"), _metric(v), _verdict(v),
            _arm(v.get("best_interp_arm"), v.get("interp_score"), arm_note(v, "interp")),
            _arm(v.get("best_baseline_arm"), v.get("baseline_score"), arm_note(v, "baseline")),
            _minus(fmt_diff(v)), fmt_p(v.get("q_value")), fmt_units(v)]


def _value(x: Any) -> str:
    """A fingerprint value on one line: mappings as 'k v, k v', sequences comma-joined."""
    if isinstance(x, dict):
        return ", ".join(f"{k} {_value(x[k])}" for k in sorted(x, key=str)) or "—"
    if isinstance(x, (list, tuple, set)):
        items = sorted(x, key=str) if isinstance(x, set) else x
        return ", ".join(_value(i) for i in items) or "—"
    if isinstance(x, float):
        return f"{x:g}"
    if x is None or x == "":
        return "—"
    return " ".join(str(x).split())


def _run_facts(run: dict | None, verdicts: list[dict]) -> dict[str, Any]:
    """Run id, suite and seeds from the run record (its config), else from the rows."""
    run = run or {}
    config = run.get("config") or {}
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            config = {}
    seeds = run.get("seeds") or config.get("seeds") or sorted({s for v in verdicts for s in (v.get("seeds") or [])})
    out = {"run id": run.get("run_id") or run.get("id"), "suite": run.get("suite") or config.get("suite"),
           "seeds": seeds}
    return {k: v for k, v in out.items() if v not in (None, "", [])}


def fingerprint_line(fingerprint: dict, run: dict | None = None, verdicts: list[dict] | None = None) -> str:
    """One paragraph: every fingerprint key (sorted), then the run's id, suite and seeds."""
    facts = {str(k): v for k, v in (fingerprint or {}).items()}
    have = {k.replace("_", " ").lower() for k in facts}
    for k, v in _run_facts(run, verdicts or []).items():
        if k not in have and k.replace(" ", "") not in have:
            facts[k] = v
    body = "; ".join(f"{k}: {_value(facts[k])}" for k in sorted(facts, key=str.lower)).rstrip(".")
    return f"**Fingerprint.** {body or 'none recorded'}."


def pipe_table(header: list[str] | tuple[str, ...], body: list[list[str]]) -> str:
    """A GitHub markdown table (each cell made safe by `cell`), no trailing newline."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(c) for c in r) + " |" for r in body])


def markdown_table(verdicts: list[dict], fingerprint: dict, run: dict | None = None) -> str:
    """GitHub markdown: the verdict table, a blank line, the fingerprint paragraph; ends with a newline."""
    body = [row(v) for v in verdicts] or [["—"] * len(COLUMNS)]
    return pipe_table(COLUMNS, body) + "\n\n" + ladder_lines(verdicts) + fingerprint_line(fingerprint, run, verdicts) + "\n"


def ladder_lines(verdicts: list[dict]) -> str:
    """For rows run on a budget ladder (issue 17): the headline rung, the crossover statement and
    the efficiency statement, one bullet per row; nothing when no row has a ladder."""
    rows = [v for v in verdicts if v.get("levels")]
    if not rows:
        return ""
    out = ["**Budget ladders** (the table's verdict is at the headline rung):", ""]
    for v in rows:
        out.append(f"- {v['task']} / {_metric(v)} (headline: {v.get('headline_level')}): {ladder_sentence(v)}.")
    return "\n".join(out) + "\n\n"
