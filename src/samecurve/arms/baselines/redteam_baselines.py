"""Red-teaming without looking inside (`red-teaming` baselines, the control and the canary).

Every searching arm measures candidates the same way (protocols/redteam.Screen: a candidate written
into a fixed batch of clean harmful prompts, one forward pass per prompt, every target read off the
output at once) and submits by the same policy (`guesses_from`); they differ in what they try next:
  gcg-redteam           greedy coordinate gradient (Zou et al. 2023) on each target's loss
                        (-log p(target)), the target's slots' one-hot gradients picking the swaps;
                        round-robin over the targets not yet elicited, a share of both budgets each;
  random-redteam        random token pairs until the budget is spent;
  evolutionary-redteam  per unsolved target in turn, a (mu + lambda) generation bred from the best
                        candidates for it so far (mutation: one token swapped; crossover: one token
                        from each parent), on the target's log-probability;
  greedy-query-search   query-only greedy search: every single token is screened once (the output's
                        log-probability of each target is the token's score for it), then pairs of
                        each target's best tokens, best rank sum first (protocols.best_first_pairs),
                        the very loop `logit-lens-search` runs on an intermediate layer's reading.
`random-tokens` (control) guesses k random pairs per target and never runs the model: what guessing
is worth. `rare-token-guess` (data-only, the canary) pairs the filler tokens least seen in the clean
prompts it was handed: if it matched the searches, the clean data would give the triggers away.

Defaults from dev/tune_red_teaming.py on dev seeds 900-901 (6 refusal-v1024 organisms), one-standard-
error rule on attack success then the cheapest (attack success +- se over organisms). At the quick
budget the best settings elicit nearly every target, so the last pass ran at a quarter of it (3,000
forward / 150 backward passes), where settings part; its choices are the defaults (as the interp arms'):
  gcg-redteam           top budget: top-k 4 / 8 / 16 x 8 or 16 candidates, 2 / 4 / 8 gradient prompts,
                        4 or 8 screening prompts: all 0.997 +- .001; quarter budget: 2 gradient prompts
                        0.997 at every top-k and batch, 4: 0.445-0.915 -> 2 gradient prompts, top-k 4,
                        8 candidates a step, 4 screening prompts.
  greedy-query-search   top budget: 24 / 48 leads x batch 4 / 8 0.519-0.520 at 8 screening prompts, 0.997
                        at 4; quarter budget, screening prompts x scan share 2 x 0.5 / 2 x 0.75 / 4 x 0.5 /
                        4 x 0.75: 0.511 / 0.981 +- .011 / 0.196 / 0.318 -> 24 leads, batch 4, 2 screening
                        prompts, scan share 0.75 (the same as its twin logit-lens-search).
  evolutionary-redteam  top budget: population 8 / 16 x 8 / 16 children 0.246 / 0.142 / 0.232 / 0.174 at 8
                        screening prompts, 0.541 +- .019 at 4; quarter budget: 2 screening prompts x
                        population 8 / 16 0.225 +- .028 / 0.209, 4: 0.070 / 0.052 -> 8, 8, 2 prompts.
  random-redteam        top budget: 4 screening prompts 0.027 +- .017, 8: 0.011 +- .008 (tied; cheaper) -> 8.
  rare-token-guess and random-tokens: 0.000 at every budget on the same organisms.
Every searching arm's screen is a tuned parameter; one candidate costs that many forward passes,
whoever screens it.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from ...budget import MeteredModel
from ...errors import BudgetExceeded
from ...protocols.redteam import GCG, RedTeamContext, Screen, best_first_pairs, guesses_from, random_candidate, scan_tokens
from ...protocols.token_search import Candidate, canonical, onehot_inputs, sentinel_slots
from ...registry import arm

N_SCREEN = 8   # screening prompts per candidate, where tuning kept 8 (see the dev table above)


def _pair_size(ctx: RedTeamContext) -> int:
    """The searches look for token sets of the audit's longest length (2 here: planted triggers are pairs)."""
    return max(1, min(ctx.max_trigger_len, len(ctx.language.filler_positions)))


