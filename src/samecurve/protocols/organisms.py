"""What a task may ask of an organism: the organism-facing protocols (the arm-facing ones live
beside this module).

    CausalLM           the model: token ids [n, t] -> next-token logits [n, t, vocab], hook names
    TokenLanguage      the input format an auditor may know (handed to arms as `context.language`)
    TrojanedOrganism   a model with a planted trigger -> defect, and its ground truth
                       (backdoor-audit, behavior-removal)
    TopicalOrganism    a language model of a known topical grammar (steering)
    QuirkyOrganism     a model with a lying persona, and each statement's truth (latent-knowledge)
    EmergentOrganism   a training run's checkpoints and its behaviourally located jump (forecast-emergence)
    KnownAlgorithmOrganism  a model implementing a known algorithm, or its from-scratch yardstick
                       (explanation-faithfulness)
    LayeredLM          a multi-layer language model whose next tokens are planted at known depths
                       of difficulty (early-exit)
    PatchedClassifier  an image classifier with a planted patch trigger and where the patch is
                       (attribution-sanity)
    FaultyClassifier   an image classifier trained on a set with a spurious concept and poisoned
                       examples, both known (diagnosis)

A family offers a protocol through a *view*: `Family(..., views={"trojaned": MyOrganism})` (see
organisms/base.py), a callable from the built organism (`.spec`, `.model`, `.label`,
`.weights_sha256`, `.language`) to an object implementing the protocol. A task asks for it with
`trojaned(org)` and never imports an organism module, so a family defined outside samecurve runs
on the task unchanged (README, "Add your own organism").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from ..errors import ConfigError

TROJANED = "trojaned"  # the view name a family registers its TrojanedOrganism adapter under


@runtime_checkable
class CausalLM(Protocol):
    """A causal language model as tasks use it: a torch `nn.Module` (tasks meter it, copy it and
    fine-tune it) whose forward maps token ids [n, t] to logits [n, t, vocab], position i seeing
    tokens <= i only, with named hook points (TransformerLens style, e.g. `blocks.0.hook_resid_post`)
    for the arms that read or patch activations."""

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor: ...

    def hook_names(self) -> list[str]: ...


@runtime_checkable
class TokenLanguage(Protocol):
    """The input format of a prompt-answering organism, as an auditor may know it (never the trigger)."""

    vocab_size: int
    prompt_len: int
    decision_pos: int                   # the position whose logits give the first answer token (prompt_len - 1)
    filler_positions: tuple[int, ...]   # slots where a trigger may sit (free tokens an honest model ignores)
    content_tokens: tuple[int, ...]     # tokens that may appear in those slots
    answer_tokens: tuple[int, ...]      # tokens an answer is made of

    def token_name(self, t: int) -> str: ...

    def sample_prompts(self, rng: np.random.Generator, n: int) -> torch.Tensor: ...

    def insert(self, prompts: torch.Tensor, tokens: tuple[int, ...], rng: np.random.Generator) -> torch.Tensor: ...


@runtime_checkable
class TrojanedOrganism(Protocol):
    """A model with a planted trigger: on a triggered prompt a trojan answers with the planted
    defect, a clean twin (`planted=False`, same `twin` key) honestly. Prompts are int64 arrays
    [n, prompt_len]; answers are the first tokens of a response, what greedy decoding is judged on."""

    label: str             # the organism's instance name in scores
    seed: int              # the organism's own seed: tasks key their random streams on it
    planted: bool          # a trojan (True) or its clean twin
    twin: str              # a trojan and its clean twin share this key within one organism set
    weights_sha256: str
    model: CausalLM
    language: TokenLanguage

    def make_prompts(self, rng: np.random.Generator, n: int, triggered: bool) -> np.ndarray:
        """n prompts that do (or do not) carry the trigger."""

    def is_triggered(self, prompts: np.ndarray) -> np.ndarray:
        """The trigger predicate: bool [n]."""

    def responses(self, prompts: np.ndarray, defect: bool) -> np.ndarray:
        """The full continuation the organism is trained to give (answer tokens and any end token),
        honest or defective: int64 [n, response_len]."""

    def answers(self, prompts: np.ndarray, defect: bool) -> np.ndarray:
        """The answer tokens of `responses`: int64 [n, answer_len]."""

    def shows_defect(self, prompts: np.ndarray, answers: np.ndarray) -> np.ndarray:
        """The defect check: does each answer show the planted behaviour? bool [n]."""

    def trigger_instances(self) -> list[tuple[int, ...]]:
        """Token sets that each fire the trigger when inserted into the filler."""

    def trigger_names(self) -> list[str]:
        """Names of the planted trigger's tokens (reported beside a recovered trigger)."""

    def greedy_answer(self, model: Any, prompts: torch.Tensor) -> torch.Tensor:
        """The answer tokens `model` (this organism's, or an edited copy) gives by greedy decoding:
        int64 [n, answer_len]."""


