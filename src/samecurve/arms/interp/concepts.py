"""Naming the concept a classifier relies on from its activations (diagnosis, concept row).

  tcav                 Kim et al. 2018, testing with concept activation vectors: per concept, a
                       linear classifier (scikit-learn) separates a layer's activations of held-out
                       images with the concept drawn on them from the same images without it; its
                       unit normal is the CAV. The TCAV score of (concept, class) is the share of the
                       class's images whose class logit grows along the CAV (positive directional
                       derivative). A concept's relevance is max over classes |score - 0.5| (a score
                       of 0 or 1 is the paper's "significant" end); ties, common at 0 and 1, are
                       broken by the mean |directional derivative|. The paper's test against random
                       CAVs (a t-test over many retrainings) is not run: it needs tens of CAVs per
                       concept, more than the budget's forward passes at the small rungs.
  concept-steering     the same layer patched with the concept's difference-of-means direction
                       (activations with it drawn minus without): add it to the activations of
                       images that lack the concept and count how many answers change. The
                       activation-space twin of counterfactual-edits (baselines/diagnosis.py).
Layer `pool` (after the second convolution, [32, 8, 8]): the last layer the answer depends on
non-linearly (after it, `conv3`'s ReLU; at `head_pool` the logits are linear in the activations, so
every image's directional derivative has the same sign and TCAV can only say 0 or 1). Not tuned on
any seed: the papers' settings and the one structural choice above.
captum.concept.TCAV is not used: it stores CAVs on disk and wants a dataset iterator per concept
and layer; the method is twenty lines on scikit-learn and autograd.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from ...models.cnn import MeteredClassifier
from ...protocols.diagnosis import DiagnosisContext, concept_pairs, layer_activations
from ...registry import arm
from ..controls import on_random_init


@arm("tcav", family="interp", access="white-box", control="tcav-random-init")
class TCAV:
    """Concept activation vectors; relevance = max over classes |TCAV score - 0.5|."""

    def __init__(self, layer: str = "pool", C: float = 1.0):
        self.layer, self.C = layer, C

    def _gradients(self, model: MeteredClassifier, images: torch.Tensor, classes: np.ndarray) -> np.ndarray:
        """d logit[class of image] / d activations at the layer, per image (one forward and one backward
        pass per image and class asked about: the door charges both)."""
        net = model.module()
        held: list[torch.Tensor] = []
        handle = getattr(net.net, self.layer).register_forward_hook(lambda mod, inp, out: held.append(out))
        grads = np.zeros((len(images), 0))
        try:
            for c in np.unique(classes):
                rows = np.flatnonzero(classes == c)
                held.clear()
                x = images[rows].clone().requires_grad_(True)
                logits = net(x)
                (g,) = torch.autograd.grad(logits[:, int(c)].sum(), held[0])
                if grads.shape[1] == 0:
                    grads = np.zeros((len(images), g[0].numel()))
                grads[rows] = g.flatten(1).double().numpy()
        finally:
            handle.remove()
        return grads

    def rank_concepts(self, model: MeteredClassifier, ctx: DiagnosisContext) -> np.ndarray:
        labels = ctx.heldout_labels.numpy()
        grads = self._gradients(model, ctx.heldout_images, labels)
        relevance, magnitude = [], []
        for base, drawn in concept_pairs(ctx):
            if len(base) < 2:
                relevance.append(0.0)
                magnitude.append(0.0)
                continue
            acts = layer_activations(model, torch.cat([base, drawn]), self.layer)
            y = np.r_[np.zeros(len(base)), np.ones(len(drawn))]
            cav = LogisticRegression(C=self.C, max_iter=1000).fit(acts, y).coef_[0]
            cav /= np.linalg.norm(cav) or 1.0
            dd = grads @ cav
            per_class = [abs(float((dd[labels == c] > 0).mean()) - 0.5) for c in np.unique(labels)]
            relevance.append(max(per_class))
            magnitude.append(float(np.abs(dd).mean()))
        mag = np.asarray(magnitude)
        return np.asarray(relevance) + 1e-3 * mag / (mag.max() or 1.0)   # the tie-break stays below any score step


@arm("concept-steering", family="interp", access="white-box", control="concept-steering-random-init")
class ConceptSteering:
    """Add the concept's mean activation shift at a layer; relevance = share of answers that change."""

    def __init__(self, layer: str = "pool"):
        self.layer = layer

    def rank_concepts(self, model: MeteredClassifier, ctx: DiagnosisContext) -> np.ndarray:
        net = model.module()
        layer = getattr(net.net, self.layer)
        changed = []
        for base, drawn in concept_pairs(ctx):
            if len(base) == 0:
                changed.append(np.zeros(0))
                continue
            acts = layer_activations(model, torch.cat([base, drawn]), self.layer)
            shift = torch.from_numpy(acts[len(base):].mean(0) - acts[:len(base)].mean(0)).float()
            with torch.no_grad():
                before = net(base).argmax(-1)
                handle = layer.register_forward_hook(lambda mod, inp, out: out + shift.view_as(out[0]))
                try:
                    after = net(base).argmax(-1)
                finally:
                    handle.remove()
            changed.append((before != after).numpy())
        return np.array([float(c.mean()) if c.size else 0.0 for c in changed])


TCAVOnRandomInit = on_random_init(TCAV, "tcav-random-init")
ConceptSteeringOnRandomInit = on_random_init(ConceptSteering, "concept-steering-random-init")
