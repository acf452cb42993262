"""The `topics` family: a tiny language model on a synthetic multi-topic language.

Topics are known by construction. The vocabulary holds shared function words (determiners, the
full stop), one marker token `<topic:k>` per topic, and per topic its own adjectives, nouns and
verbs. A sentence is `DET ADJ? NOUN VERB (DET ADJ? NOUN)? .` with every content word from the
sentence's one topic (six templates, drawn uniformly). A document is `BOS` then sentences; each
next sentence keeps the topic with probability 1 - `switch_prob`, else moves to another topic
drawn uniformly; before a sentence, with probability `marker_share`, stands the marker of that
sentence's topic. So the organism learns that a marker fixes the next sentence's topic: the
prompting baseline of `steering` has a fair lever (a topic prefix the model has seen), and how
often it was seen is a spec field.

Ground truth, exact by construction: the topic of every content token (`TOKEN_TOPIC`), and a
finite automaton (`is_valid`) that accepts exactly the prefixes of documents the grammar can
produce (categories in template order, one topic per sentence, a marker agreeing with its
sentence). `check` refuses an organism whose own samples are not mostly valid, or that did not
learn the marker or topic persistence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

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

RECIPE_VERSION = "topics-2"
MAX_TOPICS = 4
PAD, BOS, END = 0, 1, 2
DETS = (3, 4, 5, 6)
MARK0 = 7                                   # <topic:k> = MARK0 + k
N_ADJ, N_NOUN, N_VERB = 4, 5, 4
PER_TOPIC = N_ADJ + N_NOUN + N_VERB
WORD0 = MARK0 + MAX_TOPICS
VOCAB = WORD0 + MAX_TOPICS * PER_TOPIC     # 63
TOPIC_NAMES = ("sea", "space", "kitchen", "forest")
_WORDS = (
    (("salty", "deep", "blue", "wet"), ("ship", "whale", "wave", "sailor", "reef"), ("sails", "dives", "floats", "drifts")),
    (("stellar", "dark", "orbital", "cold"), ("planet", "comet", "rocket", "star", "moon"), ("orbits", "launches", "spins", "glows")),
    (("spicy", "sweet", "hot", "fresh"), ("soup", "chef", "bread", "pan", "onion"), ("bakes", "stirs", "fries", "tastes")),
    (("green", "tall", "wild", "mossy"), ("tree", "fox", "owl", "leaf", "deer"), ("grows", "hunts", "rustles", "climbs")),
)
# Categories (for the automaton): function words, markers, content words.
C_PAD, C_BOS, C_END, C_DET, C_MARK, C_ADJ, C_NOUN, C_VERB = range(8)


def _tables() -> tuple[np.ndarray, np.ndarray, list[str]]:
    cat = np.full(VOCAB, C_PAD, dtype=np.int64)
    topic = np.full(VOCAB, -1, dtype=np.int64)
    names = ["<pad>", "<bos>", "."] + ["the", "a", "every", "some"] + [f"<topic:{TOPIC_NAMES[k]}>" for k in range(MAX_TOPICS)]
    cat[BOS], cat[END], cat[list(DETS)] = C_BOS, C_END, C_DET
    for k in range(MAX_TOPICS):
        cat[MARK0 + k], topic[MARK0 + k] = C_MARK, k
        base = WORD0 + k * PER_TOPIC
        for j, (c, n) in enumerate(((C_ADJ, N_ADJ), (C_NOUN, N_NOUN), (C_VERB, N_VERB))):
            off = base + sum((N_ADJ, N_NOUN, N_VERB)[:j])
            cat[off:off + n], topic[off:off + n] = c, k
            names += list(_WORDS[k][j])
    return cat, topic, names


CATEGORY, TOKEN_TOPIC, TOKEN_NAMES = _tables()
IS_CONTENT = np.isin(CATEGORY, (C_ADJ, C_NOUN, C_VERB))


def token_name(t: int) -> str:
    return TOKEN_NAMES[int(t)]


def words(topic: int, category: int) -> np.ndarray:
    """The content tokens of one topic and category (ground truth of the vocabulary layout)."""
    return np.flatnonzero((TOKEN_TOPIC == topic) & (CATEGORY == category))


# ---- the grammar: sampling ------------------------------------------------------------------

# Six templates = every combination the automaton accepts: subject ADJ? x object (none | NOUN | ADJ NOUN).
TEMPLATES = tuple(
    (C_DET,) + ((C_ADJ,) if subj_adj else ()) + (C_NOUN, C_VERB) + obj + (C_END,)
    for subj_adj in (False, True) for obj in ((), (C_DET, C_NOUN), (C_DET, C_ADJ, C_NOUN)))
PROMPT_TEMPLATE = (C_DET, C_ADJ, C_NOUN, C_VERB, C_DET, C_NOUN, C_END)


def sentence(rng: np.random.Generator, topic: int, template: tuple[int, ...] | None = None) -> list[int]:
    """One sentence of one topic, drawn from the grammar."""
    tpl = template if template is not None else TEMPLATES[rng.integers(len(TEMPLATES))]
    out = []
    for c in tpl:
        if c == C_DET:
            out.append(int(rng.choice(DETS)))
        elif c == C_END:
            out.append(END)
        else:
            out.append(int(rng.choice(words(topic, c))))
    return out


_TPL = np.full((len(TEMPLATES), 8), -1, dtype=np.int64)
for _i, _t in enumerate(TEMPLATES):
    _TPL[_i, :len(_t)] = _t
_CAT_OFFSET = {C_ADJ: 0, C_NOUN: N_ADJ, C_VERB: N_ADJ + N_NOUN}
_CAT_SIZE = {C_ADJ: N_ADJ, C_NOUN: N_NOUN, C_VERB: N_VERB}


def documents(rng: np.random.Generator, n: int, n_topics: int, length: int, marker_share: float,
              switch_prob: float, topics: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """n documents: BOS then sentences to `length` tokens (truncated), and each token's sentence
    topic (-1 at BOS). Vectorised over documents (a Python loop per sentence was too slow)."""
    n_sent = (length - 1) // 4 + 1                       # the shortest sentence has 4 tokens
    topic = np.empty((n, n_sent), dtype=np.int64)
    topic[:, 0] = rng.integers(n_topics, size=n) if topics is None else np.asarray(topics, dtype=np.int64)
    for s in range(1, n_sent):
        move = rng.random(n) < switch_prob if n_topics > 1 else np.zeros(n, bool)
        other = (topic[:, s - 1] + 1 + rng.integers(max(n_topics - 1, 1), size=n)) % n_topics  # uniform over the others
        topic[:, s] = np.where(move, other, topic[:, s - 1])
    cats = _TPL[rng.integers(len(TEMPLATES), size=(n, n_sent))]          # [n, S, 8]
    toks = np.full(cats.shape, -1, dtype=np.int64)
    toks[cats == C_DET] = np.asarray(DETS)[rng.integers(len(DETS), size=int((cats == C_DET).sum()))]
    toks[cats == C_END] = END
    for c in (C_ADJ, C_NOUN, C_VERB):
        m = cats == c
        k = np.broadcast_to(topic[:, :, None], cats.shape)[m]
        toks[m] = WORD0 + k * PER_TOPIC + _CAT_OFFSET[c] + rng.integers(_CAT_SIZE[c], size=int(m.sum()))
    mark = np.where(rng.random((n, n_sent)) < marker_share, MARK0 + topic, -1)
    rows = np.concatenate([mark[:, :, None], toks], 2)                    # [n, S, 9]
    tops = np.where(rows >= 0, topic[:, :, None], -1)
    out_t = np.full((n, length), PAD, dtype=np.int64)
    out_k = np.full((n, length), -1, dtype=np.int64)
    out_t[:, 0] = BOS
    for i in range(n):
        keep = rows[i].ravel() >= 0
        r, k = rows[i].ravel()[keep][: length - 1], tops[i].ravel()[keep][: length - 1]
        out_t[i, 1:1 + len(r)], out_k[i, 1:1 + len(k)] = r, k
    return out_t, out_k


def corpus(rng: np.random.Generator, n: int, n_topics: int, length: int, marker_share: float,
           switch_prob: float) -> np.ndarray:
    return documents(rng, n, n_topics, length, marker_share, switch_prob)[0]


def single_topic_texts(rng: np.random.Generator, topics: np.ndarray, length: int) -> np.ndarray:
    """Documents that never switch topic and carry no marker: the labelled examples of `steering`."""
    return documents(rng, len(topics), MAX_TOPICS, length, 0.0, 0.0, np.asarray(topics))[0]


def prompts(rng: np.random.Generator, topics: np.ndarray) -> np.ndarray:
    """`BOS` + one sentence of the given topic in the fixed prompt template (all prompts one length)."""
    return np.array([[BOS] + sentence(rng, int(k), PROMPT_TEMPLATE) for k in topics], dtype=np.int64)


# ---- the grammar: exact checks ----------------------------------------------------------------

# Hand-written: the grammar is this module's own, so its recogniser is too (a 9-state automaton).
# Automaton states: B (sentence boundary), M (after a marker), then positions in a sentence.
S_B, S_M, S_D1, S_A1, S_N1, S_V, S_D2, S_A2, S_N2 = range(9)
_NEXT = {
    (S_B, C_MARK): S_M, (S_B, C_DET): S_D1, (S_M, C_DET): S_D1,
    (S_D1, C_ADJ): S_A1, (S_D1, C_NOUN): S_N1, (S_A1, C_NOUN): S_N1, (S_N1, C_VERB): S_V,
    (S_V, C_DET): S_D2, (S_V, C_END): S_B, (S_D2, C_ADJ): S_A2, (S_D2, C_NOUN): S_N2, (S_A2, C_NOUN): S_N2,
    (S_N2, C_END): S_B,
}


def is_valid(tokens: np.ndarray | list[int], complete: bool = False) -> bool:
    """True iff the sequence (starting with BOS) is a prefix of a document the grammar can produce
    (`complete`: a whole document, i.e. it also ends at a sentence boundary)."""
    toks = [int(t) for t in tokens]
    if not toks or toks[0] != BOS:
        return False
    state, topic = S_B, -1
    for t in toks[1:]:
        nxt = _NEXT.get((state, int(CATEGORY[t])))
        if nxt is None:
            return False
        k = int(TOKEN_TOPIC[t])
        if k >= 0:  # a marker or a content word: one topic per sentence
            if topic >= 0 and k != topic:
                return False
            topic = k
        if nxt == S_B:
            topic = -1
        state = nxt
    return state == S_B or not complete


def topic_counts(tokens: np.ndarray, n_topics: int = MAX_TOPICS) -> np.ndarray:
    """Per row, how many content tokens of each topic it holds: the exact topic classifier."""
    tokens = np.atleast_2d(tokens)
    tt = np.where(IS_CONTENT[tokens], TOKEN_TOPIC[tokens], -1)
    return np.stack([(tt == k).sum(1) for k in range(n_topics)], 1)


def topic_of(tokens: np.ndarray) -> np.ndarray:
    """Majority topic of each row's content words (-1 when it has none)."""
    c = topic_counts(tokens)
    return np.where(c.sum(1) > 0, c.argmax(1), -1)


