"""Equalised-learning-rate layers and the mapping network (z, class -> w), shared by G and D."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import GanpriorError
from .ops import ACTIVATION_GAINS, bias_activate, make_resample_filter, normalize_rms, upfirdn2d


class EqualizedLinear(nn.Module):
    """Fully connected layer with run-time weight scaling ``lr_multiplier / sqrt(in_features)``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        if activation not in ACTIVATION_GAINS:
            raise GanpriorError(f"unsupported activation {activation!r}; StyleGAN2 layers use lrelu or linear")
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias
        if b is not None and self.bias_gain != 1:
            b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b[None], x, w.t())
        return bias_activate(x.matmul(w.t()), b, self.activation, ACTIVATION_GAINS[self.activation])


class MappingNetwork(nn.Module):
    """z (and class labels) -> w. ``forward(z (B, z_dim), labels (B, c_dim) or None) -> (B, w_dim)``."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int = 8, *, c_dim: int = 0,
                 embed_features: int | None = None, hidden_features: int | None = None,
                 activation: str = "lrelu", lr_multiplier: float = 0.01, track_w_avg: bool = True):
        super().__init__()
        self.z_dim, self.w_dim, self.c_dim = z_dim, w_dim, c_dim
        embed = (embed_features or w_dim) if c_dim else 0
        hidden = hidden_features or w_dim
        features = [z_dim + embed] + [hidden] * (num_layers - 1) + [w_dim]
        self.class_embed = EqualizedLinear(c_dim, embed) if c_dim else None
        self.layers = nn.ModuleList(
            EqualizedLinear(features[i], features[i + 1], activation=activation, lr_multiplier=lr_multiplier)
            for i in range(num_layers))
        if track_w_avg:
            self.register_buffer("w_avg", torch.zeros(w_dim))
        else:
            self.w_avg = None

    def forward(self, z: torch.Tensor | None, labels: torch.Tensor | None = None) -> torch.Tensor:
        parts = []
        if self.z_dim:
            parts.append(normalize_rms(z.float()))
        if self.c_dim:
            if labels is None:
                raise GanpriorError(f"this network is class-conditional ({self.c_dim} classes) and needs labels")
            parts.append(normalize_rms(self.class_embed(labels.float())))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for layer in self.layers:
            x = layer(x)
        return x


class EqualizedConv(nn.Module):
    """Conv with run-time weight scaling, optional FIR 2x downsampling, bias, activation and clamp.

    ``forward(x (B, in, r, r), gain) -> (B, out, r, r)`` or ``r/2`` with ``down=2``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, bias: bool = True,
                 activation: str = "linear", down: int = 1, conv_clamp: float | None = None,
                 resample_filter: torch.Tensor | None = None):
        super().__init__()
        if activation not in ACTIVATION_GAINS:
            raise GanpriorError(f"unsupported activation {activation!r}; StyleGAN2 layers use lrelu or linear")
        self.activation, self.down, self.conv_clamp = activation, down, conv_clamp
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        if down > 1:
            filt = make_resample_filter() if resample_filter is None else resample_filter
            self.register_buffer("resample_filter", filt.clone(), persistent=False)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        k = w.shape[-1]
        if self.down > 1:
            f = self.resample_filter.shape[-1]
            lo, hi = (f - self.down + 1) // 2, (f - self.down) // 2
            if k == 1:  # filter and drop pixels, then the 1x1 conv
                x = upfirdn2d(x, self.resample_filter, down=self.down, pad=(lo, hi, lo, hi))
                x = F.conv2d(x, w)
            else:  # filter with the conv's padding folded in, then a strided conv
                p = k // 2
                x = upfirdn2d(x, self.resample_filter, pad=(lo + p, hi + p, lo + p, hi + p))
                x = F.conv2d(x, w, stride=self.down)
        else:
            x = F.conv2d(x, w, padding=k // 2)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_activate(x, self.bias, self.activation, ACTIVATION_GAINS[self.activation] * gain, clamp)
