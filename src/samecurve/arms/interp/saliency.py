"""Saliency maps from captum (attribution-sanity): the attribution methods the critique's essay and
Adebayo et al. 2018 ("Sanity checks for saliency maps") examine, as their papers define them.

Gradient methods spend one backward pass per image per sample, so their sample counts follow the
budget: `n` samples where the session's backward passes allow `n` per image (at most the papers'
defaults). The task takes absolute values of every map, for every arm.

  saliency              |d logit / d pixel| (Simonyan et al. 2014)
  input-x-gradient      pixel x gradient (Shrikumar et al. 2016)
  integrated-gradients  path integral from a black image (Sundararajan et al. 2017), up to 32 steps
  smoothgrad            gradients averaged over noisy copies (Smilkov et al. 2017), sd 0.3 (~15%
                        of the pixel range, the paper's 10-20%), up to 16 samples
  guided-backprop       ReLU backward passes only positive gradients (Springenberg et al. 2015)
  grad-cam              last convolution's channels weighted by their mean gradient, ReLU,
                        upsampled (Selvaraju et al. 2017)
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ...models.cnn import MeteredClassifier
from ...protocols.attribution import AttributionContext, per_image
from ...registry import arm


class _Captum:
    method: str = ""

    def _run(self, model: MeteredClassifier, images: torch.Tensor, targets: torch.Tensor, **kw) -> np.ndarray:
        import captum.attr as ca

        method = getattr(ca, self.method)(model.differentiable())
        x = images.clone().requires_grad_(True)
        return method.attribute(x, target=targets, **kw).detach().numpy()


@arm("saliency", family="interp", access="gradients", control="random-map")
class Saliency(_Captum):
    """Absolute input gradient of the target logit."""

    method = "Saliency"

    def attribute(self, model: MeteredClassifier, ctx: AttributionContext, images: torch.Tensor,
                  targets: torch.Tensor) -> np.ndarray:
        return self._run(model, images, targets, abs=True)


@arm("input-x-gradient", family="interp", access="gradients", control="random-map")
class InputXGradient(_Captum):
    """Input times its gradient."""

    method = "InputXGradient"

    def attribute(self, model: MeteredClassifier, ctx: AttributionContext, images: torch.Tensor,
                  targets: torch.Tensor) -> np.ndarray:
        return self._run(model, images, targets)


@arm("integrated-gradients", family="interp", access="gradients", control="random-map")
class IntegratedGradients(_Captum):
    """Gradients integrated along the straight path from a black image."""

    method = "IntegratedGradients"

    def __init__(self, max_steps: int = 32):
        self.max_steps = max_steps

    def attribute(self, model: MeteredClassifier, ctx: AttributionContext, images: torch.Tensor,
                  targets: torch.Tensor) -> np.ndarray:
        steps = per_image(model, "backward_passes", images.shape[0], self.max_steps)
        return self._run(model, images, targets, baselines=torch.zeros_like(images), n_steps=steps,
                         internal_batch_size=256)


@arm("smoothgrad", family="interp", access="gradients", control="random-map")
class SmoothGrad:
    """Absolute gradients averaged over Gaussian-noised copies of the image."""

    def __init__(self, max_samples: int = 16, sd: float = 0.3):
        self.max_samples, self.sd = max_samples, sd

    def attribute(self, model: MeteredClassifier, ctx: AttributionContext, images: torch.Tensor,
                  targets: torch.Tensor) -> np.ndarray:
        import captum.attr as ca

        torch.manual_seed(ctx.seed)
        samples = per_image(model, "backward_passes", images.shape[0], self.max_samples)
        tunnel = ca.NoiseTunnel(ca.Saliency(model.differentiable()))
        x = images.clone().requires_grad_(True)
        return tunnel.attribute(x, nt_type="smoothgrad", nt_samples=samples, nt_samples_batch_size=256,
                                stdevs=self.sd, target=targets, abs=True).detach().numpy()


@arm("guided-backprop", family="interp", access="white-box", control="random-map")
class GuidedBackprop:
    """Backward through the ReLUs with only positive gradients passed."""

    def attribute(self, model: MeteredClassifier, ctx: AttributionContext, images: torch.Tensor,
                  targets: torch.Tensor) -> np.ndarray:
        import captum.attr as ca

        x = images.clone().requires_grad_(True)
        with warnings.catch_warnings():   # captum announces its ReLU hooks on every call; it removes them
            warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
            return ca.GuidedBackprop(model.module()).attribute(x, target=targets).detach().numpy()


@arm("grad-cam", family="interp", access="white-box", control="random-map")
class GradCam:
    """The last convolution's feature maps weighted by their mean gradient, ReLU, upsampled."""

    def attribute(self, model: MeteredClassifier, ctx: AttributionContext, images: torch.Tensor,
                  targets: torch.Tensor) -> np.ndarray:
        import captum.attr as ca

        mod = model.module()
        x = images.clone().requires_grad_(True)
        cam = ca.LayerGradCam(mod, mod.net.conv3).attribute(x, target=targets, relu_attributions=True)
        return ca.LayerAttribution.interpolate(cam, tuple(images.shape[-2:]), "bilinear").detach().numpy()
