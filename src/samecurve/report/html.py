"""The HTML report: one self-contained file (inline CSS and SVG, nothing fetched), made from the store alone.

The template lives in this module (so it ships with the code) and autoescapes everything; the only
markup let through unescaped is the SVG matplotlib wrote, whose text matplotlib escapes itself.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from .. import __version__
from ..organisms.base import REPLACEMENT_RULE
from ..store import Store
from . import plots
from . import terminal as T
from ..ladder import CHOSEN, budget_text, largest_share
from ..tois import rows as toi_map
from .figure_pool import map_figures
from .task_figures import attach_items, figures_of, rows_by_task
from .terminal import (FAMILY_ORDER, ReportData, arm_note, collect, control_name, control_status,
                       data_only_marker, data_only_sentence, direction, fmt, fmt_ci, fmt_diff, fmt_int, fmt_p,
                       fmt_seeds, fmt_signed, fmt_std, fmt_units, plural, sentence, toi_lines)

# Every verdict has a class of its own (v-…) on top of its tone; the two that compare nothing
# (a baseline that fails its control, too few organisms) are drawn unlike any win or loss.
VERDICT_CLASS = {T.INTERP_AHEAD: "v-interp-ahead good", T.BASELINE_AHEAD: "v-baseline-ahead bad",
                 T.INTERP_FAILS: "v-interp-fails bad", T.BASELINE_FAILS: "v-baseline-fails void",
                 T.NEITHER: "v-neither void", T.NO_DIFF: "v-no-diff meh", T.TOO_FEW: "v-too-few few",
                 T.NO_BASELINE: "v-no-baseline dim", T.NO_INTERP: "v-no-interp dim", T.NO_CONTROL: "v-no-control dim",
                 T.INTERP_FAILED: "v-interp-failed bad", T.BASELINE_FAILED: "v-baseline-failed bad"}


def verdict_class(verdict: str) -> str:
    return VERDICT_CLASS.get(verdict, "meh" if str(verdict).startswith("mixed") else "")
ORGANISM_METRICS = ("clean_accuracy", "attack_success_rate", "triggered_honest_rate")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#f9fafb;margin:0}
main{max-width:1280px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
h3{font-size:16px;margin:26px 0 6px}.sub{color:#6b7280;margin:0 0 16px}
table{border-collapse:collapse;width:100%;margin:8px 0 14px;font-size:12.5px}
th,td{border-bottom:1px solid #e5e7eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6;font-weight:600;white-space:nowrap}td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.good{color:#15803d;font-weight:600}.bad{color:#b91c1c;font-weight:600}.meh{color:#a16207;font-weight:600}
.dim{color:#6b7280}.pill{display:inline-block;padding:1px 7px;border-radius:9px;background:#f3f4f6}
.fam-interp{color:#2563eb}.fam-baseline{color:#d97706}.fam-control{color:#6b7280}
.figs{display:flex;flex-wrap:wrap;gap:12px}.figs figure{margin:0;flex:1 1 460px}
svg{max-width:100%;height:auto}ul.plain{padding-left:18px}code{font-size:12px}
.note{color:#4b5563;font-size:13px}.sentence{margin:6px 0}.sentence span{font-weight:400}
.nw{white-space:nowrap}.wide{overflow-x:auto}.hit{color:#15803d}.miss{color:#b91c1c}
.void{color:#a21caf;font-weight:600;font-style:italic;background:#fdf4ff;border-radius:9px;padding:0 6px}
.few{color:#4b5563;font-style:italic;border:1px dashed #9ca3af;border-radius:9px;padding:0 6px;white-space:nowrap}
tr.detail td{border-bottom:1px solid #e5e7eb;padding:0 8px 7px;color:#4b5563;font-size:12px}
tr.has-detail td{border-bottom:none}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;font-size:13px;margin:6px 0 10px}
dl.facts dt{color:#6b7280}dl.facts dd{margin:0}
pre.tb{font-size:11px;white-space:pre-wrap;background:#f9fafb;padding:6px;max-height:24em;overflow:auto}
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>samecurve report{% if runs %}: {{ runs[0].suite }}{% endif %}</title>
<style>{{ css }}</style></head>
<body><main>
<h1>samecurve: interp vs baselines on the same task</h1>
<p class="sub">Store <code>{{ store_name }}</code> · samecurve {{ version }} ·
{{ n_cells }} finished cells, {{ n_scores }} scores{% if failures %},
<a class="bad" href="#failed-cells">{{ failures|length }} failed cells</a>{% endif %}</p>

<h2>Runs</h2>
{% if runs %}<table><tr><th>run</th><th>suite</th><th>created</th><th>budget</th><th>versions</th></tr>
{% for r in runs %}<tr><td><code>{{ r.run_id }}</code></td><td>{{ r.suite }}</td><td class="num">{{ r.created }}</td>
<td>{{ r.budget }}</td><td>{{ r.versions }}</td></tr>{% endfor %}</table>
{% else %}<p class="dim">No run recorded.</p>{% endif %}

{% if failures %}<h2 id="failed-cells">Failed cells</h2>
<p class="note">These cells did not finish, so no verdict above uses them. The full traceback of each is
stored in <code>cells.error</code> of <code>{{ store_name }}</code>; print them with
<code>samecurve report {{ where }} --failures</code>.</p>
<table><tr><th>task</th><th>arm</th><th>family</th><th>seed</th><th>error</th></tr>
{% for f in failures %}<tr><td class="nw">{{ f.task }}</td><td class="nw bad">{{ f.arm }}</td>
<td class="fam-{{ f.family }}">{{ f.family }}</td><td class="num">{{ f.seed }}</td>
<td>{{ f.error }}<details><summary class="dim">traceback</summary><pre class="tb">{{ f.traceback }}</pre></details></td></tr>{% endfor %}
</table>{% endif %}

{% if over_budget %}<h2 id="over-budget">Cells over budget</h2>
<p class="note">The method of each of these cells needed more than its budget gives (for example a
ladder's low rung): an outcome, not a failure. They have no scores, so no verdict counts them; a row
whose side has no other arm at that budget says so.</p>
<table><tr><th>task</th><th>arm</th><th>family</th><th>seed</th><th>budget</th><th>what ran out</th></tr>
{% for f in over_budget %}<tr><td class="nw">{{ f.task }}</td><td class="nw">{{ f.arm }}</td>
<td class="fam-{{ f.family }}">{{ f.family }}</td><td class="num">{{ f.seed }}</td><td>{{ f.budget_text }}</td>
<td>{{ f.error }}</td></tr>{% endfor %}
</table>{% endif %}

<h2>Verdicts</h2>
{% if not verdicts %}<p class="meh">No finished cells in this store yet: nothing to grade.</p>{% else %}
<p class="note">Δ = interp − baseline in the metric's own units with its 95% CI; std Δ is the same
divided by the SD of the per-unit paired differences (one scale for every row); p is the row's test, q its
Benjamini–Hochberg adjustment over this run's rows; n counts independent units. {% if common %}
Every row's <b>inference</b>: {{ common.inference }}; its <b>selection</b>: {{ common.selection }}.{% endif %}</p>
<div class="wide"><table><tr><th>task</th><th>metric</th><th>verdict</th><th>best interp</th><th>best baseline</th>
<th>Δ [95% CI]</th><th>std Δ [95% CI]</th><th>p</th><th>q</th><th>n</th></tr>
{% for v in verdicts %}<tr class="has-detail"><td class="nw">{{ v.task }}</td><td class="nw"><a href="#{{ v.anchor }}">{{ v.metric }}</a> {{ v.arrow }}</td>
<td><span class="{{ v.cls }}">{{ v.verdict }}</span>{% if v.level %}<br><span class="dim">at {{ v.level }}; <a href="#{{ v.anchor }}">the ladder</a>: {{ v.crossover }}</span>{% endif %}{% if v.given_away %}<br><span class="void">{{ v.given_away }}</span>{% endif %}</td><td>{{ v.interp }}</td><td>{{ v.baseline }}</td>
<td class="num">{{ v.diff }}</td><td class="num">{{ v.std }}</td><td class="num">{{ v.p }}</td><td class="num">{{ v.q }}</td>
<td>{{ v.units }}</td></tr>
<tr class="detail"><td colspan="10">{% if not common %}Inference: {{ v.inference }} · Selection: {{ v.selection }} ·
{% endif %}{% if v.scope %}Scope: {{ v.scope }} · {% endif %}ToIs: {{ v.tois }}</td></tr>{% endfor %}</table></div>
{% for v in verdicts %}<p class="sentence"><b>{{ v.task }}/{{ v.metric }}:</b> <span class="{{ v.cls }}">{{ v.sentence }}</span></p>{% endfor %}
<figure>{{ diff_svg }}</figure>
{% if ladder_svg %}<figure>{{ ladder_svg }}</figure>{% endif %}

<h2>Per theory of impact</h2>
<ul class="plain">{% for t in tois %}<li><b>{{ t.toi }}</b>: <span class="{{ t.cls }}">{{ t.summary }}</span>
<span class="dim">({{ t.parts }})</span></li>{% endfor %}</ul>
{% endif %}

<h2 id="toi-map">The map of theories of impact</h2>
<p class="note">The twenty of the longlist (Nanda 2022) and the topics of the critique samecurve answers:
what this run says of each, which tasks test it, or why none does yet (<code>samecurve list tois</code>).</p>
<div class="wide"><table><tr><th>theory of impact</th><th>source</th><th>in this run</th><th>status</th><th>tasks, or why not</th></tr>
{% for t in toi_map %}<tr><td class="nw">{{ t.toi }}</td><td class="nw dim">{{ t.source }}</td>
<td>{% if t.summary %}<span class="{{ t.cls }}">{{ t.summary }}</span>{% else %}<span class="dim">—</span>{% endif %}</td>
<td class="nw">{{ t.status }}</td><td>{{ t.tasks or t.note|replace("`", "") }}</td></tr>{% endfor %}</table></div>

{% for m in metrics %}
<h2 id="{{ m.anchor }}">{{ m.task }} / {{ m.metric }}</h2>
<p class="note">{{ m.description }} ({{ m.direction }}{% if m.chance is not none %}; chance {{ m.chance }}{% endif %}).
Verdict: <span class="{{ m.cls }}">{{ m.verdict }}</span>. {{ m.sentence }}</p>
<dl class="facts">{% for k, val in m.facts %}<dt>{{ k }}</dt><dd>{{ val }}</dd>{% endfor %}</dl>
{% if m.ladder %}<h3>Budget ladder</h3>
<p class="note">The verdict above is the headline rung ({{ m.headline_level }}); every rung is decided on its own
units like any row (q over all rungs of the run). Crossover: {{ m.crossover }}.{% if m.efficiency %} Efficiency:
{{ m.efficiency }}.{% endif %} Scores are out-of-fold (each unit's best arm chosen on the other units).</p>
{% if m.curve_svg %}<figure>{{ m.curve_svg }}</figure>{% endif %}
<div class="wide"><table><tr><th>rung ({{ m.ladder_axis }})</th><th>verdict</th><th>interp: best arm (in-sample); out-of-fold score [95% CI]; what the arm spent</th>
<th>baseline: best arm (in-sample); out-of-fold score [95% CI]; what the arm spent</th><th>interp − baseline [95% CI]</th><th>q</th><th>units</th></tr>
{% for r in m.ladder %}<tr><td class="num">{{ r.amount }}{% if r.headline %} (headline){% endif %}</td><td><span class="{{ r.cls }}">{{ r.verdict }}</span></td>
<td>{{ r.interp }}</td><td>{{ r.baseline }}</td><td class="num">{{ r.diff }}</td><td class="num">{{ r.q }}</td><td class="num">{{ r.n }}</td></tr>{% endfor %}</table></div>{% endif %}
{% if m.arms %}<div class="figs"><figure>{{ m.spend_svg }}</figure><figure>{{ m.arms_svg }}</figure></div>
<div class="wide"><table><tr><th>arm</th><th>family</th><th>access</th><th>mean ± sd (seeds)</th><th>95% CI</th>
<th>seed means</th><th>n</th><th>vs its control: diff [95% CI]</th><th>fwd passes / job</th><th>of budget</th></tr>
{% for a in m.arms %}<tr><td class="nw">{{ a.arm }}</td><td class="fam-{{ a.family_class }}">{{ a.family }}</td><td class="nw">{{ a.access }}</td>
<td class="num">{{ a.mean }}</td><td class="num">{{ a.ci }}</td><td>{{ a.seed_means }}</td><td class="num">{{ a.n }}</td>
<td>{% if a.vs_control %}<span class="num">{{ a.vs_control }}</span> vs {{ a.control }}: {% endif %}<span class="{{ a.status_cls }}">{{ a.status }}</span></td>
<td class="num">{{ a.fwd }}</td><td class="num{{ ' dim' if a.unused }}" title="{{ a.share_title }}">{{ a.share }}</td></tr>{% endfor %}</table></div>{% endif %}
{% for f in m.task_figures %}
<h2 id="{{ f.anchor }}">{{ f.title }}</h2>
{% if f.note %}<p class="note">{{ f.note }}</p>{% endif %}
<figure>{{ f.svg }}</figure>
{% endfor %}
{% endfor %}

{% if triggers %}<h2>Trigger recovery</h2>
<p class="note">Top proposed trigger per organism, arm and seed, against the planted one; ASR is the
share of held-out clean prompts the proposal flips to the planted defect.</p>
<table><tr><th>organism</th><th>planted</th><th>arm</th><th>family</th><th>seed</th><th>proposed</th><th>ASR</th></tr>
{% for t in triggers %}<tr><td>{{ t.organism }}</td><td><code>{{ t.planted }}</code></td><td>{{ t.arm }}</td>
<td class="fam-{{ t.family }}">{{ t.family }}</td><td class="num">{{ t.seed }}</td>
<td><code class="{{ 'hit' if t.exact else 'miss' }}">{{ t.proposed }}</code></td><td class="num">{{ t.asr }}</td></tr>{% endfor %}
</table>{% endif %}

{% if model_scores %}<h2>Model-level scores</h2>
<p class="note">Each arm's score per organism, averaged over seeds (what the model-level AUROC ranks).</p>
<table><tr><th>organism</th>{% for a in model_scores.arms %}<th>{{ a }}</th>{% endfor %}</tr>
{% for row in model_scores.rows %}<tr><td>{{ row.organism }}</td>{% for s in row.scores %}<td class="num">{{ s }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endif %}

{% if saes %}<h2 id="released-saes">Released SAEs</h2>
<p class="note">The sparse autoencoders the SAE arms read: one TopK SAE per organism and site, trained once
on the organism's natural inputs and cached, as released SAE suites are. Their training is an amortised
cost, shown here beside the arm's own metered spend per job and never charged to it. FVU is the fraction
of variance unexplained on held-out activations; dead: latents that fire on none of them.</p>
<table><tr><th>organism</th><th>site</th><th>latents</th><th>k</th><th>L0</th><th>held-out FVU</th><th>dead</th>
<th>amortised fwd</th><th>amortised CPU-s</th><th>used by (own fwd per job)</th></tr>
{% for d in saes %}<tr><td>{{ d.organism }}</td><td><code>{{ d.site }}</code></td><td class="num">{{ d.d_sae }}</td>
<td class="num">{{ d.k }}</td><td class="num">{{ d.l0 }}</td><td class="num">{{ d.fvu }}</td><td class="num">{{ d.dead }}</td>
<td class="num">{{ d.fwd }}</td><td class="num">{{ d.cpu }}</td><td>{{ d.used_by }}</td></tr>{% endfor %}
</table>{% endif %}

<h2>Organisms</h2>
{% set refused = organisms | selectattr("refused") | list %}
{% if refused %}<p class="note">{{ refused | length }} organism{{ "s" if refused | length > 1 }} refused by
{{ "their" if refused | length > 1 else "its" }} build check and replaced by the pre-registered rule ({{ replacement_rule }}): {% for o in refused %}<code>{{ o.label }}</code> ({{ o.refused }}){{ "; " if not loop.last }}{% endfor %}.</p>{% endif %}
{% if organisms %}<table><tr><th>label</th><th>family</th><th>planted</th><th>clean accuracy</th>
<th>attack success rate</th><th>honest under trigger</th><th>spec hash</th></tr>
{% for o in organisms %}<tr><td>{{ o.label }}</td><td>{{ o.family }}</td><td>{{ o.planted }}</td>
<td class="num">{{ o.clean_accuracy }}</td><td class="num">{{ o.attack_success_rate }}</td>
<td class="num">{{ o.triggered_honest_rate }}</td><td><code>{{ o.hash }}</code></td></tr>{% endfor %}</table>
{% else %}<p class="dim">No organisms recorded.</p>{% endif %}

<h2>How to read this</h2>
<p class="note">The independent units are organisms (for a task on one pretrained model, its seeds): items
within a unit are averaged, never resampled as if independent, and every arm saw the same units. Each side
is credited only if its arm beats its must-lose control (and chance, where the metric has one); if not,
the verdict says which side failed its control, whatever the raw scores. A row whose design cannot reach
significance says “too few organisms”, never ahead or behind. The verdict chart puts every row on one
standardised scale, flipped for lower-is-better metrics so that right is always interp-better; each
metric's own section keeps its raw units. Spend is forward passes per job, as metered, and the largest share
of the forward passes, backward passes or tuning trials every arm was given that it used (an arm that leaves
most of each unused says so there; the cell's tooltip names the count). A row marked
“data gives it away” has a data-only arm (one that never runs the model) that its best arm does not beat:
the task leaks its answer through the data, whatever the verdict says.</p>
</main></body></html>
"""


