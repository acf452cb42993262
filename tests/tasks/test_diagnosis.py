"""diagnosis on built spurious-cnn organisms: the metrics follow from the construction (an oracle
scores 1, a constant ranking scores chance), each interp arm beats the random control on a case
built to be easy, and the data-only concept check sits near chance on held-out data."""

from __future__ import annotations

import numpy as np
import pytest

from samecurve import registry
from samecurve.budget import Budget
from samecurve.organisms.base import resolve
from samecurve.organisms.spurious import SpuriousSpec
from samecurve.protocols.organisms import faulty
from samecurve.seeding import seed_everything
from samecurve.tasks.diagnosis import CONCEPT_CHANCE, Diagnosis, reciprocal_rank

BUDGET = Budget(labelled_examples=64, forward_passes=12_000, backward_passes=600, wall_seconds=300, tuning_trials=4)


def test_reciprocal_rank_counts_ties_at_their_mean():
    assert reciprocal_rank(np.array([0.1, 0.9, 0.3]), 1) == 1.0
    assert reciprocal_rank(np.array([0.1, 0.9, 0.3]), 2) == 0.5
    assert reciprocal_rank(np.zeros(8), 3) == pytest.approx(CONCEPT_CHANCE)


@pytest.fixture(scope="module")
def easy():
    """An easy poison case: 10% poisoned (the suites audit 3%), where the published activation
    defences separate the poisons (measured AUROC 0.70-0.93 on spec seeds 950-951)."""
    return faulty(resolve(SpuriousSpec(950, poison=0.1))[0])


@pytest.fixture(scope="module")
def smoke():
    return faulty(resolve(registry.get_organism_set("spurious-tiny").specs(0)[0])[0])


class Oracle:
    def __init__(self, org):
        self.org = org

    def score_training_set(self, model, ctx):
        return self.org.training_set().poisoned.astype(float)

    def rank_concepts(self, model, ctx):
        return np.eye(len(self.org.concept_names))[self.org.spurious_concept]


Oracle.access = "black-box"


def _scores(arm, org, budget=BUDGET) -> dict:
    seed_everything(0)
    task = Diagnosis()
    out = task.score_poisons(arm, org, 0, budget) if hasattr(arm, "score_training_set") else []
    out += task.score_concepts(arm, org, 0, budget) if hasattr(arm, "rank_concepts") else []
    return {s.metric: s.value for s in out}


def _arm(name):
    return registry.arms()[name]()


def test_an_oracle_scores_one_on_every_row(smoke):
    assert _scores(Oracle(smoke), smoke) == {"poison-auroc": 1.0, "poison-precision@k": 1.0, "concept-rank": 1.0}


def test_interp_poison_finders_beat_random_on_the_easy_case(easy):
    chance = _scores(_arm("random-diagnosis"), easy)["poison-auroc"]
    for name in ("spectral-signature-poisons", "spectre", "activation-clustering"):
        assert _scores(_arm(name), easy)["poison-auroc"] > chance + 0.15, name


def test_concept_rankers_name_the_planted_concept_and_the_data_does_not(smoke):
    for name in ("tcav", "concept-steering", "counterfactual-edits"):
        assert _scores(_arm(name), smoke)["concept-rank"] == 1.0, name
    # held-out concepts are independent of the label: over the smoke organism's eight concepts the
    # data-only ranking is no better than a coin (its expected rank is chance)
    assert _scores(_arm("concept-label-statistics"), smoke)["concept-rank"] <= 0.5


def test_the_poison_job_charges_no_labels_and_the_concept_job_its_held_out_images(smoke):
    task = Diagnosis(max_heldout=20)
    poison = task.score_poisons(_arm("loss-outliers"), smoke, 0, BUDGET)[0]
    concept = task.score_concepts(_arm("counterfactual-edits"), smoke, 0, BUDGET)[0]
    assert poison.spend["labelled_examples"] == 0 and poison.spend["forward_passes"] == 2000
    assert concept.spend["labelled_examples"] == 20 and concept.detail["n_heldout"] == 20


def test_jobs_pick_the_rows_and_weak_organisms_score_in_their_own():
    from samecurve.errors import ConfigError
    from samecurve.organisms.spurious import FaultyShapes

    only_concepts = Diagnosis(jobs=("concept",))
    assert only_concepts.metrics_for(_arm("spectre")) == [] and only_concepts.metrics_for(_arm("tcav")) == ["concept-rank"]
    assert Diagnosis().metrics_for(_arm("random-diagnosis")) == ["poison-auroc", "poison-precision@k", "concept-rank"]
    with pytest.raises(ConfigError, match="jobs must be among"):
        Diagnosis(jobs=("fix",))
    weak = registry.get_organism_set("spurious-weak").specs(0)
    assert all(s.weak and s.reliance_needed == 0.1 and s.label().startswith("spurious-weak-") for s in weak)
    assert "weak/concept-rank" in Diagnosis.metrics

    class Built:   # the view reads only these of a built organism
        model, label, weights_sha256, language = None, "x", None, None

    Built.spec = weak[0]
    assert FaultyShapes(Built()).metric_prefix == "weak/"
