"""Dev-seed tuning of training-monitor (seeds 900-902 only, never a suite seed): per site, each interp arm's rows on a quick-sized persona population. Usage: SAMECURVE_CACHE=... python dev/tune_training_monitor.py 900,901"""
import sys
from samecurve.threads import single_threaded; single_threaded()
from samecurve import registry
from samecurve.budget import Budget
from samecurve.organisms import persona as P
from samecurve.organisms.base import resolve
from samecurve.tasks.training_monitor import TrainingMonitorTask
from collections import defaultdict
registry.load_builtins()
B = Budget(labelled_examples=64, forward_passes=12_000, backward_passes=600, wall_seconds=600, tuning_trials=8)
for seed in map(int, sys.argv[1].split(',')):
    orgs = [resolve(s)[0] for s in P.population(seed, (0.0, 0.0, 0.01, 0.05, 0.2), 2)]
    for a in ("persona-projection", "random-direction-projection", "sae-persona-latent", "sae-latent-drift"):
        for site in ("blocks.0.hook_resid_post", "blocks.1.hook_resid_mid", "blocks.1.hook_resid_post"):
            sc = TrainingMonitorTask().run_cell(lambda s: registry.get_arm(a)(site=site), orgs, seed, B)
            by = defaultdict(list)
            for s in sc: by[s.metric].append(s.value)
            print(seed, a, site, {k: [round(v,2) for v in vs] for k, vs in sorted(by.items())}, flush=True)
