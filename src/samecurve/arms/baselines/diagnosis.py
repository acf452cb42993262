"""The non-interp ways to diagnose a classifier (diagnosis): ask the model as a function, or look at
the data.

Poison rows (score every training example):
  loss-outliers          the example's cross-entropy under the trained model on the label it was
                         trained with (black-box): what a practitioner sorts by first (label noise
                         shows as high loss).
  low-loss-isolation     the same loss, lowest first: anti-backdoor learning's observation (Li et al.
                         2021, ABL) that a trigger is learned faster and more surely than the task,
                         so poisoned examples sit at the bottom of the loss. ABL isolates them early
                         in training; here there is only the final model.
  self-influence         data attribution, TracIn (Pruthi et al. 2020) self-influence at the one
                         checkpoint we have, restricted to the read-out layer as TracIn's authors do
                         for scale: |grad_W loss|^2 = |softmax - onehot|^2 (|h|^2 + 1), h the
                         read-out's input (white-box: it reads h; no backward pass is needed, the
                         gradient is closed-form).
  pixel-spectral         Tran et al.'s spectral signature on the raw pixels (data-only: never runs the
                         model). The canary: if it matches the activation methods, the poison is
                         visible in the data and the representation adds nothing.
  random-feature-outliers  SPECTRE's robust outlier score (protocols.diagnosis.spectre_scores, the
                         interp arm's settings: 32 directions, alpha 4) on the features of a randomly
                         initialised CNN the arm builds itself (the shapes architecture, width 16, at
                         the read-out's input) (data-only: never runs or reads the organism). The
                         data-side twin of `spectre-random-init`: random convolutions already see the
                         +-1 checkerboard, so the interp arm's margin is what the trained
                         representation adds over them. Nothing tuned (SPECTRE's settings; the seed
                         salt differs from the random-init control's, an independent random network).
Concept row (score the eight named concepts):
  counterfactual-edits   draw each concept on held-out images that lack it and count the answers
                         that change (black-box; Marks et al.'s black-box edits, the oldest test of
                         a shortcut). Ties broken by the mean shift of the probabilities.
  concept-label-statistics  how far each concept's presence moves the label distribution in the
                         held-out data (data-only: the canary; the held-out data is drawn with every
                         concept independent of the label, so it should sit at chance).
Control: `random-diagnosis` (random scores for both protocols).
"""

from __future__ import annotations

import numpy as np
import torch

from ...models.cnn import CNNConfig, MeteredClassifier, SmallCNN
from ...protocols.diagnosis import (DiagnosisContext, concept_pairs, layer_activations, shows_concepts, spectral_scores,
                                    spectre_scores)
from ...registry import arm

BATCH = 512
RANDOM_FEATURE_SALT = 104729   # not the random-init control's 7919: an independent random network


def _logits(model: MeteredClassifier, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([model.logits(images[i:i + BATCH]) for i in range(0, len(images), BATCH)])


@arm("loss-outliers", family="baseline", access="black-box", control="random-diagnosis")
class LossOutliers:
    """Per-example training loss under the final model (higher = more suspect)."""

    def score_training_set(self, model: MeteredClassifier, ctx: DiagnosisContext) -> np.ndarray:
        logits = _logits(model, ctx.train_images)
        return torch.nn.functional.cross_entropy(logits, ctx.train_labels, reduction="none").double().numpy()


@arm("low-loss-isolation", family="baseline", access="black-box", control="random-diagnosis")
class LowLossIsolation:
    """Per-example training loss under the final model, negated (lower loss = more suspect)."""

    def score_training_set(self, model: MeteredClassifier, ctx: DiagnosisContext) -> np.ndarray:
        return -LossOutliers().score_training_set(model, ctx)


@arm("self-influence", family="baseline", access="white-box", control="random-diagnosis")
class SelfInfluence:
    """TracIn self-influence of each example at the read-out layer (data attribution)."""

    def score_training_set(self, model: MeteredClassifier, ctx: DiagnosisContext) -> np.ndarray:
        # the read-out's input and the logits from one charged pass per example
        h = layer_activations(model, ctx.train_images, "head_pool")
        fc = model.module().net.fc
        w, b = fc.weight.detach().double().numpy(), fc.bias.detach().double().numpy()
        logits = h @ w.T + b
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(len(p)), ctx.train_labels.numpy()] -= 1.0
        return (p ** 2).sum(1) * ((h ** 2).sum(1) + 1.0)


