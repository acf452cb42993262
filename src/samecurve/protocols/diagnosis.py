"""Finding why a classifier misbehaves, and fixing it: the protocols of `diagnosis`, what an arm is
given, and the checks on what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import torch
from scipy.linalg import expm
from sklearn.covariance import MinCovDet

from .base import fail

if TYPE_CHECKING:
    from ..models.cnn import MeteredClassifier


@dataclass
class DiagnosisContext:
    """What a diagnosing arm is given besides the model: the input format (with the concepts it can
    name and draw: `language.concept_names`, templates `language.concepts` [k, h, w]); for the poison
    job the training set as trained (`train_images`, `train_labels`; the labels of poisoned rows are
    the rewritten ones); for the concept job clean held-out images with their true labels (drawn
    independently of every concept, so the data alone names no concept); the fix job gets both; a
    seed and an RNG."""

    language: Any
    train_images: torch.Tensor | None    # float32 [n, 1, h, w]
    train_labels: torch.Tensor | None    # int64 [n]
    heldout_images: torch.Tensor | None  # float32 [m, 1, h, w]
    heldout_labels: torch.Tensor | None  # int64 [m]
    seed: int
    rng: np.random.Generator
    notes: dict = field(default_factory=dict)


@runtime_checkable
class PoisonFinder(Protocol):
    """A suspicion score per training example (higher = more likely poisoned)."""

    def score_training_set(self, model: MeteredClassifier, context: DiagnosisContext) -> np.ndarray: ...


@runtime_checkable
class ConceptRanker(Protocol):
    """A score per named concept: how much the model's decisions rest on it (higher = more)."""

    def rank_concepts(self, model: MeteredClassifier, context: DiagnosisContext) -> np.ndarray: ...


@dataclass
class TrainingPlan:
    """A training set for the task's retraining recipe (the organism's own: its steps, batch size,
    optimiser and initialisation; each batch drawn in proportion to `weights`, so a weight of 0 drops
    an example and the plan's size does not change the steps)."""

    images: np.ndarray    # float32 [m, 1, h, w]
    labels: np.ndarray    # int64 [m]
    weights: np.ndarray   # float [m], >= 0, some > 0


@dataclass
class Fix:
    """A fixing arm's answer: a plan the task retrains a fresh network on (data-side fixes), or a
    fixed classifier (a module from images to logits, e.g. the arm's copy of the network with an
    activation edit: model-side fixes), or neither (the organism as it is)."""

    plan: TrainingPlan | None = None
    classifier: torch.nn.Module | None = None


@runtime_checkable
class Fixer(Protocol):
    """Remove the classifier's shortcut: a training plan to retrain on, or an edited classifier."""

    def fix(self, model: MeteredClassifier, context: DiagnosisContext) -> Fix: ...


def validate_fix(arm: Any, got: Any, image_shape: tuple[int, ...], n_classes: int) -> Fix:
    """A Fix with at most one of plan and classifier; a plan's images of the input's shape, labels in
    range and finite non-negative weights with a positive sum; a classifier an nn.Module."""
    due = "a Fix with a TrainingPlan or an nn.Module classifier (or neither)"
    if not isinstance(got, Fix) or (got.plan is not None and got.classifier is not None):
        raise fail(arm, "fix", got, due)
    if got.classifier is not None and not isinstance(got.classifier, torch.nn.Module):
        raise fail(arm, "fix", got, due, "the classifier is not an nn.Module")
    plan = got.plan
    if plan is not None:
        images, labels = np.asarray(plan.images, np.float32), np.asarray(plan.labels)
        weights = np.asarray(plan.weights, float)
        m = len(labels)
        if (images.shape != (m, *image_shape) or labels.shape != (m,) or weights.shape != (m,) or m == 0
                or not np.isfinite(images).all() or not np.isfinite(weights).all() or (weights < 0).any()
                or weights.sum() <= 0 or not np.issubdtype(labels.dtype, np.integer)
                or labels.min() < 0 or labels.max() >= n_classes):
            raise fail(arm, "fix", got, due, f"a plan needs images [m, {', '.join(map(str, image_shape))}], "
                       f"integer labels in [0, {n_classes}) and finite weights >= 0 with a positive sum")
        return Fix(TrainingPlan(images, labels.astype(np.int64), weights))
    return got


def validate_scores(arm: Any, method: str, got: Any, n: int) -> np.ndarray:
    """Real scores, one per item, no NaN (ties are allowed: the metrics break them as AUROC does)."""
    due = f"{n} real scores, no NaN"
    try:
        out = np.asarray(got.detach() if isinstance(got, torch.Tensor) else got, dtype=float).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise fail(arm, method, got, due, str(exc)) from None
    if out.shape != (n,) or np.isnan(out).any():
        raise fail(arm, method, got, due)
    return out


