"""latent-knowledge's redesign (issue 13): the test set gives nothing away, chance is chance, and an
organism that does not know the truth is refused."""

from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from samecurve.errors import OrganismFailedError
from samecurve.organisms import quirky
from samecurve.tasks.latent_knowledge import LatentKnowledge

SHORTCUTS = {"persona": [quirky.PERSONA_POS], "a": list(quirky.A_POS), "b": list(quirky.B_POS),
             "c (sum)": list(quirky.C_POS)}


def _unbuilt(spec: quirky.QuirkySpec) -> quirky.QuirkyArithmetic:
    """The quirky view of an organism that is never trained: the eval set depends on the spec only."""
    return quirky.QuirkyArithmetic(SimpleNamespace(spec=spec, model=None, language=quirky.Language(),
                                                   label=spec.label(), weights_sha256=""))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_known_shortcut_tells_true_from_false(seed):
    """Every token at every position (the persona, each operand digit, each digit of the claimed
    sum), one-hot as a probe would read it, and the persona's claim, taken alone, are at chance
    against the truth on the task's own eval set (the quick suite's size). The old
    Bob-disagreement set had truth == "Bob says FALSE" == "tens digit is 1" on every item."""
    task = LatentKnowledge(eval_size=400)
    for metric in task.metrics:
        for spec_seed in (seed * 1000, seed * 1000 + 1):
            st = task.eval_set(metric, _unbuilt(quirky.QuirkySpec(spec_seed)), seed)
            y = st.truth.astype(int)
            assert len(y) == 400 and y.mean() == 0.5
            feats = {f"{name}[{p}] == {quirky.token_name(v)}": st.tokens[:, p] == v
                     for name, pos in SHORTCUTS.items() for p in pos for v in np.unique(st.tokens[:, p])}
            feats["persona's claim"] = st.persona_says
            feats["Alice's word (the prompting baseline's answer)"] = st.alice_says
            feats["hard split"] = st.hard
            for name, x in feats.items():
                assert abs(roc_auc_score(y, x) - 0.5) <= 0.1, (metric, name, roc_auc_score(y, x))
            # by construction the claim, and Alice's word for every statement, carry nothing at all
            assert abs(roc_auc_score(y, st.persona_says) - 0.5) < 1e-9
            assert abs(roc_auc_score(y, st.alice_says) - 0.5) < 1e-9


def test_balanced_set_is_arithmetic():
    st = quirky.balanced(np.random.default_rng(3), 400)
    a, b, c = quirky.decode(st.tokens)
    assert ((c == a + b) == st.truth).all()
    assert set(np.unique(st.persona)) == {quirky.ALICE, quirky.BOB}
    assert st.hard.mean() == 0.5  # half hard: a split no label comes from


def test_an_organism_whose_oracle_probe_fails_is_refused():
    spec = quirky.QuirkySpec(0)
    good = {f"{p}_{s}_accuracy": 1.0 for p in ("alice", "bob") for s in ("easy", "hard")}
    quirky.check(spec, {**good, "oracle_probe_auroc": 0.95})
    with pytest.raises(OrganismFailedError, match="does not know the truth"):
        quirky.check(spec, {**good, "oracle_probe_auroc": 0.8})


def test_an_eval_set_too_small_to_balance_is_refused():
    from samecurve.errors import ConfigError

    with pytest.raises(ConfigError, match="sixteenths"):
        LatentKnowledge(eval_size=8)
    assert len(quirky.balanced(np.random.default_rng(0), 300).truth) == 288  # rounded down to sixteenths