def _kv(d: dict | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (d or {}).items()) or "—"


def _runs(store: Store, cells: list[dict]) -> list[dict]:
    """Run metadata; the budget comes from the run config, else from the cells it ran."""
    out = []
    for r in store.runs():
        budgets = sorted({c["budget"] for c in cells if c["run_id"] == r["run_id"]})
        budget = _kv(r["config"].get("budget")) if r["config"].get("budget") else \
            "; ".join(_kv(json.loads(b)) for b in budgets) or "—"
        out.append({"run_id": r["run_id"], "suite": r["suite"], "created": r["created"], "budget": budget,
                    "versions": _kv(r["versions"])})
    return out


def _text(x: Any) -> str:
    return "—" if x is None or x == "" else str(x)


def _arm_score(arm: str | None, score: Any, note: str = "") -> str:
    """The page keeps three decimals on every score (the terminal and README round by magnitude)."""
    return "—" if arm is None else f"{arm} {fmt(score)}{note}"


def _verdict_rows(data: ReportData) -> list[dict]:
    out = []
    for v in data.verdicts:
        out.append({"task": v["task"], "metric": v["metric"], "anchor": plots.slug(v["task"], v["metric"]),
                    "arrow": T.arrow(v), "tois": ", ".join(v.get("tois") or []) or "—", "verdict": v["verdict"],
                    "cls": verdict_class(v["verdict"]), "level": v.get("headline_level"),
                    "crossover": v.get("crossover") or "one rung only",
                    "interp": _arm_score(v.get("best_interp_arm"), v.get("interp_score"), arm_note(v, "interp")),
                    "baseline": _arm_score(v.get("best_baseline_arm"), v.get("baseline_score"), arm_note(v, "baseline")),
                    "diff": fmt_diff(v), "std": fmt_std(v), "p": fmt_p(v.get("p_value")), "q": fmt_p(v.get("q_value")),
                    "units": fmt_units(v), "inference": _text(v.get("inference")),
                    "selection": _text(v.get("selection")), "scope": v.get("scope") or "",
                    "seeds": fmt_seeds(v.get("seeds")), "sentence": sentence(v), "given_away": data_only_marker(v)})
    return out


