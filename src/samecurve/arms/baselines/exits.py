"""Exit rules an engineer builds without reading what the layers mean (early-exit baselines).

`calm-exit-classifier` (white-box): CALM's early-exit classifier (Schuster et al. 2022): per layer, a
linear classifier on the hidden state that predicts whether the model's answer at that layer is
already the final one, trained on the calibration sequences (one charged forward pass each;
scikit-learn's logistic regression). The answer at a layer is CALM's: the model's own head applied
there, which is what the logit lens reads too, so this row and `logit-lens-exit` differ only in
*when* they leave: a classifier trained for the job, or the lens's own confidence.

`hidden-saturation-exit` (white-box): CALM's parameter-free measure: leave once the hidden state
stops turning, the cosine between consecutive layers' residual streams; answers by the head.

`distilled-cascade` (black-box): a smaller model distilled from the organism's answers on the
calibration sequences (KL at every position; it never looks inside), run first; a token whose
student is unsure runs the full model (a model cascade, the oldest way to serve fewer FLOPs).
The student is a 1-layer transformer of width 24 (2 heads, MLP 48), its FLOPs counted by
FlopCounterMode. Defaults from dev/tune_early_exit.py (dev seeds 900, 902-905: 15 layered-small
organisms, quick budget; the one-standard-error rule on saved@99%, then the cheapest), saved@99%
+- se over organisms, CPU-s a cell:

    width x layers   400 steps           800 steps
    16 x 1           0.570 +- .015  3.9   0.598 +- .018  7.2
    24 x 1           0.582 +- .018  4.6   0.592 +- .020  8.0   <- 400 steps chosen
    32 x 1           0.547 +- .020  4.6   0.554 +- .019  8.3
    32 x 2           0.456 +- .022  8.1   0.461 +- .024 15.2
    48 x 2           0.225 +- .023 11.2   0.240 +- .024 21.0

Every token pays the student, so smaller is better until it stops knowing the answers; the grid's
best (16 x 1, 800 steps) sits at its edge, so a smaller student trained longer may do better still.
`calm-exit-classifier`'s C: 0.1 / 1 / 10 gave 0.357 / 0.371 / 0.373 (se 0.013); 1 kept (the rule).

`data-bigram-exit` (data-only): a bigram table of the calibration text itself (never runs the model):
a token whose current token was always followed by the same token leaves with that answer at no
model cost. The canary: it saves what needs no model at all.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from ...budget import MeteredModel
from ...models.training import train_one_cycle
from ...models.transformer import TinyTransformer, TransformerConfig
from ...protocols.exiting import (ExitContext, ExitPlan, ExitTrace, Stage, calibration_states, flops_per_token,
                                  linear_flops, model_head, softmax_response)
from ...registry import arm


def _head_answers(head: nn.Module, h: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return head(h).argmax(-1).numpy()


@arm("calm-exit-classifier", family="baseline", access="white-box", control="random-exit")
class CalmExitClassifier:
    """Per layer, logistic regression on the hidden state: is the head's answer here already final?"""

    def __init__(self, C: float = 1.0, max_rows: int = 8192):
        self.C, self.max_rows = C, max_rows

    def fit(self, model: MeteredModel, ctx: ExitContext) -> "CalmExitClassifier":
        self.head_ = model_head(model)
        states, logits = calibration_states(model, ctx)
        final = logits.argmax(-1).numpy()
        keep = np.random.default_rng([ctx.seed, 43]).permutation(final.size)[: self.max_rows]
        self.clf_ = []
        for layer_states in states:
            h = layer_states[keep]
            y = _head_answers(self.head_, h) == final[keep]
            if y.all() or not y.any():   # one class: the layer is always (or never) final here
                self.clf_.append(float(y.all()))
                continue
            self.clf_.append(make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=500)).fit(h.numpy(), y))
        return self

    def plan(self, model: MeteredModel, ctx: ExitContext, trace: ExitTrace) -> ExitPlan:
        check = linear_flops(ctx.d_model, 1)
        stages = []
        for l, clf in enumerate(self.clf_):
            h = trace.resid[l]
            conf = np.full(h.shape[0], clf) if isinstance(clf, float) else clf.predict_proba(h.numpy())[:, 1]
            # checks at layers 0..l, then the head once, where the token leaves
            stages.append(Stage(l, (l + 1) * check + ctx.head_flops, conf, _head_answers(self.head_, h)))
        return ExitPlan(stages, overhead_flops=len(stages) * check)


