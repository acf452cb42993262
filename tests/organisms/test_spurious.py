"""The spurious-cnn family: the ground truth follows from construction (the planted concept sits on
its class only, poisoned rows carry the patch and the target label, held-out concepts are
independent of the label), and a built organism has the properties its check demands."""

from __future__ import annotations

import numpy as np
import pytest

from samecurve.errors import OrganismFailedError
from samecurve.organisms.base import resolve
from samecurve.organisms.spurious import (CONCEPT_NAMES, CONCEPTS, NUISANCE_RATE, SpuriousSpec, check, draw_set,
                                          training_set)
from samecurve.organisms.shapes import CHECKER, PATCH
from samecurve.protocols.diagnosis import shows_concepts


def test_the_training_set_holds_the_planted_faults_and_nothing_else():
    spec = SpuriousSpec(905)
    data = training_set(spec)
    assert data.poisoned.sum() == round(spec.poison * spec.n_train)
    assert (data.labels[data.poisoned] == spec.target).all() and (data.shapes[data.poisoned] != spec.target).all()
    assert (data.labels[~data.poisoned] == data.shapes[~data.poisoned]).all()
    s = spec.spurious_concept
    on_class = data.shapes == spec.spurious_class
    assert not data.concepts[~on_class, s].any()
    assert data.concepts[on_class, s].mean() == pytest.approx(spec.spurious_share, abs=0.04)
    others = np.delete(data.concepts, s, axis=1)
    assert others.mean() == pytest.approx(NUISANCE_RATE, abs=0.02)
    # every poisoned image carries the checkerboard somewhere; the read-only cache cannot be edited
    flat = data.images[data.poisoned, 0]
    assert all(any(np.allclose(img[r:r + PATCH, c:c + PATCH], CHECKER) for r in range(14) for c in range(14)) for img in flat)
    with pytest.raises(ValueError):
        data.images[0, 0, 0, 0] = 1.0


def test_held_out_concepts_are_independent_of_the_label_and_detectable():
    spec = SpuriousSpec(905)
    held = draw_set(np.random.default_rng(0), 4000, spec, tied=False)
    s = spec.spurious_concept
    rate_on, rate_off = held.concepts[held.shapes == spec.spurious_class, s].mean(), held.concepts[held.shapes != spec.spurious_class, s].mean()
    assert abs(rate_on - rate_off) < 0.05
    found = shows_concepts(held.images, CONCEPTS)   # the analyst's template check recovers what was drawn
    for k in range(len(CONCEPT_NAMES)):
        assert (found[:, k] == held.concepts[:, k]).mean() > 0.97, CONCEPT_NAMES[k]


def test_check_refuses_a_model_without_the_shortcut():
    spec = SpuriousSpec(905)
    ok = {"accuracy_other_classes": 0.99, "attack_success": 0.99, "reliance": [0.02] * 8}
    ok["reliance"][spec.spurious_concept] = 0.6
    check(spec, ok)
    flat = {**ok, "reliance": [0.2] * 8}   # relies on everything alike: no shortcut stands out
    with pytest.raises(OrganismFailedError, match="reliance"):
        check(spec, flat)


def test_a_built_organism_relies_on_its_concept_and_learned_the_poison():
    org, refused = resolve(SpuriousSpec(0))   # the smoke organism: seed 0 or its replacement
    m = org.metrics
    s = org.spec.spurious_concept
    assert m["reliance"][s] >= 0.25 and m["reliance"][s] >= 2 * max(np.delete(m["reliance"], s))
    assert m["attack_success"] >= 0.9 and m["accuracy_other_classes"] >= 0.9
