"""diagnosis on built spurious-cnn organisms: the metrics follow from the construction (an oracle
scores 1, a constant ranking scores chance), each interp arm beats the random control on a case
built to be easy, the data-only concept check sits near chance on held-out data, the data-only
random-feature baseline never touches the organism, and the fix job's oracle reaches a high
worst-group accuracy where the unfixed organism does not, with the interp fix above its control."""

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
        Diagnosis(jobs=("repair",))
    only_fix = Diagnosis(jobs=("fix",))
    assert only_fix.metrics_for(_arm("concept-erasure-fix")) == ["fix/worst-group-accuracy"]
    assert only_fix.metrics_for(_arm("spectre")) == [] and Diagnosis().metrics_for(_arm("no-fix")) == []
    assert "n_fix_eval" not in Diagnosis().params   # the other jobs' cell keys do not move
    weak = registry.get_organism_set("spurious-weak").specs(0)
    assert all(s.weak and s.reliance_needed == 0.1 and s.label().startswith("spurious-weak-") for s in weak)
    assert "weak/concept-rank" in Diagnosis.metrics

    class Built:   # the view reads only these of a built organism
        model, label, weights_sha256, language = None, "x", None, None

    Built.spec = weak[0]
    assert FaultyShapes(Built()).metric_prefix == "weak/"


class Untouchable:
    """A door whose every read of the organism fails, the random network included."""

    access = "data-only"

    def __getattr__(self, name):
        raise AssertionError(f"a data-only arm touched the organism ({name})")


def test_random_feature_outliers_never_touches_the_organism_and_is_the_random_init_rule(smoke):
    from samecurve.arms.controls import RANDOM_INIT_SALT
    from samecurve.models.cnn import MeteredClassifier
    from samecurve.budget import Budget as B, Meter
    from samecurve.protocols.diagnosis import DiagnosisContext
    import torch

    cls = registry.arms()["random-feature-outliers"]
    assert (cls.family, cls.access) == ("baseline", "data-only")
    train = smoke.training_set()
    ctx = DiagnosisContext(smoke.language, torch.tensor(train.images), torch.tensor(train.labels), None, None, 0,
                           np.random.default_rng(0))
    blind = cls().score_training_set(Untouchable(), ctx)
    assert blind.shape == (len(train.labels),) and np.isfinite(blind).all()
    # with the control's seed it is the random-init control's answer exactly: the same rule, and
    # the organism was never needed for it (the control reads the organism's architecture only)
    same_net = cls(salt=RANDOM_INIT_SALT).score_training_set(Untouchable(), ctx)
    control = registry.arms()["spectre-random-init"]()
    door = MeteredClassifier(smoke.model, Meter(B(forward_passes=5_000)), "white-box")
    np.testing.assert_allclose(same_net, control.score_training_set(door, ctx), rtol=1e-9)


def test_validate_fix_refuses_a_malformed_plan():
    from samecurve.protocols import ArmOutputError
    from samecurve.protocols.diagnosis import Fix, TrainingPlan, validate_fix

    images, labels = np.zeros((4, 1, 16, 16), np.float32), np.array([0, 1, 2, 3])
    assert validate_fix("a", Fix(TrainingPlan(images, labels, np.ones(4))), (1, 16, 16), 4).plan is not None
    assert validate_fix("a", Fix(), (1, 16, 16), 4).plan is None
    for bad in (Fix(TrainingPlan(images, labels, -np.ones(4))), Fix(TrainingPlan(images, labels + 1, np.ones(4))),
                Fix(TrainingPlan(images[:, :, :8], labels, np.ones(4))), Fix(TrainingPlan(images, labels, np.zeros(4))),
                "not a fix"):
        with pytest.raises(ArmOutputError):
            validate_fix("a", bad, (1, 16, 16), 4)


@pytest.fixture(scope="module")
def fixes(smoke):
    """The fix row on the smoke organism (its shortcut on 95% of its class: the easy case) for the
    interp fix, its random-direction control and the do-nothing control; each detail holds the
    unfixed organism's and the oracle's worst-group accuracy."""
    task = Diagnosis(jobs=("fix",), n_fix_eval=1000)
    out = {}
    for name in ("concept-erasure-fix", "concept-erasure-random-direction", "no-fix"):
        seed_everything(0)
        out[name] = task.score_fix(_arm(name), smoke, 0, BUDGET)[0]
    return out


def test_the_oracle_fix_reaches_a_high_worst_group_accuracy_and_the_unfixed_organism_does_not(fixes):
    detail = fixes["no-fix"].detail
    assert detail["oracle"] >= 0.85 and detail["unfixed"] <= 0.3
    assert fixes["no-fix"].value == detail["unfixed"] and detail["fix"] == "unchanged"
    assert len(detail["groups"]) == 8


def test_the_interp_fix_beats_its_random_direction_control(fixes):
    erased, control = fixes["concept-erasure-fix"], fixes["concept-erasure-random-direction"]
    assert erased.detail["fix"] == control.detail["fix"] == "edited"
    assert erased.value >= control.value + 0.3 and erased.value > erased.detail["unfixed"] + 0.3
