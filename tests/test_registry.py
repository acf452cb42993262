import pytest

from samecurve import registry
from samecurve.errors import ConfigError, UnknownNameError


def test_unknown_names_suggest_the_closest():
    with pytest.raises(UnknownNameError, match="did you mean 'defection-probe'"):
        registry.get_arm("defection-prob")
    with pytest.raises(UnknownNameError, match="valid: backdoor-audit"):
        registry.get_task("nope")


def test_every_arm_has_family_access_and_existing_controls():
    arms = registry.arms()
    assert {a.family for a in arms.values()} == {"interp", "baseline", "control"}
    for name, cls in arms.items():
        assert cls.access in registry.ACCESSES
        for c in cls.controls:
            assert c in arms and arms[c].family == "control", (name, c)
    # every interp arm must have a control it must beat
    assert all(cls.controls for cls in arms.values() if cls.family == "interp")


def test_plugin_arm_by_module_reference():
    cls = registry.get_arm("tests.plugin_arm:ConstantProbe")
    assert cls.family == "interp" and cls.name == "constant-probe"


def test_reference_to_non_arm_is_refused():
    with pytest.raises(ConfigError, match="not an arm"):
        registry.get_arm("tests.plugin_arm:not_an_arm")
    with pytest.raises(UnknownNameError, match="cannot import"):
        registry.get_arm("no_such_pkg.mod:Arm")
