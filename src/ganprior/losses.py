"""Losses between a predicted observation and the real one, reduced per image.

Every loss maps ``(pred, target)`` of shape ``(B, ...)`` to a ``(B,)`` tensor, one value per image.
The inversion loop sums these, so each image's gradient is independent of the batch it is in.
New terms (perceptual, discriminator features) plug in by following the same call signature.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import GanpriorError


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


def method_loss(method: str, perceptual: float | str | None = "auto", dgp_loss: str = "discriminator",
                **kwargs) -> tuple[nn.Module | str, str | None]:
    """The loss a method optimises: DGP's is its own, named (``dgp_loss``: discriminator features or
    an ablation); every other method gets ``resolve_loss(perceptual, **kwargs)``. Returns (loss, note)."""
    if method == "dgp":
        return dgp_loss, None
    return resolve_loss(perceptual, **kwargs)


def resolve_loss(perceptual: float | str | None = "auto", **kwargs) -> tuple[nn.Module, str | None]:
    """``build_loss`` with ``perceptual='auto'``: the perceptual term at its default weight when the
    VGG16 weights can be had, else pixel only. Returns (loss, note explaining a fallback or None)."""
    if perceptual in (None, "auto"):
        try:
            loss, note = build_loss(perceptual_weight=DEFAULT_PERCEPTUAL_WEIGHT, **kwargs), None
        except GanpriorError as e:
            loss = build_loss(perceptual_weight=0.0, **{k: v for k, v in kwargs.items() if k in
                                                         ("mse_weight", "l1_weight")})
            note = f"perceptual loss off: {e}"
        return loss, note
    try:
        weight = float(perceptual)
    except (TypeError, ValueError):
        raise GanpriorError(f"perceptual weight must be a number or 'auto', got {perceptual!r}") from None
    if weight < 0:
        raise GanpriorError(f"perceptual weight must be >= 0, got {weight}")
    return build_loss(perceptual_weight=weight, **kwargs), None


@contextmanager
def frozen_eval(module: nn.Module):
    """Run ``module`` in eval mode with its parameters out of autograd, then restore both.

    For networks used only as fixed feature extractors or renderers (a prior's discriminator): no
    gradient accumulates in their ``.grad``, spectral-norm or BatchNorm buffers are not updated,
    and the caller's train/eval flags are left as they were.
    """
    modes = [(m, m.training) for m in module.modules()]
    grads = [(p, p.requires_grad) for p in module.parameters()]
    module.eval()
    for p, _ in grads:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for m, training in modes:
            m.training = training
        for p, flag in grads:
            p.requires_grad_(flag)


class DiscriminatorFeatureLoss(nn.Module):
    """DGP's discriminator feature distance (Pan et al. 2020), per image.

    ``sum_i weight_i * mean |D_i(pred) - D_i(target)|`` over the selected outputs of
    ``discriminator.features(x)`` (shallow first), each a mean over that image's elements.

    Inputs are images in [0, 1] ``(B, c, h, w)``; they are lifted to what the discriminator takes
    before it sees them: gray (c = 1) is repeated to 3 channels, and a size other than the
    discriminator's ``resolution`` is resized to it (bilinear), as DGP compares its degraded
    renderings (gray, or bilinearly upsampled low-res) with the degraded observation. Then they go to
    the native [-1, 1] range. Feature entries that are not 4-D maps (BigGAN's pooled ``(B, C)``
    vector) are never compared.

    Args:
        discriminator: a module with ``features(x) -> list[Tensor]`` (``prior.discriminator``). It is
            used, not owned: it is run in eval mode without gradients for its weights, and it is not
            a submodule of the loss.
        blocks: indices into the features list (negative = from the deepest, as DGP counts); None
            for every 4-D map. ``DiscriminatorFeatureLoss.deepest(n)`` gives DGP's ``ftr_num = n``.
        weights: one weight per selected 4-D map (default 1 each).
        resolution: the size the discriminator takes (default: ``discriminator.resolution``).
    """

    def __init__(self, discriminator: nn.Module, blocks: Sequence[int] | None = None,
                 weights: Sequence[float] | None = None, *, resolution: int | None = None):
        super().__init__()
        if discriminator is None or not callable(getattr(discriminator, "features", None)):
            raise GanpriorError("the discriminator-feature loss needs a discriminator with features(x); "
                                "this prior has none (use the mse loss)")
        object.__setattr__(self, "discriminator", discriminator)  # not a submodule: not ours
        self.blocks = None if blocks is None else [int(b) for b in blocks]
        self.weights = None if weights is None else [float(w) for w in weights]
        self.resolution = resolution or getattr(discriminator, "resolution", None)
        self._selected: list[int] | None = None
        self._cache_key = None

    @staticmethod
    def deepest(count: int) -> list[int]:
        """Indices of the ``count`` deepest feature entries (DGP's ``ftr_num``)."""
        if count < 1:
            raise GanpriorError(f"number of discriminator features must be >= 1, got {count}")
        return list(range(-count, 0))

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] images ``(B, c, h, w)`` -> native-range 3-channel input of the discriminator."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise GanpriorError(f"the discriminator-feature loss compares images (B, 1 or 3, H, W), got "
                                f"{tuple(x.shape)}; use the mse loss for this forward model")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        size = self.resolution
        if size and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return x * 2 - 1

    def _select(self, feats: list[torch.Tensor]) -> list[int]:
        n = len(feats)
        if self._selected is None or self._num_features != n:
            wanted = range(n) if self.blocks is None else self.blocks
            for b in wanted:
                if not -n <= b < n:
                    raise GanpriorError(f"discriminator feature index {b} is out of range: it has {n} outputs")
            picked = sorted({b % n for b in wanted})
            picked = [b for b in picked if feats[b].ndim == 4]
            if not picked:
                raise GanpriorError("no 4-D discriminator feature map selected for the feature loss")
            if self.weights is not None and len(self.weights) != len(picked):
                raise GanpriorError(f"{len(self.weights)} feature weights for {len(picked)} selected "
                                    "discriminator feature maps")
            self._selected, self._num_features = picked, n
        return self._selected

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The selected 4-D maps of [0, 1] images ``x``, shallow first."""
        with frozen_eval(self.discriminator):
            feats = self.discriminator.features(self.prepare(x))
        return [feats[i] for i in self._select(feats)]

    def distance(self, a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
        """Weighted sum of per-map mean L1 between feature lists with broadcastable leading dims."""
        weights = self.weights or [1.0] * len(a)
        total = 0
        for w, fa, fb in zip(weights, a, b):
            total = total + w * (fa - fb).abs().flatten(-3).mean(dim=-1)
        return total

    def _target_features(self, target: torch.Tensor) -> list[torch.Tensor]:
        # the observation is the same tensor at every optimisation step: its features once
        key = (id(target), target._version, target.shape, target.device)
        if self._cache_key != key:
            with torch.no_grad():
                self._cache_features = self.features(target)
            self._cache_key = key
            self._cache_ref = target  # keeps id(target) from being reused while cached
        return self._cache_features

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fb = self.features(target) if target.requires_grad else self._target_features(target)
        return self.distance(self.features(pred), fb)

    def pairwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``(T, P)`` distances between every target ``(T, ...)`` and every prediction ``(P, ...)``."""
        with torch.no_grad():
            fp = self.features(pred)
            ft = self._target_features(target)
            return torch.stack([self.distance(fp, [f[t:t + 1] for f in ft]) for t in range(target.shape[0])])
