"""Arms that must lose. A method that does not beat its control is reported as such.

`random-scores` is chance for any protocol. `on_random_init` turns an activation arm into the
same arm run on a freshly initialised network of the same shape: if that does as well, the
result came from the method's read-out, not from what the organism learned.
"""

from __future__ import annotations

import numpy as np
import torch

from ..budget import MeteredModel
from ..registry import arm
from .interp.anomaly import ActivationAnomaly
from .interp.probes import DefectionProbe
from .interp.spectral import SpectralSignature
from .interp.stimulation import NeuronStimulation


@arm("random-scores", family="control", access="black-box")
class RandomScores:
    """Chance: random input scores, random model scores, a random content token as 'trigger'."""

    def score_inputs(self, model: MeteredModel, ctx, inputs: torch.Tensor) -> np.ndarray:
        return np.random.default_rng([ctx.seed, 31]).random(inputs.shape[0])

    def score_model(self, model: MeteredModel, ctx) -> float:
        return float(ctx.rng.random())

    def propose_triggers(self, model: MeteredModel, ctx) -> list[tuple[int, ...]]:
        return [(int(ctx.rng.choice(ctx.language.content_tokens)),)]


# Protocol methods that take the model as their first argument (protocols.py and task protocols).
MODEL_METHODS = ("score_inputs", "score_model", "propose_triggers", "score_truth", "edit", "steer", "explain",
                 "attribute")


def on_random_init(base: type, name: str) -> type:
    """Register `name`: `base` run on a randomly initialised copy of the organism."""

    def swap(method_name: str):
        inner = getattr(base, method_name)

        def method(self, model: MeteredModel, ctx, *args):
            return inner(self, model.randomised(seed=int(ctx.seed) + 7919), ctx, *args)

        method.__name__ = method_name
        return method

    methods = {m: swap(m) for m in MODEL_METHODS if hasattr(base, m)}
    cls = type(base.__name__ + "OnRandomInit", (base,), {**methods, "__doc__": f"{base.__name__} on a random network."})
    return arm(name, family="control", access=base.access)(cls)


DefectionProbeOnRandomInit = on_random_init(DefectionProbe, "defection-probe-random-init")
ActivationAnomalyOnRandomInit = on_random_init(ActivationAnomaly, "activation-anomaly-random-init")
SpectralSignatureOnRandomInit = on_random_init(SpectralSignature, "spectral-signature-random-init")
NeuronStimulationOnRandomInit = on_random_init(NeuronStimulation, "neuron-stimulation-random-init")
