"""Losses between a predicted observation and the real one, reduced per image.

Every loss maps ``(pred, target)`` of shape ``(B, ...)`` to a ``(B,)`` tensor, one value per image.
The inversion loop sums these, so each image's gradient is independent of the batch it is in.
New terms (perceptual, discriminator features) plug in by following the same call signature.
"""

from __future__ import annotations

import torch
from torch import nn


class PixelLoss(nn.Module):
    """``mse_weight * MSE + l1_weight * L1``, averaged over each image's pixels."""

    def __init__(self, mse_weight: float = 1.0, l1_weight: float = 0.0):
        super().__init__()
        self.mse_weight = float(mse_weight)
        self.l1_weight = float(l1_weight)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        diff = (pred - target).flatten(1)
        loss = torch.zeros(pred.shape[0], device=pred.device, dtype=pred.dtype)
        if self.mse_weight:
            loss = loss + self.mse_weight * diff.pow(2).mean(dim=1)
        if self.l1_weight:
            loss = loss + self.l1_weight * diff.abs().mean(dim=1)
        return loss


class SumLoss(nn.Module):
    """Weighted sum of per-image losses: ``SumLoss([(1.0, PixelLoss()), (0.5, other)])``."""

    def __init__(self, terms: list[tuple[float, nn.Module]]):
        super().__init__()
        self.weights = [float(w) for w, _ in terms]
        self.terms = nn.ModuleList([t for _, t in terms])

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(w * t(pred, target) for w, t in zip(self.weights, self.terms))


DEFAULT_PERCEPTUAL_WEIGHT = 1e-3  # mean-L1 conv4_3 distances are ~1e3x larger than pixel MSE


def build_loss(mse_weight: float = 1.0, l1_weight: float = 0.0, perceptual_weight: float = 0.0,
               perceptual_resize: int | None = None, vgg_weights=None) -> nn.Module:
    """The inversion loss: pixel terms plus an optional VGG16 perceptual term (mGANprior Eq. 5)."""
    pixel = PixelLoss(mse_weight, l1_weight)
    if not perceptual_weight:
        return pixel
    from .perceptual import PerceptualLoss
    return SumLoss([(1.0, pixel), (perceptual_weight, PerceptualLoss(perceptual_resize, vgg_weights))])


def resolve_loss(perceptual: float | str | None = "auto", **kwargs) -> tuple[nn.Module, str | None]:
    """``build_loss`` with ``perceptual='auto'``: the perceptual term at its default weight when the
    VGG16 weights can be had, else pixel only. Returns (loss, note explaining a fallback or None)."""
    from .errors import GanpriorError
    if perceptual in (None, "auto"):
        try:
            return build_loss(perceptual_weight=DEFAULT_PERCEPTUAL_WEIGHT, **kwargs), None
        except GanpriorError as e:
            return build_loss(perceptual_weight=0.0, **{k: v for k, v in kwargs.items() if k in
                                                         ("mse_weight", "l1_weight")}), f"perceptual loss off: {e}"
    try:
        weight = float(perceptual)
    except (TypeError, ValueError):
        raise GanpriorError(f"perceptual weight must be a number or 'auto', got {perceptual!r}") from None
    if weight < 0:
        raise GanpriorError(f"perceptual weight must be >= 0, got {weight}")
    return build_loss(perceptual_weight=weight, **kwargs), None