def _shared_method(rows: list[dict]) -> dict | None:
    """The inference and selection text when every row has the same (the usual case): said once
    above the table instead of in each row's detail line."""
    kinds = {(r["inference"], r["selection"]) for r in rows}
    return {"inference": rows[0]["inference"], "selection": rows[0]["selection"]} if len(kinds) == 1 else None


def _gate_text(vc: dict | None, ch: dict | None) -> str:
    parts = []
    if vc is not None:
        p = f", p {fmt_p(vc['p_value'])}" if vc.get("p_value") is not None else ""
        parts.append(f"vs {vc.get('control')}: {fmt_signed(vc.get('diff'))} {fmt_ci(vc.get('low'), vc.get('high'))}{p}, "
                     + T.gate_word(vc))
    if ch is not None:
        p = f", p {fmt_p(ch['p_value'])}" if ch.get("p_value") is not None else ""
        parts.append(f"vs chance {ch.get('chance')}{p}, " + T.gate_word(ch))
    return "; ".join(parts) or "no control scored"


def _facts(v: dict) -> list[tuple[str, str]]:
    """A verdict row's numbers, in the metric's own units, for its section."""
    need = v.get("min_units")
    return [("interp − baseline", f"{fmt_diff(v)} (raw units, 95% CI)"),
            ("standardised", f"{fmt_std(v)} (÷ SD of per-unit differences)"),
            ("p, q", f"{fmt_p(v.get('p_value'))}, {fmt_p(v.get('q_value'))}"),
            ("units", fmt_units(v) + (f" (significance needs at least {plural(need, v.get('unit') or 'organism')})"
                                      if need else "")),
            ("interp gate", f"{v.get('best_interp_arm') or '—'}: {_gate_text(v.get('interp_vs_control'), v.get('interp_vs_chance'))}"),
            ("baseline gate", f"{v.get('best_baseline_arm') or '—'}: {_gate_text(v.get('baseline_vs_control'), v.get('baseline_vs_chance'))}"),
            ("inference", _text(v.get("inference"))), ("selection", _text(v.get("selection"))),
            ("scope", v.get("scope") or "no restriction stated"), ("seeds", fmt_seeds(v.get("seeds")))] + \
        ([("data-only check", data_only_sentence(v).strip())] if v.get("data_only") else [])


