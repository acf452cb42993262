"""Organisms behind view protocols (protocols/organisms.py): every built-in family offers the view
its tasks ask for, a family without it is refused with one clear error, and a task runs unchanged
on an object that implements the protocol but comes from no samecurve family."""

from __future__ import annotations

import numpy as np
import pytest

from samecurve import registry
from samecurve.budget import Budget
from samecurve.errors import ConfigError
from samecurve.organisms.base import load_or_build
from samecurve.protocols import organisms as P

BUDGET = Budget(labelled_examples=16, forward_passes=4000, backward_passes=50, wall_seconds=300, tuning_trials=4)

# (organism set, accessor, protocol)
VIEWS = [
    ("topics-tiny", P.topical, P.TopicalOrganism),
    ("quirky-tiny", P.quirky, P.QuirkyOrganism),
    ("emergence-tiny", P.emergent, P.EmergentOrganism),
    ("namemover-tiny", P.known_algorithm, P.KnownAlgorithmOrganism),
    ("induction-circuit-tiny", P.known_algorithm, P.KnownAlgorithmOrganism),
]


def _built(name: str) -> list:
    return [load_or_build(s) for s in registry.get_organism_set(name).specs(0)]


@pytest.mark.parametrize("set_name, accessor, protocol", VIEWS, ids=[v[0] for v in VIEWS])
def test_every_built_in_family_offers_its_view(set_name, accessor, protocol):
    for org in _built(set_name):
        view = accessor(org)
        assert isinstance(view, protocol) and view.label == org.label and view.seed == org.spec.seed
        assert view.weights_sha256 == org.weights_sha256
        assert accessor(view) is view  # a view (or any implementation) passes through unchanged


def test_a_family_without_the_view_is_refused(smoke_population):
    with pytest.raises(ConfigError, match="offers no 'topical' view"):
        P.topical(smoke_population[0])
    with pytest.raises(ConfigError, match="no known algorithm"):  # a grokking run: the family says why
        P.known_algorithm(next(o for o in _built("emergence-tiny") if o.spec.kind == "grokking"))
    with pytest.raises(ConfigError, match="is not a QuirkyOrganism"):
        P.quirky(object())


def test_emergence_kinds_agree_with_the_family():
    from samecurve.organisms import emergence

    assert emergence.KINDS == P.EMERGENCE_KINDS


class Delegate:
    """A plug-in's organism: implements the view protocol by delegation, is of no samecurve family
    and has no `spec` or `view` (what a task may use is only what the protocol says)."""

    def __init__(self, view, protocol):
        for name in P._members(protocol):
            setattr(self, name, getattr(view, name))


def _scores(scores) -> list[tuple]:
    return [(s.metric, s.instance, s.value, s.spend.get("forward_passes"), s.spend.get("labelled_examples"))
            for s in scores]


def test_steering_runs_on_any_topical_organism():
    from samecurve.tasks.steering import Steering

    org = _built("topics-tiny")[0]
    plug = Delegate(P.topical(org), P.TopicalOrganism)
    assert isinstance(plug, P.TopicalOrganism) and not hasattr(plug, "spec")
    task = Steering(n_tune=4, n_test=8, n_new=6, targets=1)
    arm = registry.get_arm("random-direction-steering")
    assert _scores(task.run_cell(lambda s: arm(), [plug], 0, BUDGET)) == _scores(task.run_cell(lambda s: arm(), [org], 0, BUDGET))


def test_latent_knowledge_runs_on_any_quirky_organism():
    from samecurve.tasks.latent_knowledge import LatentKnowledge

    org = _built("quirky-tiny")[0]
    plug = Delegate(P.quirky(org), P.QuirkyOrganism)
    task = LatentKnowledge(eval_size=80, unlabelled=16)
    arm = registry.get_arm("diffmean")
    got, want = (task.run_cell(lambda s: arm(), [o], 0, BUDGET) for o in (plug, org))
    assert _scores(got) == _scores(want)
    assert got[0].spend["labelled_examples"] == BUDGET.labelled_examples  # the session charged the labels


def test_forecast_and_faithfulness_run_on_any_implementation():
    from samecurve.tasks import explanation_faithfulness as ef
    from samecurve.tasks.forecast_emergence import ForecastEmergence

    runs = _built("emergence-tiny")
    task = ForecastEmergence(k=3, probe_size=8, train_sample=8)
    arm = registry.get_arm("weight-norm")
    plugs = [Delegate(P.emergent(o), P.EmergentOrganism) for o in runs]
    assert _scores(task.run_cell(lambda s: arm(), plugs, 0, BUDGET)) == _scores(task.run_cell(lambda s: arm(), runs, 0, BUDGET))

    orgs = _built("namemover-tiny")
    task = ef.ExplanationFaithfulness(fractions=(0.1,), eval_size=64)
    arm = registry.get_arm("random-subgraph")
    plugs = [Delegate(P.known_algorithm(o), P.KnownAlgorithmOrganism) for o in orgs]
    got, want = (task.run_cell(lambda s: arm(), os_, 0, BUDGET) for os_ in (plugs, orgs))
    assert _scores(got) == _scores(want) and len(got) == 2  # one size and compute-equivalent


def test_practitioner_data_fills_only_context_fields():
    from samecurve.protocols.forecasting import ForecastContext

    fields = set(ForecastContext.__dataclass_fields__)
    for run in _built("emergence-tiny"):
        data, n_labelled = P.emergent(run).practitioner_data(np.random.default_rng(0), 8, 8, 5)
        assert set(data) <= fields and data
        assert n_labelled == (len(data["val_inputs"]) if run.spec.kind == "grokking" else 0)
        assert n_labelled <= 5

