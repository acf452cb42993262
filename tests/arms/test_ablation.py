"""Ablation edits are exact and persistent, and attribution-ranked ablation beats random ablation
of the same count (the task's control) on the smoke organisms."""

import copy

import numpy as np
import torch

from samecurve.arms.ablation_controls import RandomNeuronAblation
from samecurve.arms.interp.ablation import ActivationDiffAblation, StreamEdit, ablate_neurons, mlp_means
from samecurve.budget import Meter, MeteredModel
from samecurve.models.hooks import hook_points, run_with_hooks
from samecurve.tasks.behavior_removal import BehaviorRemoval


def _trojan(pop, kind="semantic"):
    return next(o for o in pop if o.spec.planted and o.spec.trigger == kind)


def test_stream_edit_is_the_hooked_map_and_leaves_no_hook(smoke_population):
    net = _trojan(smoke_population).model
    d = net.cfg.d_model
    g = torch.Generator().manual_seed(0)
    a, b = torch.eye(d) + 0.1 * torch.randn(d, d, generator=g), torch.randn(d, generator=g)
    tokens = torch.randint(4, 60, (8, 8), generator=g)
    name = "blocks.1.hook_resid_pre"
    want = run_with_hooks(net, tokens, [(name, lambda x, _n: x @ a.T + b)])
    edited = copy.deepcopy(StreamEdit(copy.deepcopy(net), name, a, b))
    torch.testing.assert_close(edited(tokens), want)
    assert not torch.allclose(want, net(tokens), atol=1e-3)
    assert all(len(p._forward_hooks) == 0 for p in hook_points(edited).values())
    edited(tokens).sum().backward()  # trainable through the edit (the task's relearning step)
    assert edited.inner.embed.weight.grad is not None


def test_ablated_neuron_is_mean_ablated_and_stays_dead(smoke_population, smoke_budget):
    org = _trojan(smoke_population)
    model = MeteredModel(org.model, Meter(smoke_budget), "white-box")
    prompts = org.language.sample_prompts(np.random.default_rng(0), 32)
    means = mlp_means(model, prompts)
    neurons = [(0, 3), (1, 5)]
    net = ablate_neurons(model.copy_model(), neurons, means)

    def patch(layer):
        def fn(act, _name):
            act = act.clone()
            for l, j in neurons:
                if l == layer:
                    act[:, :, j] = means[l][j]
            return act
        return fn

    want = run_with_hooks(org.model, prompts, [(f"blocks.{l}.mlp.hook_post", patch(l)) for l in range(2)])
    torch.testing.assert_close(net(prompts), want, atol=1e-4, rtol=1e-4)
    loss = net(prompts).logsumexp(-1).mean()
    loss.backward()
    assert net.blocks[0].mlp.fc_in.weight.grad[3].abs().max() == 0  # fine-tuning cannot revive it
    assert net.blocks[0].mlp.fc_out.weight.grad[:, 3].abs().max() == 0
    assert all(len(p._forward_hooks) == 0 for p in hook_points(org.model).values())


def test_attribution_ablation_beats_random_ablation_at_equal_count(smoke_population, smoke_budget):
    task = BehaviorRemoval(n_eval=100, relearn_steps=5)
    curves = {}
    for name, cls in (("attr", ActivationDiffAblation), ("random", RandomNeuronAblation)):
        scores = [s for s in task.run_cell(lambda seed: cls(), smoke_population, 0, smoke_budget) if s.metric == "residual-asr"]
        curves[name] = np.array([s.detail["asr"] for s in scores])  # [organism, count]
        counts = scores[0].detail["strengths"]
    attr, rnd = curves["attr"].mean(0), curves["random"].mean(0)
    assert (attr <= rnd + 0.05).all(), (counts, attr, rnd)  # never clearly worse at any count
    assert attr[-1] < rnd[-1] - 0.2, (counts, attr, rnd)     # and clearly better at the largest
    before = {k: v.clone() for k, v in _trojan(smoke_population).model.state_dict().items()}
    assert all(torch.equal(v, _trojan(smoke_population).model.state_dict()[k]) for k, v in before.items())


def test_sae_edit_with_no_feature_is_the_organism(smoke_population):
    from samecurve.arms.interp.ablation import SAEEdit
    from samecurve.models.sae import TopKSAE

    net = _trojan(smoke_population).model
    torch.manual_seed(0)
    sae = TopKSAE(net.cfg.d_model, 32, 4)
    tokens = torch.randint(4, 60, (8, 8), generator=torch.Generator().manual_seed(1))
    none = SAEEdit(copy.deepcopy(net), "blocks.1.hook_resid_pre", sae, torch.tensor([], dtype=torch.long), torch.zeros(0))
    torch.testing.assert_close(none(tokens), net(tokens))
    some = SAEEdit(copy.deepcopy(net), "blocks.1.hook_resid_pre", sae, torch.arange(32), torch.zeros(32))
    assert not torch.allclose(some(tokens), net(tokens), atol=1e-3)
