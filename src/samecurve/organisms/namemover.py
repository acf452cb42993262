"""The `namemover` family: tiny transformers that solve an IOI-like task on a synthetic language.

After Wang et al., "Interpretability in the Wild" (indirect object identification). A prompt
`BOS x1 x2 x3 x4 y5 y6 y7 y8 TO` holds two distinct names A and B at two random slots among
x1..x4 (fillers elsewhere) and the subject S, one of A and B, repeated at one random slot among
y5..y8; at TO the organism must name the indirect object IO, the one that is NOT repeated. The
algorithm is known by construction: find the names in the first clause, find the repeated one,
move the other to the output (logit(n) = [n in first clause] - [n repeated]).

Two roles share the family: the `organism` (2 layers, 4 heads, d_model 64) whose circuit the
interp arms explain, and `yardstick` models: the same architecture at small widths trained from
scratch on the same data, the ladder that turns an explanation's loss into "performs like a model
N times smaller". Both are trained and cached like any organism (safetensors, hash-checked).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import OrganismFailedError
from ..models.training import train_one_cycle
from ..models.transformer import TinyTransformer, TransformerConfig
from ..registry import organism_set
from ..seeding import seed_everything
from .base import Family, register_family
from .spec_parts import ModelShape, Recipe

PAD, BOS, TO = 0, 1, 2
N_NAMES, N_FILLERS = 16, 8
NAME0 = 3
FILLER0 = NAME0 + N_NAMES
VOCAB = FILLER0 + N_FILLERS
NAMES = np.arange(NAME0, NAME0 + N_NAMES)
FILLERS = np.arange(FILLER0, VOCAB)
SEQ_LEN = 10                      # BOS x1..x4 y5..y8 TO
FIRST = np.arange(1, 5)           # slots of the two names
SECOND = np.arange(5, 9)          # slots of the repeated subject
ANSWER_POS = SEQ_LEN - 1          # TO: where the indirect object is predicted
RECIPE_VERSION = "namemover-1"
ACCURACY_NEEDED = 0.95
Role = Literal["organism", "yardstick"]


def token_name(t: int) -> str:
    if t < NAME0:
        return ("<pad>", "<bos>", "to")[t]
    if t < FILLER0:
        return f"n{t - NAME0:02d}"
    return f"f{t - FILLER0}"


SHAPE = ModelShape(d_model=64, n_layers=2, n_heads=4, d_mlp=128)
TRAINING = Recipe(steps=400, batch_size=128, lr=6e-3, weight_decay=0.01)


@dataclass(frozen=True)
class NameMoverSpec:
    seed: int
    role: Role = "organism"
    shape: ModelShape = SHAPE
    training: Recipe = TRAINING
    family: ClassVar[str] = "namemover"

    def label(self) -> str:
        return f"{self.role}/d{self.shape.d_model}/s{self.seed}"


def sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n prompts and their ground-truth answers (the indirect object)."""
    p = np.empty((n, SEQ_LEN), dtype=np.int64)
    p[:, 0], p[:, -1] = BOS, TO
    p[:, 1:9] = rng.choice(FILLERS, size=(n, 8))
    first = rng.integers(0, N_NAMES, n)
    ab = NAME0 + np.stack([first, (first + rng.integers(1, N_NAMES, n)) % N_NAMES], 1)  # two distinct names
    slots = np.argsort(rng.random((n, len(FIRST))), 1)[:, :2] + FIRST[0]
    rows = np.arange(n)
    p[rows, slots[:, 0]], p[rows, slots[:, 1]] = ab[:, 0], ab[:, 1]
    subj_is_a = rng.random(n) < 0.5
    subj = np.where(subj_is_a, ab[:, 0], ab[:, 1])
    p[rows, SECOND[0] + rng.integers(0, len(SECOND), n)] = subj
    return p, answers(p)


def answers(prompts: np.ndarray | torch.Tensor) -> np.ndarray:
    """Ground truth from the rule: the first-clause name that is not repeated in the second."""
    p = np.asarray(prompts)
    first, second = p[:, FIRST], p[:, SECOND]
    is_name = (first >= NAME0) & (first < FILLER0)
    repeated = (first[:, :, None] == second[:, None, :]).any(-1)
    pick = is_name & ~repeated
    return first[np.arange(len(p)), pick.argmax(1)]


