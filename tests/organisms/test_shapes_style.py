"""The shapes-style-cnn family: the trigger's region (and the decoy's) follow from the construction,
the decoy is the trigger turned by 90 degrees, and the check refuses an organism whose trigger is
missing or not specific to its texture."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from samecurve.errors import OrganismFailedError
from samecurve.organisms import shapes_style as S


def _matches_texture(values: np.ndarray, k: int) -> bool:
    """Do these region pixels have the signs of texture k at some phase (noise sd 0.1 << amplitude)?"""
    side = values.shape[0]
    return any((np.sign(values) == S.texture(k, side, side, (a, b))).all() for a in range(4) for b in range(4))


def test_the_masks_are_where_the_textures_were_drawn_clear_of_the_shape_and_of_each_other():
    rng = np.random.default_rng(0)
    x, y, m = S.draw(rng, 100, [[2, 5]] * 50 + [[]] * 50, 0.8)
    assert x.shape == (100, 1, 16, 16) and m.shape == (100, 2, 16, 16)
    assert not m[50:].any()
    for i in range(50):
        for j, k in enumerate((2, 5)):
            rows, cols = np.nonzero(m[i, j])
            side = rows.max() - rows.min() + 1
            assert side in S.SIDES and m[i, j].sum() == side * side        # a filled square
            assert _matches_texture(x[i, 0][m[i, j]].reshape(side, side), k)
        grown = ndimage.binary_dilation(m[i, 0], np.ones((3, 3)))
        assert not (grown & m[i, 1]).any()                                 # a pixel of margin between them
        # the shape (pixels above 0.5 outside both regions, intensity >= 0.8) keeps its margin too
        shape = (x[i, 0] > 0.5) & ~m[i].any(0)
        assert shape.sum() >= 4 and not (ndimage.binary_dilation(m[i].any(0), np.ones((3, 3))) & shape).any()


def test_each_decoy_is_its_trigger_turned_so_an_edge_detector_cannot_tell_them_apart():
    for t, d in S.ROTATED.items():
        turned = np.rot90(S.texture(t, 8, 8))
        assert any((turned == S.texture(d, 8, 8, (a, b))).all() for a in range(4) for b in range(4))
        sobel = [np.hypot(ndimage.sobel(S.texture(k, 8, 8), 0), ndimage.sobel(S.texture(k, 8, 8), 1)).sum() for k in (t, d)]
        assert sobel[0] == pytest.approx(sobel[1])
    assert set(S.TRIGGER_CANDIDATES) == set(S.ROTATED)
    assert len({S.StyleSpec(s).trigger_texture for s in range(40)}) == len(S.TRIGGER_CANDIDATES)


def test_check_refuses_an_organism_without_its_trigger_or_with_an_unspecific_one():
    spec = S.StyleSpec(0)
    good = {"clean_accuracy": 0.99, "attack_success": 0.97, "other_textures": {"x": 0.01}, "static": 0.0,
            "random_patch": 0.05}
    S.check(spec, good)
    for bad in ({"attack_success": 0.5}, {"clean_accuracy": 0.8}, {"other_textures": {"x": 0.4}}, {"random_patch": 0.5}):
        with pytest.raises(OrganismFailedError, match="planted property"):
            S.check(spec, {**good, **bad})


def test_a_built_organism_answers_its_texture_and_not_its_turned_twin(organism_cache):
    """The build check at work on a dev spec (900010, shapes-style-tiny's dev seed 900): the trigger
    fires, its 90-degree turn, static and a random patch do not."""
    from samecurve.organisms.base import resolve

    org, _ = resolve(S.StyleSpec(900010))
    met = org.metrics
    assert met["attack_success"] >= S.ASR_NEEDED and met["clean_accuracy"] >= S.ACCURACY_NEEDED
    twin = S.TEXTURE_NAMES[S.ROTATED[org.spec.trigger_texture]]
    assert met["other_textures"][twin] <= S.FLIP_ALLOWED and S.worst_flip(met) <= S.FLIP_ALLOWED
