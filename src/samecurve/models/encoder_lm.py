"""A slice of a pretrained BERT-style encoder (all-MiniLM-L6-v2) shaped as samecurve's CausalLM, so
that a fine-tuned classifier built on real language representations runs under the same arms as a
TinyTransformer: token ids [n, t] -> logits [n, t, vocab], TransformerLens hook names
(`hook_embed`, `blocks.{l}.hook_resid_post`, `blocks.{l}.mlp.hook_post`), `forward(token_embeds=...)`
over an `embed` table for gradient arms, a `cfg`, and `reinitialised(seed)` for random-network controls.

What differs from a causal LM, and why it is still the CausalLM contract as arms use it:
  - The encoder is bidirectional: every position sees the whole sequence. Arms read the decision at
    the last position (`logits[:, -1]`, the answer after the prompt's final token), so the decision
    is made there: a linear head on the last position's residual stream. Every position's logits
    carry that one decision (an encoder has no causal prefix to decide earlier); they are a
    broadcast view, not a copy, so a 4,096-sequence batch costs [n, vocab] memory, not [n, t, vocab].
  - The vocabulary is the organism's own, small one: `wordpieces[i]` is MiniLM's id of local token i,
    and `embed` holds MiniLM's embedding rows for them (vocabulary trimming: the same vectors, a
    shorter table). Only the answer tokens can be predicted (every other logit is a large negative
    constant), so greedy decoding always answers with one of them.
  - No attention mask: the organism's prompts have a fixed layout with [PAD] tokens inside it, and
    the model is fine-tuned with them visible, so a sequence's numbers never depend on a mask that
    `token_embeds` could not carry.
  - Only the bottom `n_layers` blocks are kept (CPU cost: every audit arm spends thousands of
    forward passes, and each block is a sixth of MiniLM's).
  - The last block runs at the last position alone unless a hook watches it (`decision_residual`):
    the decision reads nothing else, so a forward, and a fine-tuning step, cost about a quarter.

Written by hand: TransformerLens' TransformerBridge would wrap the whole Hugging Face model (and
pull ~1.8 GB of dependencies); the blocks here call Hugging Face's own attention and MLP modules,
only the hook points and the layout are ours.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .hooks import HookPoint, hook_points, watched

NEG = -1e4  # the logit of a token the model can never answer with


def unhooked_copy(module: nn.Module) -> nn.Module:
    """A deep copy of a Hugging Face submodule without the forward hooks it carries.

    Hugging Face installs output-capturing hooks on a model's layers the first time it runs with
    `output_hidden_states` (transformers' `install_output_capuring_hook`), and `copy.deepcopy`
    copies them. In a worker whose shared MiniLM had encoded sentences (harm-filter), every
    organism made there afterwards was `watched`, so each forward took the full path: a MiniLM
    `strip` cell cost ~24 s instead of ~5 in a cold quick run. The hooks belong to the source model's
    capture machinery, not to the copy, so they are dropped (PyTorch has no public call for
    removing a hook without its handle, hence the hook dictionaries are cleared)."""
    dup = copy.deepcopy(module)
    for m in dup.modules():
        for hooks in (m._forward_hooks, m._forward_pre_hooks, m._forward_hooks_with_kwargs,
                      m._forward_hooks_always_called, m._forward_pre_hooks_with_kwargs):
            hooks.clear()
    return dup


@dataclass(frozen=True)
class EncoderLMConfig:
    vocab_size: int
    n_ctx: int
    n_layers: int
    d_model: int
    d_mlp: int
    n_heads: int

    def to_dict(self) -> dict:
        return asdict(self)


class EncoderMLP(nn.Module):
    """BERT's feed-forward half of a block, with the hidden activation as `hook_post`."""

    def __init__(self, intermediate: nn.Module, output: nn.Module):
        super().__init__()
        self.intermediate, self.output = intermediate, output
        self.hook_post = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.hook_post(self.intermediate(x)), x)  # BertOutput: LN(dense(h) + x)


class EncoderBlock(nn.Module):
    """One BERT layer (post-LayerNorm): attention, then the MLP; the block's output is the residual
    stream `hook_resid_post`."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.attention = layer.attention
        self.mlp = EncoderMLP(layer.intermediate, layer.output)
        self.hook_resid_post = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended = self.attention(x, None)[0]
        return self.hook_resid_post(self.mlp(attended))

    def last_position(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output at the last position only [n, 1, d], the same numbers (to float
        rounding) as `forward(x)[:, -1:]`: keys and values at every position, the query, the
        attention output and the MLP at the last one. The decision reads nothing else, and the
        MLP and the query are most of a block's arithmetic, so training and plain forwards cost
        about a quarter. Hugging Face's attention module computes every position's query, hence
        the attention written out here (its own projections, scale and dropout; PyTorch's fused
        kernel, as Hugging Face's sdpa path uses)."""
        sa, n, t = self.attention.self, x.shape[0], x.shape[1]
        heads = (sa.num_attention_heads, sa.attention_head_size)
        q = sa.query(x[:, -1:]).view(n, 1, *heads).transpose(1, 2)
        k, v = (proj(x).view(n, t, *heads).transpose(1, 2) for proj in (sa.key, sa.value))
        z = F.scaled_dot_product_attention(q, k, v, dropout_p=sa.dropout.p if self.training else 0.0,
                                           scale=sa.scaling)
        attended = self.attention.output(z.transpose(1, 2).reshape(n, 1, -1), x[:, -1:])
        return self.hook_resid_post(self.mlp(attended))


