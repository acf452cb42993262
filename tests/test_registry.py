import pytest

from samecurve import registry
from samecurve.errors import ConfigError, UnknownNameError


def test_unknown_names_suggest_the_closest():
    with pytest.raises(UnknownNameError, match="did you mean 'defection-probe'"):
        registry.get_arm("defection-prob")
    with pytest.raises(UnknownNameError, match="valid: attribution-sanity, backdoor-audit"):
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


# ---- issue 11 / issue 10 item 5: one registry, checked once it is complete -----------------------

import types  # noqa: E402

from samecurve.registry import arm  # noqa: E402


def _fresh_module(name: str) -> types.ModuleType:
    import sys

    mod = types.ModuleType(name)
    mod.__file__ = f"/nonexistent/{name}.py"
    sys.modules[name] = mod
    return mod


def _drop(*names: str) -> None:
    for n in names:
        registry._ARMS.pop(n, None)
        registry._ORIGIN["arm"].pop(n, None)


def test_a_name_registered_twice_is_refused_naming_both_modules():
    registry.load_builtins()
    _fresh_module("user_mod_a")
    _fresh_module("user_mod_b")
    A = type("Probe", (), {"__module__": "user_mod_a", "__qualname__": "Probe"})
    B = type("Probe", (), {"__module__": "user_mod_b", "__qualname__": "Probe"})
    try:
        arm("dup-probe", family="interp", access="white-box", control="random-scores")(A)
        with pytest.raises(ConfigError, match=r"arm 'dup-probe' is registered twice: by user_mod_a:Probe and by user_mod_b:Probe"):
            arm("dup-probe", family="interp", access="white-box", control="random-scores")(B)
        with pytest.raises(ConfigError, match="registered twice"):  # a clash with a built-in names its module
            arm("gcg", family="baseline", access="black-box")(B)
        assert registry.get_arm("gcg").__module__.startswith("samecurve.arms")
    finally:
        _drop("dup-probe")


def test_the_same_definition_registered_again_is_not_a_clash():
    registry.load_builtins()
    _fresh_module("user_mod_c")
    first = type("P", (), {"__module__": "user_mod_c", "__qualname__": "P"})
    again = type("P", (), {"__module__": "user_mod_c", "__qualname__": "P"})  # the module re-imported
    try:
        arm("reimported-probe", family="interp", access="white-box", control="random-scores")(first)
        arm("reimported-probe", family="interp", access="white-box", control="random-scores")(again)
        assert registry.get_arm("reimported-probe") is again
    finally:
        _drop("reimported-probe")


def test_unknown_control_is_refused_once_the_registry_is_complete_with_did_you_mean():
    registry.load_builtins()
    _fresh_module("user_mod_d")
    early = type("E", (), {"__module__": "user_mod_d", "__qualname__": "E"})
    late = type("L", (), {"__module__": "user_mod_d", "__qualname__": "L"})
    typo = type("T", (), {"__module__": "user_mod_d", "__qualname__": "T"})
    try:
        # a control defined after the arm that names it is fine: registration itself does not check
        arm("early-probe", family="interp", access="white-box", control="late-control")(early)
        arm("late-control", family="control", access="white-box")(late)
        registry.check_controls(["early-probe"])
        arm("typo-probe", family="interp", access="white-box", control="random-scorez")(typo)
        with pytest.raises(ConfigError, match=r"control='random-scorez'.*did you mean 'random-scores'\?"):
            registry.check_controls(["typo-probe"])
    finally:
        _drop("early-probe", "late-control", "typo-probe")


def test_every_kind_has_an_entry_point_group_loaded_the_same_way(monkeypatch):
    assert set(registry.ENTRY_POINT_GROUPS.values()) == {"samecurve.arms", "samecurve.tasks",
                                                         "samecurve.organisms", "samecurve.suites"}
    loaded = []

    class FakeEP:
        def __init__(self, group):
            self.name, self.value, self.group = f"ep-{group}", f"{group}_mod", group

        def load(self):
            loaded.append(self.group)

    monkeypatch.setattr(registry, "entry_points", lambda group: [FakeEP(group)])
    registry.load_entry_points()
    assert sorted(loaded) == sorted(registry.ENTRY_POINT_GROUPS.values())

    class Broken(FakeEP):
        def load(self):
            raise ImportError("no module named tasks_mod")

    monkeypatch.setattr(registry, "entry_points", lambda group: [Broken(group)] if group == "samecurve.tasks" else [])
    with pytest.raises(ConfigError, match="samecurve.tasks failed to load"):
        registry.load_entry_points()


def test_every_arm_and_task_has_a_whole_sentence_description():
    for name, cls in registry.arms().items():
        d = registry.arm_description(cls)
        assert len(d) > 15 and d[-1] in ".?!)", (name, d)
    for name in ("ccs", "diffmean", "finetune-steer"):  # empty docstrings once
        assert registry.arm_description(registry.get_arm(name))
    assert registry.arm_description(registry.get_arm("fine-pruning")).endswith("fine-tune on clean data.")
    assert "threshold tau." in registry.arm_description(registry.get_arm("acdc"))
    for name, cls in registry.tasks().items():
        d = registry.task_description(cls)
        assert len(d) > 15 and d[0].isupper() and not d.startswith("`"), (name, d)


def test_protocols_served_per_task():
    audit, harm = registry.get_task("backdoor-audit"), registry.get_task("harm-filter")
    assert registry.protocols_served(audit, registry.get_arm("defection-probe")) == ["InputDetector"]
    assert "Attacker" in registry.protocols_served(audit, registry.get_arm("gcg"))
    assert registry.protocols_served(harm, registry.get_arm("defection-probe")) == []
    assert registry.protocols_served(registry.get_task("explanation-faithfulness"),
                                     registry.get_arm("distill")) == ["Compressor"]
    for s in registry.suites().values():  # every arm a suite lists serves its task
        for e in s.entries:
            for a in e.arms:
                assert registry.protocols_served(registry.get_task(e.task), registry.get_arm(a)), (e.task, a)


def test_every_interp_arm_has_a_line_against_its_paper_in_the_readme():
    """Issue 14: a strawman is as bad as a leak, so README says for each interp arm what its paper
    does and where ours differs. A new interp arm without that line fails here."""
    from pathlib import Path

    registry.load_builtins()
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = text.index("## Interp arms against their papers")
    section = text[start:text.index("\n## ", start + 1)]
    builtin = {n: a for n, a in registry.arms().items() if a.__module__.startswith("samecurve.")}  # not tests' plug-ins
    missing = [n for n, a in builtin.items() if a.family == "interp" and f"`{n}`" not in section]
    assert not missing, f"README's 'Interp arms against their papers' has no line for {missing}"
