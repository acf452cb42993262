"""The namemover language follows its rule, and the organism learns it (or is refused)."""

from dataclasses import replace

import numpy as np
import pytest

from samecurve import registry
from samecurve.errors import OrganismFailedError
from samecurve.organisms import namemover as nm
from samecurve.organisms.base import load_or_build


def test_answer_is_the_first_clause_name_that_is_not_repeated():
    p, a = nm.sample(np.random.default_rng(0), 500)
    first, second = p[:, nm.FIRST], p[:, nm.SECOND]
    names_first = np.isin(first, nm.NAMES).sum(1)
    names_second = np.isin(second, nm.NAMES).sum(1)
    assert (names_first == 2).all() and (names_second == 1).all()
    assert (first == a[:, None]).any(1).all()          # the answer is in the first clause...
    assert not (second == a[:, None]).any(1).any()     # ...and not repeated in the second
    subject = second[np.isin(second, nm.NAMES)]
    assert (subject != a).all() and (first == subject[:, None]).any(1).all()
    assert len(np.unique(a)) == nm.N_NAMES             # every name can be the answer


def test_check_refuses_an_organism_that_did_not_learn():
    spec = nm.NameMoverSpec(0)
    with pytest.raises(OrganismFailedError):
        nm.check(spec, {"accuracy": 0.5, "loss": 0.7})
    nm.check(nm.NameMoverSpec(0, "yardstick", replace(nm.SHAPE, d_model=4)), {"accuracy": 0.3, "loss": 1.5})  # a weak yardstick is fine


def test_tiny_organism_learns_ioi():
    spec = next(s for s in registry.get_organism_set("namemover-tiny").specs(0) if s.role == "organism")
    org = load_or_build(spec)
    assert org.metrics["accuracy"] >= nm.ACCURACY_NEEDED
    fresh = nm.evaluate(org.model, seed=123, n=500)  # held-out prompts from another stream
    assert fresh["accuracy"] >= 0.95 and fresh["loss"] < 0.2


@pytest.mark.parametrize("name", ["namemover-small", "induction-circuit-small"])
def test_quick_sets_give_three_organisms_per_seed(name):
    """9 independent units per verdict row at the quick suite's 3 seeds."""
    from samecurve.tasks.explanation_faithfulness import is_yardstick

    specs = registry.get_organism_set(name).specs(0)
    assert sum(not is_yardstick(s) for s in specs) == 3
    assert len({s.seed for s in specs if not is_yardstick(s)}) == 3


def test_induction_circuit_small_reuses_emergence_small_specs():
    """Same specs as emergence-small's induction runs: one cache entry, no extra training."""
    from samecurve.tasks.explanation_faithfulness import is_yardstick

    ind = [s for s in registry.get_organism_set("induction-circuit-small").specs(1) if not is_yardstick(s)]
    assert set(ind) <= set(registry.get_organism_set("emergence-small").specs(1))
