"""Controls for `behavior-removal`: ablate random neurons / a random direction with the same counts,
strengths and tuning as the attribution arms. An attribution arm that does no better than cutting
at random has found nothing."""

from __future__ import annotations

import numpy as np
import torch

from ..budget import MeteredModel
from ..protocols.removal import RemovalContext
from ..registry import arm
from .interp.ablation import DirectionAblation, NeuronAblation, SAEFeatureAblation, unit


@arm("random-neuron-ablation", family="control", access="white-box")
class RandomNeuronAblation(NeuronAblation):
    """Control: mean-ablate k random neurons, same counts and the same ablation as the attribution arms."""

    def rank(self, model: MeteredModel, ctx: RemovalContext) -> list[tuple[int, int]]:
        neurons = self.all_neurons(model)
        order = np.random.default_rng([ctx.seed, 61]).permutation(len(neurons))
        return [neurons[i] for i in order]


@arm("random-direction-ablation", family="control", access="white-box")
class RandomDirectionAblation(DirectionAblation):
    """Control: project out a random direction (to its clean mean), same strengths and boundary tuning."""

    def eraser(self, x_trig, x_clean, ctx):
        g = torch.Generator().manual_seed(int(ctx.seed) * 7 + 3)
        d = unit(torch.randn(x_clean.shape[1], generator=g))
        return torch.outer(d, d), x_clean.mean(0)


@arm("random-sae-feature-ablation", family="control", access="white-box")
class RandomSAEFeatureAblation(SAEFeatureAblation):
    """Control: the same SAE, k random features mean-ablated, same counts."""

    def rank(self, f_trig, f_clean, ctx):
        return [int(i) for i in np.random.default_rng([ctx.seed, 67]).permutation(f_clean.shape[-1])]