def sentence_topics(tokens: np.ndarray | list[int]) -> list[int]:
    """The topic of each complete or partial sentence of one row (first content word decides)."""
    out, cur = [], -1
    for t in tokens:
        t = int(t)
        if IS_CONTENT[t] and cur < 0:
            cur = int(TOKEN_TOPIC[t])
        if t == END:
            out.append(cur)
            cur = -1
    if cur >= 0:
        out.append(cur)
    return out


# ---- generation (shared with the task: any logits function, e.g. a metered one) ---------------

def generate(logits_fn: Callable[[torch.Tensor], torch.Tensor], prompt: torch.Tensor, n_new: int, seed: int,
             temperature: float = 1.0, copies: int = 1,
             force: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Sample `n_new` tokens after each prompt row; returns only the new tokens [copies * n, n_new].

    Hand-written: organisms are plain modules, not Hugging Face models, so there is no library
    `generate()` to call. No KV cache: every step reruns the whole prefix (so a hook that adds a vector acts at every
    position, generated tokens included; ActAdd steers only the prompt's positions, see
    arms/interp/steering_vectors.py `prompt_steered_logits`). The sampling noise depends on `seed` only, so two arms given the same
    seed draw with common random numbers.

    `copies` > 1 runs that many copies of the prompts as one batch (copy i is rows i*n..(i+1)*n
    of what `logits_fn` sees and returns, e.g. one steering setting per copy): one forward per
    step instead of one per copy and step, the same number of rows. Each copy draws with its own
    generator seeded with `seed`, so copy i is what a separate call would return for it (the
    organisms' forward is row-wise, batch-invariant on CPU; tests/organisms/test_topics.py checks
    bit equality). `force(seq, next)` may overwrite the sampled tokens (e.g. write a marker)."""
    n = prompt.shape[0]
    gens = [torch.Generator().manual_seed(int(seed)) for _ in range(copies)]
    seq = prompt.repeat(copies, 1) if copies > 1 else prompt.clone()
    for _ in range(n_new):
        logits = logits_fn(seq)[:, -1].float()
        probs = torch.softmax(logits / max(temperature, 1e-6), -1)
        nxt = torch.cat([torch.multinomial(probs[i * n:(i + 1) * n], 1, generator=g) for i, g in enumerate(gens)])
        if force is not None:
            nxt = force(seq, nxt)
        seq = torch.cat([seq, nxt], 1)
    return seq[:, prompt.shape[1]:]


@torch.no_grad()
def token_nll(model: torch.nn.Module, prompt: torch.Tensor, continuation: torch.Tensor) -> np.ndarray:
    """Mean per-token negative log-likelihood of each continuation given its prompt under `model`."""
    seq = torch.cat([prompt, continuation], 1)
    logp = F.log_softmax(model(seq[:, :-1]).float(), -1)
    tgt = seq[:, 1:]
    nll = -logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)[:, prompt.shape[1] - 1:]
    return nll.mean(1).numpy().astype(np.float64)


# ---- the organism -----------------------------------------------------------------------------

SHAPE = ModelShape(d_model=64, n_layers=2, n_heads=4, d_mlp=128)
TRAINING = Recipe(steps=450, batch_size=64, lr=8e-3, weight_decay=0.01)


@dataclass(frozen=True)
class TopicSpec:
    seed: int
    n_topics: int = 4
    marker_share: float = 0.3     # share of sentences preceded by their topic marker in training
    switch_prob: float = 0.2      # chance a document moves to another topic after a sentence
    n_ctx: int = 24
    shape: ModelShape = SHAPE
    training: Recipe = TRAINING
    corpus_docs: int = 6000
    family: ClassVar[str] = "topics"

    def label(self) -> str:
        return f"topics-k{self.n_topics}-m{self.marker_share:g}-s{self.seed}"


@dataclass(frozen=True)
class Language:
    """What an arm may know of the format: the vocabulary, the markers, the prompt length."""

    n_topics: int
    n_ctx: int
    vocab_size: int = VOCAB
    bos: int = BOS
    end: int = END

    def marker(self, topic: int) -> int:
        return MARK0 + int(topic)

    def token_name(self, t: int) -> str:
        return token_name(t)

    def topic_name(self, topic: int) -> str:
        return TOPIC_NAMES[int(topic)]


def make_model(spec: TopicSpec) -> TinyTransformer:
    return TinyTransformer(spec.shape.transformer(VOCAB, spec.n_ctx))


def evaluate(spec: TopicSpec, model: torch.nn.Module, n: int = 200) -> dict:
    """Validity of free samples, marker obedience, topic persistence, held-out loss."""
    rng = np.random.default_rng([spec.seed, 99])
    model.eval()
    with torch.no_grad():
        free = generate(model, torch.full((n, 1), BOS), spec.n_ctx - 1, spec.seed + 1)
        full = torch.cat([torch.full((n, 1), BOS), free], 1).numpy()
        valid = float(np.mean([is_valid(r) for r in full]))
        topics = rng.integers(spec.n_topics, size=n)
        marked = torch.from_numpy(np.c_[np.full(n, BOS), MARK0 + topics])
        first = [sentence_topics(r) for r in generate(model, marked, 8, spec.seed + 2).numpy()]
        marker_follow = float(np.mean([bool(s) and s[0] == k for s, k in zip(first, topics)]))
        p = torch.from_numpy(prompts(rng, topics[: n]))
        nxt = [sentence_topics(r) for r in generate(model, p, 8, spec.seed + 3).numpy()]
        persist = float(np.mean([bool(s) and s[0] == k for s, k in zip(nxt, topics)]))
        held = torch.from_numpy(corpus(rng, 256, spec.n_topics, spec.n_ctx, spec.marker_share, spec.switch_prob))
        loss = float(F.cross_entropy(model(held[:, :-1]).reshape(-1, VOCAB), held[:, 1:].reshape(-1)))
    return {"sample_validity": valid, "marker_follow": marker_follow, "topic_persistence": persist,
            "heldout_loss": round(loss, 4)}


def build(spec: TopicSpec) -> tuple[torch.nn.Module, dict]:
    rng = seed_everything(spec.seed)
    if not 1 <= spec.n_topics <= MAX_TOPICS:
        raise OrganismFailedError(f"n_topics must be 1..{MAX_TOPICS}, not {spec.n_topics}")
    data = torch.from_numpy(corpus(rng, spec.corpus_docs, spec.n_topics, spec.n_ctx, spec.marker_share, spec.switch_prob))
    model = make_model(spec)
    g = torch.Generator().manual_seed(spec.seed)

    def loss_at(step: int) -> torch.Tensor:
        batch = data[torch.randint(0, len(data), (spec.training.batch_size,), generator=g)]
        return F.cross_entropy(model(batch[:, :-1]).reshape(-1, VOCAB), batch[:, 1:].reshape(-1))

    recipe = spec.training
    losses = train_one_cycle(model, model.parameters(), loss_at, recipe.steps, recipe.lr, recipe.weight_decay)
    return model, {**evaluate(spec, model), "loss_curve": losses}


def check(spec: TopicSpec, metrics: dict) -> None:
    need = {"sample_validity": 0.85, "marker_follow": 0.9, "topic_persistence": 0.5}
    if spec.marker_share == 0:  # no marker in training: nothing to obey (prompting has no lever)
        del need["marker_follow"]
    bad = {k: metrics.get(k, 0.0) for k, v in need.items() if metrics.get(k, 0.0) < v}
    if bad:
        raise OrganismFailedError(
            f"organism {spec.label()} did not learn the language ("
            + ", ".join(f"{k} {v:.3f} < {need[k]}" for k, v in bad.items())
            + "): raise `training.steps` or change the seed")


class TopicsOrganism:
    """A built topics organism as a TopicalOrganism (protocols/organisms.py): what steering asks of
    it, answered from the language's construction."""

    def __init__(self, org: Any):
        self.organism, self.model, self.language = org, org.model, org.language
        self.label, self.seed, self.weights_sha256 = org.label, org.spec.seed, org.weights_sha256
        self.n_topics, self.n_ctx, self.vocab_size = org.spec.n_topics, org.spec.n_ctx, VOCAB

    def topic_name(self, topic: int) -> str:
        return TOPIC_NAMES[int(topic)]

    def token_name(self, t: int) -> str:
        return token_name(t)

    def prompts(self, rng: np.random.Generator, sources: np.ndarray) -> np.ndarray:
        return prompts(rng, sources)

    def single_topic_texts(self, rng: np.random.Generator, topics: np.ndarray, length: int) -> np.ndarray:
        return single_topic_texts(rng, topics, length)

    def topic_counts(self, tokens: np.ndarray) -> np.ndarray:
        return topic_counts(tokens)

    def is_valid(self, tokens: np.ndarray) -> bool:
        return is_valid(tokens)

    def token_nll(self, model: torch.nn.Module, prompt: torch.Tensor, continuation: torch.Tensor) -> np.ndarray:
        return token_nll(model, prompt, continuation)

    def natural_inputs(self, rng: np.random.Generator, n: int) -> torch.Tensor:
        """What a released SAE of this organism is trained on (dictionaries.py): documents of its
        training corpus, as the model reads them (the last token is only ever a target)."""
        sp = self.organism.spec
        return torch.from_numpy(corpus(rng, n, sp.n_topics, sp.n_ctx, sp.marker_share, sp.switch_prob)[:, :-1])

    def generate(self, logits_fn: Callable[[torch.Tensor], torch.Tensor], prompts: torch.Tensor, n_new: int,
                 seed: int, copies: int = 1,
                 force: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        return generate(logits_fn, prompts, n_new, seed, copies=copies, force=force)


register_family(Family("topics", RECIPE_VERSION, TopicSpec, build, make_model,
                       lambda spec: Language(spec.n_topics, spec.n_ctx), check,
                       views={"topical": TopicsOrganism}))


@organism_set("topics-tiny", family="topics", description="one 4-topic language model (markers on 30% of sentences); smoke")
def _tiny(seed: int) -> list[TopicSpec]:
    return [TopicSpec(seed * 1000)]


@organism_set("topics-small", family="topics",
              description="two 4-topic language models per seed: markers on 30% and on 5% of sentences (quick, full)")
def _small(seed: int) -> list[TopicSpec]:
    return [TopicSpec(seed * 1000), TopicSpec(seed * 1000 + 1, marker_share=0.05)]


# 300 steps, not 450: on dev seeds 900-905 (18 organisms of this set) every organism passes `check`
# at 300 steps (at 150 and at 200 most fail sample_validity, at 250 all pass with less margin), and a
# build costs two thirds of the default's. Chosen on dev seeds only (src/samecurve/dev.py).
THREE_STEPS = 300


@organism_set("topics-three", family="topics",
              description="three 4-topic language models per seed (markers on 30% of sentences, 300 steps); quick")
def _three(seed: int) -> list[TopicSpec]:
    return [TopicSpec(seed * 1000 + i, training=replace(TRAINING, steps=THREE_STEPS)) for i in range(3)]
