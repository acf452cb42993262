"""Bad input: one line on stderr naming what is valid, exit code 2, no traceback."""

import subprocess
import sys

import pytest


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "samecurve", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, says", [
    (["run", "--suite", "quik"], "did you mean 'quick'"),
    (["run", "--arm", "linear-prob"], "valid:"),
    (["run", "--task", "backdoor"], "valid: backdoor-audit"),
    (["run", "--seeds", "a,b"], "comma-separated integers"),
    (["run", "--executor", "gpu", "--arm", "random-scores", "--suite", "smoke"], "valid: inline, processes"),
    (["run", "--jobs", "x"], "--jobs"),
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