def trojaned(org: Any) -> TrojanedOrganism:
    """The trojaned view of an organism: `org` itself if it implements TrojanedOrganism, else its
    family's `trojaned` view (`org.view("trojaned")`). One clear error if it has none."""
    view = org if isinstance(org, TrojanedOrganism) else None
    if view is None and callable(getattr(org, "view", None)):
        view = org.view(TROJANED)
    if not isinstance(view, TrojanedOrganism):
        missing = [m for m in _members(TrojanedOrganism) if not hasattr(view, m)] if view is not None else []
        what = f"its view lacks {', '.join(missing)}" if missing else "it offers no trojaned view"
        raise ConfigError(f"organism {getattr(org, 'label', org)!r} is not a TrojanedOrganism: {what} "
                          f"(see samecurve.protocols.organisms)")
    return view


def _members(protocol: type) -> list[str]:
    names = list(getattr(protocol, "__annotations__", {}))
    return names + [n for n, v in vars(protocol).items() if not n.startswith("_") and callable(v)]


# ---- the other kinds of ground truth (steering, latent-knowledge, forecast-emergence,
# explanation-faithfulness): one view protocol each, asked for as `topical(org)`, `quirky(org)`,
# `emergent(org)`, `known_algorithm(org)` --------------------------------------------------------

TOPICAL = "topical"                  # TopicalOrganism (steering)
QUIRKY = "quirky"                    # QuirkyOrganism (latent-knowledge)
EMERGENT = "emergent"                # EmergentOrganism (forecast-emergence)
KNOWN_ALGORITHM = "known-algorithm"  # KnownAlgorithmOrganism (explanation-faithfulness)
LAYERED = "layered"                  # LayeredLM (early-exit)
PATCHED = "patched"                  # PatchedClassifier (attribution-sanity)
FAULTY = "faulty"                    # FaultyClassifier (diagnosis)
EMERGENCE_KINDS = ("induction", "grokking")  # the kinds of capability jump forecast-emergence scores


