"""The TopK SAE recovers a known sparse dictionary (a test that can fail: the L1 SAE it replaced
did not), and released dictionaries are trained once, cached in safetensors, and keyed by what
determines them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samecurve import dictionaries
from samecurve.models.sae import SAEConfig, TopKSAE, quality, train_topk_sae
from samecurve.models.transformer import TinyTransformer, TransformerConfig


def _sparse_source(n_atoms: int = 256, d: int = 64, k: int = 4, seed: int = 0):
    """Activations that are exactly sparse in a known overcomplete dictionary, plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    atoms = torch.randn(n_atoms, d, generator=g)
    atoms /= atoms.norm(dim=1, keepdim=True)

    def draw(n: int) -> torch.Tensor:
        idx = torch.stack([torch.randperm(n_atoms, generator=g)[:k] for _ in range(n)])
        coef = torch.rand(n, k, generator=g) + 0.5
        return (coef[..., None] * atoms[idx]).sum(1) + 0.01 * torch.randn(n, d, generator=g)

    return atoms, draw


def test_topk_sae_recovers_a_known_sparse_dictionary():
    atoms, draw = _sparse_source()
    cfg = SAEConfig(expansion=4, k=4, train_tokens=150_000)
    sae, stats = train_topk_sae(draw, draw(5_000), cfg, seed=0)
    assert stats["l0"] <= 4 and stats["d_sae"] == 256
    assert stats["fvu"] < 0.12, stats
    assert stats["dead_share"] < 0.10, stats
    # most true atoms have a decoder row pointing their way (cosine > 0.9)
    cos = (atoms @ sae.W_dec.detach().T).max(1).values
    assert float((cos > 0.9).float().mean()) > 0.9, float((cos > 0.9).float().mean())


def test_topk_codes_are_sparse_and_decode_at_raw_scale():
    sae = TopKSAE(8, 32, 3)
    with torch.no_grad():
        sae.scale.fill_(5.0)
    x = torch.randn(10, 8) * 5
    rec, z = sae(x)
    assert rec.shape == x.shape and z.shape == (10, 32)
    assert int((z > 0).sum(1).max()) <= 3 and bool((z >= 0).all())
    assert set(quality(sae, x)) == {"fvu", "l0", "dead_share"}


def _model() -> TinyTransformer:
    torch.manual_seed(0)
    return TinyTransformer(TransformerConfig(vocab_size=20, n_ctx=6, d_model=16, n_layers=2, n_heads=2, d_mlp=32)).eval()


def _natural(rng: np.random.Generator, n: int) -> torch.Tensor:
    return torch.from_numpy(rng.integers(0, 20, size=(n, 6)))


def test_released_dictionary_is_trained_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMECURVE_CACHE", str(tmp_path))
    monkeypatch.setattr(dictionaries, "_MEMO", {})
    cfg = SAEConfig(expansion=2, k=2, train_tokens=4_000, batch=128, heldout_tokens=500)
    model = _model()
    first = dictionaries.released(model, "w0", "blocks.1.hook_resid_pre", _natural, cfg)
    files = sorted(p.name for p in (tmp_path / "dictionaries").iterdir())
    assert len(files) == 2 and files[0].endswith(".json") and files[1].endswith(".safetensors")
    rec = first.record
    assert rec["d_sae"] == 32 and rec["l0"] <= 2 and 0 <= rec["dead_share"] <= 1
    assert rec["amortised"]["train_tokens"] >= 3_900 and rec["amortised"]["forward_passes"] > 0

    monkeypatch.setattr(dictionaries, "_MEMO", {})
    monkeypatch.setattr(dictionaries, "_train", lambda *a, **k: pytest.fail("retrained a cached dictionary"))
    again = dictionaries.released(model, "w0", "blocks.1.hook_resid_pre", _natural, cfg)
    for name, t in first.sae.state_dict().items():
        assert torch.equal(t, again.sae.state_dict()[name]), name
    assert again.record == rec