@arm("hidden-saturation-exit", family="baseline", access="white-box", control="random-exit")
class HiddenSaturationExit:
    """Leave once consecutive residual streams point the same way (cosine), answering by the head."""

    def fit(self, model: MeteredModel, ctx: ExitContext) -> "HiddenSaturationExit":
        self.head_ = model_head(model)
        return self

    def plan(self, model: MeteredModel, ctx: ExitContext, trace: ExitTrace) -> ExitPlan:
        check = 3.0 * ctx.d_model   # a dot product and two norms
        stages = []
        for l in range(1, ctx.n_layers):
            h, prev = trace.resid[l], trace.resid[l - 1]
            conf = F.cosine_similarity(h, prev, dim=-1).numpy().astype(np.float64)
            stages.append(Stage(l, l * check + ctx.head_flops, conf, _head_answers(self.head_, h)))
        return ExitPlan(stages, overhead_flops=(ctx.n_layers - 1) * check)


@arm("distilled-cascade", family="baseline", access="black-box", control="random-exit")
class DistilledCascade:
    """A distilled 1-layer student first; the full model for the tokens it is unsure of."""

    def __init__(self, d_model: int = 24, n_layers: int = 1, steps: int = 400, batch: int = 32, lr: float = 1e-2):
        self.d_model, self.n_layers, self.steps, self.batch, self.lr = d_model, n_layers, steps, batch, lr

    def fit(self, model: MeteredModel, ctx: ExitContext) -> "DistilledCascade":
        tokens = ctx.calibration
        soft = torch.cat([model.logits(tokens[i:i + 512]) for i in range(0, tokens.shape[0], 512)]).log_softmax(-1)
        cfg = model.config
        torch.manual_seed(ctx.seed)
        self.student_ = TinyTransformer(TransformerConfig(vocab_size=cfg.vocab_size, n_ctx=cfg.n_ctx, d_model=self.d_model,
                                                          n_layers=self.n_layers, n_heads=2, d_mlp=2 * self.d_model))
        rows = torch.randint(0, tokens.shape[0], (self.steps, self.batch), generator=torch.Generator().manual_seed(ctx.seed))

        def loss_at(step: int) -> torch.Tensor:
            r = rows[step]
            logp = self.student_(tokens[r]).log_softmax(-1)
            return F.kl_div(logp.reshape(-1, logp.shape[-1]), soft[r].reshape(-1, logp.shape[-1]), log_target=True,
                            reduction="batchmean")

        train_one_cycle(self.student_, self.student_.parameters(), loss_at, self.steps, self.lr, weight_decay=0.01)
        self.flops_ = flops_per_token(lambda: self.student_(tokens[:1]), tokens.shape[1])
        return self

    def plan(self, model: MeteredModel, ctx: ExitContext, trace: ExitTrace) -> ExitPlan:
        with torch.no_grad():
            conf, pred = softmax_response(self.student_(trace.tokens)[trace.rows, trace.cols])
        return ExitPlan([Stage(-1, self.flops_, conf, pred)], overhead_flops=self.flops_)


@arm("data-bigram-exit", family="baseline", access="data-only", control="random-exit")
class DataBigramExit:
    """The calibration text's own bigrams: leave with the one follower a token has always had."""

    def fit(self, model: MeteredModel, ctx: ExitContext) -> "DataBigramExit":
        tok = ctx.calibration.numpy()
        self.counts_ = np.zeros((ctx.vocab_size, ctx.vocab_size))
        np.add.at(self.counts_, (tok[:, :-1].ravel(), tok[:, 1:].ravel()), 1)
        return self

    def plan(self, model: MeteredModel, ctx: ExitContext, trace: ExitTrace) -> ExitPlan:
        rows = self.counts_[trace.tokens.numpy()[trace.rows, trace.cols]]
        # share of the current token's followers that were its commonest one (+1: a token seen once is not sure)
        conf = rows.max(1) / (rows.sum(1) + 1.0)
        return ExitPlan([Stage(-1, 0.0, conf, rows.argmax(1))], overhead_flops=0.0)