UNUSED_SHARE = 0.5  # an arm spending under half of every count it chooses to spend is marked as leaving it unused


def _budget_share(a: dict, budget: dict | None) -> tuple[str, str, bool]:
    """(the largest share of its budget's chosen counts (forward, backward passes, tuning trials) the
    arm spent per job, its tooltip naming that count, whether most of it went unused). Labels are
    charged at hand-out, so they never count (ladder.CHOSEN); a fine-tune that uses up its backward
    passes is not "unused" for spending few forward ones."""
    budget = budget or {}
    largest = largest_share(a.get("spend") or {"forward_passes": a["forward_passes"]}, budget, CHOSEN)
    if largest is None:
        return "—", "", False
    share, name = largest  # the first of equal shares: forward passes first
    unused = share < UNUSED_SHARE and not a.get("is_control")
    note = " (data-only)" if a.get("access") == "data-only" else " (unused)" if unused else ""
    return f"{share:.0%}{note}", f"of {fmt_int(budget[name])} {name.replace('_', ' ')}", unused


def _arm_row(a: dict, budget: dict | None = None) -> dict:
    vc, status = a.get("vs_control"), control_status(a)
    share, share_title, unused = _budget_share(a, budget)
    return {"arm": a["arm"], "family": a["family"] + (" (control)" if a["is_control"] and a["family"] != "control" else ""),
            "family_class": "control" if a["is_control"] else a["family"], "access": a.get("access") or "—",
            "mean": f"{fmt(a['mean'])} ± {fmt(a['seed_sd'])}", "ci": fmt_ci(a["ci_low"], a["ci_high"], signed=False),
            "seed_means": ", ".join(f"s{s}\u00a0{fmt(m)}" for s, m in (a.get("seed_means") or {}).items()),
            "n": a.get("n"), "control": control_name(a),
            "vs_control": "" if vc is None else f"{fmt_signed(vc.get('diff'))} {fmt_ci(vc.get('low'), vc.get('high'))}",
            "status": status, "status_cls": "good" if status == "beats" else "bad" if status.startswith("FAILS") else "dim",
            "fwd": fmt_int(a["forward_passes"]), "share": share, "share_title": share_title, "unused": unused}


