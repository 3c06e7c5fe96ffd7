"""The StyleGAN2 residual discriminator.

* **Discriminator** (residual): a 1x1 from-RGB conv, one residual block per resolution R .. 8
  (3x3 conv, 3x3 conv with FIR 2x downsampling, plus a 1x1 downsampling skip, summed with gain
  sqrt 1/2), then the epilogue at 4x4: minibatch standard deviation (group of 4 samples, sample i
  in group ``i % (B / group)``), a 3x3 conv, a fully connected layer and a linear output.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import GanpriorError
from .layers import EqualizedConv, EqualizedLinear, MappingNetwork
from .ops import make_resample_filter, minibatch_stddev


class DiscriminatorBlock(nn.Module):
    """3x3 conv, 3x3 conv with 2x downsampling, and (residual) a 1x1 downsampling skip.

    ``forward(x (B, in, r, r)) -> (B, out, r/2, r/2)``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, resample_filter: torch.Tensor,
                 conv_clamp: float | None = None, residual: bool = True):
        super().__init__()
        self.conv = EqualizedConv(in_channels, in_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv_down = EqualizedConv(in_channels, out_channels, 3, activation="lrelu", down=2,
                                       conv_clamp=conv_clamp, resample_filter=resample_filter)
        self.skip = EqualizedConv(in_channels, out_channels, 1, bias=False, down=2,
                                  resample_filter=resample_filter) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.skip is None:
            return self.conv_down(self.conv(x))
        half = math.sqrt(0.5)
        shortcut = self.skip(x, gain=half)
        return shortcut + self.conv_down(self.conv(x), gain=half)


class StyleGAN2Discriminator(nn.Module):
    """StyleGAN2 residual discriminator. Input images ``(B, C, R, R)`` in [-1, 1].

    ``features(x)`` -> the outputs of the downsampling blocks, shallow first
    (``[(B, ch[R/2], R/2, R/2), ..., (B, ch[4], 4, 4)]``; per-sample, before the minibatch-stddev
    epilogue); ``forward(x, labels=None)`` -> logits ``(B,)`` (higher = real). ``labels`` are class
    indices ``(B,)`` or one-hot ``(B, c_dim)`` for a class-conditional (projection) discriminator.
    """

    def __init__(self, *, resolution: int, channels: Mapping[int, int], img_channels: int = 3,
                 conv_clamp: float | None = None, mbstd_group_size: int | None = 4, mbstd_channels: int = 1,
                 residual: bool = True, resample_filter=(1, 3, 3, 1), c_dim: int = 0, cmap_dim: int | None = None,
                 mapping_layers: int = 8):
        super().__init__()
        log2 = int(round(math.log2(resolution))) if resolution > 0 else 0
        if resolution < 8 or 2 ** log2 != resolution:
            raise GanpriorError(f"StyleGAN2 discriminator resolution must be a power of two >= 8, got {resolution}")
        channels = {int(k): int(v) for k, v in channels.items()}
        filt = make_resample_filter(resample_filter)
        cmap_dim = (cmap_dim or channels[4]) if c_dim else 0
        self.config = dict(resolution=resolution, channels=dict(channels), img_channels=img_channels,
                           conv_clamp=conv_clamp, mbstd_group_size=mbstd_group_size, mbstd_channels=mbstd_channels,
                           residual=residual, resample_filter=filt.tolist(), c_dim=c_dim, cmap_dim=cmap_dim,
                           mapping_layers=mapping_layers)
        self.resolution, self.c_dim, self.cmap_dim = resolution, c_dim, cmap_dim
        self.mbstd_group_size, self.mbstd_channels = mbstd_group_size, mbstd_channels
        self.from_rgb = EqualizedConv(img_channels, channels[resolution], 1, activation="lrelu", conv_clamp=conv_clamp)
        self.blocks = nn.ModuleList(
            DiscriminatorBlock(channels[2 ** i], channels[2 ** (i - 1)], resample_filter=filt,
                               conv_clamp=conv_clamp, residual=residual)
            for i in range(log2, 2, -1))
        c4 = channels[4]
        self.final_conv = EqualizedConv(c4 + mbstd_channels, c4, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.final_fc = EqualizedLinear(c4 * 16, c4, activation="lrelu")
        self.out = EqualizedLinear(c4, cmap_dim or 1)
        self.label_mapping = (MappingNetwork(0, cmap_dim, mapping_layers, c_dim=c_dim, track_w_avg=False)
                              if c_dim else None)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        x = self.from_rgb(x)
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats

    def epilogue_conv(self, h: torch.Tensor) -> torch.Tensor:
        """Minibatch stddev + the 3x3 conv on the last block output: ``(B, ch4, 4, 4)``."""
        if self.mbstd_channels:
            h = minibatch_stddev(h, self.mbstd_group_size, self.mbstd_channels)
        return self.final_conv(h)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.epilogue_conv(self.features(x)[-1])
        out = self.out(self.final_fc(h.flatten(1)))
        if not self.c_dim:
            return out[:, 0]
        if labels is None:
            raise GanpriorError(f"this discriminator is class-conditional ({self.c_dim} classes) and needs labels")
        if labels.ndim == 1:
            labels = F.one_hot(labels.long(), self.c_dim).float()
        cmap = self.label_mapping(None, labels)
        return (out * cmap).sum(dim=1) / math.sqrt(self.cmap_dim)
