"""Deep-feature distances: the VGG16 perceptual loss (mGANprior Eq. 5) and LPIPS v0.1.

Both take images in [0, 1] and return one value per image, so they plug into the inversion loop
as loss terms (see ``losses.py``); LPIPS is also the metric of ``metrics.py``.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from .feature_nets import lpips_linear_weights, trunk

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _rgb(x: torch.Tensor) -> torch.Tensor:
    """Gray observations (colorization) are compared as 3-channel images."""
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class PerceptualLoss(nn.Module):
    """Mean L1 distance of VGG16 conv4_3 features (before its ReLU), per image.

    Args:
        resize: compare at this size (bilinear); the reference code uses 256. ``None`` keeps the
            input size, but observations smaller than 32 px are brought to 32 so conv4_3 has
            spatial extent.
        weights: optional path to VGG16 ImageNet weights (see ``feature_nets``).
    """

    def __init__(self, resize: int | None = None, weights: str | os.PathLike | None = None):
        super().__init__()
        self.resize = resize
        self.features = trunk("vgg16", weights)[:22]  # up to conv4_3
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = _rgb(x)
        size = self.resize or (32 if x.shape[-1] < 32 else None)
        if size and x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std

    def _target_features(self, target: torch.Tensor) -> torch.Tensor:
        # the observation is the same tensor at every optimisation step: compute its features once
        key = (id(target), target._version, target.shape, target.device)
        if getattr(self, "_cache_key", None) != key:
            with torch.no_grad():
                self._cache_features = self.features(self._prepare(target))
            self._cache_key = key
            self._cache_ref = target  # keeps id(target) from being reused while cached
        return self._cache_features

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        a = self.features(self._prepare(pred))
        b = self._target_features(target) if not target.requires_grad else self.features(self._prepare(target))
        return (a - b).abs().flatten(1).mean(dim=1)


class LPIPS(nn.Module):
    """LPIPS v0.1 (Zhang et al. 2018) with an AlexNet or VGG16 trunk; inputs in [0, 1], ``(B,)`` out.

    Images smaller than 64 px (AlexNet) or 16 px (VGG16) are upsampled (bilinear) to that size first.
    """

    # relu outputs that LPIPS compares: slice ends in torchvision's `features`
    SLICES = {"alexnet": [2, 5, 8, 10, 12], "vgg16": [4, 9, 16, 23, 30]}

    def __init__(self, net: str = "alexnet", weights: str | os.PathLike | None = None):
        super().__init__()
        arch = {"alex": "alexnet", "vgg": "vgg16"}.get(net, net)
        self.arch = arch
        features = trunk(arch, weights)
        ends = self.SLICES[arch]
        starts = [0] + ends[:-1]
        self.slices = nn.ModuleList([features[s:e] for s, e in zip(starts, ends)])
        lin = lpips_linear_weights(arch)
        self.lins = nn.ParameterList([nn.Parameter(lin[f"lin{k}.model.1.weight"], requires_grad=False)
                                      for k in range(len(ends))])
        # LPIPS' ScalingLayer: inputs in [-1, 1]
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.eval()

    # AlexNet's strided first conv and pooling leave nothing of images below this size
    MIN_SIZE = {"alexnet": 64, "vgg16": 16}

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = _rgb(torch.cat([pred, target]))
        if min(x.shape[-2:]) < self.MIN_SIZE[self.arch]:
            x = F.interpolate(x, size=(self.MIN_SIZE[self.arch],) * 2, mode="bilinear", align_corners=False)
        x = (x * 2 - 1 - self.shift) / self.scale
        total = 0
        for block, w in zip(self.slices, self.lins):
            x = block(x)
            a, b = x.chunk(2)
            a = a / (a.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            b = b / (b.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total = total + F.conv2d((a - b).pow(2), w).mean(dim=(1, 2, 3))
        return total