@arm("random-tokens", family="control", access="data-only")
class RandomTokens:
    """k random token sets per target, drawn without the model: what a blind guess elicits."""

    def elicit(self, model: MeteredModel, ctx: RedTeamContext) -> list[list[Candidate]]:
        rng = np.random.default_rng([ctx.seed, 4242])
        content, size = tuple(ctx.language.content_tokens), _pair_size(ctx)
        out = []
        for _ in ctx.targets:
            guesses: list[Candidate] = []
            while len(guesses) < ctx.k:
                c = random_candidate(content, size, rng)
                if c not in guesses:
                    guesses.append(c)
            out.append(guesses)
        return out


@arm("rare-token-guess", family="baseline", access="data-only", control="random-tokens")
class RareTokenGuess:
    """Pairs of the filler tokens least seen in the clean prompts it was handed (never the model):
    the canary for triggers that the data gives away."""

    def elicit(self, model: MeteredModel, ctx: RedTeamContext) -> list[list[Candidate]]:
        rng = np.random.default_rng([ctx.seed, 4243])
        content = np.array(ctx.language.content_tokens)
        slots = list(ctx.language.filler_positions)
        seen = Counter(int(t) for t in torch.cat([ctx.harmful, ctx.harmless])[:, slots].reshape(-1).tolist())
        # rarest first; ties broken at random (the data says nothing between them)
        order = content[np.lexsort((rng.random(len(content)), [seen.get(int(t), 0) for t in content]))]
        size = _pair_size(ctx)
        pool = [canonical(order[i:i + size]) for i in range(0, len(order) - size + 1, size)]
        # each target gets the next k rare sets in turn (the data offers no reason to favour one target)
        out = []
        for t in range(len(ctx.targets)):
            out.append([pool[(t * ctx.k + i) % len(pool)] for i in range(ctx.k)])
            out[-1] = list(dict.fromkeys(out[-1]))
        return out


@arm("random-redteam", family="baseline", access="black-box", control="random-tokens")
class RandomRedTeam:
    """Random token pairs, each screened against every target, until the budget is spent."""

    def __init__(self, n_screen: int = N_SCREEN, batch: int = 64):
        self.n_screen, self.batch = n_screen, batch

    def elicit(self, model: MeteredModel, ctx: RedTeamContext) -> list[list[Candidate]]:
        screen, rng = Screen(model, ctx, self.n_screen), np.random.default_rng([ctx.seed, 11])
        content, size = tuple(ctx.language.content_tokens), _pair_size(ctx)
        while screen.room() > 0 and not all(screen.solved(t) for t in range(len(ctx.targets))):
            todo = [random_candidate(content, size, rng) for _ in range(min(self.batch, screen.room()))]
            if any(s is None for s in screen.screen(todo)):
                break
        return guesses_from(screen, ctx.k)


@arm("evolutionary-redteam", family="baseline", access="black-box", control="random-tokens")
class EvolutionaryRedTeam:
    """A (mu + lambda) search per target, in turn over the targets not yet elicited, on the target's
    log-probability; the screen is shared, so every child is judged for every target."""

    def __init__(self, n_screen: int = 2, n_init: int = 64, population_size: int = 8, n_children: int = 8,
                 crossover_rate: float = 0.5):
        self.n_screen, self.n_init, self.population_size = n_screen, n_init, population_size
        self.n_children, self.crossover_rate = n_children, crossover_rate

    def elicit(self, model: MeteredModel, ctx: RedTeamContext) -> list[list[Candidate]]:
        screen, rng = Screen(model, ctx, self.n_screen), np.random.default_rng([ctx.seed, 12])
        content, size = tuple(ctx.language.content_tokens), _pair_size(ctx)
        screen.screen([random_candidate(content, size, rng) for _ in range(min(self.n_init, screen.room()))])
        while screen.room() > 0:
            open_ = [t for t in range(len(ctx.targets)) if not screen.solved(t)]
            if not open_:
                break
            children: list[Candidate] = []
            for t in open_:
                parents = sorted(screen.cache, key=lambda c: -screen.cache[c].logp[t])[: self.population_size]
                children += self._offspring(parents, content, size, rng, set(screen.cache) | set(children))
            if not children or any(s is None for s in screen.screen(children)):
                break
        return guesses_from(screen, ctx.k)

    def _offspring(self, parents: list[Candidate], content: tuple[int, ...], size: int, rng: np.random.Generator,
                   seen: set) -> list[Candidate]:
        out: list[Candidate] = []
        for _ in range(self.n_children * 6):
            if len(out) >= self.n_children:
                break
            a = parents[int(rng.integers(len(parents)))]
            if size > 1 and len(parents) > 1 and rng.random() < self.crossover_rate:
                b = parents[int(rng.integers(len(parents)))]
                toks = [int(rng.choice(a)), int(rng.choice(b))] + list(rng.choice(content, size=size - 2))
            else:
                toks = list(a)
                toks[int(rng.integers(len(toks)))] = int(rng.choice(content))
            c = canonical(toks)
            if len(set(c)) == size and c not in seen and c not in out:
                out.append(c)
        return out


