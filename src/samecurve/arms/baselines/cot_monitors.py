"""Monitors that read what the organism wrote, never its insides (`cot-monitor` baselines, the
canary and the control).

Each is a logistic regression (scikit-learn, arms/monitor_fit.py, as the probe's) on the labelled
episodes cut as the scored ones are, over its own token features; its feature set and C are chosen
once by cross-validation on the whole labelled episodes, one charged tuning trial each (the probe
chooses its read-out and C the same way, from as many options):
  cot-text-monitor     the scratchpad text seen so far: a bag of its tokens, or the bag and each
                       slot's token (Baker et al. 2025's CoT monitor, Arnav et al. 2025's CoT-only
                       one, as a trained classifier on the same labels);
  cot-action-monitor   the action alone (one-hot; nothing before the action is shown: every episode
                       scores alike);
  cot-hybrid-monitor   the text's features and the action's side by side (CoT Red-Handed's hybrid);
  prompt-only-monitor  (data-only, the canary) the prompt's tokens alone: a bag of them, or the bag
                       and every pair of tokens seen together; the goal fires on a conjunction in the
                       prompt, so if this matched the best arm the prompts would give the label away.
`random-cot-monitor` (control) scores at random: chance.

Feature set and C are chosen inside the budget (above), from six options per arm as the probe's; the
option lists were fixed before any run and not tuned (dev/tune_cot_monitor.py prints every arm's rows
on dev seeds 900-902).
"""

from __future__ import annotations

import numpy as np
import torch

from ...budget import MeteredModel
from ...protocols.cot import CotContext, cut, shows_action
from ...registry import arm
from ..monitor_fit import choose_by_cv, fit_scaled_logreg

CS = (0.01, 0.1, 1.0)


def one_hot(tokens: np.ndarray, vocab: int) -> np.ndarray:
    """[n, k] token ids -> [n, k * vocab] one-hot per slot."""
    n, k = tokens.shape
    out = np.zeros((n, k, vocab))
    out[np.arange(n)[:, None], np.arange(k)[None], tokens] = 1.0
    return out.reshape(n, -1)


def bag(tokens: np.ndarray, vocab: int) -> np.ndarray:
    """[n, k] token ids -> [n, vocab] counts."""
    out = np.zeros((len(tokens), vocab))
    np.add.at(out, (np.arange(len(tokens))[:, None], tokens), 1.0)
    return out


def pairs(tokens: np.ndarray, vocab: int) -> np.ndarray:
    """[n, k] token ids -> [n, vocab * vocab] indicators of each unordered pair of tokens seen together
    (a sparse-in-practice upper triangle, kept dense: vocab is a few dozen)."""
    n, k = tokens.shape
    out = np.zeros((n, vocab, vocab))
    for i in range(k):
        for j in range(i + 1, k):
            a, b = np.minimum(tokens[:, i], tokens[:, j]), np.maximum(tokens[:, i], tokens[:, j])
            out[np.arange(n), a, b] = 1.0
    return out.reshape(n, -1)


class _TokenMonitor:
    """A logistic regression on token features of the episodes (subclasses say which)."""

    FEATURE_SETS: tuple[str, ...] = ()

    def __init__(self, Cs: tuple[float, ...] = CS, cv: int = 4):
        self.Cs, self.cv = tuple(Cs), cv

    def features(self, episodes: np.ndarray, language, kind: str) -> np.ndarray:
        raise NotImplementedError

    def score_episodes(self, model: MeteredModel, ctx: CotContext, episodes: torch.Tensor) -> np.ndarray:
        train, lang = ctx.episodes.numpy(), ctx.language
        if getattr(self, "ctx_", None) is not ctx:
            options = [(k, C) for k in self.FEATURE_SETS for C in self.Cs]
            self.ctx_, self.fitted_ = ctx, {}
            self.kind_, self.C_ = choose_by_cv(model.meter, options, lambda o: self.features(train, lang, o[0]),
                                               ctx.labels, self.cv)
        length = episodes.shape[1]
        if length not in self.fitted_:
            X = self.features(cut(ctx.episodes, length).numpy(), lang, self.kind_)
            self.fitted_[length] = fit_scaled_logreg(X, ctx.labels, self.C_) if X.shape[1] else None
        clf = self.fitted_[length]
        if clf is None:
            return np.zeros(len(episodes))
        return clf.decision_function(self.features(episodes.numpy(), lang, self.kind_))


