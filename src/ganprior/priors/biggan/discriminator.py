"""The BigGAN-PyTorch / DGP discriminator.

``BigGANDiscriminator`` mirrors BigGAN-PyTorch's: residual down-blocks (pre-activation from the
second on, 2x2 average pooling on all but the last), optional self-attention, global sum
pooling, a linear logit and a projection term ``<embed(y), pooled>``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layers import SelfAttention, SNConv2d, SNEmbedding, SNLinear


class ResidualDownBlock(nn.Module):
    """BigGAN discriminator block ``(B, in, H, W) -> (B, out, H', W')`` (H' = H/2 if downsampling).

    ``h = conv2(relu(conv1(pre(x))))`` (``pre`` = ReLU from the second block on), average-pooled;
    the shortcut pools then applies the 1x1 conv (first block) or the reverse (pre-activated blocks).
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, kernel_size: int,
                 preactivation: bool, downsample: bool, shortcut_conv: bool, sn_eps: float):
        super().__init__()
        self.preactivation, self.downsample = preactivation, downsample
        self.conv1 = SNConv2d(in_channels, hidden_channels, kernel_size, eps=sn_eps)
        self.conv2 = SNConv2d(hidden_channels, out_channels, kernel_size, eps=sn_eps)
        self.skip = SNConv2d(in_channels, out_channels, 1, eps=sn_eps) if shortcut_conv else None

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self._pool(self.conv2(F.relu(self.conv1(h))))
        shortcut = x
        if self.preactivation:
            shortcut = self._pool(self.skip(shortcut) if self.skip is not None else shortcut)
        else:
            shortcut = self._pool(shortcut)
            shortcut = self.skip(shortcut) if self.skip is not None else shortcut
        return h + shortcut


class DiscriminatorStage(nn.Module):
    """A residual down-block, then self-attention if the stage has one."""

    def __init__(self, block: ResidualDownBlock, attention: SelfAttention | None):
        super().__init__()
        self.block = block
        self.attention = attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(x)
        return self.attention(x) if self.attention is not None else x


@dataclass(frozen=True)
class DiscriminatorArchitecture:
    """``block_channels``: ``(in, hidden, out)`` per block; ``downsample``/``attention``/
    ``shortcut_convs`` per block."""

    resolution: int
    num_classes: int
    block_channels: tuple[tuple[int, int, int], ...]
    downsample: tuple[bool, ...]
    attention: tuple[bool, ...]
    shortcut_convs: tuple[bool, ...]
    kernel_size: int = 3
    sn_eps: float = 1e-6

    @property
    def width(self) -> int:
        """BigGAN-PyTorch's ``D_ch``: the first block has ``ch`` channels (``4 ch`` at 32x32)."""
        first = self.block_channels[0][2]
        return first // 4 if self.resolution == 32 else first

    @property
    def wide(self) -> bool:
        return all(hidden == out for _, hidden, out in self.block_channels)

    @property
    def attention_resolutions(self) -> tuple[int, ...]:
        # BigGAN-PyTorch names a D attention by the resolution in its D_arch table
        table = [16] * len(self.block_channels) if self.resolution == 32 else self._output_sizes()
        return tuple(r for r, a in zip(table, self.attention) if a)

    def _output_sizes(self) -> list[int]:
        sizes, size = [], self.resolution
        for down in self.downsample:
            size = size // 2 if down else size
            sizes.append(size)
        return sizes


class BigGANDiscriminator(nn.Module):
    """BigGAN-PyTorch / DGP discriminator. Input images ``(B, 3, R, R)`` in [-1, 1].

    ``features(x)`` returns the list DGP's discriminator-feature loss compares: the output of every
    block and attention layer, shallow first, then the globally sum-pooled ``(B, C)`` vector. As in
    DGP (whose in-place ReLU rectifies it while pooling) the last map is returned ReLU'd.
    """

    def __init__(self, arch: DiscriminatorArchitecture):
        super().__init__()
        self.arch = arch
        self.resolution = arch.resolution
        self.num_classes = arch.num_classes
        self.stages = nn.ModuleList(
            DiscriminatorStage(
                ResidualDownBlock(cin, hidden, cout, arch.kernel_size, i > 0, down, skip, arch.sn_eps),
                SelfAttention(cout, eps=arch.sn_eps) if attn else None)
            for i, ((cin, hidden, cout), down, attn, skip) in enumerate(
                zip(arch.block_channels, arch.downsample, arch.attention, arch.shortcut_convs)))
        channels = arch.block_channels[-1][2]
        self.classifier = SNLinear(channels, 1, eps=arch.sn_eps)
        self.class_projection = SNEmbedding(arch.num_classes, channels, eps=arch.sn_eps)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[block/attention outputs (B, C_i, H_i, W_i) ..., pooled (B, C)]``, shallow first."""
        feats = []
        h = x
        for stage in self.stages:
            h = stage.block(h)
            feats.append(h)
            if stage.attention is not None:
                h = stage.attention(h)
                feats.append(h)
        feats[-1] = F.relu(h)
        feats.append(feats[-1].sum(dim=(2, 3)))
        return feats

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B,)`` (higher = real); with ``labels`` ``(B,)`` the class projection is added."""
        pooled = self.features(x)[-1]
        logits = self.classifier(pooled)[:, 0]
        if labels is not None:
            logits = logits + (self.class_projection(labels.long()) * pooled).sum(dim=1)
        return logits
