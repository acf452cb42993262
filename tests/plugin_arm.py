"""An arm defined outside samecurve, as a user would write one (see README, 'Add your own arm')."""

import numpy as np

from samecurve.registry import arm


@arm("constant-probe", family="interp", access="white-box", control="random-scores")
class ConstantProbe:
    """Scores every input the same: it must not beat its control."""

    def score_inputs(self, model, ctx, inputs):
        model.logits(inputs)  # spends like a real arm would
        return np.zeros(len(inputs))


def not_an_arm():
    return None


@arm("greedy-probe", family="interp", access="white-box", control="random-scores")
class GreedyProbe:
    """Asks for more forward passes than any suite gives: always over budget (tests/test_ladder.py)."""

    def score_inputs(self, model, ctx, inputs):
        model.logits(inputs.repeat(10_000, 1))
        return np.zeros(len(inputs))