def _scratch(episodes: np.ndarray, language) -> np.ndarray:
    return episodes[:, language.prompt_len:min(episodes.shape[1], language.action_pos)]


def _action(episodes: np.ndarray, language) -> np.ndarray:
    return episodes[:, language.action_pos:language.action_pos + 1] if shows_action(language, episodes.shape[1]) \
        else episodes[:, :0]


def _text_features(episodes: np.ndarray, language, kind: str) -> np.ndarray:
    s, v = _scratch(episodes, language), language.vocab_size
    return bag(s, v) if kind == "bag" else np.concatenate([bag(s, v), one_hot(s, v)], 1)


@arm("cot-text-monitor", family="baseline", access="black-box", control="random-cot-monitor")
class CotTextMonitor(_TokenMonitor):
    """Logistic regression on the scratchpad text seen so far (bag of tokens, or bag and slots)."""

    FEATURE_SETS = ("bag", "bag+slots")

    def features(self, episodes: np.ndarray, language, kind: str) -> np.ndarray:
        return _text_features(episodes, language, kind)


@arm("cot-action-monitor", family="baseline", access="black-box", control="random-cot-monitor")
class CotActionMonitor(_TokenMonitor):
    """Logistic regression on the action token alone (once the episode shows it)."""

    FEATURE_SETS = ("action",)

    def __init__(self, Cs: tuple[float, ...] = (0.001,) + CS + (10.0, 100.0), cv: int = 4):
        super().__init__(Cs, cv)   # one feature set: as many options as the others by a wider C grid

    def features(self, episodes: np.ndarray, language, kind: str) -> np.ndarray:
        return one_hot(_action(episodes, language), language.vocab_size)


@arm("cot-hybrid-monitor", family="baseline", access="black-box", control="random-cot-monitor")
class CotHybridMonitor(_TokenMonitor):
    """Logistic regression on the scratchpad text's features and the action's, side by side."""

    FEATURE_SETS = ("bag", "bag+slots")

    def features(self, episodes: np.ndarray, language, kind: str) -> np.ndarray:
        return np.concatenate([_text_features(episodes, language, kind),
                               one_hot(_action(episodes, language), language.vocab_size)], 1)


@arm("prompt-only-monitor", family="baseline", access="data-only", control="random-cot-monitor")
class PromptOnlyMonitor(_TokenMonitor):
    """Logistic regression on the prompt's tokens alone (bag, or bag and co-occurring pairs): the canary."""

    FEATURE_SETS = ("bag", "bag+pairs")

    def features(self, episodes: np.ndarray, language, kind: str) -> np.ndarray:
        p, v = episodes[:, :language.prompt_len], language.vocab_size
        if kind == "bag":
            return bag(p, v)
        first = min(language.content_tokens)   # pairs of the filler's content tokens only (4,096 at 64)
        filler = p[:, list(language.filler_positions)] - first
        return np.concatenate([bag(p, v), pairs(filler, len(language.content_tokens))], 1)


@arm("random-cot-monitor", family="control", access="data-only")
class RandomCotMonitor:
    """Random scores: what a monitor gets for nothing."""

    def score_episodes(self, model: MeteredModel, ctx: CotContext, episodes: torch.Tensor) -> np.ndarray:
        return np.random.default_rng([ctx.seed, 37, episodes.shape[1]]).random(episodes.shape[0])
