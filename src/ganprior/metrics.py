"""Image quality metrics on ``(B, C, H, W)`` tensors in [0, 1], one value per image.

PSNR and SSIM are deepinv's (checked equal to scikit-image's Gaussian-window SSIM).
"""

from __future__ import annotations

import deepinv as dinv
import torch

_PSNR = dinv.loss.metric.PSNR(max_pixel=1.0)
_SSIM = dinv.loss.metric.SSIM(max_pixel=1.0)


def _check(x: torch.Tensor, ref: torch.Tensor) -> None:
    if x.shape != ref.shape or x.ndim != 4:
        raise ValueError(f"metrics need two (B, C, H, W) tensors of one shape, got {tuple(x.shape)} and {tuple(ref.shape)}")


def psnr(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, ``(B,)``."""
    _check(x, ref)
    return _PSNR(x.clamp(0, 1).float(), ref.float())


def ssim(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Structural similarity (11x11 Gaussian window, sigma 1.5), ``(B,)``."""
    _check(x, ref)
    return _SSIM(x.clamp(0, 1).float(), ref.float())
