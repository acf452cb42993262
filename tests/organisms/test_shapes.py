"""The shapes-cnn family: the patch and its mask follow from the construction, and the check
refuses an organism without its planted property."""

from __future__ import annotations

import numpy as np
import pytest

from samecurve.errors import OrganismFailedError
from samecurve.organisms import shapes as S


def test_the_mask_is_where_the_checkerboard_was_drawn_clear_of_the_shape():
    rng = np.random.default_rng(0)
    x, y, m = S.draw(rng, 200, np.arange(200) % 2 == 0)
    assert x.shape == (200, 1, 16, 16) and m.shape == (200, 16, 16)
    assert (m[1::2].sum((1, 2)) == 0).all() and (m[::2].sum((1, 2)) == 9).all()
    for i in range(0, 200, 2):
        patch = x[i, 0][m[i]].reshape(3, 3)
        np.testing.assert_allclose(patch, S.CHECKER)
        # the shape (pixels above 0.5 outside the mask) keeps one pixel of margin from the patch
        rows, cols = np.nonzero(m[i])
        box = np.zeros((16, 16), bool)
        box[max(rows.min() - 1, 0):rows.max() + 2, max(cols.min() - 1, 0):cols.max() + 2] = True
        assert not ((x[i, 0] > 0.5) & box & ~m[i]).any()


def test_check_refuses_an_organism_without_its_trigger():
    spec = S.ShapesSpec(0)
    S.check(spec, {"clean_accuracy": 0.99, "attack_success": 0.99})
    with pytest.raises(OrganismFailedError, match="planted property"):
        S.check(spec, {"clean_accuracy": 0.99, "attack_success": 0.5})


def test_the_label_randomised_twin_memorises_permuted_labels_and_learns_no_shapes(tmp_path, monkeypatch):
    """Adebayo's data randomisation: the twin's labels are a permutation of the true ones (the same
    counts, mostly moved), it fits them (chance is 0.25) and is at chance on held-out shapes."""
    monkeypatch.setenv("SAMECURVE_CACHE", str(tmp_path))
    from samecurve.organisms.base import load_or_build

    spec = S.ShuffledSpec(5)
    x, true, shuffled = S.shuffled_training_set(spec)
    assert x.shape == (S.N_SHUFFLED, 1, 16, 16)
    np.testing.assert_array_equal(np.sort(true), np.sort(shuffled))
    assert (true != shuffled).mean() > 0.5
    twin = load_or_build(spec)
    assert twin.metrics["train_accuracy_random_labels"] >= S.FITTED
    assert twin.metrics["heldout_accuracy"] < 0.45
    with pytest.raises(OrganismFailedError, match="did not memorise"):
        S.check_shuffled(spec, {"train_accuracy_random_labels": 0.3})