def _metric_sections(data: ReportData) -> list[dict]:
    """One section per metric; a task's own figures follow its last metric section."""
    tasks = rows_by_task(data.rows)
    drawn = map_figures(_draw, [("task", t) for t in tasks] + [("metric", m) for m in data.metrics])
    figures: dict[str, list[dict]] = defaultdict(list)
    for f in (f for task_figs in drawn[:len(tasks)] for f in task_figs):
        figures[f["task"]].append({**f, "anchor": plots.slug(f["task"], f["title"]), "svg": Markup(f["svg"])})
    last = {m.task: i for i, m in enumerate(data.metrics)}
    out = []
    for i, (m, figs) in enumerate(zip(data.metrics, drawn[len(tasks):])):
        out.append({"task": m.task, "metric": m.metric, "anchor": plots.slug(m.task, m.metric),
                    "description": m.description or "(no description recorded)", "direction": direction(m.higher_is_better),
                    "chance": m.chance, "verdict": m.verdict["verdict"], "cls": verdict_class(m.verdict["verdict"]),
                    "sentence": sentence(m.verdict), "facts": _facts(m.verdict),
                    "spend_svg": Markup(figs["spend"]), "arms_svg": Markup(figs["arms"]),
                    "curve_svg": Markup(figs["curve"]), "ladder": _ladder_rows(m.verdict),
                    "crossover": m.verdict.get("crossover"), "ladder_axis": (m.verdict.get("ladder_axis") or "").replace("_", " "),
                    "headline_level": m.verdict.get("headline_level"),
                    "efficiency": (m.verdict.get("efficiency") or {}).get("statement"),
                    "arms": [_arm_row(a, m.verdict.get("budget")) for a in m.arms], "task_figures": figures[m.task] if last[m.task] == i else []})
    return out


