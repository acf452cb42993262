import pytest
import torch

from samecurve.budget import Budget, Meter, MeteredModel
from samecurve.errors import AccessDenied, BudgetExceeded, ConfigError
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
