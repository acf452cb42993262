"""Verdict rows shaped like verdict.compute's, one of every kind, with long names and mixed units."""

from __future__ import annotations

INFERENCE = "exact sign-flip permutation test over units; Benjamini-Hochberg q; BCa bootstrap CI"
SELECTION = "best gated arm of each side chosen leave-one-unit-out"


def row(task: str, metric: str, verdict: str, interp: str | None, baseline: str | None, si: float | None,
        sb: float | None, diff: float | None, lo: float | None, hi: float | None, std: float | None,
        p: float | None, q: float | None, n: int, hib: bool = True, unit: str = "organism", scope: str = "",
        **extra: object) -> dict:
    sd = None if std is None or diff in (None, 0) else diff / std
    return {"task": task, "metric": metric, "tois": ["auditing"], "higher_is_better": hib, "control_gated": True,
            "verdict": verdict, "best_interp_arm": interp, "best_baseline_arm": baseline, "interp_score": si,
            "baseline_score": sb, "diff": diff, "diff_ci_low": lo, "diff_ci_high": hi, "std_diff": std,
            "std_ci_low": None if sd is None or lo is None else lo / sd,
            "std_ci_high": None if sd is None or hi is None else hi / sd,
            "p_value": p, "q_value": q, "n_units": n, "unit": unit, "scope": scope, "inference": INFERENCE,
            "selection": SELECTION, "min_units": 6, "seeds": [0, 1, 2], "budget": {"forward_passes": 1000},
            "interp_vs_control": None, "baseline_vs_control": None, **extra}


ROWS = [
    row("explanation-faithfulness", "induction/loss-recovered-mean", "interp ahead", "acdc", "distill",
        0.868, 0.552, 0.316, 0.225, 0.386, 3.1, 0.0039, 0.012, 8),
    row("backdoor-audit", "input-auroc", "baseline ahead", "activation-anomaly", "output-consistency",
        0.939, 1.0, -0.061, -0.141, -0.005, -1.4, 0.0078, 0.02, 8),
    row("forecast-emergence", "lead-time-grokking", "interp fails its control", "fourier-sparsity",
        "targeted-eval", 22.2, 119.4, -97.2, -277.8, 41.7, -0.6, 0.3, None, 8, hib=False,
        interp_vs_control={"control": "fourier-random-init", "control_mean": 25.0, "diff": -2.8, "low": -30.0,
                           "high": 20.0, "p_value": 0.4, "beats": False}),
    row("behavior-removal", "asr-after-relearning", "baseline fails its control", "sae-feature-ablation",
        "finetune-relabelled", 0.502, 0.013, 0.488, 0.219, 0.763, 1.9, 0.01, None, 8, hib=False,
        baseline_vs_control={"control": "random-scores", "control_mean": 0.02, "diff": -0.007, "low": -0.02,
                             "high": 0.01, "p_value": 0.3, "beats": False}),
    row("harm-filter", "auroc-attacked", "too few organisms", "layer-probe", "finetuned-classifier",
        0.715, 0.861, -0.146, -0.243, -0.087, -2.2, 0.125, None, 3, unit="seed (one pretrained model)",
        scope="holds for all-MiniLM-L6-v2 only"),
    row("forecast-emergence", "auroc-next-k-grokking", "no clear difference", "fourier-sparsity",
        "targeted-eval", 0.928, 0.975, -0.047, -0.160, 0.017, -0.5, 0.4, 0.5, 8),
    row("backdoor-audit", "model-auroc", "no baseline", "activation-anomaly", None,
        0.9, None, None, None, None, None, None, None, 0),
    row("latent-knowledge", "b-truth-auroc", "interp arm failed", None, "model-says",
        None, 0.61, None, None, None, None, None, None, 0, failed_arms=["my-probe"]),
]
