"""Spectrally normalised layers and SA-GAN self-attention, shared by BigGAN and BigGAN-deep.

Every conv and linear layer is spectrally normalised. The checkpoint stores, per layer, the
weight, a left singular-vector estimate ``u0`` and a logged singular value ``sv0``. In eval mode
the original runs one power-iteration step from the stored ``u0`` (without writing it back) and
divides the weight by the resulting sigma; ``sv0`` is never read. ``SpectralNormed`` reproduces
exactly that.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import GanpriorError


class SpectralNormed(nn.Module):
    """A layer whose weight is divided by an estimate of its largest singular value.

    ``weight`` has shape ``(out, ...)`` and is viewed as the matrix ``W`` ``(out, fan_in)``.
    ``sigma_style`` picks how sigma is estimated, matching the code that wrote the checkpoint:

    * ``"power-step"`` (BigGAN-PyTorch, DGP): one power-iteration step from the stored left vector
      ``sn_u`` ``(out,)``: ``v = normalize(W^T u)``, ``u' = normalize(W v)``, ``sigma = u'.(W v)``.
      ``sn_u`` is not updated (the original writes it back only in training mode). Repeating the
      step from the same stored ``u`` gives the same sigma, so ``num_G_SV_itrs`` does not matter.
    * ``"stored-uv"`` (``torch.nn.utils.spectral_norm`` in eval mode): ``sigma = sn_u.(W sn_v)``.

    ``u`` and ``v`` are constants; gradients reach the weight through ``W / sigma`` as in the
    originals, so fine-tuning (DGP) sees the same objective.
    """

    def __init__(self, weight_shape: tuple[int, ...], bias: bool, sigma_style: str, eps: float):
        super().__init__()
        if sigma_style not in ("power-step", "stored-uv"):
            raise ValueError(f"unknown sigma style {sigma_style!r}")
        out = weight_shape[0]
        fan_in = math.prod(weight_shape[1:])
        self.weight = nn.Parameter(torch.randn(weight_shape) / math.sqrt(fan_in))
        self.bias = nn.Parameter(torch.zeros(out)) if bias else None
        self.sigma_style = sigma_style
        self.eps = eps
        # a few power-iteration steps so that a freshly built (random) layer is well scaled;
        # loading a checkpoint replaces these vectors
        with torch.no_grad():
            w = self.weight.flatten(1)
            v = F.normalize(torch.randn(fan_in), dim=0)
            for _ in range(5):
                u = F.normalize(w @ v, dim=0)
                v = F.normalize(w.t() @ u, dim=0)
        self.register_buffer("sn_u", u)
        if sigma_style == "stored-uv":
            self.register_buffer("sn_v", v)

    def normalized_weight(self) -> torch.Tensor:
        w = self.weight.flatten(1)
        if self.sigma_style == "power-step":
            with torch.no_grad():
                v = F.normalize(self.sn_u @ w, dim=0, eps=self.eps)
                u = F.normalize(w @ v, dim=0, eps=self.eps)
            sigma = u @ (w @ v)
        else:
            sigma = self.sn_u @ (w @ self.sn_v)
        return self.weight / sigma


class SNLinear(SpectralNormed):
    """Spectrally normalised linear layer: ``(B, in) -> (B, out)``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 sigma_style: str = "power-step", eps: float = 1e-6):
        super().__init__((out_features, in_features), bias, sigma_style, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.normalized_weight(), self.bias)


class SNConv2d(SpectralNormed):
    """Spectrally normalised conv, stride 1, 'same' padding: ``(B, in, H, W) -> (B, out, H, W)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True, *,
                 sigma_style: str = "power-step", eps: float = 1e-6):
        super().__init__((out_channels, in_channels, kernel_size, kernel_size), bias, sigma_style, eps)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.normalized_weight(), self.bias, padding=self.padding)


class SNEmbedding(SpectralNormed):
    """Spectrally normalised embedding table ``(num_embeddings, dim)`` (the matrix is the table)."""

    def __init__(self, num_embeddings: int, dim: int, *, sigma_style: str = "power-step", eps: float = 1e-6):
        super().__init__((num_embeddings, dim), False, sigma_style, eps)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return F.embedding(labels, self.normalized_weight())


class SelfAttention(nn.Module):
    """SA-GAN non-local block: ``x + gamma * out(attend(query(x), pool(key(x)), pool(value(x))))``.

    Query/key have ``C // 8`` channels, value ``C // 2``; keys and values are 2x2 max-pooled.
    Shape preserving ``(B, C, H, W)``; H and W must be even. Same maths in BigGAN and BigGAN-deep.
    """

    def __init__(self, channels: int, sigma_style: str = "power-step", eps: float = 1e-6):
        super().__init__()
        if channels % 8:
            raise GanpriorError(f"self-attention needs a channel count divisible by 8, got {channels}")
        self.channels = channels

        def conv(cin, cout):
            return SNConv2d(cin, cout, 1, bias=False, sigma_style=sigma_style, eps=eps)

        self.query = conv(channels, channels // 8)
        self.key = conv(channels, channels // 8)
        self.value = conv(channels, channels // 2)
        self.out = conv(channels // 2, channels)
        self.gamma = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        query = self.query(x).flatten(2)                           # (B, C/8, HW)
        key = F.max_pool2d(self.key(x), 2).flatten(2)              # (B, C/8, HW/4)
        value = F.max_pool2d(self.value(x), 2).flatten(2)          # (B, C/2, HW/4)
        attention = torch.softmax(query.transpose(1, 2) @ key, dim=-1)   # (B, HW, HW/4)
        attended = (value @ attention.transpose(1, 2)).view(b, c // 2, h, w)
        return x + self.gamma * self.out(attended)