def _ladder_rows(v: dict) -> list[dict]:
    """A budget ladder's rungs as table rows (empty for a single-budget row)."""
    levels = v.get("levels") or []
    if len(levels) < 2:
        return []

    def side(lv: dict, s: str) -> str:
        lo, hi = lv[f"{s}_oof_ci"]
        spent = lv.get(f"{s}_spent_by_field") or {}
        words = ", ".join(f"{fmt_int(x)} {n.replace('_', ' ')}" for n, x in spent.items())
        return (f"{lv.get(f'best_{s}_arm') or '—'} {fmt(lv.get(f'{s}_score_oof'))} {fmt_ci(lo, hi, signed=False)}"
                + (f"; spent {words}" if words else ""))

    return [{"amount": fmt_int(lv["amount"]), "verdict": lv["verdict"], "cls": verdict_class(lv["verdict"]),
             "headline": lv["budget"] == v["budget"], "interp": side(lv, "interp"), "baseline": side(lv, "baseline"),
             "diff": fmt_diff(lv), "q": fmt_p(lv.get("q_value")), "n": lv.get("n_units")} for lv in levels]


def _draw(job: tuple[str, Any]) -> Any:
    """One unit of figure work (module-level: the figure pool sends it to its workers by name): a
    task's own figures, or a metric's two generic ones."""
    kind, what = job
    if kind == "task":
        return figures_of(*what)
    return plots.metric_plots(what) if what.arms else {"spend": "", "arms": "", "curve": ""}


