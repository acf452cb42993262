"""Dev seeds: where arm defaults are tuned, disjoint from every suite's evaluation seeds.

DESIGN.md: "Defaults are tuned on dev seeds only". A default chosen by looking at results on a
suite's own organisms grades that arm on its own curve. The scripts under `dev/` build the
organisms of an organism set for `DEV_SEEDS`, sweep a default through the task there, and the arm's
docstring names the script and its result. `tests/test_dev_seeds.py` checks that no dev-seed
organism spec equals a spec any suite evaluates (every organism set maps a seed to spec seeds
`seed * 1000 + i`; the from-scratch yardstick ladders of explanation-faithfulness are the same for
every seed and hold no planted property). For `harm-filter` (a pretrained encoder, no organisms)
the task seed draws the data splits, so dev seeds are other draws from the same generator.
"""

from __future__ import annotations

import warnings
from typing import Any

from . import registry
from .errors import ConfigError, OrganismFailedError

DEV_SEEDS: tuple[int, ...] = tuple(range(900, 906))


def suite_seeds() -> set[int]:
    """Every seed any registered suite evaluates."""
    return {s for suite in registry.suites().values() for s in suite.all_seeds}


def check_disjoint(seeds: tuple[int, ...] = DEV_SEEDS) -> None:
    """Raise if a dev seed is also a suite seed (a suite widened into the dev range)."""
    clash = sorted(set(seeds) & suite_seeds())
    if clash:
        raise ConfigError(f"dev seeds {clash} are also suite seeds: move DEV_SEEDS in samecurve/dev.py")


def dev_specs(organism_set: str, seeds: tuple[int, ...] = DEV_SEEDS) -> dict[int, list[Any]]:
    """The organism specs of `organism_set` for each dev seed (nothing built)."""
    check_disjoint(seeds)
    org_set = registry.get_organism_set(organism_set)
    return {s: list(org_set.specs(s)) for s in seeds}


def dev_organisms(organism_set: str, seeds: tuple[int, ...] = DEV_SEEDS) -> dict[int, list[Any]]:
    """The organisms of `organism_set` for each dev seed, trained (or loaded from the cache). A seed
    with a refused organism is left out whole (a clean twin without its trojan is no pair), with a
    warning: the suites' rule, one seed replaced, is the caller's to apply."""
    from .organisms.base import load_or_build

    out = {}
    for s, specs in dev_specs(organism_set, seeds).items():
        try:
            out[s] = [load_or_build(sp) for sp in specs]
        except OrganismFailedError as exc:
            warnings.warn(f"dev seed {s} of {organism_set} left out: {exc}", stacklevel=2)
    return out
