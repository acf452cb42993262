"""Emergence organisms: checkpoints survive the cache, and the recorded jump is the pre-registered
behavioural rule applied to the saved checkpoints' held-out behaviour (never an interp signal)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from samecurve.models.transformer import TinyTransformer
from samecurve.organisms import emergence as E
from samecurve.organisms import grokking as G
from samecurve.organisms import induction as I
from samecurve.organisms.base import load_or_build

# Small versions of real recipes: one jump run, one no-jump run and one calibration run (a no-jump
# recipe, forecast-emergence's alarm thresholds) per kind (shorter runs, same dynamics).
TEST_RUNS = (
    ("induction", "lr1e-3", 200, False),
    ("induction", "lr2e-4", 200, False),
    ("induction", "no-repeats", 200, True),
    ("induction", "lr1e-3", 200, True),
    ("grokking", "lr1e-2-frac0.6", 800, False),
    ("grokking", "frac0.3", 800, False),
    ("grokking", "wd0.1", 800, True),
    ("grokking", "lr1e-2-frac0.6", 800, True),
)


def small_specs() -> list:
    specs = [E.EmergenceSpec(kind, recipe, 7 + i, calibration=cal, **E.RECIPES[kind][recipe])
             for i, (kind, recipe, _, cal) in enumerate(TEST_RUNS)]
    return [replace(s, training=replace(s.training, steps=steps)) for s, (_, _, steps, _) in zip(specs, TEST_RUNS)]


@pytest.fixture(scope="session")
def emergence_runs(organism_cache):
    return [load_or_build(s) for s in small_specs()]


def test_jump_rule_needs_the_threshold_to_hold():
    rule = E.JumpRule("acc", 0.5)
    assert rule.jump_index([0.1, 0.6, 0.4, 0.7, 0.9]) == 3      # the first crossing fell back: not the jump
    assert rule.jump_index([0.1, 0.2, 0.3]) is None
    assert rule.jump_index([0.5, 0.5]) == 0
    assert rule.jump_index([0.1, 0.9, 0.9, 0.49]) is None        # falls below at the end: no jump


def test_recorded_jump_is_the_behavioural_rule_on_saved_checkpoints(emergence_runs):
    for org in emergence_runs:
        spec, m = org.spec, org.metrics
        assert len(org.model.ckpts) == len(spec.ckpt_steps) == len(m["steps"])
        # re-evaluate every saved checkpoint on held-out data, independently of the build code path
        if spec.kind == "induction":
            batch = I.repeat_batch(np.random.default_rng([spec.seed, 777]), I.HELDOUT_SEQS)
            curve = [I.repeat_accuracy(ck, batch) for ck in org.model.ckpts]
        else:
            split = G.modadd_split(spec)
            curve = [G.modadd_accuracy(ck, split, split.heldout) for ck in org.model.ckpts]
        np.testing.assert_allclose(curve, m["heldout_accuracy"], atol=1e-4)
        rule = E.JUMP_RULES[spec.kind]
        assert m["rule"]["threshold"] == rule.threshold
        assert m["jump_index"] == rule.jump_index(np.round(curve, 4))
        assert m["jump_step"] == (None if m["jump_index"] is None else m["steps"][m["jump_index"]])


def test_recipes_do_what_they_say(emergence_runs):
    jumped = {o.spec.recipe: o.metrics["jumped"] for o in emergence_runs}   # calibration runs too
    assert jumped == {"lr1e-3": True, "lr2e-4": False, "no-repeats": False,
                      "lr1e-2-frac0.6": True, "frac0.3": False, "wd0.1": False}
    for o in emergence_runs:   # checkpoints really differ along training
        first, last = o.model.ckpts[0].embed.weight, o.model.ckpts[-1].embed.weight
        assert not torch.allclose(first, last)


def test_checkpoints_reload_from_cache(emergence_runs):
    again = load_or_build(emergence_runs[0].spec)
    assert again.weights_sha256 == emergence_runs[0].weights_sha256
    for a, b in zip(again.model.ckpts, emergence_runs[0].model.ckpts):
        for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
            assert ka == kb and torch.equal(va, vb)


def test_repeat_batch_marks_exactly_the_copied_tokens():
    b = I.repeat_batch(np.random.default_rng(0), 64)
    rows, pos = np.nonzero(b.mask)
    assert len(rows) == 64 * (I.SEG_LEN - 1)
    # the token predicted at p (p+1) repeats the token SEG_LEN earlier
    assert (b.tokens[rows, pos + 1] == b.tokens[rows, pos + 1 - I.SEG_LEN]).all()
    none = I.repeat_batch(np.random.default_rng(0), 64, repeat_share=0.0)
    assert not none.mask.any()


def test_modadd_split_keeps_ground_truth_pairs_away_from_arms():
    spec = E.EmergenceSpec("grokking", "x", 3, **E.RECIPES["grokking"]["lr1e-2"])
    s = G.modadd_split(spec)
    parts = [set(s.train.tolist()), set(s.val.tolist()), set(s.heldout.tolist())]
    assert sum(map(len, parts)) == spec.modulus ** 2 and len(set.union(*parts)) == spec.modulus ** 2
    assert len(s.val) == G.VAL_POOL
    assert (s.targets == (s.inputs[:, 0] + s.inputs[:, 1]) % spec.modulus).all()


def test_induction_builder_is_importable_for_other_tasks():
    model = E.induction_model(seed=0, steps=5)
    assert isinstance(model, TinyTransformer) and model.cfg.attn_only and model.cfg.n_layers == 2
