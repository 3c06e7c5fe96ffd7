"""Chroma limited to what the prior paints near the input: colorization without stains (#27).

A colorization fitted to a gray image takes its colour from one code of the prior, and where the gray
image says little about colour that code may paint anything the prior can draw there: a yellow blotch
on a nose, blue on a cheek, a blue cast on a black-and-white portrait. The prior's samples whose gray
image is closest to the input (``inversion.candidates.nearest_samples``) say which colours the prior
finds plausible at each pixel for a face like this one. ``fence_chroma`` keeps each pixel's CIE Lab
a/b within the band between the ``quantile`` and ``1 - quantile`` of those samples' a/b at that pixel:
a colour most of them agree on passes, a stain only the fitted code paints is pulled back to the
band's edge. Only a/b change; the caller puts the input's brightness back (``tasks.colorize``).

Chosen on the first 20 held-out faces of UTKFace (``benchmarks/results/restoration_notes.md``,
"Colorization stains (#27)"): 16 samples and the middle half (quantile 0.25).
"""

from __future__ import annotations

import torch

from .metrics import lab_to_rgb, rgb_to_lab

FENCE_SAMPLES = 16
FENCE_QUANTILE = 0.25


def chroma_band(samples: torch.Tensor, quantile: float = FENCE_QUANTILE) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel lower and upper Lab a/b ``(B, 2, H, W)`` of ``samples`` ``(B, K, 3, H, W)`` in [0, 1]:
    their ``quantile`` and ``1 - quantile`` over the K samples of each image."""
    if not 0 <= quantile <= 0.5:
        raise ValueError(f"quantile must be in [0, 0.5], got {quantile}")
    b, k = samples.shape[:2]
    ab = rgb_to_lab(samples.flatten(0, 1))[:, 1:].unflatten(0, (b, k))
    if quantile == 0:
        return ab.amin(1), ab.amax(1)
    low, high = torch.quantile(ab, torch.tensor([quantile, 1 - quantile], dtype=ab.dtype, device=ab.device), dim=1)
    return low, high


def fence_chroma(x: torch.Tensor, samples: torch.Tensor, quantile: float = FENCE_QUANTILE) -> torch.Tensor:
    """``x`` ``(B, 3, H, W)`` with each pixel's Lab a/b clamped to the band of ``samples``
    ``(B, K, 3, H, W)`` (``chroma_band``); its L is kept (out-of-gamut colours clipped)."""
    low, high = chroma_band(samples.to(x.device), quantile)
    lab = rgb_to_lab(x)
    ab = torch.maximum(torch.minimum(lab[:, 1:], high), low)
    return lab_to_rgb(torch.cat([lab[:, :1], ab], dim=1)).to(x)
