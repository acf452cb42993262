"""Non-interp filters for `harm-filter`, on the same encoder and budget as the interp arms.

`cosine-filter`         Stable Diffusion's safety checker, by hand: the max cosine similarity of a
                        request's output embedding to a list of banned concept phrases. The list is
                        derived from the harmful *training* examples only: their category names plus,
                        per category, the words most frequent in its harmful examples and absent from
                        every benign training example (no test text is ever seen).
`keyword-filter`        a bag-of-words blocklist with weights: smoothed log-odds of each word in
                        harmful vs benign training texts; a request scores the sum of its words'
                        positive log-odds. Uses no model at all (zero forward passes).
`embedding-logreg`      logistic regression on the output sentence embedding (C by CV, trials charged).
`finetuned-classifier`  fine-tune the last transformer block plus a linear head on the training
                        split for a few epochs (forward and backward passes charged per example).
                        The blocks below the last one stay frozen, so their token-level output is
                        the encoder's (cached) `token_states`; only the last block and the head run
                        per batch. The meter is charged exactly as for a full forward each time.
Their control is `shuffled-labels-probe`: the same labelled data with its information removed.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score

from ...models.pretrained import MeteredEncoder
from ...models.training import adamw
from ...registry import arm

CONTROL = "shuffled-labels-probe"
STOP = frozenset("""a an the to of in on at for from with without and or but so my me i you your
someone someone's something how do does what is are be can tell give write step-by-step steps
instructions guide way easiest quick there want need where start short explain teach it its that
this into out up as by not isn't don't doesn't own else them they their our we""".split())
_WORD = re.compile(r"[a-z0-9][a-z0-9'\-]*")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@arm("cosine-filter", family="baseline", access="black-box", control=CONTROL)
class CosineFilter:
    """Max cosine similarity to banned concepts (a Stable-Diffusion-style safety checker)."""

    def __init__(self, words_per_category: int = 4):
        self.k = words_per_category

    def concepts(self, ctx) -> list[str]:
        y = np.asarray(ctx.train_labels)
        benign = {w for t, l in zip(ctx.train_texts, y) if l == 0 for w in words(t)}
        out: list[str] = []
        for cat in sorted({c for c, l in zip(ctx.train_categories, y) if l == 1}):
            counts = Counter(w for t, c, l in zip(ctx.train_texts, ctx.train_categories, y) if l == 1 and c == cat
                             for w in set(words(t)) if w not in benign and w not in STOP and len(w) > 2)
            out += [cat.replace("-", " ")] + [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:self.k]]
        return list(dict.fromkeys(out))

    def fit(self, model: MeteredEncoder, ctx) -> "CosineFilter":
        self.concepts_ = self.concepts(ctx)
        self.bank_ = model.embed(self.concepts_)   # unit vectors: dot product = cosine
        ctx.notes["concepts"] = self.concepts_
        return self

    def score_texts(self, model: MeteredEncoder, ctx, texts: list[str]) -> np.ndarray:
        return (model.embed(texts) @ self.bank_.T).max(1)


@arm("keyword-filter", family="baseline", access="black-box", control=CONTROL)
class KeywordFilter:
    """Words weighted by log-odds of appearing in harmful vs benign training texts."""

    def __init__(self, alpha: float = 0.5):
        self.alpha = alpha

    def fit(self, model: MeteredEncoder, ctx) -> "KeywordFilter":
        y = np.asarray(ctx.train_labels)
        pos = Counter(w for t, l in zip(ctx.train_texts, y) if l == 1 for w in set(words(t)))
        neg = Counter(w for t, l in zip(ctx.train_texts, y) if l == 0 for w in set(words(t)))
        n_pos, n_neg = max(1, int((y == 1).sum())), max(1, int((y == 0).sum()))
        a = self.alpha
        # sorted: a set of strings iterates in a per-process order (PYTHONHASHSEED)
        self.weights_ = {w: float(np.log((pos[w] + a) / (n_pos + 2 * a)) - np.log((neg[w] + a) / (n_neg + 2 * a)))
                         for w in sorted(set(pos) | set(neg))}
        top = sorted(self.weights_.items(), key=lambda kv: (-kv[1], kv[0]))[:15]
        ctx.notes["top_keywords"] = [w for w, _ in top]
        return self

    def score_texts(self, model: MeteredEncoder, ctx, texts: list[str]) -> np.ndarray:
        # fsum over the distinct words: exactly rounded, so the score does not depend on the order the
        # words are added in (a plain sum over set(words) changed in the last bit between processes)
        return np.array([math.fsum(max(0.0, self.weights_.get(w, 0.0)) for w in sorted(set(words(t)))) for t in texts])