@arm("pixel-spectral", family="baseline", access="data-only", control="random-diagnosis")
class PixelSpectral:
    """Spectral signature on raw pixels, per training label (never runs the model)."""

    def score_training_set(self, model: MeteredClassifier, ctx: DiagnosisContext) -> np.ndarray:
        return spectral_scores(ctx.train_images.flatten(1).double().numpy(), ctx.train_labels.numpy())


def random_features(images: torch.Tensor, n_classes: int, seed: int, width: int = 16) -> np.ndarray:
    """The read-out's input (`head_pool`, flattened) of a freshly initialised SmallCNN built from the
    input format alone (never the organism), drawn under `seed` without touching the global RNG."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = SmallCNN(CNNConfig(n_classes, images.shape[-1], width)).eval()
    got: list[torch.Tensor] = []
    handle = net.head_pool.register_forward_hook(lambda mod, inp, out: got.append(out.detach().flatten(1)))
    try:
        with torch.no_grad():
            for i in range(0, len(images), BATCH):
                net(images[i:i + BATCH])
    finally:
        handle.remove()
    return torch.cat(got).double().numpy()


@arm("random-feature-outliers", family="baseline", access="data-only", control="random-diagnosis")
class RandomFeatureOutliers:
    """SPECTRE's robust outlier score on a random CNN's features of the training images (never runs the model)."""

    def __init__(self, dims: int = 32, alpha: float = 4.0, salt: int = RANDOM_FEATURE_SALT):
        self.dims, self.alpha, self.salt = dims, alpha, salt

    def score_training_set(self, model: MeteredClassifier, ctx: DiagnosisContext) -> np.ndarray:
        feats = random_features(ctx.train_images, ctx.language.n_classes, int(ctx.seed) + self.salt)
        return spectre_scores(feats, ctx.train_labels.numpy(), self.dims, self.alpha, ctx.seed)


@arm("counterfactual-edits", family="baseline", access="black-box", control="random-diagnosis")
class CounterfactualEdits:
    """Draw each concept on images lacking it; relevance = share of answers that change."""

    def rank_concepts(self, model: MeteredClassifier, ctx: DiagnosisContext) -> np.ndarray:
        out = []
        for base, drawn in concept_pairs(ctx):
            if len(base) == 0:
                out.append(0.0)
                continue
            before, after = _logits(model, base).softmax(-1), _logits(model, drawn).softmax(-1)
            changed = float((before.argmax(-1) != after.argmax(-1)).double().mean())
            shift = float((before - after).abs().sum(-1).mean()) / 2   # total variation, in [0, 1]
            out.append(changed + 1e-3 * shift)   # the tie-break stays below one changed answer in 1,000
        return np.asarray(out)


@arm("concept-label-statistics", family="baseline", access="data-only", control="random-diagnosis")
class ConceptLabelStatistics:
    """Largest shift of a class's share among held-out images showing the concept (data only)."""

    def rank_concepts(self, model: MeteredClassifier, ctx: DiagnosisContext) -> np.ndarray:
        images, labels = ctx.heldout_images.numpy(), ctx.heldout_labels.numpy()
        prior = np.bincount(labels, minlength=ctx.language.n_classes) / len(labels)
        out = []
        for shows in shows_concepts(images, ctx.language.concepts).T:
            if not shows.any():
                out.append(0.0)
                continue
            share = np.bincount(labels[shows], minlength=ctx.language.n_classes) / shows.sum()
            out.append(float(np.abs(share - prior).max()))
        return np.asarray(out)


@arm("random-diagnosis", family="control", access="black-box")
class RandomDiagnosis:
    """Chance: random scores for every training example and every concept."""

    def score_training_set(self, model: MeteredClassifier, ctx: DiagnosisContext) -> np.ndarray:
        return ctx.rng.random(len(ctx.train_labels))

    def rank_concepts(self, model: MeteredClassifier, ctx: DiagnosisContext) -> np.ndarray:
        return ctx.rng.random(len(ctx.language.concept_names))
