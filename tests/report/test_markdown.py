"""README's results table is printed from verdict rows: one markdown row per verdict, then the fingerprint."""

from __future__ import annotations

from samecurve.report.markdown import markdown_table
from tests.report.synthetic import ROWS, row

FINGERPRINT = {"threads": 2, "source_sha256": "abc123", "cpu": "AMD EPYC 7763", "blas": "openblas 0.3.27",
               "packages": {"torch": "2.4.0", "numpy": "2.1.0"}}
RUN = {"run_id": "run-7", "suite": "quick", "config": {"seeds": [0, 1, 2]}}


def test_one_row_per_verdict_with_the_readme_columns() -> None:
    md = markdown_table(ROWS, FINGERPRINT, RUN)
    table, _, para = md.partition("\n\n")
    lines = table.splitlines()
    assert lines[0] == ("| task | metric | verdict | best interp (score) | best baseline (score) | diff [95% CI] "
                        "| q | units |")
    assert lines[1] == "|---|---|---|---|---|---|---|---|"
    assert len(lines) == 2 + len(ROWS)
    assert all(line.count(" | ") == 7 for line in lines[2:])
    assert ("| explanation-faithfulness | induction/loss-recovered-mean | interp ahead | acdc (0.868) | "
            "distill (0.552) | +0.316 [+0.225, +0.386] | 0.012 | 8 organisms |") in lines
    lead = next(line for line in lines if "lead-time-grokking" in line)
    assert "lead-time-grokking (lower is better)" in lead and "−97.2 [−277.8, +41.7]" in lead
    assert "fourier-sparsity (22.2) (fails control)" in lead
    assert "too few organisms (holds for all-MiniLM-L6-v2 only)" in md and "3 seeds (one pretrained model)" in md
    empty = next(line for line in lines if "model-auroc" in line)
    assert empty.endswith("| — | — | 0 organisms |")  # no baseline: dashes, not None
    assert "None" not in md


def test_fingerprint_paragraph_lists_every_key_sorted_then_the_run() -> None:
    para = markdown_table(ROWS[:1], FINGERPRINT, RUN).rstrip("\n").split("\n\n")[1]
    assert para.startswith("**Fingerprint.** blas: openblas 0.3.27; cpu: AMD EPYC 7763; packages: numpy 2.1.0, "
                           "torch 2.4.0; run id: run-7; seeds: 0, 1, 2; source_sha256: abc123; suite: quick; threads: 2")
    assert para.endswith(".") and "\n" not in para


def test_pipes_are_escaped_and_no_run_falls_back_to_the_rows_seeds() -> None:
    v = row("t", "a|b", "interp ahead", "arm|x", "base", 0.5, 0.4, 0.1, 0.05, 0.15, 2.0, 0.01, 0.02, 8)
    md = markdown_table([v], {"note": "x|y"}, None)
    assert "a\\|b" in md and "arm\\|x (0.500)" in md  # inside the table a pipe would split a cell
    assert md.rstrip().endswith("**Fingerprint.** note: x|y; seeds: 0, 1, 2.")
    assert markdown_table([], {}, None).count("\n|") == 2  # header, rule and one row of dashes