def _triggers(rows: list[dict]) -> list[dict]:
    """Proposed vs planted trigger for every trigger-recovery score."""
    out = []
    for r in rows:
        d = r["detail"] or {}
        if "proposed" not in d or "planted" not in d:
            continue
        out.append({"organism": r["instance"], "planted": " ".join(map(str, d["planted"])) or "—",
                    "arm": r["arm"], "family": r["family"], "seed": r["seed"],
                    "proposed": " ".join(map(str, d["proposed"])) or "(nothing proposed)",
                    "exact": list(d["proposed"]) == list(d["planted"]), "asr": fmt(r["value"])})
    fam = {f: i for i, f in enumerate(FAMILY_ORDER)}
    return sorted(out, key=lambda t: (t["organism"], fam.get(t["family"], len(fam)), t["arm"], t["seed"]))


def _model_scores(rows: list[dict]) -> dict | None:
    """Per-organism scores from model-level details, averaged over seeds, one column per arm."""
    acc: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows:
        for org, s in ((r["detail"] or {}).get("scores") or {}).items():
            acc[(org, r["arm"])].append(float(s))
    if not acc:
        return None
    arms, orgs = sorted({a for _, a in acc}), sorted({o for o, _ in acc})
    return {"arms": arms, "rows": [{"organism": o, "scores": [fmt(sum(acc[(o, a)]) / len(acc[(o, a)]))
                                                              if acc.get((o, a)) else "—" for a in arms]} for o in orgs]}


