"""The latent-knowledge probes' fast paths compute what the slow ones did (no organism needed)."""

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from samecurve.arms.interp.ccs import _SOLVER, CCS


def test_batched_ccs_probes_equal_one_layer_at_a_time():
    rng = np.random.default_rng(0)
    pairs = [(rng.normal(size=(80, 16)), rng.normal(size=(80, 16))) for _ in range(3)]
    ccs = CCS(restarts=4, epochs=50)
    together = ccs._train_probes(pairs, [7, 8, 9])
    for pair, seed, (w, b, loss) in zip(pairs, [7, 8, 9], together):
        (w1, b1, loss1), = ccs._train_probes([pair], [seed])
        assert np.allclose(w, w1, atol=1e-5) and abs(b - b1) < 1e-5 and abs(loss - loss1) < 1e-6


def test_newton_solver_fits_the_lbfgs_logistic_regression():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 32))
    y = (x[:, 0] + 0.5 * rng.normal(size=64) > 0).astype(int)
    for C in (0.01, 0.1, 1.0):
        fast = make_pipeline(StandardScaler(), LogisticRegression(C=C, solver=_SOLVER, max_iter=2000)).fit(x, y)
        slow = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)).fit(x, y)
        assert np.allclose(fast.decision_function(x), slow.decision_function(x), atol=1e-2 * (1 + 10 * C))
