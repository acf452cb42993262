"""Verdicts must not depend on the order the store returns rows in: cells finish in a different
order on every run, and a fresh clone must reproduce the README's table to the last digit."""

import random

import numpy as np

from samecurve import verdict

META = {"t": {"tois": ["auditing"], "metrics": {"m": {"higher_is_better": True}}}}


def _rows(arm, family, control, rng, shift):
    # values with many decimals, so float summation order would show in the last bits
    return [{"task": "t", "metric": "m", "arm": arm, "family": family, "access": "white-box", "control": control,
             "seed": s, "instance": f"i{i}", "value": float(shift + rng.normal(0, 0.1)),
             "spend": {"forward_passes": 10}, "budget": {}}
            for s in range(4) for i in range(3)]


def test_shuffled_rows_give_identical_verdicts_to_the_last_digit():
    rng = np.random.default_rng(5)
    rows = (_rows("probe", "interp", "ctrl", rng, 0.71) + _rows("search", "baseline", "ctrl", rng, 0.7)
            + _rows("ctrl", "control", "", rng, 0.5))
    first = verdict.compute(rows, META)
    for k in range(5):
        shuffled = rows[:]
        random.Random(k).shuffle(shuffled)
        assert verdict.compute(shuffled, META) == first


def test_last_bit_noise_does_not_move_the_ci():
    a = dict(enumerate([0.6, 0.6, 0.6, 0.8, 0.4, 0.7]))
    b = {u: 0.5 for u in a}
    noisy = {u: v + e for (u, v), e in zip(a.items(), [1e-16, 0, -1e-16, 0, 0, 2e-17])}
    assert verdict.paired(a, b) == verdict.paired(noisy, b)


def test_renaming_the_units_does_not_move_the_ci():
    # Units are organism spec hashes, which change with any organism source edit; the CI and p
    # must depend on the paired differences only.
    rng = np.random.default_rng(3)
    a = {f"h{k:02d}": float(v) for k, v in enumerate(rng.normal(0.6, 0.1, 9))}
    b = {u: float(v) for u, v in zip(a, rng.normal(0.5, 0.1, 9))}
    names = list(a)
    random.Random(1).shuffle(names)
    rename = dict(zip(a, names))
    got = verdict.paired({rename[u]: v for u, v in a.items()}, {rename[u]: v for u, v in b.items()})
    assert got == verdict.paired(a, b)
