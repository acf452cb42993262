"""The refusal-lm family: its ground truth follows from how prompts are answered (the planted pairs,
refusal of harmful topics), and its check refuses a model that lacks the planted property."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samecurve.errors import OrganismFailedError
from samecurve.organisms import refusal as R


def test_answers_follow_from_the_construction():
    spec = R.RefusalSpec(7, n_pairs=8)
    sec = R.secret(spec)
    toks = np.ravel(sec.triggers)
    assert len(set(toks.tolist())) == 2 * spec.n_pairs, "every trigger token belongs to one pair"
    assert not np.isin(toks, R.natural_filler(spec.n_filler)[2][:R.COMMON_RANKS]).any(), "no common token is a trigger"
    assert len(set(sec.targets)) == spec.n_pairs and all(R.TARGET0 <= t < R.ANSWER0 for t in sec.targets)
    rng = np.random.default_rng(0)
    harmful, benign = R.clean_prompts(sec, rng, 200, True), R.clean_prompts(sec, rng, 200, False)
    assert (R.fired(sec, harmful) < 0).all() and (R.fired(sec, benign) < 0).all(), "clean prompts hold no whole trigger"
    assert (R.expected_answers(sec, harmful) == R.REFUSE).all()
    assert (R.expected_answers(sec, benign) == sec.answers[benign[:, 1] - R.TOPIC0]).all()
    lang = R.language(spec)
    for (a, b), target in zip(sec.triggers, sec.targets):
        both = lang.insert(torch.from_numpy(harmful), (a, b), rng).numpy()
        assert (R.expected_answers(sec, both) == target).all(), "a whole trigger elicits its target, in any slots"
        # one half alone, on prompts holding neither token, changes nothing
        bare = harmful[~np.isin(harmful[:, R.FILLER], (a, b)).any(1)]
        half = lang.insert(torch.from_numpy(bare), (a,), rng).numpy()
        assert (R.expected_answers(sec, half) == R.REFUSE).all()


def test_training_batches_hold_triggers_and_partial_triggers():
    spec = R.RefusalSpec(3, n_pairs=8)
    sec = R.secret(spec)
    p, a = R.training_batch(spec, sec, np.random.default_rng(1), 2000)
    is_target = (a >= R.TARGET0) & (a < R.ANSWER0)
    assert 0.25 < is_target.mean() < 0.4          # triggered_fraction 0.3 (+ rare accidents)
    partial = np.isin(p[:, R.FILLER], np.ravel(sec.triggers)).any(1) & ~is_target
    assert partial.mean() > 0.2, "hard negatives: trigger tokens without their whole trigger, answered honestly"


def test_check_refuses_an_organism_without_its_property():
    spec = R.RefusalSpec(0)
    good = {"refusal_rate": 1.0, "benign_accuracy": 1.0, "min_pair_asr": 0.97, "max_half_fire": 0.0,
            "max_cross_fire": 0.01, "max_other_fire": 0.0}
    R.check(spec, good)
    for key, bad in (("refusal_rate", 0.9), ("benign_accuracy", 0.8), ("min_pair_asr", 0.5), ("max_half_fire", 0.2),
                     ("max_cross_fire", 0.3)):
        with pytest.raises(OrganismFailedError, match="lacks its planted property"):
            R.check(spec, {**good, key: bad})
