"""What a task may ask of an organism: the organism-facing protocols (the arm-facing ones live
beside this module).

    CausalLM           the model: token ids [n, t] -> next-token logits [n, t, vocab], hook names
    TokenLanguage      the input format an auditor may know (handed to arms as `context.language`)
    TrojanedOrganism   a model with a planted trigger -> defect, and its ground truth
                       (backdoor-audit, behavior-removal)

A family offers a protocol through a *view*: `Family(..., views={"trojaned": MyOrganism})` (see
organisms/base.py), a callable from the built organism (`.spec`, `.model`, `.label`,
`.weights_sha256`, `.language`) to an object implementing the protocol. A task asks for it with
`trojaned(org)` and never imports an organism module, so a family defined outside samecurve runs
on the task unchanged (README, "Add your own organism").
"""

from __future__ import annotations

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
