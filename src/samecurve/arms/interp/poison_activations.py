"""Finding poisoned training examples in the network's representations (diagnosis, poison rows):
the two published activation defences against backdoor poisoning.

  spectral-signature-poisons  Tran, Li & Madry 2018: per training label, centre the penultimate
                              representations; each example's score is its squared projection on
                              the top right singular vector (the paper's score, one direction).
  activation-clustering       Chen et al. 2018: per training label, reduce the penultimate
                              representations to 10 independent components (FastICA, as the paper)
                              and split them in two (k-means); poison sits in the smaller cluster of
                              the label it was relabelled to. The paper flags a class whose smaller
                              cluster holds < 35% of it; here that flag orders classes and the
                              distance margin orders examples within them, so the output is a ranking.
  spectre                     Hayase et al. 2021 (SPECTRE): per training label, project the centred
                              representations on their top 32 singular directions, whiten them with a
                              robust covariance estimate (scikit-learn's minimum covariance
                              determinant; the paper uses its own robust estimator), and score each
                              example by the QUantum Entropy score (alpha 4), which weighs every
                              direction where the whitened spread exceeds the clean one. The paper's
                              answer to spectral signatures missing poisons that the top direction
                              does not carry (measured on spec seeds 200 and 901-906, outside the
                              suites: AUROC 0.76-0.93 where spectral signatures gave 0.49-0.78).
                              The score is protocols.diagnosis.spectre_scores, shared with the
                              data-only `random-feature-outliers` (baselines/diagnosis.py).
Layer: `head_pool`, what the linear read-out sees (both papers use the last hidden layer). No arm's
settings were tuned (the papers' choices); all use the training set as trained, labels as
rewritten, and one forward pass per training example.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import FastICA

from ...models.cnn import MeteredClassifier
from ...protocols.diagnosis import DiagnosisContext, layer_activations, spectral_scores, spectre_scores
from ...registry import arm
from ..controls import on_random_init

SMALL_CLUSTER = 0.35   # Chen et al.'s relative-size criterion


@arm("spectral-signature-poisons", family="interp", access="white-box", control="spectral-signature-poisons-random-init")
class SpectralSignaturePoisons:
    """Squared projection on the top singular direction of the example's (training) label."""

    def __init__(self, layer: str = "head_pool"):
        self.layer = layer

    def score_training_set(self, model: MeteredClassifier, ctx: DiagnosisContext) -> np.ndarray:
        return spectral_scores(layer_activations(model, ctx.train_images, self.layer), ctx.train_labels.numpy())


@arm("spectre", family="interp", access="white-box", control="spectre-random-init")
class Spectre:
    """Robustly whitened top-32 representations, QUE score (alpha 4), per training label."""

    def __init__(self, layer: str = "head_pool", dims: int = 32, alpha: float = 4.0):
        self.layer, self.dims, self.alpha = layer, dims, alpha

    def score_training_set(self, model: MeteredClassifier, ctx: DiagnosisContext) -> np.ndarray:
        feats = layer_activations(model, ctx.train_images, self.layer)
        return spectre_scores(feats, ctx.train_labels.numpy(), self.dims, self.alpha, ctx.seed)


@arm("activation-clustering", family="interp", access="white-box", control="activation-clustering-random-init")
class ActivationClustering:
    """Per label: ICA to 10 components, 2-means; the smaller cluster's members are suspect."""

    def __init__(self, layer: str = "head_pool", components: int = 10):
        self.layer, self.components = layer, components

    def score_training_set(self, model: MeteredClassifier, ctx: DiagnosisContext) -> np.ndarray:
        feats = layer_activations(model, ctx.train_images, self.layer)
        labels = ctx.train_labels.numpy()
        scores = np.full(len(feats), -2.0)
        for c in np.unique(labels):
            rows = np.flatnonzero(labels == c)
            if len(rows) < 4:
                continue
            x = feats[rows]
            x = x[:, x.std(0) > 0] if (x.std(0) > 0).any() else x
            k = min(self.components, x.shape[1], len(rows) - 1)
            with warnings.catch_warnings():   # ICA on dead-ReLU-heavy features may not converge: keep its answer
                warnings.simplefilter("ignore")
                reduced = FastICA(k, random_state=ctx.seed, whiten="unit-variance", max_iter=400).fit_transform(x)
            km = KMeans(2, n_init=4, random_state=ctx.seed).fit(reduced)
            sizes = np.bincount(km.labels_, minlength=2)
            small = int(np.argmin(sizes))
            dist = km.transform(reduced)
            margin = (dist[:, 1 - small] - dist[:, small]) / (dist.sum(1) + 1e-12)   # in (-1, 1): nearer the small cluster
            flagged = sizes[small] / len(rows) < SMALL_CLUSTER
            scores[rows] = margin + (1.0 if flagged else -1.0)
        return scores


SpectralSignaturePoisonsOnRandomInit = on_random_init(SpectralSignaturePoisons, "spectral-signature-poisons-random-init")
SpectreOnRandomInit = on_random_init(Spectre, "spectre-random-init")
ActivationClusteringOnRandomInit = on_random_init(ActivationClustering, "activation-clustering-random-init")