def test_a_corrupted_cached_dictionary_is_retrained(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMECURVE_CACHE", str(tmp_path))
    monkeypatch.setattr(dictionaries, "_MEMO", {})
    cfg = SAEConfig(expansion=2, k=2, train_tokens=2_000, batch=128, heldout_tokens=300)
    first = dictionaries.released(_model(), "w0", "blocks.0.hook_resid_pre", _natural, cfg)
    (weights,) = (tmp_path / "dictionaries").glob("*.safetensors")
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    monkeypatch.setattr(dictionaries, "_MEMO", {})
    with pytest.warns(UserWarning, match="does not match its recorded sha256"):
        again = dictionaries.released(_model(), "w0", "blocks.0.hook_resid_pre", _natural, cfg)
    for name, t in first.sae.state_dict().items():   # retrained: the same deterministic weights
        assert torch.equal(t, again.sae.state_dict()[name]), name


def test_dictionary_key_tracks_weights_site_and_recipe():
    cfg = SAEConfig()
    key = dictionaries.dictionary_key("w0", "blocks.1.hook_resid_pre", cfg)
    assert key != dictionaries.dictionary_key("w1", "blocks.1.hook_resid_pre", cfg)
    assert key != dictionaries.dictionary_key("w0", "blocks.0.hook_resid_pre", cfg)
    assert key != dictionaries.dictionary_key("w0", "blocks.1.hook_resid_pre", SAEConfig(k=16))
    assert key != dictionaries.dictionary_key("w0", "blocks.1.hook_resid_pre", cfg, natural_source="another sampler")


def test_an_organism_without_natural_inputs_has_no_dictionary():
    class View:
        model, weights_sha256 = _model(), "w"

    assert dictionaries.for_organism(View()) is None


def test_the_report_lists_each_released_sae_once_with_its_users():
    from samecurve.report.html import _released_saes

    d = {"key": "k1", "fvu": 0.02, "l0": 8.0, "dead_share": 0.03, "d_sae": 512, "k": 8,
         "amortised": {"forward_passes": 30016, "cpu_seconds": 5.7}}
    rows = [{"arm": "sae-feature-ablation", "instance": "triple/trojan/s1", "spend": {"forward_passes": 64},
             "detail": {"dictionaries": {"blocks.1.hook_resid_pre": d}}},
            {"arm": "random-sae-feature-ablation", "instance": "triple/trojan/s1", "spend": {"forward_passes": 64},
             "detail": {"dictionaries": {"blocks.1.hook_resid_pre": d}}},
            {"arm": "layer-probe", "instance": "x", "spend": {}, "detail": {}}]
    (only,) = _released_saes(rows)
    assert only["organism"] == "triple/trojan/s1" and only["d_sae"] == 512 and only["dead"] == "3%"
    assert only["fwd"] == "30,016"
    assert only["used_by"] == "random-sae-feature-ablation (64), sae-feature-ablation (64)"


def test_an_sae_arm_reports_its_released_sae_and_is_not_charged_for_it(smoke_population, smoke_budget):
    """behavior-removal end to end: the arm reads the organism's released SAE through its context;
    the SAE's quality and amortised cost land in the score detail, the arm's meter holds only the
    arm's own passes (one over each labelled prompt), far below the SAE's training passes."""
    from samecurve import registry
    from samecurve.tasks.behavior_removal import BehaviorRemoval

    org = next(o for o in smoke_population if o.spec.planted)
    arm = registry.get_arm("sae-feature-ablation")()
    scores = BehaviorRemoval(n_eval=50, relearn_steps=0).score_organism(arm, org, 0, smoke_budget)
    detail = next(s.detail for s in scores if s.metric == "residual-asr")
    (site, d), = detail["dictionaries"].items()
    assert site == "blocks.1.hook_resid_pre"
    assert d["l0"] <= d["k"] < org.model.cfg.d_model and 0 <= d["fvu"] < 0.5
    spent = scores[0].spend["forward_passes"]
    assert spent == smoke_budget.labelled_examples
    assert d["amortised"]["forward_passes"] > 50 * spent
