"""A row the data gives away says so in every layout; the HTML arm tables show each arm's share of
the forward-pass budget and mark what an arm left unused."""

from __future__ import annotations

from rich.console import Console

from samecurve.report.html import render_report
from samecurve.report.markdown import markdown_table
from samecurve.report.terminal import GIVEN_AWAY, build, print_data, sentence
from tests.report.synthetic import ROWS, row

CANARY = {"arm": "input-novelty", "mean": 0.97, "best_arm": "activation-anomaly", "best_mean": 0.96, "n": 8,
          "diff": -0.01, "p_value": 0.7, "decidable": True}
AWAY = row("backdoor-audit", "input-auroc", "no clear difference", "activation-anomaly", "input-novelty",
           0.96, 0.97, -0.01, -0.05, 0.03, -0.2, 0.7, 0.8, 8, data_only={**CANARY, "given_away": True})
KEPT = row("backdoor-audit", "trigger-asr", "interp ahead", "neuron-stimulation", "gcg", 0.9, 0.5, 0.4, 0.3,
           0.5, 3.0, 0.004, 0.01, 8, data_only={**CANARY, "mean": 0.1, "best_arm": "neuron-stimulation",
                                                 "best_mean": 0.9, "diff": 0.8, "p_value": 0.004, "given_away": False})


def _text(width: int, terminal: bool) -> str:
    console = Console(width=width, record=True, force_terminal=terminal)
    print_data(build([], {}, verdicts=[dict(v) for v in (*ROWS, AWAY, KEPT)]), console)
    return console.export_text()


def test_every_layout_marks_the_row_the_data_gives_away_and_only_that_row() -> None:
    assert "The data gives it away" in sentence(AWAY) and "input-novelty (0.970" in sentence(AWAY)
    assert "does not give it away" in sentence(KEPT) and "p 0.004" in sentence(KEPT)
    assert "give" not in sentence(ROWS[0])
    for width, terminal in ((80, False), (200, True)):
        text = _text(width, terminal)
        assert text.count(GIVEN_AWAY) >= 1 and max(map(len, text.splitlines())) <= width
        marked = [ln for ln in text.splitlines() if GIVEN_AWAY in ln]
        assert not any("trigger-asr" in ln for ln in marked)
    md = markdown_table([AWAY, KEPT, ROWS[0]], {})
    lines = md.splitlines()
    assert GIVEN_AWAY in lines[2] and GIVEN_AWAY not in lines[3] and GIVEN_AWAY not in lines[4]
    html = render_report(build([], {}, verdicts=[dict(AWAY), dict(KEPT)]))
    assert html.count(f'<span class="void">{GIVEN_AWAY}</span>') == 1


def _rows(arm: str, family: str, access: str, control: str, value: float, fwd: int) -> list[dict]:
    return [{"task": "backdoor-audit", "metric": "input-auroc", "arm": arm, "family": family, "access": access,
             "control": control, "seed": s, "instance": f"o{s}", "value": value + 0.01 * (s % 3),
             "spend": {"forward_passes": fwd}, "budget": {"forward_passes": 4000}, "detail": {}} for s in range(8)]


def test_the_html_arm_table_shows_the_share_of_the_budget_spent() -> None:
    rows = (_rows("probe", "interp", "white-box", "random-scores", 0.9, 3900)
            + _rows("input-novelty", "baseline", "data-only", "random-scores", 0.95, 0)
            + _rows("strip", "baseline", "black-box", "random-scores", 0.7, 400)
            + _rows("random-scores", "control", "black-box", "", 0.5, 0))
    meta = {"backdoor-audit": {"tois": ["auditing"], "metrics": {"input-auroc": {"higher_is_better": True,
                                                                                 "chance": 0.5}}}}
    data = build(rows, meta)
    (v,) = data.verdicts
    assert v["data_only"]["given_away"] is True and v["data_only"]["best_arm"] == "probe"
    html = render_report(data)
    assert "<th>of budget</th>" in html
    assert ">98%<" in html and ">0% (data-only)<" in html and ">10% (unused)<" in html
    assert 'title="of 4,000 forward passes"' in html and GIVEN_AWAY in html


def test_a_fine_tune_that_uses_up_its_backward_passes_is_not_marked_unused() -> None:
    # the share is the largest of the counts an arm chooses to spend: 10% of the forward passes but
    # every backward pass is 100% of the budget, named in the tooltip
    rows = [{**r, "spend": {"forward_passes": 400, "backward_passes": 1000, "labelled_examples": 64},
             "budget": {"forward_passes": 4000, "backward_passes": 1000, "labelled_examples": 64}}
            for r in _rows("finetune", "baseline", "gradients", "random-scores", 0.9, 400)]
    rows += [{**r, "spend": {"forward_passes": 400, "backward_passes": 0, "labelled_examples": 64},
              "budget": {"forward_passes": 4000, "backward_passes": 1000, "labelled_examples": 64}}
             for r in _rows("probe", "interp", "white-box", "random-scores", 0.8, 400)]
    rows += [{**r, "budget": {"forward_passes": 4000, "backward_passes": 1000, "labelled_examples": 64}}
             for r in _rows("random-scores", "control", "black-box", "", 0.5, 0)]
    meta = {"backdoor-audit": {"tois": ["auditing"], "metrics": {"input-auroc": {"higher_is_better": True,
                                                                                 "chance": 0.5}}}}
    html = render_report(build(rows, meta))
    assert 'title="of 1,000 backward passes">100%<' in html  # the fine-tune: all its backward passes
    assert 'title="of 4,000 forward passes">10% (unused)<' in html  # the probe: labels handed out do not count
