"""Maps made without gradients or internals (attribution-sanity baselines), and the random control.

  sobel-edges   (data-only) the image's own edge magnitude (scipy.ndimage.sobel). Adebayo et al. 2018:
                several saliency maps look like an edge detector's; this one never runs the model.
  occlusion     (black-box) the drop of the target logit when a 3x3 window is blanked (Zeiler &
                Fergus 2014; captum's Occlusion), stride 1 if the budget's forward passes allow it
                per image (197 passes), else 2 (65), else 3 (37); below that a 4x4 window at stride
                4 (17), then 8x8 at 8 (5).
  rise          (black-box) RISE (Petsiuk et al. 2018): the target's softmax probability under random
                smooth masks, averaged per pixel over the masks that keep it; up to 500 masks per
                image, as the forward passes allow. Written here: captum has no RISE.
  random-patch-search
                (black-box) blank randomly placed square patches (side 3-5, uniform) and credit each
                pixel with the largest drop of the target logit among the patches it was in. Its
                queries per image are the gradient methods' passes per image (the session's backward
                passes / images; its forward passes if it has no backward ones), one of them the
                unblanked image: the black-box method at the gradient methods' number of model
                evaluations (8-20 per image in the suites), where occlusion and RISE spend the whole
                forward budget (~200-500). It differs from occlusion (a fixed window slid over the
                whole image, each pixel credited with the mean drop over the windows covering it) and
                from RISE (large smooth random masks keeping half the image, the probability averaged
                per pixel): a few random small patches, and a max, as a search for the patch that
                hurts most rather than an average effect. A pixel no patch covered gets the lowest
                credit of its image. Sides tuned on dev spec seeds 900-902 at quick's budget (11
                patches per image; mean localisation IoU, random-map 0.02): 3 only 0.16, 4 only 0.17,
                5 only 0.16, 2-4 0.16, 4-6 0.18, 3-5 0.21.
  random-map    (control) uniform noise drawn from the image's own bytes (and the seed): what a map
                that knows nothing scores; blind to the model, so the randomisation test finds it
                unchanged, as it finds the edge detector.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ...models.cnn import MeteredClassifier
from ...protocols.attribution import AttributionContext, per_image
from ...registry import arm


@arm("sobel-edges", family="baseline", access="data-only", control="random-map")
class SobelEdges:
    """Edge magnitude of the image itself; the model is never run."""

    def attribute(self, model: MeteredClassifier, ctx: AttributionContext, images: torch.Tensor,
                  targets: torch.Tensor) -> np.ndarray:
        # one image at a time: on a stack, ndimage.sobel would also smooth across the batch axis
        return np.stack([np.hypot(ndimage.sobel(x, axis=0), ndimage.sobel(x, axis=1)) for x in images.numpy()[:, 0]])


@arm("occlusion", family="baseline", access="black-box", control="random-map")
class Occlusion:
    """Blank a sliding 3x3 window and read the target logit's drop."""

    def attribute(self, model: MeteredClassifier, ctx: AttributionContext, images: torch.Tensor,
                  targets: torch.Tensor) -> np.ndarray:
        import captum.attr as ca

        h = images.shape[-1]
        allowed = model.meter.remaining("forward_passes") // images.shape[0]
        # (window, stride), finest first; captum slides the window to cover the edge, ceil((h - w) / s)
        # + 1 places per axis, plus one unoccluded forward; its stride may not exceed the window
        window, stride = next(((w, s) for w, s in ((3, 1), (3, 2), (3, 3), (4, 4), (8, 8))
                               if (-(-(h - w) // s) + 1) ** 2 + 1 <= allowed), (h, h))
        return ca.Occlusion(model.logits).attribute(images, target=targets, sliding_window_shapes=(1, window, window),
                                                    strides=(1, stride, stride), baselines=0.0,
                                                    perturbations_per_eval=64).numpy()


@arm("rise", family="baseline", access="black-box", control="random-map")
class Rise:
    """Randomised input sampling: the target's probability under random smooth masks, per pixel."""

    def __init__(self, max_masks: int = 500, cells: int = 4, keep: float = 0.5):
        self.max_masks, self.cells, self.keep = max_masks, cells, keep

    def _masks(self, n: int, size: int, gen: torch.Generator) -> torch.Tensor:
        """Petsiuk et al.'s masks: a coarse random grid, upsampled bilinearly and randomly shifted."""
        cell = int(np.ceil(size / self.cells))
        grid = (torch.rand(n, 1, self.cells, self.cells, generator=gen) < self.keep).float()
        up = F.interpolate(grid, size=((self.cells + 1) * cell,) * 2, mode="bilinear", align_corners=False)
        dx, dy = torch.randint(0, cell, (2, n), generator=gen)
        return torch.stack([up[i, :, dy[i]:dy[i] + size, dx[i]:dx[i] + size] for i in range(n)])

    def attribute(self, model: MeteredClassifier, ctx: AttributionContext, images: torch.Tensor,
                  targets: torch.Tensor) -> np.ndarray:
        n_masks = per_image(model, "forward_passes", images.shape[0], self.max_masks)
        gen = torch.Generator().manual_seed(ctx.seed)
        out = np.zeros((images.shape[0],) + tuple(images.shape[-2:]))
        for i in range(images.shape[0]):
            masks = self._masks(n_masks, images.shape[-1], gen)
            p = model.logits(images[i:i + 1] * masks).softmax(-1)[:, int(targets[i])]
            out[i] = ((p[:, None, None, None] * masks).sum(0)[0] / (masks.sum(0)[0] + 1e-6)).numpy()
        return out


@arm("random-patch-search", family="baseline", access="black-box", control="random-map")
class RandomPatchSearch:
    """Blank random small patches at the gradient methods' query count; a pixel's credit is the largest drop."""

    def __init__(self, sizes: tuple[int, ...] = (3, 4, 5)):
        self.sizes = sizes

    def queries(self, model: MeteredClassifier, n_images: int) -> int:
        """The gradient methods' passes per image (forward passes if the budget has no backward ones), >= 2."""
        kind = "backward_passes" if model.meter.remaining("backward_passes") > 0 else "forward_passes"
        share = max(model.meter.remaining(kind) // max(n_images, 1), 2)
        return int(min(share, model.meter.remaining("forward_passes") // max(n_images, 1)))

    def attribute(self, model: MeteredClassifier, ctx: AttributionContext, images: torch.Tensor,
                  targets: torch.Tensor) -> np.ndarray:
        n, h, w = images.shape[0], images.shape[-2], images.shape[-1]
        k = self.queries(model, n) - 1          # one query is the unblanked image
        rng = np.random.default_rng([ctx.seed, 61])
        out = np.zeros((n, h, w))
        if k < 1:
            return out
        base = model.logits(images)[torch.arange(n), targets].numpy()
        sides = rng.choice(self.sizes, (n, k))
        rows, cols = (rng.integers(0, h - sides + 1), rng.integers(0, w - sides + 1))
        blanked = images.repeat_interleave(k, 0).clone()
        for j, (s, r, c) in enumerate(zip(sides.ravel(), rows.ravel(), cols.ravel())):
            blanked[j, :, r:r + s, c:c + s] = 0.0
        drops = base.repeat(k) - model.logits(blanked)[torch.arange(n * k), targets.repeat_interleave(k)].numpy()
        for i in range(n):
            credit = np.full((h, w), -np.inf)
            for j in range(i * k, (i + 1) * k):
                s, r, c = sides.ravel()[j], rows.ravel()[j], cols.ravel()[j]
                credit[r:r + s, c:c + s] = np.maximum(credit[r:r + s, c:c + s], drops[j])
            seen = np.isfinite(credit)
            out[i] = np.where(seen, credit, credit[seen].min() if seen.any() else 0.0)
        return out


@arm("random-map", family="control", access="black-box")
class RandomMap:
    """Uniform noise maps."""

    def attribute(self, model: MeteredClassifier, ctx: AttributionContext, images: torch.Tensor,
                  targets: torch.Tensor) -> np.ndarray:
        shape = tuple(images.shape[-2:])
        return np.stack([np.random.default_rng([ctx.seed, 53, *np.frombuffer(hashlib.sha256(x.numpy().tobytes()).digest()[:8],
                                                                              np.uint32)]).random(shape) for x in images])
