"""The `emergence` family: training runs, saved checkpoint by checkpoint, in which a capability may
jump (an induction-head phase change, or grokking) at a step nobody fixed in advance.

Two kinds of run, each a spec with a recipe; one organism is one whole run (every checkpoint). What
is particular to a kind (data, model, loss, held-out curve) lives in its own module:
  induction  organisms/induction.py: a 2-layer attention-only transformer on sequences with a
             repeated random segment; the jump is the induction-head phase change.
  grokking   organisms/grokking.py: modular addition on a fixed train split with weight decay;
             the jump is grokking (test accuracy leaving its memorisation plateau).
This module is what both kinds share, so it stays one family: one spec type, the pre-registered
jump rule, the checkpoint container, the checkpointed training loop, and the organism sets (each
set holds runs of both kinds, and forecast-emergence scores each kind on the same population).
Recipes vary learning rate, weight decay, train fraction, repeat share and width, so the jump comes
at different steps, and some recipes (no repeats; little weight decay; too small a train split)
give runs with no jump.

Calibration runs (issue 13: "the alarm threshold is fitted on the evaluated runs using their true
jump index"): each set also holds, per kind, runs of its jump and no-jump recipes in turn under
seeds of their own, marked `calibration`. forecast-emergence sets each arm's alarm threshold on
them alone and never evaluates them, as a practitioner would calibrate an alarm on past runs
(whose jumps are known) before watching a new one. Jump recipes are among them because a signal
that merely tells recipes apart (e.g. a larger learning rate) fires early on every jump run:
only past jump runs show that as a false alarm.

Ground truth (pre-registered, behavioural, never an interp signal): after training, every saved
checkpoint is evaluated on held-out data no arm sees; the jump is the first checkpoint whose
held-out accuracy is >= `JUMP_RULES[kind].threshold` and stays so at every later checkpoint. A run
whose accuracy never does is a no-jump run. Rule, curve and jump step are stored in the metrics.

Checkpoints live in one safetensors file, keys prefixed `ckpts.{i}.` (a `CheckpointSeries`
container), so they go through the same hash-checked, atomic cache as any organism.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, OrganismFailedError
from ..models.transformer import TinyTransformer
from ..registry import organism_set
from ..seeding import seed_everything
from . import grokking, induction
from .base import Family, register_family
from .spec_parts import ModelShape, Recipe

Kind = Literal["induction", "grokking"]
KINDS: tuple[str, ...] = ("induction", "grokking")  # == protocols.organisms.EMERGENCE_KINDS (a test checks)
RECIPE_VERSION = "emergence-1"
KIND_MODULES = {"induction": induction, "grokking": grokking}   # what is particular to each kind


@dataclass(frozen=True)
class JumpRule:
    """The pre-registered ground-truth rule: first checkpoint at or above threshold, staying there."""

    metric: str
    threshold: float

    def jump_index(self, curve: list[float] | np.ndarray) -> int | None:
        c = np.asarray(curve, dtype=float)
        above = c >= self.threshold
        for i in range(len(c)):
            if above[i:].all():
                return i
        return None


JUMP_RULES = {
    "induction": JumpRule("held-out accuracy on the second copy of a repeated segment (tokens 2..l)", 0.5),
    "grokking": JumpRule("held-out test accuracy on pairs outside the train split and the validation pool", 0.85),
}


# Induction runs read d_model, n_layers and n_heads (attention only); grokking's MLP reads d_model
# and d_mlp (its one hidden layer).
SHAPE = ModelShape(d_model=32, n_layers=2, n_heads=4, d_mlp=128)


@dataclass(frozen=True)
class EmergenceSpec:
    kind: Kind
    recipe: str                  # the recipe's name in RECIPES (or a ladder rung's)
    seed: int
    training: Recipe
    ckpt_every: int
    shape: ModelShape = SHAPE
    # induction
    repeat_share: float = 1.0
    # grokking
    modulus: int = 37
    train_frac: float = 0.5
    # kept aside to calibrate alarm thresholds (forecast-emergence never evaluates it)
    calibration: bool = False
    family: ClassVar[str] = "emergence"

    def label(self) -> str:
        return f"{self.kind}/{self.recipe}/s{self.seed}" + ("/calibration" if self.calibration else "")

    @property
    def ckpt_steps(self) -> list[int]:
        return list(range(0, self.training.steps + 1, self.ckpt_every))


# ---- the run as one module -----------------------------------------------------------------------

@dataclass(frozen=True)
class SeriesConfig:
    n_ckpts: int
    kind: str


class CheckpointSeries(nn.Module):
    """A training run as one module: `ckpts[i]` is the model at `steps[i]` (one state dict, prefixed keys)."""

    def __init__(self, models: list[nn.Module], steps: list[int], kind: str):
        super().__init__()
        self.ckpts = nn.ModuleList(models)
        self.steps = list(steps)
        self.cfg = SeriesConfig(len(models), kind)

    @property
    def final(self) -> nn.Module:
        return self.ckpts[-1]


def _one_model(spec: EmergenceSpec) -> nn.Module:
    return KIND_MODULES[spec.kind].make_model(spec)


def make_model(spec: EmergenceSpec) -> CheckpointSeries:
    steps = spec.ckpt_steps
    return CheckpointSeries([_one_model(spec) for _ in steps], steps, spec.kind)


# ---- training -----------------------------------------------------------------------------------

def _train_checkpointed(spec: EmergenceSpec, opt: torch.optim.Optimizer, loss_at, on_ckpt) -> None:
    """`spec.training.steps` optimiser steps on `loss_at(step)`, reporting the loss every `ckpt_every` steps
    (before that step's update, so checkpoint 0 is the initialisation and the last is the end)."""
    for step in range(spec.training.steps + 1):
        loss = loss_at(step)
        if step % spec.ckpt_every == 0:
            on_ckpt(step, loss.item())
        if step == spec.training.steps:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def train_run(spec: EmergenceSpec) -> tuple[list[dict], list[int], list[float]]:
    """Train one run; return the checkpoints' state dicts, their steps and the training-loss log."""
    seed_everything(spec.seed)
    model = _one_model(spec)
    states, steps, losses = [], [], []

    def on_ckpt(step: int, loss: float) -> None:
        states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        steps.append(step)
        losses.append(round(loss, 5))

    model.train()
    opt, loss_at = KIND_MODULES[spec.kind].training(spec, model)
    _train_checkpointed(spec, opt, loss_at, on_ckpt)
    return states, steps, losses


def heldout_curve(spec: EmergenceSpec, series: CheckpointSeries) -> list[float]:
    """The behaviour the ground-truth rule reads: held-out accuracy at every checkpoint."""
    return KIND_MODULES[spec.kind].heldout_curve(spec, list(series.ckpts))


def ground_truth(spec: EmergenceSpec, curve: list[float]) -> dict:
    rule = JUMP_RULES[spec.kind]
    idx = rule.jump_index(curve)
    steps = spec.ckpt_steps
    return {"rule": {"metric": rule.metric, "threshold": rule.threshold, "stays": "at every later checkpoint"},
            "heldout_accuracy": curve, "jump_index": idx, "jump_step": None if idx is None else steps[idx],
            "jumped": idx is not None}


def build(spec: EmergenceSpec) -> tuple[nn.Module, dict]:
    states, steps, losses = train_run(spec)
    series = make_model(spec)
    for m, sd in zip(series.ckpts, states):
        m.load_state_dict(sd)
    series.eval()
    metrics = {"steps": steps, "train_loss": losses, **ground_truth(spec, heldout_curve(spec, series)),
               **KIND_MODULES[spec.kind].extra_metrics(spec, series.final)}
    return series, metrics


def check(spec: EmergenceSpec, metrics: dict) -> None:
    """A run is usable if it trained and its ground truth was recorded; a grokking run must at least
    fit its train split (else 'no jump' would just mean 'did not train')."""
    if len(metrics.get("heldout_accuracy", [])) != len(spec.ckpt_steps) or "jump_index" not in metrics:
        raise OrganismFailedError(f"organism {spec.label()}: checkpoints or ground truth missing; rebuild it")
    if spec.kind == "grokking" and metrics.get("final_train_accuracy", 0.0) < 0.99:
        raise OrganismFailedError(
            f"organism {spec.label()} did not fit its train split (accuracy {metrics.get('final_train_accuracy', 0):.3f}, "
            "need >= 0.99): raise `training.steps` or `training.lr`")


@dataclass(frozen=True)
class Language:
    """What a practitioner running the training knows: the data format and the checkpoint steps."""

    kind: str
    vocab_size: int
    seq_len: int
    steps: tuple[int, ...]
    segment_len: int = induction.SEG_LEN
    modulus: int = 0
    notes: str = field(default="")

    def repeat_batch(self, rng: np.random.Generator, n: int) -> induction.RepeatBatch:
        """Fresh sequences with a repeated segment (the capability's natural probe)."""
        return induction.repeat_batch(rng, n)


def language(spec: EmergenceSpec) -> Language:
    if spec.kind == "induction":
        return Language("induction", induction.IND_VOCAB, induction.IND_CTX, tuple(spec.ckpt_steps),
                        notes=induction.NOTES)
    return Language("grokking", spec.modulus, 2, tuple(spec.ckpt_steps), modulus=spec.modulus,
                    notes="(a, b) -> (a + b) mod P")


class EmergenceRun:
    """A built run as an EmergentOrganism (protocols/organisms.py): its checkpoints, the
    practitioner's data (per kind) and the jump the pre-registered rule found (forecast-emergence)."""

    def __init__(self, org: Any):
        spec, m = org.spec, org.metrics
        self.organism, self.language = org, org.language
        self.label, self.seed, self.weights_sha256 = org.label, spec.seed, org.weights_sha256
        self.kind, self.recipe, self.calibration = spec.kind, spec.recipe, spec.calibration
        self.checkpoints = list(org.model.ckpts)
        self.steps, self.train_loss, self.heldout_accuracy = m["steps"], m["train_loss"], m["heldout_accuracy"]
        self.jump_index, self.jump_step, self.rule = m["jump_index"], m["jump_step"], m["rule"]

    def practitioner_data(self, rng: np.random.Generator, probe_size: int, train_sample: int,
                          labelled: int) -> tuple[dict[str, Any], int]:
        return KIND_MODULES[self.kind].practitioner_data(self.organism.spec, rng, probe_size, train_sample, labelled)


def known_algorithm(org: Any) -> induction.InductionAlgorithm:
    """The known-algorithm view (explanation-faithfulness): induction runs only; grokking has no
    circuit this house knows."""
    if org.spec.kind != "induction":
        raise ConfigError(f"organism {org.label} has no known algorithm (a {org.spec.kind} run); "
                          "explanation-faithfulness takes induction runs (induction-circuit-* sets)")
    return induction.InductionAlgorithm(org)


register_family(Family("emergence", RECIPE_VERSION, EmergenceSpec, build, make_model, language, check,
                       views={"emergent": EmergenceRun, "known-algorithm": known_algorithm}))


def induction_model(seed: int = 0, lr: float = 1e-3, steps: int = 300, **overrides) -> TinyTransformer:
    """A trained 2-layer attention-only induction transformer (the final checkpoint), for other tasks."""
    spec = EmergenceSpec("induction", "reuse", seed, replace(IND_TRAINING, lr=lr, steps=steps), steps, **overrides)
    states, _, _ = train_run(spec)
    model = _one_model(spec)
    model.load_state_dict(states[-1])
    return model.eval()


# ---- recipes and sets ---------------------------------------------------------------------------

IND_TRAINING = Recipe(steps=300, batch_size=32, lr=1e-3, weight_decay=0.0)
GROK_TRAINING = Recipe(steps=1500, batch_size=32, lr=1e-2, weight_decay=1.0)  # full batch: batch_size unused (grokking.py: the dev study)


def _ind(lr: float, **spec: Any) -> dict:
    return dict(training=replace(IND_TRAINING, lr=lr), ckpt_every=10, **spec)


def _grok(lr: float, weight_decay: float = GROK_TRAINING.weight_decay, **spec: Any) -> dict:
    return dict(training=replace(GROK_TRAINING, lr=lr, weight_decay=weight_decay), ckpt_every=50, **spec)


RECIPES: dict[str, dict[str, dict]] = {   # recipe name -> the EmergenceSpec fields after its seed
    "induction": {
        "lr1e-3": _ind(1e-3),
        "lr5e-4": _ind(5e-4),
        "lr7e-4-d48": _ind(7e-4, shape=replace(SHAPE, d_model=48)),
        "lr1e-3-half-repeats": _ind(1e-3, repeat_share=0.5),
        "no-repeats": _ind(1e-3, repeat_share=0.0),     # no incentive: no jump
        "lr2e-4": _ind(2e-4),                           # too slow for this run: no jump
    },
    "grokking": {
        "lr1e-2": _grok(1e-2),
        "lr1e-2-frac0.6": _grok(1e-2, train_frac=0.6),
        "lr2e-2": _grok(2e-2),
        "wd0.1": _grok(1e-2, weight_decay=0.1),         # little weight decay: no grokking
        "frac0.3": _grok(1e-2, train_frac=0.3),         # too small a train split: no grokking
        "lr5e-3": _grok(5e-3),                          # near miss: too slow for this run
    },
}
JUMP_RECIPES = {"induction": ("lr1e-3", "lr5e-4", "lr7e-4-d48", "lr1e-3-half-repeats"),
                "grokking": ("lr1e-2", "lr1e-2-frac0.6", "lr2e-2")}
# no-jump recipes, most informative first. The last grokking one is a near miss: test accuracy
# climbs to ~0.7-0.85 by the end and often stays below the rule's threshold, but in some seeds
# crosses it at the last checkpoints (dev seeds: 1 of 3). The rule, not this list, labels every run.
NO_JUMP_RECIPES = {"induction": ("lr2e-4", "no-repeats"), "grokking": ("wd0.1", "frac0.3", "lr5e-3")}


# Calibration recipes, a jump recipe and a no-jump one in turn (the near miss left out: the
# rule, not the list, labels every run, but a calibration set should hold both kinds of run).
CALIBRATION_RECIPES = {kind: tuple(r for pair in zip(JUMP_RECIPES[kind], NO_JUMP_RECIPES[kind][:2]) for r in pair)
                       for kind in ("induction", "grokking")}


def population(seed: int, n_jump: int, n_no_jump: int, n_calibration: int = 0,
               kinds: tuple[str, ...] = KINDS) -> list[EmergenceSpec]:
    """Per kind: the first n_jump jump recipes and n_no_jump no-jump recipes, then n_calibration
    calibration runs cycling through CALIBRATION_RECIPES, all seeded from `seed` (calibration runs
    from seeds of their own, so no evaluated run is repeated among them)."""
    specs = []
    for k, kind in enumerate(kinds):
        names = JUMP_RECIPES[kind][:n_jump] + NO_JUMP_RECIPES[kind][:n_no_jump]
        for i, name in enumerate(names):
            specs.append(EmergenceSpec(kind, name, seed * 1000 + 100 * k + i, **RECIPES[kind][name]))
        cal = CALIBRATION_RECIPES[kind]
        for i in range(n_calibration):
            name = cal[i % len(cal)]
            specs.append(EmergenceSpec(kind, name, seed * 1000 + 100 * k + 50 + i, calibration=True, **RECIPES[kind][name]))
    return specs


@organism_set("emergence-tiny", family="emergence",
              description="per kind (induction, grokking): 1 jump recipe + 1 no-jump recipe + 2 calibration runs, checkpointed (smoke)")
def _tiny(seed: int) -> list[EmergenceSpec]:
    return population(seed, 1, 1, 2)


@organism_set("emergence-small", family="emergence",
              description="per kind: 3 jump recipes + 2 no-jump recipes + 2 calibration runs, checkpointed (quick)")
def _small(seed: int) -> list[EmergenceSpec]:
    return population(seed, 3, 2, 2)


@organism_set("emergence-full", family="emergence",
              description="per kind: 3-4 jump recipes + 2-3 no-jump recipes + 4 calibration runs, checkpointed (full)")
def _full(seed: int) -> list[EmergenceSpec]:
    return population(seed, 4, 3, 4)