class EncoderClassifierLM(nn.Module):
    """The bottom `n_layers` blocks of a BERT-style model on a trimmed vocabulary, deciding among
    `answer_tokens` at the last position (see the module docstring)."""

    def __init__(self, bert: nn.Module, wordpieces: torch.Tensor, answer_tokens: tuple[int, ...], n_layers: int):
        super().__init__()
        emb = bert.embeddings   # the parts kept are copied (never the 30k-row table or the top blocks)
        d = int(emb.word_embeddings.weight.shape[1])
        self.embed = nn.Embedding(len(wordpieces), d)
        with torch.no_grad():
            self.embed.weight.copy_(emb.word_embeddings.weight[wordpieces])
        self.pos_embed = unhooked_copy(emb.position_embeddings)
        self.token_type_embed = nn.Embedding(1, d)  # BERT's segment-A row: every token is segment A
        with torch.no_grad():
            self.token_type_embed.weight.copy_(emb.token_type_embeddings.weight[:1])
        self.ln_embed = unhooked_copy(emb.LayerNorm)
        self.hook_embed = HookPoint()
        layers = [unhooked_copy(layer) for layer in list(bert.encoder.layer)[:n_layers]]
        self.blocks = nn.ModuleList(EncoderBlock(layer) for layer in layers)
        self.head = nn.Linear(d, len(answer_tokens))
        self.register_buffer("wordpieces", wordpieces.clone())
        self.register_buffer("answer_ids", torch.tensor(answer_tokens, dtype=torch.long))
        inter = layers[0].intermediate.dense
        self.cfg = EncoderLMConfig(vocab_size=len(wordpieces), n_ctx=int(emb.position_embeddings.weight.shape[0]),
                                   n_layers=len(layers), d_model=d, d_mlp=int(inter.out_features),
                                   n_heads=int(bert.config.num_attention_heads))

    def _embedded(self, tokens: torch.Tensor | None, token_embeds: torch.Tensor | None) -> torch.Tensor:
        x = self.embed(tokens) if token_embeds is None else token_embeds
        t = x.shape[1]
        return self.hook_embed(self.ln_embed(x + self.pos_embed.weight[:t] + self.token_type_embed.weight[0]))

    def residual(self, tokens: torch.Tensor | None = None, *, token_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """The last block's residual stream [n, t, d]."""
        x = self._embedded(tokens, token_embeds)
        for block in self.blocks:
            x = block(x)
        return x

    def decision_residual(self, tokens: torch.Tensor | None = None, *,
                          token_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """The last block's residual stream at the last position [n, d], which is all the decision
        reads. Computed at that position alone (EncoderBlock.last_position) unless a hook watches
        the last block, whose hooks then see every position as they would in `residual`."""
        if watched(self.blocks[-1]):
            return self.residual(tokens, token_embeds=token_embeds)[:, -1]
        x = self._embedded(tokens, token_embeds)
        for block in self.blocks[:-1]:
            x = block(x)
        return self.blocks[-1].last_position(x)[:, 0]

    def decide(self, last: torch.Tensor) -> torch.Tensor:
        """Answer logits [n, n_answers] from the last position's residual stream [n, d]."""
        return self.head(last)

    def forward(self, tokens: torch.Tensor | None = None, *, token_embeds: torch.Tensor | None = None) -> torch.Tensor:
        n, t = (tokens if token_embeds is None else token_embeds).shape[:2]
        answer = self.decide(self.decision_residual(tokens, token_embeds=token_embeds))
        row = answer.new_full((n, self.cfg.vocab_size), NEG).index_copy(1, self.answer_ids, answer)
        return row[:, None, :].expand(n, t, self.cfg.vocab_size)

    def hook_names(self) -> list[str]:
        return list(hook_points(self))

    def reinitialised(self, seed: int) -> "EncoderClassifierLM":
        """The same architecture with PyTorch's default initialisation of every layer under `seed`
        (budget.reinitialised's random-network control); the vocabulary map is kept."""
        torch.manual_seed(seed)
        fresh = copy.deepcopy(self)
        for mod in fresh.modules():
            if mod is not fresh and callable(getattr(mod, "reset_parameters", None)):
                mod.reset_parameters()
        return fresh
