"""Arms that must lose. A method that does not beat its control is reported as such.

`random-scores` is chance for any protocol. `on_random_init` turns an activation arm into the
same arm run on a freshly initialised network of the same shape: if that does as well, the
result came from the method's read-out, not from what the organism learned.
"""

from __future__ import annotations

import numpy as np
import torch

from ..budget import MeteredModel
from ..errors import ConfigError
from ..models.cnn import MeteredClassifier
from ..models.pretrained import MeteredEncoder
from ..protocols import PROTOCOLS, implements, protocol_methods
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


RANDOM_INIT_SALT = 7919


def random_network(model, seed: int, owner: object | None = None):
    """The model an arm is handed, freshly initialised with the same architecture and meter: a
    MeteredModel or MeteredClassifier, a list of them (a run's checkpoints) or a MeteredEncoder (re-initialised from its
    config; kept on `owner`, per encoder and seed, so that fit and score_texts see the same one)."""
    if isinstance(model, (list, tuple)):
        return [random_network(m, seed, owner) for m in model]
    if isinstance(model, (MeteredModel, MeteredClassifier)):
        return model.randomised(seed=seed)
    if isinstance(model, MeteredEncoder):
        return model.randomised(seed, None if owner is None else owner.__dict__.setdefault("_random_encoders", {}))
    raise ConfigError(f"no random-init counterpart for a model of type {type(model).__name__}")


def random_init_class(base: type) -> type:
    """`base` run on a randomly initialised copy of the organism (not registered). Every method of
    every protocol `base` implements (protocols.PROTOCOLS) is swapped; the model is its first argument."""

    def swap(method_name: str):
        inner = getattr(base, method_name)

        def method(self, model, ctx, *args, **kwargs):
            return inner(self, random_network(model, int(ctx.seed) + RANDOM_INIT_SALT, self), ctx, *args, **kwargs)

        method.__name__ = method_name
        method.__doc__ = inner.__doc__
        return method

    names = [m for p in PROTOCOLS if implements(base, p) for m in protocol_methods(p)]
    if not names:
        raise ConfigError(f"on_random_init({base.__name__}): it implements no protocol that takes a model")
    methods = {m: swap(m) for m in dict.fromkeys(names)}
    return type(base.__name__ + "OnRandomInit", (base,),
                {**methods, "random_init_of": base, "__doc__": f"{base.__name__} on a random network."})


def on_random_init(base: type, name: str) -> type:
    """Register `name`: `base` run on a randomly initialised copy of the organism."""
    return arm(name, family="control", access=base.access)(random_init_class(base))


DefectionProbeOnRandomInit = on_random_init(DefectionProbe, "defection-probe-random-init")
ActivationAnomalyOnRandomInit = on_random_init(ActivationAnomaly, "activation-anomaly-random-init")
SpectralSignatureOnRandomInit = on_random_init(SpectralSignature, "spectral-signature-random-init")
NeuronStimulationOnRandomInit = on_random_init(NeuronStimulation, "neuron-stimulation-random-init")