@dataclass(frozen=True)
class Language:
    """What an auditor may know of the format: positions, name tokens, a sampler of prompts."""

    vocab_size: int = VOCAB
    seq_len: int = SEQ_LEN
    answer_pos: int = ANSWER_POS
    answer_tokens: tuple[int, ...] = tuple(int(t) for t in NAMES)

    def token_name(self, t: int) -> str:
        return token_name(t)

    def sample_prompts(self, rng: np.random.Generator, n: int) -> torch.Tensor:
        """Prompts from the natural distribution (no answers: arms read the model's own)."""
        return torch.from_numpy(sample(rng, n)[0])


def config(d_model: int, n_layers: int = 2, n_heads: int = 4, d_mlp: int | None = None) -> TransformerConfig:
    """A model of this language's shape (students and yardsticks pick their width)."""
    return TransformerConfig(vocab_size=VOCAB, n_ctx=SEQ_LEN, d_model=d_model, n_layers=n_layers,
                             n_heads=n_heads, d_mlp=2 * d_model if d_mlp is None else d_mlp)


def n_params(model: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def make_model(spec: NameMoverSpec) -> TinyTransformer:
    s = spec.shape
    return TinyTransformer(config(s.d_model, s.n_layers, s.n_heads, s.d_mlp))


def answer_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy at TO only: the one prediction the task is about."""
    return F.cross_entropy(logits[:, ANSWER_POS], targets)


def train(model: torch.nn.Module, prompts: torch.Tensor, targets: torch.Tensor, *, lr: float, weight_decay: float,
          soft_targets: torch.Tensor | None = None) -> list[float]:
    """Train on pre-drawn batches [steps, batch, ...]; soft targets (a teacher's
    answer distribution) turn it into distillation."""

    def loss_at(step: int) -> torch.Tensor:
        logits = model.logits_from(prompts[step], ANSWER_POS)[:, 0]  # the one position the loss reads
        if soft_targets is None:
            return F.cross_entropy(logits, targets[step])
        return F.kl_div(logits.log_softmax(-1), soft_targets[step], reduction="batchmean")

    return train_one_cycle(model, model.parameters(), loss_at, prompts.shape[0], lr, weight_decay)


@torch.no_grad()
def evaluate(model: torch.nn.Module, seed: int, n: int = 2000) -> dict:
    rng = np.random.default_rng([seed, 99])
    p, a = sample(rng, n)
    logits = model(torch.from_numpy(p))
    t = torch.from_numpy(a)
    return {"accuracy": float((logits[:, ANSWER_POS].argmax(-1) == t).float().mean()),
            "loss": float(answer_loss(logits, t)), "n_params": n_params(model)}


def build(spec: NameMoverSpec) -> tuple[torch.nn.Module, dict]:
    rng = seed_everything(spec.seed)
    recipe = spec.training
    p, a = sample(rng, recipe.steps * recipe.batch_size)
    prompts = torch.from_numpy(p).view(recipe.steps, recipe.batch_size, SEQ_LEN)
    targets = torch.from_numpy(a).view(recipe.steps, recipe.batch_size)
    torch.manual_seed(spec.seed)
    model = make_model(spec)
    losses = train(model, prompts, targets, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return model, {**evaluate(model, spec.seed), "loss_curve": losses}


def check(spec: NameMoverSpec, metrics: dict) -> None:
    """An organism that did not learn the task has no circuit to explain; a yardstick only needs a
    finite loss (being bad at the task is what a small yardstick is for)."""
    if spec.role == "organism" and metrics["accuracy"] < ACCURACY_NEEDED:
        raise OrganismFailedError(f"organism {spec.label()} did not learn IOI (accuracy {metrics['accuracy']:.3f}, "
                                  f"need >= {ACCURACY_NEEDED}): raise `training.steps` or change the seed")
    if not np.isfinite(metrics["loss"]):
        raise OrganismFailedError(f"yardstick {spec.label()} has a non-finite loss: lower `training.lr`")


def behaviour_sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """explanation-faithfulness: prompts, the one scored position (TO) and the indirect object it must name."""
    p, a = sample(rng, n)
    scored, targets = np.zeros(p.shape, bool), np.zeros_like(p)
    scored[:, ANSWER_POS], targets[:, ANSWER_POS] = True, a
    return p, scored, targets


class NameMoverAlgorithm:
    """A built namemover model as a KnownAlgorithmOrganism (protocols/organisms.py): the IOI
    algorithm, or, for a `yardstick`, a from-scratch ladder rung on the same data."""

    algorithm, algorithm_name = "ioi", "indirect object at TO"

    def __init__(self, org: Any):
        self.organism, self.network, self.language = org, org.model, org.language
        self.label, self.seed, self.weights_sha256 = org.label, org.spec.seed, org.weights_sha256
        self.yardstick = org.spec.role == "yardstick"

    def sample_behaviour(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return behaviour_sample(rng, n)

    def check_learned(self) -> None:
        """Nothing to do: `check` refused at build time an organism below ACCURACY_NEEDED."""


register_family(Family("namemover", RECIPE_VERSION, NameMoverSpec, build, make_model, lambda spec: Language(), check,
                       views={"known-algorithm": NameMoverAlgorithm}))

# The ladder is trained once (its seed does not follow the cell seed): same data distribution,
# a fraction of the CPU. Widths span ~1% to ~8% of the organism's parameters (d16 already solves the task).
LADDER_SEED = 7_000
LADDER_WIDTHS = (4, 8, 16)


def yardsticks(widths: tuple[int, ...] = LADDER_WIDTHS, steps: int = 400) -> list[NameMoverSpec]:
    """From-scratch models of the organism's shape at small widths (lr tuned on this language:
    at 3e-3-6e-3 small widths stall on the 'either name' plateau at accuracy 0.5)."""
    return [NameMoverSpec(LADDER_SEED + w, "yardstick", replace(SHAPE, d_model=w, n_heads=4, d_mlp=2 * w),
                          replace(TRAINING, steps=steps, lr=1e-2)) for w in widths]


def population(seed: int, n: int = 1, **overrides) -> list[NameMoverSpec]:
    return [NameMoverSpec(seed * 1000 + i, **overrides) for i in range(n)]


@organism_set("namemover-tiny", family="namemover", description="one IOI-like name-mover organism + a 1-rung from-scratch ladder (smoke)")
def _tiny(seed: int) -> list[NameMoverSpec]:
    return population(seed, 1, training=replace(TRAINING, steps=300, batch_size=64)) + yardsticks((8,), steps=250)


@organism_set("namemover-small", family="namemover", description="three IOI-like name-mover organisms per seed + a 3-rung from-scratch ladder (quick)")
def _small(seed: int) -> list[NameMoverSpec]:
    """Three organisms per seed: at 3 seeds, 9 independent units per verdict row (the first two
    are namemover-full's, so the cache is shared)."""
    return population(seed, 3) + yardsticks()


@organism_set("namemover-full", family="namemover", description="two IOI-like name-mover organisms per seed + a 5-rung ladder (full)")
def _full(seed: int) -> list[NameMoverSpec]:
    return population(seed, 2) + yardsticks((4, 8, 12, 16, 24))


# ---- induction organisms for the same task ------------------------------------------------------
# The emergence family's induction run (2-layer attention-only; its final checkpoint is the
# organism, the same spec as in emergence-* sets, so the cache is shared) and a from-scratch
# ladder of narrower runs on the same data.
INDUCTION_LADDER = (8, 16, 24)


def induction_population(seed: int, n: int, widths: tuple[int, ...] = INDUCTION_LADDER, ladder_lr: float = 3e-3) -> list:
    from . import emergence

    recipes = emergence.JUMP_RECIPES["induction"][:n]
    orgs = [emergence.EmergenceSpec("induction", r, seed * 1000 + i, **emergence.RECIPES["induction"][r])
            for i, r in enumerate(recipes)]
    rung = replace(emergence.IND_TRAINING, lr=ladder_lr)  # 300 steps, one checkpoint: the end
    ladder = [emergence.EmergenceSpec("induction", f"yardstick-d{w}", LADDER_SEED + w, rung, ckpt_every=rung.steps,
                                      shape=replace(emergence.SHAPE, d_model=w)) for w in widths]
    return orgs + ladder


@organism_set("induction-circuit-tiny", family="emergence", description="one induction organism + a 1-rung from-scratch ladder (smoke)")
def _ind_tiny(seed: int) -> list:
    return induction_population(seed, 1, (16,))


@organism_set("induction-circuit-small", family="emergence", description="three induction organisms per seed (emergence-small's induction jump runs) + a 3-rung from-scratch ladder (quick, full)")
def _ind_small(seed: int) -> list:
    """Three organisms per seed, the same specs as emergence-small's induction jump recipes (shared
    cache: no extra training when forecast-emergence runs too)."""
    return induction_population(seed, 3)
