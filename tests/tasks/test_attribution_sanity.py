"""attribution-sanity on a built shapes organism: maps that run the model find the patch and a
random map does not; the edge detector and the random map are blind to the model (randomisation
sensitivity 0), the gradient is not; IoU is exact on a map that is the mask."""

from __future__ import annotations

import numpy as np
import pytest

from samecurve import registry
from samecurve.budget import Budget
from samecurve.organisms.base import load_or_build
from samecurve.protocols.organisms import patched
from samecurve.seeding import seed_everything
from samecurve.tasks.attribution_sanity import AttributionSanity, top_k_iou

BUDGET = Budget(labelled_examples=0, forward_passes=12_000, backward_passes=600, wall_seconds=300, tuning_trials=4)


def test_top_k_iou():
    mask = np.zeros((16, 16), bool)
    mask[2:5, 3:6] = True
    assert top_k_iou(mask.astype(float), mask) == 1.0
    shifted = np.roll(mask, 1, axis=1).astype(float)   # 6 of 9 pixels shared
    assert top_k_iou(shifted, mask) == pytest.approx(6 / 12)


@pytest.fixture(scope="module")
def organism():
    return patched(load_or_build(registry.get_organism_set("shapes-tiny").specs(0)[0]))


def _scores(name: str, org) -> dict:
    seed_everything(0)
    cls = registry.arms()[name]
    return {s.metric: s.value for s in AttributionSanity(n_patched=12, n_clean=12).score_organism(lambda s: cls(), org, 0, BUDGET)}


def test_maps_that_run_the_model_find_the_patch_and_blind_maps_do_not_move(organism):
    rand, sobel = _scores("random-map", organism), _scores("sobel-edges", organism)
    assert rand["localisation-iou"] < 0.15 and sobel["localisation-iou"] < 0.15
    assert rand["randomisation-sensitivity"] == pytest.approx(0.0) and sobel["randomisation-sensitivity"] == pytest.approx(0.0)
    for name in ("integrated-gradients", "grad-cam", "occlusion"):
        got = _scores(name, organism)
        assert got["localisation-iou"] > rand["localisation-iou"] + 0.4, (name, got)
        assert got["localisation-auroc"] > 0.9, (name, got)
    for name in ("saliency", "guided-backprop", "smoothgrad", "input-x-gradient"):
        assert _scores(name, organism)["localisation-auroc"] > 0.8, name
    assert _scores("saliency", organism)["randomisation-sensitivity"] > 0.5


@pytest.mark.parametrize("per_image", [197, 64, 52, 30, 12, 5])
def test_occlusion_plans_its_stride_within_the_forward_passes(organism, per_image):
    """A full-suite ladder rung left occlusion 52 passes per image; it chose a stride whose captum
    windows needed 65 and went over budget. It now stays inside whatever it is given (>= 5)."""
    import torch

    from samecurve.budget import Meter
    from samecurve.models.cnn import MeteredClassifier
    from samecurve.protocols.attribution import AttributionContext

    x = torch.from_numpy(organism.sample(np.random.default_rng(1), 8, triggered=True)[0])
    budget = Budget(labelled_examples=0, forward_passes=per_image * 8, backward_passes=0, wall_seconds=60, tuning_trials=0)
    meter = Meter(budget)
    ctx = AttributionContext(organism.language, x, 8, 0, np.random.default_rng(0))
    maps = registry.arms()["occlusion"]().attribute(MeteredClassifier(organism.model, meter, "black-box"), ctx, x,
                                                     torch.zeros(8, dtype=torch.long))
    assert maps.shape == (8, 1, 16, 16) and meter.spend.forward_passes <= per_image * 8
