import torch

from samecurve.models.hooks import hook_points, run_with_cache, run_with_hooks
from samecurve.models.transformer import TinyTransformer, TransformerConfig


def _model():
    torch.manual_seed(0)
    return TinyTransformer(TransformerConfig(vocab_size=30, n_ctx=10, d_model=32, n_layers=2, n_heads=4, d_mlp=64)).eval()


def test_transformerlens_names_and_shapes():
    m = _model()
    x = torch.randint(0, 30, (3, 7))
    logits, cache = run_with_cache(m, x, ["blocks.1.hook_resid_post", "blocks.0.attn.hook_pattern", "hook_embed"])
    assert cache["blocks.1.hook_resid_post"].shape == (3, 7, 32)
    assert cache["blocks.0.attn.hook_pattern"].shape == (3, 4, 7, 7)
    assert torch.allclose(cache["blocks.0.attn.hook_pattern"].sum(-1), torch.ones(3, 4, 7))
    assert torch.allclose(logits, m(x), atol=1e-6)  # capturing changes nothing (the fused path differs by rounding)


def test_hooks_are_removed_and_patching_works():
    m = _model()
    x = torch.randint(0, 30, (2, 6))
    clean = m(x)
    patched = run_with_hooks(m, x, [("blocks.0.hook_resid_post", lambda act, name: torch.zeros_like(act))])
    assert not torch.allclose(clean, patched)
    assert all(len(p._forward_hooks) == 0 for p in hook_points(m).values())
    assert torch.allclose(m(x), clean)


def test_fused_attention_matches_the_hookable_path():
    """With no hook on the pattern the fused kernel runs; hooking the pattern switches to the
    explicit softmax. Both give the same logits (to float rounding) and the same gradients."""
    import torch

    from samecurve.models.hooks import hooks
    from samecurve.models.transformer import TinyTransformer, TransformerConfig

    torch.manual_seed(0)
    model = TinyTransformer(TransformerConfig(vocab_size=20, n_ctx=10, d_model=32, n_layers=2, n_heads=4, d_mlp=64))
    tokens = torch.randint(0, 20, (5, 10))
    seen = []
    fused = model(tokens)
    with hooks(model, [("blocks.1.attn.hook_pattern", lambda a, n: seen.append(a.shape))]):
        explicit = model(tokens)
    assert seen == [torch.Size([5, 4, 10, 10])]
    assert torch.allclose(fused, explicit, atol=1e-5)
    grads = []
    for watched in (False, True):
        model.zero_grad()
        hook = [("blocks.0.attn.hook_pattern", lambda a, n: None)] if watched else []
        with hooks(model, hook):
            model(tokens).logsumexp(-1).sum().backward()
        grads.append(model.blocks[0].attn.qkv.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


def test_logits_from_a_position_are_the_full_forwards():
    """The training shortcut (last block at positions >= start only) gives the same logits and
    gradients; a hook on the last block takes the full forward and sees every position."""
    m = _model().train()
    x = torch.randint(0, 30, (4, 9))
    for start in (0, 5, 8):
        full = m(x)[:, start:]
        assert torch.allclose(m.logits_from(x, start), full, atol=1e-5)
    grads = []
    for logits in (lambda: m.logits_from(x, 6), lambda: m(x)[:, 6:]):
        m.zero_grad()
        logits().square().sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.parameters() if p.grad is not None]))
    assert torch.allclose(*grads, atol=1e-4)
    seen = []
    handle = m.blocks[-1].hook_resid_post.register_forward_hook(lambda _m, _i, out: seen.append(out.shape))
    try:
        m.logits_from(x, 6)
    finally:
        handle.remove()
    assert seen == [(4, 9, 32)]