def shows_concepts(images: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """Which images [n, 1, h, w] show which concepts (templates [k, h, w]): bool [n, k]. The concepts
    overlap (a frame shares pixels with every striping), so one projection per template misreads;
    the analyst's check is a joint least-squares fit of all templates and a constant, a concept
    present where its coefficient is at least one half."""
    basis = np.concatenate([templates.reshape(len(templates), -1), np.ones((1, templates[0].size))]).T
    coefs, *_ = np.linalg.lstsq(basis, images.reshape(len(images), -1).T.astype(float), rcond=None)
    return coefs[:-1].T >= 0.5


def concept_pairs(ctx: DiagnosisContext) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per concept, the held-out images that lack it, without and with it drawn (the analyst's own
    edit; an image already showing the concept says nothing about adding it). Which image shows
    which concept is read once for all of them."""
    images = ctx.heldout_images.numpy()
    templates = ctx.language.concepts
    shows = shows_concepts(images, templates)
    pairs = []
    for k, template in enumerate(templates):
        base = torch.from_numpy(images[~shows[:, k]])
        pairs.append((base, base + torch.from_numpy(template.astype(np.float32))[None, None]))
    return pairs


def redraw_concept(images: np.ndarray, shows: np.ndarray, template: np.ndarray, rate: float,
                   rng: np.random.Generator) -> np.ndarray:
    """The images with one additive concept taken off where it shows (`shows` bool [n]) and drawn
    again on a random `rate` of all of them: the concept made independent of the label
    (counterfactual data augmentation; the fix job's oracle with the planted concept and truth)."""
    t = template.astype(np.float32)[None, None]
    out = images - shows[:, None, None, None].astype(np.float32) * t
    return (out + (rng.random(len(images)) < rate)[:, None, None, None].astype(np.float32) * t).astype(np.float32)


def layer_activations(model: MeteredClassifier, images: torch.Tensor, layer: str = "head_pool",
                      batch: int = 512) -> np.ndarray:
    """Each image's activations at a named layer of the network (flattened, float64 [n, d]), read with
    a forward hook on a charged private copy (white-box access; one forward pass per image). The
    default, `head_pool`, is the representation the read-out sees (the paper's penultimate layer)."""
    net = model.module()
    got: list[torch.Tensor] = []
    handle = getattr(net.net, layer).register_forward_hook(lambda mod, inp, out: got.append(out.detach().flatten(1)))
    try:
        with torch.no_grad():
            for i in range(0, len(images), batch):
                net(images[i:i + batch])
    finally:
        handle.remove()
    return torch.cat(got).double().numpy()


def spectral_scores(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Tran et al.'s spectral signature of every row of `x` [n, d] within its label: the squared
    projection of the centred row on its label's top right singular vector (0 for a label of one
    row, which has no direction). Shared by the interp arm (on representations) and its pixel-space
    canary (on raw images)."""
    scores = np.zeros(len(x))
    for c in np.unique(labels):
        rows = labels == c
        if rows.sum() < 2:
            continue
        centred = x[rows] - x[rows].mean(0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        scores[rows] = (centred @ vt[0]) ** 2
    return scores


def spectre_scores(x: np.ndarray, labels: np.ndarray, dims: int = 32, alpha: float = 4.0, seed: int = 0) -> np.ndarray:
    """Hayase et al.'s SPECTRE score of every row of `x` [n, d] within its label: the centred rows
    projected on their top `dims` singular directions, whitened with a robust covariance (scikit-learn's
    minimum covariance determinant), scored by the QUantum Entropy score (`alpha`); 0 for a label
    too small to estimate a covariance. Shared by the interp arm (on the network's representations),
    its random-init control and the data-only baseline (on a random network's features)."""
    scores = np.zeros(len(x))
    for c in np.unique(labels):
        rows = labels == c
        centred = x[rows] - x[rows].mean(0)
        k = min(dims, rows.sum() // 4, centred.shape[1])
        if k < 2:
            continue   # too few examples to estimate a covariance: score 0
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        z = centred @ vt[:k].T
        robust = MinCovDet(random_state=seed).fit(z)
        w, v = np.linalg.eigh(robust.covariance_)
        white = (z - robust.location_) @ v @ np.diag(1 / np.sqrt(np.maximum(w, 1e-12))) @ v.T
        spread = np.cov(white.T)
        q = expm(alpha * (spread - np.eye(k)) / max(np.linalg.norm(spread, 2) - 1, 1e-12))
        scores[rows] = np.einsum("ni,ij,nj->n", white, q, white) / np.trace(q)
    return scores
