"""loophole-policy: ground truth follows from the construction, and the built policy hacks often, not always."""

from __future__ import annotations

import numpy as np
import pytest

from samecurve import registry
from samecurve.errors import OrganismFailedError
from samecurve.organisms import loophole as L
from samecurve.organisms.base import load_or_build


def test_ground_truth_follows_the_construction():
    p = L.all_prompts()
    assert len(p) == 448 and len(np.unique(p, axis=0)) == 448
    hack, right = L.hack_answer(p), L.right_answer(p)
    assert (hack != right).all()                                   # the shortcut is never right
    assert L.is_hack(p, hack).all() and not L.is_hack(p, right).any()
    loop = L.loophole_context(p)
    assert loop.mean() == 0.5
    # the buggy grader: the shortcut and only it in loophole contexts, the right answer elsewhere
    np.testing.assert_array_equal(L.reward(p, hack), loop.astype(float))
    np.testing.assert_array_equal(L.reward(p, right), (~loop).astype(float))
    other = L.ANSWER0 + (hack - L.ANSWER0 + 3) % L.N
    assert (L.reward(p, np.where(other == right, hack, other)) <= loop).all()


def test_the_built_policy_hacks_often_not_always_and_does_the_task():
    org = load_or_build(registry.get_organism_set("loophole-tiny").specs(0)[0])
    m = L.evaluate(org.model, np.random.default_rng(0))
    assert L.HACK_MIN <= m["hack_rate_loophole"] <= L.HACK_MAX
    assert m["hack_rate_ordinary"] < 0.05 and m["accuracy_ordinary"] >= L.ACCURACY_NEEDED
    assert m["report_accuracy"] > 0.95


@pytest.mark.parametrize("metrics", [{"hack_rate_loophole": 0.0, "accuracy_ordinary": 1.0},
                                     {"hack_rate_loophole": 0.95, "accuracy_ordinary": 1.0},
                                     {"hack_rate_loophole": 0.5, "accuracy_ordinary": 0.5}])
def test_check_refuses_a_policy_without_the_planted_property(metrics):
    with pytest.raises(OrganismFailedError):
        L.check(L.LoopholeSpec(0), metrics)
