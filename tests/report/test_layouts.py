"""Every layout of the report on synthetic verdict rows of every kind: the terminal at 80 and at 200
columns, the one-scale difference chart, the HTML rows, the sentences."""

from __future__ import annotations

import re

from rich.console import Console

from samecurve.report import plots
from samecurve.report.html import render_report
from samecurve.report.terminal import build, print_data, sentence
from tests.report.synthetic import INFERENCE, ROWS, SELECTION, row

ARMS = ("acdc", "distill", "activation-anomaly", "output-consistency", "fourier-sparsity", "targeted-eval",
        "sae-feature-ablation", "finetune-relabelled", "layer-probe", "finetuned-classifier")


def _print(width: int, terminal: bool) -> list[str]:
    console = Console(width=width, record=True, force_terminal=terminal)
    print_data(build([], {}, verdicts=[dict(v) for v in ROWS]), console)
    return console.export_text().splitlines()


def test_compact_layout_fits_80_columns_and_shows_every_row() -> None:
    lines = _print(80, terminal=False)
    assert max(map(len, lines)) <= 80
    text = "\n".join(lines)
    for v in ROWS:  # every row, its name unbroken on one line, and its verdict
        assert any(f"{v['task']}/{v['metric']}" in line for line in lines), v["metric"]
        assert v["verdict"] in text
    for arm in ARMS:  # no arm name is split across lines
        assert re.search(rf"(^|\s){re.escape(arm)}\s", text), arm
    assert "│" not in text
    assert "n 3 seeds (one pretrained model)" in text and "n 8 organisms" in text
    assert "holds for all-MiniLM-L6-v2 only" in text
    assert "-97.2 [-277.8, +41.7]" in text  # a lead time keeps a precision that suits it
    assert "q 0.012" in text


def test_wide_layout_is_one_table_row_per_verdict() -> None:
    lines = _print(200, terminal=True)
    assert max(map(len, lines)) <= 200
    for v in ROWS:
        assert sum(v["metric"] in line and v["verdict"] in line for line in lines) >= 1, v["metric"]


def test_narrow_terminal_gets_the_compact_layout_too() -> None:
    lines = _print(100, terminal=True)
    assert max(map(len, lines)) <= 100 and not any("│" in line or "─" * 20 in line for line in lines)


def test_standardised_scale_is_oriented_interp_better_to_the_right() -> None:
    up = row("t", "m", "interp ahead", "a", "b", 1.0, 0.0, 1.0, 0.5, 1.5, 2.0, 0.01, 0.02, 8)
    down = {**up, "higher_is_better": False}
    assert plots.standardised(up) == (2.0, 1.0, 3.0)
    assert plots.standardised(down) == (-2.0, -3.0, -1.0)  # lower is better: interp higher is interp worse
    assert plots.standardised({**up, "std_diff": None}) is None


def test_diff_plot_puts_every_row_on_one_scale() -> None:
    svg = plots.diff_plot(ROWS)
    assert svg.startswith("<svg")
    assert "standardised paired difference, interp − baseline (higher = interp better)" in svg
    assert "sign flipped" in svg  # the lower-is-better rows say so
    assert "raw Δ −97.2" in svg.replace("-", "−") or "raw Δ -97.2" in svg  # raw units beside the row
    # rows missing a side say which side, never a verdict word they did not earn
    assert "not compared: no baseline" in svg and "not compared: interp arm failed" in svg
    assert "no comparison (no clear difference)" not in svg
    assert plots.VERDICT_COLOURS["baseline fails its control"] != plots.VERDICT_COLOURS["interp fails its control"]
    assert plots.VERDICT_COLOURS["too few organisms"] not in (plots.VERDICT_COLOURS["interp ahead"],
                                                              plots.VERDICT_COLOURS["baseline ahead"])


def test_html_rows_show_method_units_p_q_selection_and_scope() -> None:
    html = render_report(build([], {}, verdicts=[dict(v) for v in ROWS]))
    for text in (INFERENCE, SELECTION, "holds for all-MiniLM-L6-v2 only", "3 seeds (one pretrained model)",
                 "8 organisms", "0.0039", "0.012", "+3.10", "class=\"v-too-few few\"",
                 "class=\"v-baseline-fails void\"", "class=\"v-interp-ahead good\"", "lower is better"):
        assert text in html, text
    # a method every row shares is said once above the table, not in each row's detail line
    assert html.count("<b>inference</b>") == 1 and "Inference: " not in html
    assert html.count("<svg") == 1  # the chart; no arms, no per-metric figures
    assert "<script" not in html and "src=" not in html


def test_sentences_say_plainly_when_interp_loses() -> None:
    v = {"task": "backdoor-audit", "metric": "input-auroc", "verdict": "baseline ahead", "best_interp_arm": "sae-probe",
         "best_baseline_arm": "perplexity", "interp_score": 0.6, "baseline_score": 0.8, "diff": -0.2,
         "diff_ci_low": -0.25, "diff_ci_high": -0.15, "n_pairs": 6, "higher_is_better": True}
    assert sentence(v).startswith("Interp loses: the baseline perplexity beats the best interp arm sae-probe")
    v.update(verdict="interp fails its control", interp_vs_control=None)
    assert "has no control arm" in sentence(v)


def test_sentences_for_rows_that_compare_nothing() -> None:
    by_verdict = {v["verdict"]: sentence(v) for v in ROWS}
    assert by_verdict["too few organisms"].startswith("Too few organisms: 3 seeds (one pretrained model)")
    assert "fewer than 6 seeds" in by_verdict["too few organisms"]
    few = by_verdict["baseline fails its control"]
    assert few.startswith("Baseline fails its control: the best baseline, finetune-relabelled, did not beat")
    assert "random-scores" in few and "compares nothing" in few
    assert "fourier-random-init" in by_verdict["interp fails its control"]
    assert "q 0.012" in by_verdict["interp ahead"] and "8 organisms" in by_verdict["interp ahead"]
