import pytest
import torch
from torch import nn

from samecurve.budget import Budget, Meter, MeteredModel, reinitialised
from samecurve.errors import AccessDenied, BudgetExceeded, ConfigError
from samecurve.models.hooks import HookPoint
from samecurve.models.transformer import TinyTransformer, TransformerConfig


def _model():
    return TinyTransformer(TransformerConfig(vocab_size=20, n_ctx=8, d_model=16, n_heads=2, d_mlp=32))


def test_forward_passes_are_counted_per_sequence_and_capped():
    m = MeteredModel(_model(), Meter(Budget(forward_passes=10)), "black-box")
    m.logits(torch.zeros(4, 5, dtype=torch.long))
    assert m.meter.spend.forward_passes == 4
    m.logits(torch.zeros(6, 5, dtype=torch.long))
    with pytest.raises(BudgetExceeded):
        m.logits(torch.zeros(1, 5, dtype=torch.long))
    assert m.meter.spend.forward_passes == 10


def test_black_box_arm_cannot_read_activations_or_gradients():
    m = MeteredModel(_model(), Meter(Budget()), "black-box")
    with pytest.raises(AccessDenied):
        m.run_with_cache(torch.zeros(1, 5, dtype=torch.long), ["blocks.0.hook_resid_post"])
    with pytest.raises(AccessDenied):
        m.embedding_matrix()
    g = MeteredModel(_model(), Meter(Budget()), "gradients")
    assert g.embedding_matrix().shape == (20, 16)
    with pytest.raises(AccessDenied):
        g.copy_model()


def test_budget_from_dict_rejects_unknown_fields():
    assert Budget.from_dict({"forward_passes": 5}).forward_passes == 5
    with pytest.raises(ConfigError, match="valid"):
        Budget.from_dict({"forward_pass": 5})


class _PluginModel(nn.Module):
    """A plug-in organism's model that is not a TinyTransformer: one embedding, one hook, one layer."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(12, 8)
        self.hook_embed = HookPoint()
        self.out = nn.Linear(8, 12)

    def forward(self, tokens=None, *, token_embeds=None):
        return self.out(self.hook_embed(self.embed(tokens) if token_embeds is None else token_embeds))


def _params(m):
    return [p.detach().clone() for p in m.parameters()]


def test_tiny_transformer_reinitialises_exactly_as_before():
    m = _model()
    torch.manual_seed(3)
    old = type(m)(m.cfg)  # what MeteredModel.randomised always did
    new = MeteredModel(m, Meter(Budget()), "white-box").randomised(seed=3)._model
    assert all(torch.equal(a, b) for a, b in zip(_params(old), _params(new)))


def test_a_model_that_is_not_a_tiny_transformer_is_reinitialised_through_reset_parameters():
    m = _PluginModel()
    before = _params(m)
    metered = MeteredModel(m, Meter(Budget()), "white-box")
    fresh = metered.randomised(seed=3)
    again = metered.randomised(seed=3)._model
    assert fresh.config is None and fresh.meter is metered.meter
    assert all(not torch.equal(a, b) for a, b in zip(before, _params(fresh._model)))  # every tensor redrawn
    assert all(torch.equal(a, b) for a, b in zip(_params(fresh._model), _params(again)))  # the seed decides
    assert all(torch.equal(a, b) for a, b in zip(before, _params(m)))  # the organism is untouched
    assert fresh.hook_names() == ["hook_embed"] and fresh.logits(torch.zeros(2, 3, dtype=torch.long)).shape == (2, 3, 12)


def test_reinitialising_refuses_a_parameter_it_cannot_reset_unless_the_model_says_how():
    class Raw(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(3))

    with pytest.raises(ConfigError, match="reinitialised"):
        reinitialised(Raw(), 0)

    class Own(Raw):
        def reinitialised(self, seed):
            fresh = Own()
            nn.init.normal_(fresh.w)
            return fresh

    assert not torch.equal(reinitialised(Own(), 0).w, torch.ones(3))
