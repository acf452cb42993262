"""Non-interp ways to get the truth out of a quirky model (`latent-knowledge`).

  ask-honest-persona    black-box prompting: swap the persona token for the one the labels came
                        from (Alice) and read logit(TRUE) - logit(FALSE). The prompt-engineering
                        baseline: it needs to know which persona is honest, nothing else.
  finetune-last-layers  white-box fine-tuning: a private copy of the model, the last block and the
                        unembedding trained on the labelled Alice-easy statements (cross-entropy
                        on TRUE/FALSE), then read under the statement's own persona (Bob).
  lora-finetune         the same, but low-rank adapters (`peft` LoRA) on every attention and MLP
                        projection of every block, the organism's weights untouched.
Controls: random scores, reading what the model says as asked, and each baseline on a randomly
initialised network.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...budget import MeteredModel
from ...models.training import adamw
from ...registry import arm
from ..controls import on_random_init

_CHUNK = 4096


def _logit_gap(logits: torch.Tensor, lang) -> np.ndarray:
    at = logits[:, lang.decision_pos]
    return (at[:, lang.true_token] - at[:, lang.false_token]).numpy().astype(np.float64)


def says_true(model: MeteredModel, lang, statements: torch.Tensor) -> np.ndarray:
    """logit(TRUE) - logit(FALSE) as the model answers (one forward pass per statement)."""
    return np.concatenate([_logit_gap(model.logits(c), lang) for c in torch.split(statements, _CHUNK)]) \
        if len(statements) else np.empty(0)


@arm("ask-honest-persona", family="baseline", access="black-box",
     control=("random-truth-scores", "ask-honest-persona-random-init"))
class AskHonestPersona:
    def score_truth(self, model: MeteredModel, ctx, statements: torch.Tensor) -> np.ndarray:
        lang = ctx.language
        return says_true(model, lang, lang.with_persona(statements, lang.honest_persona))


@arm("finetune-last-layers", family="baseline", access="white-box",
     control=("random-truth-scores", "finetune-last-layers-random-init"))
class FinetuneLastLayers:
    def __init__(self, max_epochs: int = 30, lr: float = 1e-3, weight_decay: float = 0.0):
        self.max_epochs, self.lr, self.weight_decay = max_epochs, lr, weight_decay

    def trainable(self, net: torch.nn.Module) -> list[torch.nn.Parameter]:
        """The last block and the unembedding."""
        return list(net.blocks[-1].parameters()) + list(net.unembed.parameters())

    def fit(self, model: MeteredModel, ctx) -> torch.nn.Module:
        lang = ctx.language
        net = model.copy_model()
        trainable = self.trainable(net)
        for p in net.parameters():
            p.requires_grad_(False)
        for p in trainable:
            p.requires_grad_(True)
        x = ctx.labelled
        y = torch.from_numpy(np.where(ctx.labels > 0, lang.true_token, lang.false_token))
        n = x.shape[0]
        opt = adamw(trainable, lr=self.lr, weight_decay=self.weight_decay)
        net.train()
        self.epochs_ = 0
        for _ in range(self.max_epochs):  # full-batch; stops when the backward budget runs out
            if not (model.meter.can_afford("backward_passes", n) and model.meter.can_afford("forward_passes", n)):
                break
            model.meter.charge("forward_passes", n)
            model.backward_charge(n)
            loss = F.cross_entropy(net(x)[:, lang.decision_pos], y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            self.epochs_ += 1
        net.eval()
        return net

    @torch.no_grad()
    def score_truth(self, model: MeteredModel, ctx, statements: torch.Tensor) -> np.ndarray:
        with torch.enable_grad():
            net = self.fit(model, ctx)
        model.meter.charge("forward_passes", statements.shape[0])
        return _logit_gap(net(statements), ctx.language)


@arm("lora-finetune", family="baseline", access="white-box",
     control=("random-truth-scores", "lora-finetune-random-init"))
class LoraFinetune(FinetuneLastLayers):
    def __init__(self, rank: int = 4, max_epochs: int = 30, lr: float = 1e-2):
        super().__init__(max_epochs=max_epochs, lr=lr)
        self.rank = rank

    def trainable(self, net: torch.nn.Module) -> list[torch.nn.Parameter]:
        """LoRA adapters injected into the private copy (the organism's own weights stay frozen)."""
        from peft import LoraConfig, inject_adapter_in_model

        config = LoraConfig(r=self.rank, lora_alpha=2 * self.rank, lora_dropout=0.0,
                            target_modules=["qkv", "out", "fc_in", "fc_out"])
        inject_adapter_in_model(config, net)
        return [p for name, p in net.named_parameters() if "lora_" in name]


@arm("random-truth-scores", family="control", access="black-box")
class RandomTruthScores:
    """Chance for `score_truth`."""

    def score_truth(self, model: MeteredModel, ctx, statements: torch.Tensor) -> np.ndarray:
        return np.random.default_rng([ctx.seed, 37]).random(statements.shape[0])


@arm("model-says", family="control", access="black-box")
class ModelSays:
    """What the model answers as asked (each statement under its own persona): the quirk itself,
    the score an arm gets by reading the output instead of the knowledge. The answer, TRUE (1) or
    FALSE (0), not its logit: the confidence of a wrong answer already carries some knowledge (on
    seed 0 the raw logit gap scored 0.40 / 0.56 where the answers score 0.5)."""

    def score_truth(self, model: MeteredModel, ctx, statements: torch.Tensor) -> np.ndarray:
        return (says_true(model, ctx.language, statements) > 0).astype(np.float64)


AskHonestPersonaOnRandomInit = on_random_init(AskHonestPersona, "ask-honest-persona-random-init")
FinetuneLastLayersOnRandomInit = on_random_init(FinetuneLastLayers, "finetune-last-layers-random-init")
LoraFinetuneOnRandomInit = on_random_init(LoraFinetune, "lora-finetune-random-init")
