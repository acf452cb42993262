"""The map of theories of impact (issue 16): all twenty of the longlist and the critique's topics,
each tested by a registered task, planned, a named gap, or out of a benchmark's reach."""

import subprocess
import sys

from samecurve import registry, tois


def test_the_longlist_is_whole_and_each_entry_says_where_it_stands():
    registry.load_builtins()
    numbers = sorted(t.number for t in tois.MAP if t.source == tois.LONGLIST)
    assert numbers == list(range(1, 21))
    rows = {r["toi"]: r for r in tois.rows()}
    for t in tois.MAP:
        r = rows[t.name]
        assert r["status"] in ("tested", "planned", "untested", "unmeasurable")
        assert r["tasks"] if r["status"] == "tested" else r["note"], t.name  # a task, or a reason
    # what the tasks test today is derived from their `tois`, not typed into the map
    assert rows["auditing"]["tasks"] == "backdoor-audit"
    assert rows["eliciting latent knowledge"]["tasks"] == "latent-knowledge"
    assert {r["status"] for r in rows.values()} >= {"tested", "untested", "unmeasurable"}
    # issue 15's three tasks are built: nothing of the longlist is left merely planned
    assert rows["interpretability tools in the loss"]["tasks"] == "optimisation-pressure"
    assert rows["translucent thoughts"]["tasks"] == "cot-monitor"


def test_every_task_toi_is_on_the_map():
    registry.load_builtins()
    on_map = {r["toi"] for r in tois.rows()}
    for name, task in registry.tasks().items():
        assert set(task.tois) <= on_map, name


def test_list_tois_prints_the_map_as_markdown():
    res = subprocess.run([sys.executable, "-m", "samecurve", "list", "tois", "--markdown"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "| toi | source | status | tasks | note |"
    assert len(lines) >= 2 + len(tois.MAP) and any("longlist #20" in line for line in lines)
