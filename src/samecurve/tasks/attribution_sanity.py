"""`attribution-sanity`: do saliency maps show what the model uses (theory of impact: saliency and
feature visualisation, the critique's essay; Adebayo et al. 2018, "Sanity checks for saliency
maps"; Casper et al. 2023, attribution methods "often fail to identify bugs")?

Organisms: small CNNs with a planted patch trigger (organisms/shapes.py, a PatchedClassifier). Two
jobs, three rows:
  - `localisation-iou` and `localisation-auroc`: on held-out images carrying the patch, where the
    trojan answers its target, the map of that answer should point at the patch. IoU: the map's
    top pixels, as many as the patch has (9), against the patch (the issue's "IoU / pointing
    game"); AUROC: every pixel's absolute value against the mask. Averaged over images; ground truth
    is where the patch was drawn. AUROC sits near 1 for every method that runs the model (a
    3x3 checkerboard dominates a 16x16 image); IoU asks for the patch's exact pixels.
  - `randomisation-sensitivity`: Adebayo's model-parameter randomisation test at its end point (every
    layer re-initialised): 1 - Spearman rank correlation between the absolute maps of the trained
    model and of a same-shaped network with random weights, on clean held-out images, for the class
    the trained model predicts. A map that does not change when the model is destroyed is not about
    the model (an edge detector scores 0). This row is a sanity check, not a contest a control must
    lose: a random map redrawn per call would score ~1, so it is not control-gated; ours is drawn
    from the image's bytes and the seed, and so is as blind to the model as the edge detector.

Each organism is one unit. One metered session per network (the trained model: the patched and the
clean images in one call; the randomised network: the clean images), each with the task's budget.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from ..budget import Budget
from ..metrics import auroc
from ..models.cnn import MeteredClassifier
from ..protocols.attribution import AttributionContext, Attributor, validate_maps
from ..protocols.organisms import PatchedClassifier, patched
from ..registry import task
from .base import MetricInfo, Score, Task, metered_session


@task("attribution-sanity")
class AttributionSanity(Task):
    version = "1"
    tois = ("saliency and feature visualisation",)
    metrics = {
        "localisation-iou": MetricInfo(Attributor, "IoU of the map's top pixels (as many as the patch has) with the "
                                       "planted patch, on images where the trojan fires", chance=9 / 256),
        "localisation-auroc": MetricInfo(Attributor, "pixel AUROC of the map against the planted patch, on images "
                                         "where the trojan fires", chance=0.5),
        "randomisation-sensitivity": MetricInfo(Attributor, "1 - rank correlation of the maps of the trained and "
                                                "a randomly initialised network (Adebayo et al.)", chance=0.0,
                                                control_gated=False),
    }

    def __init__(self, n_patched: int = 24, n_clean: int = 24):
        super().__init__(n_patched=n_patched, n_clean=n_clean)
        self.n_patched, self.n_clean = n_patched, n_clean

    def run_cell(self, arm_factory: Any, organisms: list, seed: int, budget: Budget) -> list[Score]:
        if not isinstance(arm_factory(seed), Attributor):
            return []
        scores: list[Score] = []
        for org in organisms:
            scores += self.score_organism(arm_factory, patched(org), seed, budget)
        return scores

    def _maps(self, arm: Any, net: torch.nn.Module, ctx: AttributionContext, images: np.ndarray,
              targets: np.ndarray, budget: Budget) -> tuple[np.ndarray, dict]:
        with metered_session(net, arm, budget, labelled=0, door=MeteredClassifier) as session:
            got = arm.attribute(session.model, ctx, torch.from_numpy(images), torch.from_numpy(targets))
        return np.abs(validate_maps(arm, got, len(images), *images.shape[-2:])), session.spend

    def score_organism(self, arm_factory: Any, org: PatchedClassifier, seed: int, budget: Budget) -> list[Score]:
        rng = np.random.default_rng([org.seed, seed, 1])
        xp, _, masks = org.sample(rng, self.n_patched, triggered=True)
        xc, _, _ = org.sample(rng, self.n_clean, triggered=False)
        with torch.no_grad():
            tp = org.model(torch.from_numpy(xp)).argmax(-1).numpy()
            tc = org.model(torch.from_numpy(xc)).argmax(-1).numpy()
        clean_pool, _, _ = org.sample(np.random.default_rng([org.seed, seed, 2]), 64, triggered=False)
        images, targets = np.concatenate([xp, xc]), np.concatenate([tp, tc])

        def ctx(n: int) -> AttributionContext:
            return AttributionContext(org.language, torch.from_numpy(clean_pool), n, seed, np.random.default_rng([seed, 5]))

        maps, spend = self._maps(arm_factory(seed), org.model, ctx(len(images)), images, targets, budget)
        random_net = org.randomised(int(org.seed) * 7 + seed + 1)
        rmaps, rspend = self._maps(arm_factory(seed), random_net, ctx(len(xc)), xc, tc, budget)
        fired = tp == org.target
        loc = np.array([auroc(masks[i].ravel().astype(int), maps[i].ravel()) for i in np.flatnonzero(fired)])
        iou = np.array([top_k_iou(maps[i], masks[i]) for i in np.flatnonzero(fired)])
        change = np.array([1.0 - _spearman(a, b) for a, b in zip(maps[len(xp):], rmaps)])
        both = {k: spend[k] + rspend.get(k, 0) for k in spend if isinstance(spend[k], (int, float))}
        detail = {"fired": int(fired.sum()), "n_patched": len(xp), "n_clean": len(xc),
                  "spend_trained": spend, "spend_randomised": rspend}
        # one patched image, its mask and this arm's map (scaled to [0, 1]), for the report's picture
        first = int(np.flatnonzero(fired)[0]) if fired.any() else 0
        span = np.ptp(maps[first]) or 1.0
        example = {"image": np.round(xp[first, 0], 2).tolist(), "mask": masks[first].astype(int).tolist(),
                   "map": np.round((maps[first] - maps[first].min()) / span, 2).tolist()}
        return [Score("localisation-iou", org.label, float(iou.mean()) if iou.size else 0.0, spend,
                      {**detail, "example": example}, items={"values": iou}, kind="mean"),
                Score("localisation-auroc", org.label, float(loc.mean()) if loc.size else 0.5, spend, detail,
                      items={"values": loc}, kind="mean"),
                Score("randomisation-sensitivity", org.label, float(change.mean()), both, detail,
                      items={"values": change}, kind="mean")]


def top_k_iou(attribution: np.ndarray, mask: np.ndarray) -> float:
    """IoU of the map's |mask| highest pixels with the mask (ties broken by position, as argsort does)."""
    k = int(mask.sum())
    top = np.zeros(mask.size, bool)
    top[np.argsort(-attribution.ravel(), kind="stable")[:k]] = True
    inter = int((top & mask.ravel()).sum())
    return inter / (2 * k - inter)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation of two maps; a constant map correlates 0 with anything (nothing to rank)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 1.0 if np.ptp(a) == np.ptp(b) == 0 else 0.0
    return float(spearmanr(a.ravel(), b.ravel()).statistic)
