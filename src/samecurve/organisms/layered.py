"""The `layered-lm` family: a 4-layer language model whose tokens are planted at two depths of
difficulty, for `early-exit` (dual use: can reading a model's intermediate layers make it cheaper
to run, and does interpretability do that better than engineering without it?).

The language: `BOS k1 v1 ... k6 v6 [gap] k1 v1 ... k6 v6 [gap]` — six key/value pairs, 0-2 gap
tokens, then the same six pairs again (gap tokens fill the row to 27). Keys are six distinct tokens of 24; half of the keys are *fixed* (a fixed key is
always followed by its own value, `table[k]`, a seeded map) and the other half *free* (its value is
a random value token, fresh in every sequence; the values of one row are distinct). So the next token is planted at two depths:
  - **easy** (a bigram): after a fixed key, its value. The current token alone decides it.
  - **hard** (in-context copying): after a value in the second copy, the next key; after a free key
    in the second copy, its value in the first copy. The gap's random length moves the second copy,
    so one fixed offset does not copy it: attention to the right place in the first copy decides
    these (by content, an induction circuit of two attention layers, Olsson et al. 2022; or by
    position, one head per offset and a way to tell the offsets apart).
Every other position (after BOS, after a first-copy value or free key, in the gap) is random
and unscored. Ground truth is the construction: which positions are easy, which hard, and what
follows; `check` refuses an organism that has not learned both (held-out accuracy on each kind).

Recipe chosen on spec seeds 900-902 (outside every suite's and dev seed's organisms) by the
held-out accuracies and the logit lens's agreement with the final layer per depth (never an arm's
score on a task; an ad-hoc script). Per recipe, over the three seeds: CPU seconds per build, hard
accuracy, and the logit lens's agreement with the final answer on hard tokens after blocks 1, 2, 3
(easy tokens: accuracy 1.00 and agreement >= 0.95 after one block in every run):

    gap   shape        steps lr    batch  CPU s   hard acc     hard agreement after 1 / 2 / 3 blocks
    none  d64 mlp256   1200  3e-3  64     51-53   1.00         0.84-0.93 / 0.97-1.00 / 1.00
    none  d48 mlp128    300  1e-2  32      5-6    1.00         1.00 / 1.00 / 1.00   (a ceiling)
    0-4   d64 mlp256    800  3e-3  32     21-22   0.83-0.91    0.64-0.88 / 0.74-0.90 / 0.85-0.94
    0-2   d48 mlp128    400  1e-2  32      7-9    0.59-0.86    0.29-0.65 / 0.42-0.70 / 0.64-0.83
    0-2   d48 mlp128    600  3e-3  32     11-12   0.92-1.00    0.89-0.99 / 0.92-0.99 / 0.94-1.00
    0-2   d48 mlp128    600  1e-2  32     11-12   0.64-0.91    0.26-0.64 / 0.38-0.80 / 0.53-0.90
    0-2   d48 mlp128    500  1e-2  32      9-11   0.85-0.99    0.42-0.98 / 0.49-0.99 / 0.70-0.99  <- chosen
  (the gap rows before "0-2 ... 400" were measured before the values of a row were made distinct)

Without a gap one block decides every token and every exit rule meets the same ceiling; at lr 3e-3
the runs find a positional shortcut (one head per offset) and again one block decides nearly
everything; at lr 1e-2 most runs build a deeper circuit and the hard tokens are decided across the
layers, with the model unsure of some of them, as a real LM is on hard tokens. So the organisms of
one set differ in how deep their hard tokens sit; each is one unit. The check asks for 0.99 on easy
tokens and 0.5 on hard ones (chance 1/24); one dev organism of 18 failed it under the 400-step
recipe (hard 0.54), and the suites' replacement rule takes the next seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import OrganismFailedError
from ..models.training import train_one_cycle
from ..models.transformer import TinyTransformer
from ..registry import organism_set
from ..seeding import seed_everything
from .base import Family, register_family
from .spec_parts import ModelShape, Recipe

BOS = 0
N_KEYS = 24                 # key tokens 1..24, value tokens 25..48
N_PAIRS = 6                 # pairs per copy
MAX_GAP = 2                 # 0..2 gap tokens between the copies, so no one fixed offset copies
GAP = 1 + 2 * N_KEYS        # the gap token
VOCAB = 2 + 2 * N_KEYS
SEQ_LEN = 1 + 4 * N_PAIRS + MAX_GAP   # 27; a row with a shorter gap ends in gap tokens
EASY, HARD = 1, 2           # position kinds (0: random, unscored)
SHAPE = ModelShape(d_model=48, n_layers=4, n_heads=4, d_mlp=128)
RECIPE = Recipe(steps=500, batch_size=32, lr=1e-2, weight_decay=0.01)
RECIPE_VERSION = "layered-1"
HELDOUT = 512
EASY_NEEDED, HARD_NEEDED = 0.99, 0.5   # held-out accuracy an organism needs on each kind


@dataclass(frozen=True)
class LayeredSpec:
    seed: int
    shape: ModelShape = SHAPE
    training: Recipe = RECIPE
    family: str = field(default="layered-lm", init=False)

    def label(self) -> str:
        return f"layered-s{self.seed}"


@dataclass(frozen=True)
class LayeredLanguage:
    """The organism's language: sizes, a description and the sampler the task draws its splits with.
    Arms get only the sizes and description (protocols/exiting.LanguageCard): the sampler's kinds
    say which positions are planted, and its seed gives the planted values away."""

    vocab_size: int = VOCAB
    seq_len: int = SEQ_LEN
    notes: str = "BOS (k v) x6, 0-2 gap tokens, the same six pairs again, gap tokens to 27; keys 1..24, values 25..48, gap 49"
    seed: int = 0

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n sequences [n, SEQ_LEN] and each position's kind [n, SEQ_LEN] (EASY/HARD: the token after
        it is planted; 0: random)."""
        return make_sequences(self.seed, rng, n)


