"""The layered-lm family: its ground truth follows from how the sequences are written, and its
check refuses a model that did not learn both kinds of token."""

from __future__ import annotations

import numpy as np
import pytest

from samecurve.errors import OrganismFailedError
from samecurve.organisms import layered as L


def test_planted_next_tokens_follow_from_the_construction():
    fixed, table = L.value_table(7)
    toks, kind = L.make_sequences(7, np.random.default_rng(0), 300)
    assert toks.shape == kind.shape == (300, L.SEQ_LEN)
    easy_r, easy_c = np.nonzero(kind == L.EASY)
    # an easy position holds a fixed key and its next token is that key's value
    assert np.isin(toks[easy_r, easy_c], fixed).all()
    assert (toks[easy_r, easy_c + 1] == table[toks[easy_r, easy_c]]).all()
    # a hard position's next token already followed the same token in the first copy
    for r, c in zip(*np.nonzero(kind == L.HARD)):
        first = np.nonzero(toks[r, 1:1 + 2 * L.N_PAIRS] == toks[r, c])[0]
        assert len(first) == 1, "the current token occurs once in the first copy"
        assert toks[r, c + 1] == toks[r, 2 + first[0]]
        assert c > 2 * L.N_PAIRS, "hard tokens sit in the second copy"
    # a free key's value is random: the same free key takes several values across rows
    free = np.setdiff1d(np.arange(1, L.N_KEYS + 1), fixed)
    k = free[0]
    followers = {int(toks[r, c + 1]) for r, c in zip(*np.nonzero(toks[:, :1 + 2 * L.N_PAIRS] == k))}
    assert len(followers) > 3
    # both kinds occur in every row; the gap moves the second copy
    assert ((kind == L.EASY).sum(1) > 0).all() and ((kind == L.HARD).sum(1) >= L.N_PAIRS - 1).all()
    starts = {int(np.nonzero(toks[r, 1 + 2 * L.N_PAIRS:] != L.GAP)[0][0]) for r in range(50)}
    assert starts == set(range(L.MAX_GAP + 1))


def test_check_refuses_an_organism_that_did_not_learn_the_hard_tokens():
    spec = L.LayeredSpec(0)
    L.check(spec, {"easy_accuracy": 1.0, "hard_accuracy": 0.9})
    with pytest.raises(OrganismFailedError, match="did not learn"):
        L.check(spec, {"easy_accuracy": 1.0, "hard_accuracy": 0.4})
    with pytest.raises(OrganismFailedError):
        L.check(spec, {"easy_accuracy": 0.9, "hard_accuracy": 0.95})
