"""The non-interp ways to fix a classifier's shortcut (diagnosis, fix row): change the training data
and let the task retrain (its recipe, the organism's own, is the same for every plan).

  counterfactual-augment  name the concept as counterfactual-edits does (black-box: draw each concept
                          on held-out images, count changed answers); in the training set, find the
                          images showing it (the analyst's template fit, protocols.diagnosis.
                          shows_concepts), take it off them and draw it on a random share of all
                          images equal to the mean share of the other seven concepts read the same way:
                          the concept made independent of the label (counterfactual data augmentation,
                          Kaushik et al. 2020). The oracle's plan with the concept found by a black-box
                          test and the groups read off the data.
  concept-drop            the same concept; drop the training images showing it, and scale each class's
                          remaining images back to the class's total weight (the issue's "drop data").
  jtt-upweight            Liu et al. 2021, Just Train Twice: the examples the first model (here the
                          organism) gets wrong on its training set are upweighted by lambda_up = 100
                          (the paper's value for Waterbirds, its image task; not tuned) and the task
                          retrains. It needs no concept. The organism fits its training set almost
                          perfectly (0-19 errors of 2,000 on dev seeds 901-902), so it has little to go on.
Control: `no-fix` (the organism as it is: the unfixed reference as an arm).
"""

from __future__ import annotations

import numpy as np

from ...models.cnn import MeteredClassifier
from ...protocols.diagnosis import DiagnosisContext, Fix, TrainingPlan, redraw_concept, shows_concepts
from ...registry import arm
from .diagnosis import BATCH, CounterfactualEdits

JTT_UP = 100.0


def _named_and_shown(model: MeteredClassifier, ctx: DiagnosisContext) -> tuple[int, np.ndarray]:
    """The concept counterfactual edits name, and which training images show each concept."""
    named = int(np.argmax(CounterfactualEdits().rank_concepts(model, ctx)))
    return named, shows_concepts(ctx.train_images.numpy(), ctx.language.concepts)


@arm("counterfactual-augment", family="baseline", access="black-box", control="no-fix")
class CounterfactualAugment:
    """Redraw the concept counterfactual edits name independently of the label; the task retrains."""

    def fix(self, model: MeteredClassifier, ctx: DiagnosisContext) -> Fix:
        named, shows = _named_and_shown(model, ctx)
        rate = float(np.delete(shows, named, axis=1).mean())
        images = redraw_concept(ctx.train_images.numpy(), shows[:, named], ctx.language.concepts[named], rate,
                                np.random.default_rng([ctx.seed, 43]))
        labels = ctx.train_labels.numpy()
        return Fix(TrainingPlan(images, labels, np.ones(len(labels))))


@arm("concept-drop", family="baseline", access="black-box", control="no-fix")
class ConceptDrop:
    """Drop the training images showing the concept counterfactual edits name; keep each class's weight."""

    def fix(self, model: MeteredClassifier, ctx: DiagnosisContext) -> Fix:
        named, shows = _named_and_shown(model, ctx)
        labels = ctx.train_labels.numpy()
        weights = (~shows[:, named]).astype(float)
        for c in np.unique(labels):
            rows = labels == c
            kept = weights[rows].sum()
            weights[rows] *= rows.sum() / kept if kept else 1.0
        if weights.sum() == 0:
            weights[:] = 1.0
        return Fix(TrainingPlan(ctx.train_images.numpy(), labels, weights))


@arm("jtt-upweight", family="baseline", access="black-box", control="no-fix")
class JTTUpweight:
    """Just Train Twice: upweight the training examples the organism gets wrong; the task retrains."""

    def __init__(self, up: float = JTT_UP):
        self.up = up

    def fix(self, model: MeteredClassifier, ctx: DiagnosisContext) -> Fix:
        images = ctx.train_images
        pred = np.concatenate([model.logits(images[i:i + BATCH]).argmax(-1).numpy() for i in range(0, len(images), BATCH)])
        labels = ctx.train_labels.numpy()
        return Fix(TrainingPlan(images.numpy(), labels, np.where(pred != labels, self.up, 1.0)))


@arm("no-fix", family="control", access="black-box")
class NoFix:
    """Do nothing: the organism as it is."""

    def fix(self, model: MeteredClassifier, ctx: DiagnosisContext) -> Fix:
        return Fix()