def _released_saes(rows: list[dict]) -> list[dict]:
    """One row per released SAE (dictionaries.py) the score details name, with the arms that read
    it and their own forward passes per job (the amortised training cost is the SAE's)."""
    found: dict[str, dict] = {}
    users: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        organism = r["instance"].rsplit("/to-", 1)[0]  # without a per-target suffix (steering's "/to-<topic>")
        for site, d in ((r["detail"] or {}).get("dictionaries") or {}).items():
            key = d.get("key", f"{organism}/{site}")
            found.setdefault(key, {"organism": organism, "site": site, **d})
            users[key][r["arm"]].append(float((r.get("spend") or {}).get("forward_passes", 0)))
    out = []
    for key, d in sorted(found.items(), key=lambda kv: (kv[1]["organism"], kv[1]["site"])):
        am = d.get("amortised") or {}
        used = ", ".join(f"{a} ({fmt_int(sum(v) / len(v))})" for a, v in sorted(users[key].items()))
        out.append({"organism": d["organism"], "site": d["site"], "d_sae": d.get("d_sae"), "k": d.get("k"),
                    "l0": fmt(d.get("l0")), "fvu": fmt(d.get("fvu")), "dead": f"{100 * float(d.get('dead_share', 0)):.0f}%",
                    "fwd": fmt_int(am.get("forward_passes", 0)), "cpu": f"{float(am.get('cpu_seconds', 0)):.1f}", "used_by": used})
    return out


def _organisms(store: Store) -> list[dict]:
    out = []
    for o in store.organisms():
        planted = o["spec"].get("planted")
        out.append({"label": o["label"], "family": o["family"], "hash": o["hash"], "refused": o["metrics"].get("refused"),
                    "planted": "—" if planted is None else ("trojan" if planted else "clean"),
                    **{k: fmt(o["metrics"].get(k)) for k in ORGANISM_METRICS}})
    return out


def render_report(data: ReportData, runs: list[dict] | None = None, organisms: list[dict] | None = None,
                  store_name: str = "", n_cells: int | None = None) -> str:
    """The report as one HTML string from already-collected data (no store needed)."""
    rows = _verdict_rows(data)
    context: dict[str, Any] = {
        "css": Markup(CSS), "version": __version__, "store_name": store_name or "—",
        "n_cells": "—" if n_cells is None else n_cells, "n_scores": len(data.rows),
        "runs": runs or [], "verdicts": rows, "common": _shared_method(rows), "diff_svg": Markup(plots.diff_plot(data.verdicts)) if data.verdicts else "",
        "ladder_svg": Markup(plots.ladder_overview(data.verdicts)),
        "tois": [{"toi": t, "summary": s, "parts": p, "cls": verdict_class(s) or "meh"} for t, s, p in toi_lines(data)],
        "toi_map": [{**r, "summary": data.toi.get(r["toi"], ""), "cls": verdict_class(data.toi.get(r["toi"], "")) or "meh"}
                    for r in toi_map()],
        "metrics": _metric_sections(data), "triggers": _triggers(data.rows), "model_scores": _model_scores(data.rows),
        "saes": _released_saes(data.rows), "organisms": organisms or [], "replacement_rule": REPLACEMENT_RULE, "failures": data.failures, "where": data.where,
        "over_budget": [{**f, "budget_text": budget_text(f.get("budget") or {})} for f in data.over_budget],
    }
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(TEMPLATE).render(**context)


def render_html(store: Store, run_id: str | None = None, verdicts: list[dict] | None = None) -> str:
    """The whole report as one HTML string, from the store alone (one run's cells when `run_id` is given;
    `verdicts`, when given, are shown instead of being recomputed)."""
    # the plan's cells, whichever run computed them (a resumed or cached cell keeps its first run's id)
    data, cells = collect(store, run_id, verdicts), store.cells(run_id)
    attach_items(lambda r: store.items(r["cell_key"], r["metric"], r["instance"]), data.rows)
    runs = [r for r in _runs(store, cells) if run_id is None or r["run_id"] == run_id]
    return render_report(data, runs, _organisms(store), store.path.name, sum(c["status"] == "done" for c in cells))


def write_html(store: Store, path: str | Path, run_id: str | None = None, verdicts: list[dict] | None = None) -> Path:
    """Write the self-contained report to `path` (parents created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(store, run_id, verdicts), encoding="utf-8")
    return path
