"""The BigGAN generator's parts (Brock et al. 2019, as trained by BigGAN-PyTorch and used by DGP).

A class-conditional ResNet generator::

    z ──split──> z_0, z_1 .. z_n          (hierarchical latent: one chunk per stage plus one for the stem)
    stem:   linear(z_0) -> (B, C0, 4, 4)
    stage k (k = 1..n): residual up-block conditioned on c_k = [class embedding, z_k]
                        (+ a non-local self-attention block after it at some resolutions)
    output: batch norm -> ReLU -> 3x3 conv -> tanh   -> image (B, 3, R, R) in [-1, 1]

Every residual up-block is ``BN(c) -> ReLU -> upsample x2 -> conv3x3 -> BN(c) -> ReLU -> conv3x3``
plus a 1x1-conv shortcut on the upsampled input. Its batch norms are class-conditional: stored
(running) statistics, then a per-sample gain ``1 + W_g c`` and bias ``W_b c`` from the stage's
conditioning vector ``c``. The class embedding is one table shared by all stages ("G_shared").
Without a hierarchical latent, z feeds only the stem and every stage gets the embedding alone.

Batch norms always use the stored statistics (DGP fine-tunes G in eval mode too), so this
implementation has no train-mode behaviour to drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layers import SelfAttention, SNConv2d, SNLinear


class ClassConditionalBatchNorm(nn.Module):
    """Batch norm with stored statistics and a per-sample affine from a conditioning vector.

    ``(x - running_mean) / sqrt(running_var + eps) * (1 + gain_proj(c)) + bias_proj(c)``;
    x ``(B, C, H, W)``, c ``(B, cond_dim)``.
    """

    def __init__(self, channels: int, cond_dim: int, eps: float, sn_eps: float):
        super().__init__()
        self.eps = eps
        self.gain_proj = SNLinear(cond_dim, channels, bias=False, eps=sn_eps)
        self.bias_proj = SNLinear(cond_dim, channels, bias=False, eps=sn_eps)
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = F.batch_norm(x, self.running_mean, self.running_var, None, None, False, 0.0, self.eps)
        gain = 1 + self.gain_proj(cond)
        return x * gain[:, :, None, None] + self.bias_proj(cond)[:, :, None, None]


class StoredStatsBatchNorm(nn.Module):
    """Unconditional batch norm that always uses its stored statistics: ``(B, C, H, W)``."""

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.eps = eps
        self.gain = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.gain, self.bias,
                            False, 0.0, self.eps)


class ResidualUpBlock(nn.Module):
    """BigGAN generator block: ``(B, in, H, W), c -> (B, out, 2H, 2W)``."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, kernel_size: int,
                 shortcut_conv: bool, bn_eps: float, sn_eps: float):
        super().__init__()
        self.norm1 = ClassConditionalBatchNorm(in_channels, cond_dim, bn_eps, sn_eps)
        self.conv1 = SNConv2d(in_channels, out_channels, kernel_size, eps=sn_eps)
        self.norm2 = ClassConditionalBatchNorm(out_channels, cond_dim, bn_eps, sn_eps)
        self.conv2 = SNConv2d(out_channels, out_channels, kernel_size, eps=sn_eps)
        self.skip = SNConv2d(in_channels, out_channels, 1, eps=sn_eps) if shortcut_conv else None

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm1(x, cond))
        h = self.conv1(F.interpolate(h, scale_factor=2))
        h = self.conv2(F.relu(self.norm2(h, cond)))
        shortcut = F.interpolate(x, scale_factor=2)
        if self.skip is not None:
            shortcut = self.skip(shortcut)
        return h + shortcut


class GeneratorStage(nn.Module):
    """One generator resolution: a residual up-block, then self-attention if the stage has one."""

    def __init__(self, block: ResidualUpBlock, attention: SelfAttention | None):
        super().__init__()
        self.block = block
        self.attention = attention

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = self.block(x, cond)
        return self.attention(x) if self.attention is not None else x


class Stem(nn.Module):
    """First latent chunk ``(B, stem_dim)`` -> ``(B, C0, bottom_width, bottom_width)``."""

    def __init__(self, stem_dim: int, channels: int, bottom_width: int, sn_eps: float):
        super().__init__()
        self.channels, self.bottom_width = channels, bottom_width
        self.linear = SNLinear(stem_dim, channels * bottom_width ** 2, eps=sn_eps)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z).view(z.shape[0], self.channels, self.bottom_width, self.bottom_width)


class OutputHead(nn.Module):
    """``(B, C, R, R)`` -> image ``(B, 3, R, R)`` in [-1, 1]: batch norm, ReLU, conv, tanh."""

    def __init__(self, channels: int, kernel_size: int, bn_eps: float, sn_eps: float):
        super().__init__()
        self.norm = StoredStatsBatchNorm(channels, bn_eps)
        self.to_rgb = SNConv2d(channels, 3, kernel_size, eps=sn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.to_rgb(F.relu(self.norm(x))))


@dataclass(frozen=True)
class BigGANArchitecture:
    """Everything needed to build a BigGAN generator; inferred from a state dict's shapes.

    ``stage_channels``: ``(in, out)`` per stage; ``attention``: whether each stage ends with
    self-attention; ``shortcut_convs``: whether each stage has a 1x1 shortcut conv;
    ``chunk_dim``: length of each hierarchical z chunk (0: z feeds only the stem).
    """

    num_classes: int
    embedding_dim: int
    chunk_dim: int
    stem_dim: int
    bottom_width: int
    stage_channels: tuple[tuple[int, int], ...]
    attention: tuple[bool, ...]
    shortcut_convs: tuple[bool, ...]
    kernel_size: int = 3
    bn_eps: float = 1e-5
    sn_eps: float = 1e-6

    @property
    def num_stages(self) -> int:
        return len(self.stage_channels)

    @property
    def hierarchical(self) -> bool:
        return self.chunk_dim > 0

    @property
    def dim_z(self) -> int:
        return self.chunk_dim * (self.num_stages + 1) if self.hierarchical else self.stem_dim

    @property
    def cond_dim(self) -> int:
        return self.embedding_dim + self.chunk_dim

    @property
    def resolution(self) -> int:
        return self.bottom_width * 2 ** self.num_stages

    @property
    def width(self) -> int:
        """BigGAN-PyTorch's ``G_ch``: the first stage takes ``16 ch`` channels (``4 ch`` at 32x32)."""
        first = self.stage_channels[0][0]
        return first // 4 if self.resolution == 32 else first // 16

    @property
    def attention_resolutions(self) -> tuple[int, ...]:
        return tuple(self.bottom_width * 2 ** (i + 1) for i, a in enumerate(self.attention) if a)
