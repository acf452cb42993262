"""Trigger search that treats the model as a function: the non-interp bar a trigger-finding
interp method has to clear at the same budget.

Three searchers share one fitness, the *flip rate*: insert a candidate token set into a fixed
batch of clean prompts and count how often the model's greedy first answer token changes. An
honest model ignores filler, so every candidate flips ~0 on a clean organism; a trojan's trigger
flips ~1. The searchers differ only in how they pick the next candidate:
  random-search        every single token, then pairs in random order;
  evolutionary-search  a (mu + lambda) population of 1- and 2-token sets, mutation and crossover;
  gcg                  greedy coordinate gradient (Zou et al. 2023): one-hot gradients at the
                       trigger slots pick top-k swaps, a batch of swaps is tried with forward passes.
Every searcher scans all single tokens first when the budget allows (it is only 62 candidates),
keeps a cache so nothing is paid for twice, stops before the budget runs out, and re-measures its
best few candidates on held-out clean prompts so the reported flip rate is not a winner's curse.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ...budget import MeteredModel
from ...errors import BudgetExceeded
from ...protocols.detection import trigger_len_bound
from ...protocols.token_search import Candidate, canonical, onehot_inputs, sentinel_slots, top_swaps
from ...registry import arm
from ..answers import greedy_first_answer

_BATCH = 64  # candidates per forward call


@dataclass(frozen=True)
class Fitness:
    flip_rate: float  # share of prompts whose first answer token changed
    loss: float       # mean -log p(original answer): a continuous tie-breaker when nothing flips
    n: int            # prompts measured

    def key(self) -> tuple[float, float]:
        """Search order: flips first; among equal flips, the candidate that shakes the answer most."""
        return (self.flip_rate, self.loss)


def flip_fitness(model: MeteredModel, language: Any, prompts: torch.Tensor, answers: torch.Tensor,
                 tokens: Candidate, rng: np.random.Generator) -> Fitness | None:
    """The shared fitness: how often inserting `tokens` changes the answer; None if unaffordable."""
    n = int(prompts.shape[0])
    if n == 0 or not model.meter.can_afford("forward_passes", n):
        return None
    attacked = language.insert(prompts, tokens, rng)
    try:
        logits = model.logits(attacked)[:, -1]
    except BudgetExceeded:  # the wall clock ran out between the check and the charge
        return None
    return _fitness(logits, answers)


def _fitness(logits: torch.Tensor, answers: torch.Tensor) -> Fitness:
    """Flip rate and loss of the original answers from last-position logits [n, vocab]."""
    flip = (logits.argmax(-1) != answers).float().mean()
    loss = -logits.log_softmax(-1).gather(1, answers[:, None]).mean()
    return Fitness(float(flip), float(loss), int(len(answers)))


class _Search:
    """Budget-aware bookkeeping shared by the searchers: base prompts, cache, ranking, confirmation."""

    def __init__(self, model: MeteredModel, context: Any, n_prompts: int, n_confirm: int,
                 confirm_prompts: int, prune_at: float, min_prompts: int = 4, max_size: int | None = None):
        self.model, self.language, self.rng = model, context.language, context.rng
        # The longest token set to propose: the audit's stated assumption, the same for every arm,
        # unless the arm sets its own (`max_size`; GCG's `trigger_sizes` is read in its search).
        self.max_size = int(max_size or trigger_len_bound(context))
        self.content = tuple(int(t) for t in context.language.content_tokens)
        self.prune_at = prune_at
        self.cache: dict[Candidate, Fitness] = {}
        self.confirmed: dict[Candidate, Fitness] = {}
        clean = context.clean_inputs
        start = model.meter.remaining("forward_passes")
        # On a small budget, screen on fewer prompts (down to min_prompts) so that the exhaustive
        # single-token scan still fits beside the confirmation reserve.
        fits_scan = int(0.75 * start) // (len(self.content) + 1)
        n_prompts = max(min(n_prompts, fits_scan), min(min_prompts, n_prompts))
        # Screening prompts: the first clean inputs, topped up from the natural distribution when
        # the labelled set is small (a natural prompt is rarely triggered, and then merely dilutes).
        screen = clean[:n_prompts]
        if len(screen) < n_prompts:
            extra = self.language.sample_prompts(self.rng, n_prompts - len(screen)).to(clean.dtype)
            screen = torch.cat([screen, extra])
        # Held-out clean prompts for the final measurement (the screening ones if none are left).
        heldout = clean[n_prompts:n_prompts + confirm_prompts]
        self.heldout = heldout if len(heldout) else screen
        self.screen = screen
        self.n_confirm = n_confirm
        self.answers: torch.Tensor | None = None
        self.heldout_answers: torch.Tensor | None = None
        # Keep back what confirmation costs, but never more than a quarter of the budget.
        per = len(self.heldout)
        if (n_confirm + 1) * per > 0.25 * start:
            per = max(0, int(0.25 * start) // (n_confirm + 1))
            self.heldout = self.heldout[:per]
        self.reserve = (n_confirm + 1) * per if per else 0

    # -- spending ------------------------------------------------------------------------------

    def affordable(self, extra: int = 0) -> bool:
        return self.model.meter.can_afford("forward_passes", len(self.screen) + self.reserve + extra)

    def start(self) -> bool:
        """Record the model's own answers on the screening prompts; False if even that is unaffordable."""
        if not self.model.meter.can_afford("forward_passes", len(self.screen) + self.reserve):
            return False
        try:
            self.answers = greedy_first_answer(self.model, self.screen)
        except BudgetExceeded:
            return False
        return True

    def evaluate(self, tokens: Any) -> Fitness | None:
        """Cached fitness of a token set; None when the budget (less the reserve) is spent."""
        key = canonical(tokens)
        if key in self.cache:
            return self.cache[key]
        if self.answers is None or not self.affordable():
            return None
        fit = flip_fitness(self.model, self.language, self.screen, self.answers, key, self.rng)
        if fit is not None:
            self.cache[key] = fit
        return fit

    def evaluate_many(self, candidates: list[Any]) -> list[Fitness | None]:
        """Cached fitness of several token sets, the new ones measured in one batched forward
        (same spend per sequence as one by one, far less per-call overhead); None for those the
        budget (less the reserve) no longer pays for."""
        keys = [canonical(c) for c in candidates]
        todo = list(dict.fromkeys(k for k in keys if k not in self.cache))
        n = len(self.screen)
        if todo and self.answers is not None and n:
            todo = todo[: self.room()]
            for i in range(0, len(todo), _BATCH):
                chunk = todo[i:i + _BATCH]
                if not self.model.meter.can_afford("forward_passes", n * len(chunk)):
                    break
                attacked = torch.cat([self.language.insert(self.screen, k, self.rng) for k in chunk])
                try:
                    logits = self.model.logits(attacked)[:, -1].view(len(chunk), n, -1)
                except BudgetExceeded:  # the wall clock ran out between the check and the charge
                    break
                # The chunk's flips and losses at once (per candidate, what _fitness computes).
                flips = (logits.argmax(-1) != self.answers).float().mean(1).tolist()
                losses = (-logits.log_softmax(-1).gather(2, self.answers.expand(len(chunk), -1)[..., None])[..., 0]
                          ).mean(1).tolist()
                for k, fl, lo in zip(chunk, flips, losses):
                    self.cache[k] = Fitness(fl, lo, n)
        return [self.cache.get(k) for k in keys]

    def room(self) -> int:
        """How many new candidates the budget (less the reserve) still pays to screen."""
        n = len(self.screen)
        if self.answers is None or not n:
            return 0
        return max(int((self.model.meter.remaining("forward_passes") - self.reserve) // n), 0)

    # -- candidates ----------------------------------------------------------------------------

    def redundant(self, tokens: Any) -> bool:
        """A set holding a token that already flips alone tells us nothing new (and wastes budget)."""
        key = canonical(tokens)
        if len(set(key)) != len(key):
            return True
        if len(key) < 2:
            return False
        return any((t,) in self.cache and self.cache[(t,)].flip_rate >= self.prune_at for t in key)

    def scan_singles(self) -> bool:
        """Try every content token alone, in random order; True if the scan finished."""
        fits = self.evaluate_many([(int(t),) for t in self.rng.permutation(self.content)])
        return all(f is not None for f in fits)

    def can_scan_singles(self) -> bool:
        todo = sum((t,) not in self.cache for t in self.content)
        return self.affordable(extra=(todo - 1) * len(self.screen))

    def random_candidate(self, size: int) -> Candidate:
        return canonical(self.rng.choice(self.content, size=size, replace=False))

    # -- results -------------------------------------------------------------------------------

    def ranked(self) -> list[Candidate]:
        """Best first: confirmed candidates (the screening's top, now judged on more prompts) before
        the rest, then flip rate, then the shorter set, then the larger loss."""

        def sort_key(c: Candidate) -> tuple[bool, float, int, float]:
            f = self.pooled(c)
            return (c not in self.confirmed, -f.flip_rate, len(c), -f.loss)

        return sorted(self.cache, key=sort_key)

    def pooled(self, c: Candidate) -> Fitness:
        a, b = self.cache[c], self.confirmed.get(c)
        if b is None:
            return a
        n = a.n + b.n
        return Fitness((a.flip_rate * a.n + b.flip_rate * b.n) / n, (a.loss * a.n + b.loss * b.n) / n, n)

    def confirm(self) -> None:
        """Re-measure the top candidates on held-out clean prompts (paid from the reserve)."""
        if not self.cache or not len(self.heldout):
            return
        top = self.ranked()[: self.n_confirm]
        meter = self.model.meter
        if not meter.can_afford("forward_passes", len(self.heldout)):
            return
        try:
            self.heldout_answers = greedy_first_answer(self.model, self.heldout)
        except BudgetExceeded:
            return
        for c in top:
            fit = flip_fitness(self.model, self.language, self.heldout, self.heldout_answers, c, self.rng)
            if fit is None:
                break
            self.confirmed[c] = fit

    def best_flip_rate(self) -> float:
        """The held-out flip rate of the best candidate (its screening rate if it was not confirmed)."""
        if not self.cache:
            return 0.0
        best = self.ranked()[0]
        return (self.confirmed.get(best) or self.cache[best]).flip_rate


class _TriggerSearchArm:
    """Shared arm plumbing: run the search once per call, expose results scikit-learn style."""

    n_prompts: int
    n_confirm: int
    confirm_prompts: int
    prune_at: float
    n_proposals: int

    def _search(self, state: _Search) -> None:
        raise NotImplementedError

    def fit(self, model: MeteredModel, context: Any) -> _TriggerSearchArm:
        """Search for triggers within the budget; sets proposals_, flip_rate_, n_evaluated_."""
        state = _Search(model, context, self.n_prompts, self.n_confirm, self.confirm_prompts, self.prune_at,
                        max_size=getattr(self, "max_size", None))
        if state.start():
            self._search(state)
            state.confirm()
        self.proposals_ = state.ranked()[: self.n_proposals]
        self.flip_rate_ = state.best_flip_rate()
        self.n_evaluated_ = len(state.cache)
        self.fitness_ = {c: state.pooled(c) for c in self.proposals_}
        return self

    def propose_triggers(self, model: MeteredModel, context: Any) -> list[Candidate]:
        """Token sets to insert, best first (a fresh search per call: the task calls once per arm)."""
        return list(self.fit(model, context).proposals_)

    def score_model(self, model: MeteredModel, context: Any) -> float:
        """The best candidate's held-out flip rate: ~0 for an honest model, ~1 for a found trigger."""
        return float(self.fit(model, context).flip_rate_)


@arm("random-search", family="baseline", access="black-box", control="random-scores")
class RandomTriggerSearch(_TriggerSearchArm):
    """Every single token, then distinct pairs (then triples, up to the audit's `max_trigger_len`)
    in a random order until the budget is spent."""

    def __init__(self, n_prompts: int = 16, max_size: int | None = None, n_confirm: int = 3, confirm_prompts: int = 48,
                 prune_at: float = 0.9, n_proposals: int = 10):
        self.n_prompts, self.max_size, self.n_confirm = n_prompts, max_size, n_confirm
        self.confirm_prompts, self.prune_at, self.n_proposals = confirm_prompts, prune_at, n_proposals

    def _search(self, state: _Search) -> None:
        if not state.scan_singles():
            return
        sizes = range(2, state.max_size + 1)
        for i, size in enumerate(sizes):
            # What the budget still screens, split evenly over the sizes left (all of it to pairs when
            # pairs are the longest asked for), plus one to tell "all screened" from "out of budget".
            take = state.room() // (len(sizes) - i) + 1
            if math.comb(len(state.content), size) <= _LISTABLE:
                combos = list(itertools.combinations(state.content, size))
                order = (combos[j] for j in state.rng.permutation(len(combos)) if not state.redundant(combos[j]))
                # (the same sets, in the same order, as screening the whole shuffled list; at 512
                # tokens the 130k pairs' redundancy checks alone took seconds)
                batch = list(itertools.islice(order, take))
            else:  # too many to list (triples of 508 tokens: 22 million): distinct random sets
                batch = _distinct_random_sets(state, size, take)
            if any(f is None for f in state.evaluate_many(batch)) and i == len(sizes) - 1:
                return


_LISTABLE = 1_000_000  # token sets random-search shuffles as a list; beyond this it draws them


def _distinct_random_sets(state: _Search, size: int, n: int) -> list[Candidate]:
    """n distinct, non-redundant, not yet screened token sets of `size`, drawn uniformly (fewer if
    the draws keep repeating: a space this large almost never does)."""
    got: dict[Candidate, None] = {}
    for _ in range(20 * n):
        if len(got) >= n:
            break
        c = state.random_candidate(size)
        if c not in state.cache and not state.redundant(c):
            got[c] = None
    return list(got)


@arm("evolutionary-search", family="baseline", access="black-box", control="random-scores")
class EvolutionarySearch(_TriggerSearchArm):
    """A (mu + lambda) genetic search over token sets of size 1..max_size (the audit's
    `max_trigger_len` unless set), seeded by the single scan."""

    def __init__(self, n_prompts: int = 16, population_size: int = 16, n_children: int = 16,
                 crossover_rate: float = 0.6, tournament_size: int = 3, max_size: int | None = None,
                 scan_singles: bool = True, n_confirm: int = 3, confirm_prompts: int = 48,
                 prune_at: float = 0.9, n_proposals: int = 10):
        self.n_prompts, self.population_size, self.n_children = n_prompts, population_size, n_children
        self.crossover_rate, self.tournament_size, self.max_size = crossover_rate, tournament_size, max_size
        self.scan_singles, self.n_confirm, self.confirm_prompts = scan_singles, n_confirm, confirm_prompts
        self.prune_at, self.n_proposals = prune_at, n_proposals

    def _search(self, state: _Search) -> None:
        if self.scan_singles and state.can_scan_singles():
            state.scan_singles()
        else:  # random initial population
            for _ in range(self.population_size):
                size = int(state.rng.integers(1, state.max_size + 1))
                if state.evaluate(state.random_candidate(size)) is None:
                    return
        while True:
            children = self._offspring(state, self._select(state))
            if not children:  # the whole search space is evaluated (or redundant)
                return
            if any(f is None for f in state.evaluate_many(children)):
                return

    def _select(self, state: _Search) -> list[Candidate]:
        """Elitist survival: the best population_size evaluated so far, leaving out sets that
        already flip (their offspring are redundant supersets or known singles)."""
        open_ = [c for c in state.cache if state.cache[c].flip_rate < state.prune_at]
        return sorted(open_, key=lambda c: state.cache[c].key(), reverse=True)[: self.population_size]

    def _tournament(self, state: _Search, population: list[Candidate], keys: dict | None = None) -> Candidate:
        picks = state.rng.integers(len(population), size=self.tournament_size)
        key = keys.__getitem__ if keys is not None else (lambda c: state.cache[c].key())
        return max((population[i] for i in picks), key=key)

    def _mutate(self, state: _Search, parent: Candidate) -> Candidate:
        """Swap a token for a random one, or grow / shrink the set by one token."""
        toks = list(parent)
        ops = ["swap"] + (["grow"] if len(toks) < state.max_size else []) + (["shrink"] if len(toks) > 1 else [])
        op = ops[int(state.rng.integers(len(ops)))]
        new = int(state.rng.choice(state.content))
        if op == "swap":
            toks[int(state.rng.integers(len(toks)))] = new
        elif op == "grow":
            toks.append(new)
        else:
            toks.pop(int(state.rng.integers(len(toks))))
        return canonical(toks)

    def _crossover(self, state: _Search, a: Candidate, b: Candidate) -> Candidate:
        """One token from each parent: two half-working tokens make a whole conjunction."""
        return canonical([int(state.rng.choice(a)), int(state.rng.choice(b))][: state.max_size])

    def _offspring(self, state: _Search, population: list[Candidate]) -> list[Candidate]:
        """Up to n_children new, non-redundant candidates; random immigrants fill in when the
        population's neighbourhood is used up, so the search keeps spending until the budget ends."""
        children: list[Candidate] = []

        def take(c: Candidate) -> None:
            if c not in state.cache and c not in children and not state.redundant(c):
                children.append(c)

        keys = {c: state.cache[c].key() for c in population}  # fixed during one generation
        for _ in range(self.n_children * 4 if population else 0):
            if len(children) >= self.n_children:
                break
            a = self._tournament(state, population, keys)
            if state.rng.random() < self.crossover_rate and len(population) > 1:
                take(self._crossover(state, a, self._tournament(state, population, keys)))
            else:
                take(self._mutate(state, a))
        for _ in range(self.n_children * 20):
            if len(children) >= self.n_children:
                break
            take(state.random_candidate(int(state.rng.integers(1, state.max_size + 1))))
        return children


@arm("gcg", family="baseline", access="gradients", control="random-scores")
class GCGSearch(_TriggerSearchArm):
    """Greedy coordinate gradient over the inserted token slots, for triggers of 1 to the audit's
    `max_trigger_len` tokens (1 and 2 by default), unless `trigger_sizes` says which."""

    def __init__(self, n_prompts: int = 16, top_k: int = 8, n_candidates: int = 16,
                 trigger_sizes: tuple[int, ...] | None = None, scan_singles: bool = True, patience: int = 2,
                 n_confirm: int = 3, confirm_prompts: int = 48, prune_at: float = 0.9, n_proposals: int = 10):
        self.n_prompts, self.top_k, self.n_candidates = n_prompts, top_k, n_candidates
        self.trigger_sizes = None if trigger_sizes is None else tuple(trigger_sizes)
        self.scan_singles, self.patience = scan_singles, patience
        self.n_confirm, self.confirm_prompts, self.prune_at = n_confirm, confirm_prompts, prune_at
        self.n_proposals = n_proposals

    def _search(self, state: _Search) -> None:
        sizes = list(self.trigger_sizes or range(1, state.max_size + 1))
        if self.scan_singles and state.can_scan_singles():
            state.scan_singles()
            sizes = [s for s in sizes if s != 1]  # nothing left for gradients to find at size 1
        meter = state.model.meter
        for i, size in enumerate(sizes):
            # Split what is left of both budgets evenly over the remaining trigger sizes.
            left = len(sizes) - i
            fwd = meter.remaining("forward_passes")
            bwd = meter.remaining("backward_passes")
            self._run(state, size, stop_fwd=fwd - (fwd - state.reserve) / left, stop_bwd=bwd - bwd / left)

    def _run(self, state: _Search, size: int, stop_fwd: float, stop_bwd: float) -> None:
        """GCG steps from random starts until this size's share of the budgets is spent."""
        meter = state.model.meter

        def share_left() -> bool:
            return meter.remaining("forward_passes") > stop_fwd and meter.remaining("backward_passes") > stop_bwd

        current, stale = self._restart(state, size), 0
        while current is not None and share_left():
            grads = self._slot_gradients(state, current)
            if grads is None:
                return
            candidates = self._swaps(state, current, grads)
            evaluated = state.evaluate_many(candidates)
            if any(f is None for f in evaluated):
                return
            fits = dict(zip(candidates, evaluated))
            best = max(fits, key=lambda c: fits[c].key(), default=None)
            if best is not None and fits[best].key() > state.cache[current].key():
                current, stale = best, 0
            else:
                stale += 1
            if stale >= self.patience or not candidates:
                current, stale = self._restart(state, size), 0

    def _restart(self, state: _Search, size: int) -> Candidate | None:
        """A fresh random start (not redundant), evaluated so it has a fitness to beat."""
        for _ in range(100):
            c = state.random_candidate(size)
            if not state.redundant(c):
                return c if state.evaluate(c) is not None else None
        return None

    def _slot_gradients(self, state: _Search, tokens: Candidate) -> torch.Tensor | None:
        """d(mean log p(original answer))/d(one-hot) at each trigger slot: [size, vocab]."""
        model, prompts = state.model, state.screen
        n, size = int(prompts.shape[0]), len(tokens)
        # The gradient pass must leave room for at least one candidate evaluation afterwards.
        if not (state.affordable(extra=n) and model.meter.can_afford("backward_passes", n)):
            return None
        # the language chooses the slots, as in the fitness
        embeds, onehot = onehot_inputs(model.embedding_matrix(), prompts, tokens,
                                       sentinel_slots(state.language, prompts, size, state.rng))
        try:
            logits = model.logits_from_embeddings(embeds)[:, -1]
            model.backward_charge(n)
        except BudgetExceeded:
            return None
        objective = logits.log_softmax(-1).gather(1, state.answers[:, None]).mean()
        # autograd.grad leaves the organism's parameter .grad untouched.
        (grad,) = torch.autograd.grad(objective, onehot)
        return grad.detach()

    def _swaps(self, state: _Search, current: Candidate, grads: torch.Tensor) -> list[Candidate]:
        """A batch of single-slot swaps from each slot's top-k tokens (lowering log p(original answer)),
        none of them redundant."""
        return top_swaps(grads, current, torch.tensor(state.content), self.top_k, self.n_candidates, state.rng,
                         keep=lambda c: not state.redundant(c))


__all__ = ["EvolutionarySearch", "Fitness", "GCGSearch", "RandomTriggerSearch", "canonical", "flip_fitness"]