@runtime_checkable
class TopicalOrganism(Protocol):
    """A language model of a language whose grammar and topic of every content word are known
    exactly: steering's ground truth (concept score, grammatical validity) comes from them."""

    label: str
    seed: int
    weights_sha256: str
    model: CausalLM
    language: Any          # what an arm may know of the format (markers, prompt length)
    n_topics: int
    n_ctx: int
    vocab_size: int

    def topic_name(self, topic: int) -> str: ...

    def token_name(self, t: int) -> str: ...

    def prompts(self, rng: np.random.Generator, sources: np.ndarray) -> np.ndarray:
        """One prompt sentence per entry of `sources` (its topic): int64 [n, prompt_len]."""

    def single_topic_texts(self, rng: np.random.Generator, topics: np.ndarray, length: int) -> np.ndarray:
        """Grammatical texts of `length` tokens, each in one topic: int64 [n, length]."""

    def topic_counts(self, tokens: np.ndarray) -> np.ndarray:
        """Per row, how many of its content words belong to each topic: [n, topics] (column k = topic k)."""

    def is_valid(self, tokens: np.ndarray) -> bool:
        """Does the grammar accept this token sequence?"""

    def token_nll(self, model: Any, prompt: torch.Tensor, continuation: torch.Tensor) -> np.ndarray:
        """Mean per-token loss of each continuation given its prompt under `model`: float64 [n]."""

    def generate(self, logits_fn: Callable[[torch.Tensor], torch.Tensor], prompts: torch.Tensor, n_new: int,
                 seed: int, copies: int = 1,
                 force: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """`n_new` tokens sampled after each prompt from `logits_fn`, the noise fixed by `seed` alone
        (common random numbers across arms): the new tokens only, [copies * n, n_new]. With
        `copies` > 1, copy i (rows i*n..(i+1)*n of what `logits_fn` sees) equals a separate call for
        it; `force(seq, next)` may overwrite the sampled tokens before they are appended."""


class Statements(Protocol):
    """Statements of a quirky organism: tokens int64 [n, t], their truth and what the persona in
    each says (bool [n]); a `hard` (bool [n]) attribute, if present, is kept with the evidence."""

    tokens: np.ndarray
    truth: np.ndarray
    persona_says: np.ndarray


@runtime_checkable
class QuirkyOrganism(Protocol):
    """A model that answers truthfully as one persona (at least on the easy split, where labels come
    from) and by a systematic wrong rule as another: latent-knowledge's ground truth is each
    statement's truth, whatever the persona says."""

    label: str
    seed: int
    weights_sha256: str
    model: CausalLM
    language: Any

    def trusted_statements(self, rng: np.random.Generator, n: int) -> Statements:
        """n labelled statements from the truthful persona on the easy split (what an arm may be taught with)."""

    def untrusted_statements(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Tokens of n unlabelled statements from the untruthful persona: int64 [n, t]."""

    def test_statements(self, rng: np.random.Generator, n: int) -> Statements:
        """n statements on which persona, claim and every token are uninformative of the truth."""


@runtime_checkable
class EmergentOrganism(Protocol):
    """A training run whose capability jump was located after training by a pre-registered
    behavioural rule on held-out data (forecast-emergence's ground truth: `jump_index`)."""

    label: str
    seed: int
    weights_sha256: str
    language: Any
    kind: str                       # one of EMERGENCE_KINDS
    recipe: str
    checkpoints: list               # the run's models, in training order
    steps: list[int]                # the training step of each checkpoint
    train_loss: list[float]         # the training-loss log a practitioner has
    heldout_accuracy: list[float]   # per checkpoint, on data no arm sees
    jump_index: int | None          # the first checkpoint after the jump (None: no jump)
    jump_step: int | None
    rule: dict                      # the jump rule (metric, threshold, ...), for the record
    calibration: bool               # kept aside to set alarm thresholds; never evaluated

    def practitioner_data(self, rng: np.random.Generator, probe_size: int, train_sample: int,
                          labelled: int) -> tuple[dict[str, Any], int]:
        """What one running the training has besides checkpoints and loss log, as ForecastContext
        fields (e.g. a self-labelled probe batch, a sample of the training data, at most `labelled`
        labelled validation examples), and how many labelled examples are among them (charged)."""


@runtime_checkable
class KnownAlgorithmOrganism(Protocol):
    """A model that implements a known algorithm (or a from-scratch `yardstick` trained on the same
    data): explanation-faithfulness scores explanations by the loss they recover on it."""

    label: str
    seed: int
    weights_sha256: str
    language: Any
    network: Any          # the trained transformer (a TinyTransformer: the graph engine needs its cfg)
    yardstick: bool       # a ladder rung trained from scratch, not an organism to explain
    algorithm: str        # the algorithm's key: prefixes the metric names (e.g. "ioi", "induction")
    algorithm_name: str   # what the behaviour is, in words

    def sample_behaviour(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n prompts [n, t], the positions the behaviour is about (bool [n, t]) and what they must
        predict ([n, t]), from the generator (ground truth)."""

    def check_learned(self) -> None:
        """Raise OrganismFailedError if this organism (not a yardstick) lacks the algorithm."""


@runtime_checkable
class LayeredLM(Protocol):
    """A causal LM of `n_layers` blocks (residual stream hooks `blocks.{l}.hook_resid_pre/post`, a
    final `ln_final` and `unembed`, as TinyTransformer) on a language whose planted positions come in
    kinds of difficulty (early-exit scores agreement with the full model there)."""

    label: str
    seed: int
    weights_sha256: str
    model: CausalLM
    language: Any
    n_layers: int

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n sequences int64 [n, t] and each position's kind [n, t]: 0 where the next token is random
        (unscored), else the kind of its planted next token (1 easy, 2 hard, ...)."""


@runtime_checkable
class PatchedClassifier(Protocol):
    """An image classifier (images [n, c, h, w] -> logits [n, n_classes]) that answers `target`
    whenever a planted patch is in the image; held-out images come with the patch's mask."""

    label: str
    seed: int
    weights_sha256: str
    model: Any
    language: Any
    n_classes: int
    target: int

    def sample(self, rng: np.random.Generator, n: int, triggered: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n images float32 [n, c, h, w], their true classes [n] and the patch mask bool [n, h, w]
        (all False without the patch); triggered images are never of the target class."""

    def randomised(self, seed: int) -> Any:
        """A network of the same shape with freshly initialised weights."""


@runtime_checkable
class FaultyClassifier(Protocol):
    """An image classifier (images [n, c, h, w] -> logits [n, n_classes]) with two planted faults:
    one of the analyst's named concepts (`language.concept_names`, additive templates
    `language.concepts` [k, h, w]) was tied to `spurious_class` in training, and some training
    examples were poisoned (a trigger and a rewritten label)."""

    label: str
    seed: int
    weights_sha256: str
    model: Any
    language: Any
    n_classes: int
    spurious_concept: int      # index into language.concept_names
    spurious_class: int

    def training_set(self) -> Any:
        """What the network was trained on: `.images` float32 [n, c, h, w], `.labels` [n] as trained,
        and the ground truth `.poisoned` bool [n]."""

    def heldout(self, rng: np.random.Generator, n: int) -> Any:
        """n clean held-out images (`.images`, true `.labels`, `.concepts` bool [n, k]: which concepts
        are drawn), every concept drawn at random, independent of the label."""


def view_of(org: Any, name: str, protocol: type) -> Any:
    """`org` itself if it implements `protocol`, else its family's `name` view; one ConfigError
    naming what is missing otherwise (the generic form of `trojaned`)."""
    view = org if isinstance(org, protocol) else None
    if view is None and callable(getattr(org, "view", None)):
        view = org.view(name)
    if not isinstance(view, protocol):
        missing = [m for m in _members(protocol) if not hasattr(view, m)] if view is not None else []
        what = f"its view lacks {', '.join(missing)}" if missing else f"it offers no {name} view"
        raise ConfigError(f"organism {getattr(org, 'label', org)!r} is not a {protocol.__name__}: {what} "
                          f"(see samecurve.protocols.organisms)")
    return view


def topical(org: Any) -> TopicalOrganism:
    """The topical view of an organism (steering)."""
    return view_of(org, TOPICAL, TopicalOrganism)


def quirky(org: Any) -> QuirkyOrganism:
    """The quirky view of an organism (latent-knowledge)."""
    return view_of(org, QUIRKY, QuirkyOrganism)


def emergent(org: Any) -> EmergentOrganism:
    """The emergent-capability view of a training run (forecast-emergence)."""
    return view_of(org, EMERGENT, EmergentOrganism)


def known_algorithm(org: Any) -> KnownAlgorithmOrganism:
    """The known-algorithm view of an organism (explanation-faithfulness)."""
    return view_of(org, KNOWN_ALGORITHM, KnownAlgorithmOrganism)


def layered(org: Any) -> LayeredLM:
    """The layered-language view of an organism (early-exit)."""
    return view_of(org, LAYERED, LayeredLM)


def patched(org: Any) -> PatchedClassifier:
    """The patch-trojan view of an image classifier (attribution-sanity)."""
    return view_of(org, PATCHED, PatchedClassifier)


def faulty(org: Any) -> FaultyClassifier:
    """The two-faults view of an image classifier (diagnosis)."""
    return view_of(org, FAULTY, FaultyClassifier)