def value_table(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The organism's fixed keys and its key -> value map (value tokens), from its seed alone."""
    rng = np.random.default_rng([seed, 31])
    keys = rng.permutation(np.arange(1, N_KEYS + 1))
    table = np.zeros(VOCAB, np.int64)
    table[1:N_KEYS + 1] = N_KEYS + 1 + rng.permutation(N_KEYS)
    return np.sort(keys[: N_KEYS // 2]), table


def make_sequences(seed: int, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    fixed, table = value_table(seed)
    keys = np.argsort(rng.random((n, N_KEYS)), axis=1)[:, :N_PAIRS] + 1          # distinct keys per row
    is_fixed = np.isin(keys, fixed)
    # free keys take random values, distinct within the row and from its fixed keys' values, so
    # every token of the first copy is followed by one token only (copying by content is unambiguous)
    score = rng.random((n, N_KEYS))
    score[np.nonzero(is_fixed)[0], table[keys[is_fixed]] - N_KEYS - 1] = 2.0   # used values sort last
    order = np.argsort(score, 1)
    nth_free = np.maximum(np.cumsum(~is_fixed, 1) - 1, 0)
    values = np.where(is_fixed, table[keys], N_KEYS + 1 + np.take_along_axis(order, nth_free, 1))
    pairs = np.stack([keys, values], 2).reshape(n, 2 * N_PAIRS)
    gaps = rng.integers(0, MAX_GAP + 1, n)
    tokens = np.full((n, SEQ_LEN), GAP, np.int64)
    kind = np.zeros((n, SEQ_LEN), np.int64)
    tokens[:, 0], tokens[:, 1:1 + 2 * N_PAIRS] = BOS, pairs
    k1 = 1 + 2 * np.arange(N_PAIRS)                 # key positions of the first copy
    kind[:, k1] = np.where(is_fixed, EASY, 0)       # first copy: a fixed key's value is a bigram
    for g in range(MAX_GAP + 1):
        rows = gaps == g
        start = 1 + 2 * N_PAIRS + g                 # the second copy's first position
        tokens[rows, start:start + 2 * N_PAIRS] = pairs[rows]
        k2 = k1 + start - 1                         # key positions of the second copy
        kind[np.ix_(rows, k2)] = np.where(is_fixed[rows], EASY, HARD)  # a free key's value is copied
        kind[np.ix_(rows, k2[:-1] + 1)] = HARD      # second-copy values: the next key is copied
    return tokens, kind


def make_model(spec: LayeredSpec) -> TinyTransformer:
    return TinyTransformer(spec.shape.transformer(VOCAB, SEQ_LEN))


def accuracy_by_kind(model: torch.nn.Module, tokens: np.ndarray, kind: np.ndarray) -> dict[str, float]:
    with torch.no_grad():
        pred = model(torch.from_numpy(tokens))[:, :-1].argmax(-1).numpy()
    right, k = pred == tokens[:, 1:], kind[:, :-1]
    return {"easy_accuracy": round(float(right[k == EASY].mean()), 4),
            "hard_accuracy": round(float(right[k == HARD].mean()), 4)}


def build(spec: LayeredSpec) -> tuple[TinyTransformer, dict]:
    """Next-token loss on the planted positions only (random ones carry no signal to learn)."""
    seed_everything(spec.seed)
    model = make_model(spec)
    rng, r = np.random.default_rng([spec.seed, 1]), spec.training

    def loss_at(step: int) -> torch.Tensor:
        toks, kind = make_sequences(spec.seed, rng, r.batch_size)
        x, scored = torch.from_numpy(toks), torch.from_numpy(kind[:, :-1] > 0)
        logits = model(x)[:, :-1]
        return F.cross_entropy(logits[scored], x[:, 1:][scored])

    losses = train_one_cycle(model, model.parameters(), loss_at, r.steps, r.lr, r.weight_decay)
    held = make_sequences(spec.seed, np.random.default_rng([spec.seed, 777]), HELDOUT)
    return model.eval(), {"losses": losses, **accuracy_by_kind(model, *held)}


def check(spec: LayeredSpec, metrics: dict) -> None:
    """The planted property: the model predicts both kinds of token (else there is nothing to exit on)."""
    easy, hard = metrics.get("easy_accuracy", 0.0), metrics.get("hard_accuracy", 0.0)
    if easy < EASY_NEEDED or hard < HARD_NEEDED:
        raise OrganismFailedError(f"layered organism {spec.label()} did not learn its language (held-out accuracy "
                                  f"easy {easy:.3f}, hard {hard:.3f}; need {EASY_NEEDED}, {HARD_NEEDED})")


def language(spec: LayeredSpec) -> LayeredLanguage:
    return LayeredLanguage(seed=spec.seed)


class LayeredOrganism:
    """A built organism as a LayeredLM (protocols/organisms.py): its model, language and kinds."""

    def __init__(self, org: Any):
        self.organism, self.model, self.language = org, org.model, org.language
        self.label, self.seed, self.weights_sha256 = org.label, org.spec.seed, org.weights_sha256
        self.n_layers = org.model.cfg.n_layers

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.language.sample(rng, n)


register_family(Family("layered-lm", RECIPE_VERSION, LayeredSpec, build, make_model, language, check,
                       views={"layered": LayeredOrganism}))


@organism_set("layered-tiny", family="layered-lm", description="1 four-layer LM with bigram and copied tokens (smoke)")
def _tiny(seed: int) -> list[LayeredSpec]:
    return [LayeredSpec(seed * 1000)]


@organism_set("layered-small", family="layered-lm",
              description="3 four-layer LMs with bigram and copied tokens, per seed (quick, full)")
def _small(seed: int) -> list[LayeredSpec]:
    return [LayeredSpec(seed * 1000 + i) for i in range(3)]
