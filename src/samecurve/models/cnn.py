"""A small image classifier (attribution-sanity's organisms) and the door an arm reaches it through.

Three 3x3 convolutions (16, 32, 32 channels; a 2x2 max-pool after the second) and a linear read-out
of the 4x4-pooled last feature map. Each ReLU is its own module (`relu1`..`relu3`), as captum's
Guided Backprop needs, and the last convolution is `conv3` (Grad-CAM's layer).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..budget import ACCESS_LEVELS, Access, Meter, reinitialised
from ..errors import AccessDenied


@dataclass(frozen=True)
class CNNConfig:
    n_classes: int
    size: int = 16          # images are size x size, one channel
    width: int = 16

    def to_dict(self) -> dict:
        return asdict(self)


class SmallCNN(nn.Module):
    """Images [n, 1, size, size] -> class logits [n, n_classes]."""

    def __init__(self, cfg: CNNConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.conv1, self.relu1 = nn.Conv2d(1, w, 3, padding=1), nn.ReLU()
        self.conv2, self.relu2 = nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv3, self.relu3 = nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU()
        self.head_pool = nn.AdaptiveAvgPool2d(4)
        self.fc = nn.Linear(2 * w * 16, cfg.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu2(self.conv2(self.relu1(self.conv1(x)))))
        x = self.head_pool(self.relu3(self.conv3(x)))
        return self.fc(x.flatten(1))


class _Charged(nn.Module):
    """A classifier whose every forward is charged: one forward pass per image, and one backward
    pass per image when the input carries a gradient (captum differentiates what it runs)."""

    def __init__(self, net: nn.Module, meter: Meter):
        super().__init__()
        self.net, self._meter = net, meter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._meter.charge("forward_passes", x.shape[0])
        if torch.is_grad_enabled() and x.requires_grad:
            self._meter.charge("backward_passes", x.shape[0])
        return self.net(x)


class MeteredClassifier:
    """An image classifier as an arm sees it (the image counterpart of `budget.MeteredModel`):
    black-box logits; a differentiable forward for `gradients` access; the module itself (hooks on
    its layers, e.g. Guided Backprop's ReLUs, Grad-CAM's `conv3`) for `white-box` access. Every
    call through any of them is charged."""

    def __init__(self, model: nn.Module, meter: Meter, access: Access):
        self._model = model.eval()
        self.meter, self.access = meter, access
        self.config = model.cfg

    def _require(self, level: Access) -> None:
        if ACCESS_LEVELS[self.access] < ACCESS_LEVELS[level]:
            raise AccessDenied(f"this arm declared access '{self.access}' but asked for '{level}'")

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        self._require("black-box")
        self.meter.charge("forward_passes", images.shape[0])
        return self._model(images)

    def differentiable(self) -> nn.Module:
        """A module computing the logits, differentiable in its input; every call charged."""
        self._require("gradients")
        return _Charged(self._model, self.meter)

    def randomised(self, seed: int) -> MeteredClassifier:
        """The same architecture, freshly initialised, behind this door's meter: the 'method on a
        random network' control (as `MeteredModel.randomised`)."""
        return MeteredClassifier(reinitialised(self._model, seed), self.meter, self.access)

    def module(self) -> nn.Module:
        """A private copy of the network behind a charging wrapper (`.net` is the copy), for methods
        that hook its layers."""
        self._require("white-box")
        return _Charged(copy.deepcopy(self._model), self.meter)
