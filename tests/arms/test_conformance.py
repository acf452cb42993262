"""Every registered arm, scikit-learn `parametrize_with_checks` style: same seed -> same result,
outputs match their protocol, spend stays within budget, and no hook is left on the model."""

import numpy as np
import pytest
import torch

from samecurve import registry
from samecurve.budget import Budget, Meter, MeteredModel
from samecurve.models.hooks import hook_points
from samecurve.protocols import Attacker, InputDetector, ModelDetector
from samecurve.tasks.backdoor_audit import AuditContext

BUDGET = Budget(labelled_examples=16, forward_passes=1_500, backward_passes=60, wall_seconds=300, tuning_trials=4)
AUDIT_ARMS = registry.get_suite("smoke").entries[0].arms


def _context(org, seed=0):
    rng = np.random.default_rng([seed, 1])
    clean = org.language.sample_prompts(rng, BUDGET.labelled_examples)
    return AuditContext(org.language, clean, seed, np.random.default_rng([seed, 2]))


def _outputs(arm_cls, org):
    torch.manual_seed(0)
    arm = arm_cls()
    out, spends = {}, []
    pool = org.language.sample_prompts(np.random.default_rng(9), 40)
    calls = [(InputDetector, lambda m: arm.score_inputs(m, _context(org), pool)),
             (ModelDetector, lambda m: arm.score_model(m, _context(org))),
             (Attacker, lambda m: arm.propose_triggers(m, _context(org)))]
    for proto, call in calls:
        if isinstance(arm, proto):
            model = MeteredModel(org.model, Meter(BUDGET), arm.access)
            out[proto.__name__] = call(model)
            spends.append(model.meter.close())
    return out, spends


@pytest.mark.parametrize("name", AUDIT_ARMS)
def test_arm_conformance(name, smoke_population):
    org = next(o for o in smoke_population if o.spec.planted)
    arm_cls = registry.get_arm(name)
    first, spends = _outputs(arm_cls, org)
    second, _ = _outputs(arm_cls, org)
    assert first, f"{name} implements none of the audit protocols"
    if "InputDetector" in first:
        s = np.asarray(first["InputDetector"], dtype=float)
        assert s.shape == (40,) and np.isfinite(s).all()
        np.testing.assert_allclose(s, second["InputDetector"])
    if "ModelDetector" in first:
        assert np.isfinite(first["ModelDetector"]) and first["ModelDetector"] == second["ModelDetector"]
    if "Attacker" in first:
        props = first["Attacker"]
        assert props and all(isinstance(t, int) for p in props for t in p)
        assert props == second["Attacker"]
    for sp in spends:
        assert sp.forward_passes <= BUDGET.forward_passes and sp.backward_passes <= BUDGET.backward_passes
    assert all(len(p._forward_hooks) == 0 for p in hook_points(org.model).values())