@arm("embedding-logreg", family="baseline", access="black-box", control=CONTROL)
class EmbeddingLogReg:
    """Logistic regression on the output sentence embedding."""

    Cs = (1.0, 10.0, 0.1)

    def fit(self, model: MeteredEncoder, ctx) -> "EmbeddingLogReg":
        y = np.asarray(ctx.train_labels)
        x = model.embed(ctx.train_texts)
        k = max(2, int(min(4, np.bincount(y).min())))
        best = (-1.0, self.Cs[0])
        for C in self.Cs:
            if not model.meter.try_charge("tuning_trials"):
                break
            acc = cross_val_score(LogisticRegression(C=C, max_iter=2000), x, y,
                                  cv=StratifiedKFold(k, shuffle=True, random_state=0), scoring="roc_auc").mean()
            best = max(best, (acc, C), key=lambda b: b[0])
        self.C_ = best[1]
        self.clf_ = LogisticRegression(C=self.C_, max_iter=2000).fit(x, y)
        ctx.notes["C"] = self.C_
        return self

    def score_texts(self, model: MeteredEncoder, ctx, texts: list[str]) -> np.ndarray:
        return self.clf_.decision_function(model.embed(texts))


@arm("finetuned-classifier", family="baseline", access="white-box", control=CONTROL)
class FinetunedClassifier:
    """The last transformer block and a linear head, fine-tuned on the training split."""

    def __init__(self, epochs: int = 4, lr: float = 5e-4, head_lr: float = 1e-2, batch: int = 16):
        self.epochs, self.lr, self.head_lr, self.batch = epochs, lr, head_lr, batch

    def _pooled(self, model: MeteredEncoder, texts: list[str]) -> torch.Tensor:
        """Mean-pooled (unnormalised) output of the fine-tuned last block. Its input, the frozen
        blocks' token-level output, comes from `model.token_states` (one forward pass charged per
        text, served from the encoder's cache when it has it): the same numbers a full forward
        through the copied weights would give, since only the last block is ever changed."""
        states = model.token_states(texts, model.config.n_layers - 1)
        lens = [len(x) for x in states]
        n = max(lens)
        h = torch.zeros(len(states), n, model.config.d_model)
        mask = torch.zeros(len(states), n)
        for i, x in enumerate(states):
            h[i, :len(x)] = torch.from_numpy(x)
            mask[i, :len(x)] = 1.0
        add = (1.0 - mask)[:, None, None, :] * torch.finfo(h.dtype).min   # additive attention mask
        out = self.net_.encoder.layer[-1](h, attention_mask=add)
        out = out[0] if isinstance(out, tuple) else out
        m = mask.unsqueeze(-1)
        return (out * m).sum(1) / m.sum(1).clamp(min=1e-9)

    def fit(self, model: MeteredEncoder, ctx) -> "FinetunedClassifier":
        torch.manual_seed(ctx.seed)
        y = torch.tensor(np.asarray(ctx.train_labels), dtype=torch.float32)
        texts = list(ctx.train_texts)
        n = len(texts)
        self.net_ = model.copy_model().train()
        for p in self.net_.parameters():
            p.requires_grad_(False)
        last = self.net_.encoder.layer[-1]
        for p in last.parameters():
            p.requires_grad_(True)
        self.head_ = torch.nn.Linear(model.config.d_model, 1)
        opt = adamw([{"params": last.parameters(), "lr": self.lr},
                                 {"params": self.head_.parameters(), "lr": self.head_lr}], weight_decay=0.01)
        affordable = int(min(model.meter.remaining("backward_passes"), model.meter.remaining("forward_passes") / 2) // max(1, n))
        epochs = max(0, min(self.epochs, affordable))
        g = torch.Generator().manual_seed(ctx.seed)
        for _ in range(epochs):
            for idx in torch.randperm(n, generator=g).split(self.batch):
                model.backward_charge(len(idx))   # the forward pass is charged by token_states
                logits = self.head_(self._pooled(model, [texts[i] for i in idx])).squeeze(-1)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.net_.eval()
        ctx.notes["epochs"] = epochs
        return self

    @torch.no_grad()
    def score_texts(self, model: MeteredEncoder, ctx, texts: list[str]) -> np.ndarray:
        out = [self.head_(self._pooled(model, texts[i:i + 64])).squeeze(-1) for i in range(0, len(texts), 64)]
        return torch.cat(out).numpy().astype(float) if out else np.zeros(0)
