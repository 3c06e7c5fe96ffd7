"""StyleGAN2's resampling, modulation and normalisation ops in plain PyTorch.

Resampling is ``upfirdn2d`` written with ``F.pad`` / ``F.conv2d`` / ``F.conv_transpose2d``; no
custom CUDA op is used. Everything runs in float32 (the originals' fp16 layers are a speed option;
their fp32 path is the reference).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

ACTIVATION_GAINS = {"linear": 1.0, "lrelu": math.sqrt(2), "relu": math.sqrt(2)}


def make_resample_filter(taps=(1, 3, 3, 1)) -> torch.Tensor:
    """Normalised 2-D FIR filter (sum 1) from separable 1-D taps, float32 ``(k, k)``."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim == 1:
        f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(x: torch.Tensor, filt: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative = crop), convolve with ``filt``, keep every ``down``-th pixel.

    x: ``(B, C, H, W)``; filt: ``(kh, kw)``; pad: ``(left, right, top, bottom)`` in the upsampled image.
    The filter is applied as a true convolution (flipped), scaled by ``gain``.
    """
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(b, c, h * up, w * up)
    left, right, top, bottom = pad
    x = F.pad(x, [max(left, 0), max(right, 0), max(top, 0), max(bottom, 0)])
    x = x[:, :, max(-top, 0): x.shape[2] - max(-bottom, 0), max(-left, 0): x.shape[3] - max(-right, 0)]
    f = (filt * gain).to(x.dtype).flip([0, 1])
    x = F.conv2d(x, f[None, None].expand(c, 1, *f.shape), groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


def upsample2x(x: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """FIR 2x upsampling ``(B, C, H, W) -> (B, C, 2H, 2W)`` (magnitude kept: gain 4)."""
    k = filt.shape[-1]
    return upfirdn2d(x, filt, up=2, pad=((k + 1) // 2, (k - 2) // 2) * 2, gain=4.0)


def bias_activate(x: torch.Tensor, bias: torch.Tensor | None, activation: str, gain: float = 1.0,
                  clamp: float | None = None) -> torch.Tensor:
    """``clamp(act(x + bias) * gain)`` with the bias broadcast along dim 1."""
    if bias is not None:
        x = x + bias.reshape(1, -1, *([1] * (x.ndim - 2)))
    if activation == "lrelu":
        x = F.leaky_relu(x, 0.2)
    elif activation == "relu":
        x = F.relu(x)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_rms(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Divide each row by its root mean square (StyleGAN's pixel norm on z)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def modulated_conv(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool = True,
                   upsample: bool = False, filt: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample modulated convolution as one grouped conv.

    x: ``(B, I, H, W)``; weight: ``(O, I, k, k)``; styles: ``(B, I)``. Returns ``(B, O, H, W)``, or
    ``(B, O, 2H, 2W)`` with ``upsample`` (transposed stride-2 conv, then the FIR ``filt``).
    """
    b, cin, h, w = x.shape
    cout, _, kh, kw = weight.shape
    wts = weight[None] * styles[:, None, :, None, None]  # (B, O, I, k, k)
    if demodulate:
        wts = wts * (wts.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()[:, :, None, None, None]
    x = x.reshape(1, b * cin, h, w)
    if not upsample:
        out = F.conv2d(x, wts.reshape(b * cout, cin, kh, kw), padding=kh // 2, groups=b)
        return out.reshape(b, cout, *out.shape[2:])
    # transposed conv wants (in, out/groups, k, k) per group
    wts = wts.transpose(1, 2).reshape(b * cin, cout, kh, kw)
    out = F.conv_transpose2d(x, wts, stride=2, groups=b)
    out = out.reshape(b, cout, *out.shape[2:])
    k = filt.shape[-1]
    # padding that brings the (2H + kh - 2) transposed output back to 2H after the FIR filter
    left = kh // 2 + (k + 1) // 2 - (kh - 1)
    right = kh // 2 + (k - 2) // 2 - (kh - 2)
    return upfirdn2d(out, filt, pad=(left, right, left, right), gain=4.0)


def minibatch_stddev(x: torch.Tensor, group_size: int, num_channels: int = 1) -> torch.Tensor:
    """Append the mean standard deviation over groups of samples as ``num_channels`` feature maps.

    The batch is reshaped to ``(group, B / group, ...)``, so sample i is grouped with the samples
    ``i % (B / group)`` (as in both originals). A batch that the group size does not divide uses
    the largest group size that does (the originals raise an error there).
    """
    n, c, h, w = x.shape
    group = min(group_size, n) if group_size else n
    while n % group:
        group -= 1
    y = x.reshape(group, -1, num_channels, c // num_channels, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])
    y = y.reshape(-1, num_channels, 1, 1).repeat(group, 1, h, w)
    return torch.cat([x, y], dim=1)