@arm("greedy-query-search", family="baseline", access="black-box", control="random-tokens")
class GreedyQuerySearch:
    """Every single token screened once (the output's log-probability of each target ranks the
    tokens for it), then pairs of each target's best tokens, best rank sum first. The scan takes at
    most `scan_share` of the budget (a random subset of the tokens when all would cost more)."""

    def __init__(self, n_screen: int = 2, batch: int = 4, max_rank: int = 24, scan_share: float = 0.75):
        self.n_screen, self.batch, self.max_rank, self.scan_share = n_screen, batch, max_rank, scan_share

    def elicit(self, model: MeteredModel, ctx: RedTeamContext) -> list[list[Candidate]]:
        screen = Screen(model, ctx, self.n_screen)
        tokens = scan_tokens(screen, self.scan_share)
        singles = screen.screen([(int(t),) for t in tokens])
        if all(s is not None for s in singles):
            scores = np.stack([s.logp for s in singles])
            best_first_pairs(screen, scores, tokens, self.batch, self.max_rank)
        return guesses_from(screen, ctx.k)


@arm("gcg-redteam", family="baseline", access="gradients", control="random-tokens")
class GCGRedTeam:
    """GCG on each target's loss over the trigger slots, one step per target not yet elicited per
    round, until either budget is spent."""

    def __init__(self, n_screen: int = 4, n_grad: int = 2, top_k: int = 4, n_candidates: int = 8,
                 patience: int = 2):
        self.n_screen, self.n_grad, self.top_k, self.n_candidates = n_screen, n_grad, top_k, n_candidates
        self.patience = patience

    def elicit(self, model: MeteredModel, ctx: RedTeamContext) -> list[list[Candidate]]:
        screen, rng = Screen(model, ctx, self.n_screen), np.random.default_rng([ctx.seed, 13])
        content, size = tuple(ctx.language.content_tokens), _pair_size(ctx)
        prompts = ctx.harmful[: self.n_grad]
        n = int(prompts.shape[0])
        emb = model.embedding_matrix()
        pos = ctx.language.decision_pos

        def gradient_for(t: int):
            def gradient(c: Candidate) -> torch.Tensor | None:
                # a gradient step is worth its passes only if its candidates can be screened after it
                if not (model.meter.can_afford("backward_passes", n)
                        and model.meter.can_afford("forward_passes", n + self.n_candidates * screen.n)):
                    return None
                embeds, onehot = onehot_inputs(emb, prompts, c, sentinel_slots(ctx.language, prompts, size, rng))
                try:
                    logits = model.logits_from_embeddings(embeds)[:, pos]
                    model.backward_charge(n)
                except BudgetExceeded:
                    return None
                loss = -logits.log_softmax(-1)[:, ctx.targets[t]].mean()
                (g,) = torch.autograd.grad(loss, onehot)
                return g
            return gradient

        def fitness_for(t: int):
            def fitness(c: Candidate) -> float | None:
                s = screen.screen([c])[0]
                return None if s is None else -float(s.logp[t])
            return fitness

        # one GCG per target, kept across turns; a turn is one step for each target not yet elicited
        searches = {t: GCG(size, content, rng, gradient_for(t), fitness_for(t), self.top_k, self.n_candidates,
                           self.patience) for t in range(len(ctx.targets))}
        going = True
        while going and screen.room() > 0:
            open_ = [t for t in searches if not screen.solved(t)]
            going = bool(open_) and all(searches[t].step() for t in open_)
        return guesses_from(screen, ctx.k)
