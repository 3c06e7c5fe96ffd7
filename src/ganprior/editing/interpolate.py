"""Feature-space interpolation between two inverted images (PmSFC Fig. 6).

Both images are inverted with a composing method (multi-code or subspace); their composed features
at the composition layer are blended linearly and decoded by the generator tail. ``max_jump``
measures smoothness: the largest distance between consecutive frames.
"""

from __future__ import annotations

import torch

from ..errors import GanpriorError
from ..inversion.base import Parameterization
from ..priors.base import feature_map, map_features


def feature_interpolation(param: Parameterization, first: int = 0, second: int = 1, frames: int = 9) -> torch.Tensor:
    """``(frames, 3, R, R)`` in [0, 1]: decoded blends of the composed features of two batch items.

    ``param`` is a result's ``parameterization`` from the multi-code or subspace method.
    """
    if not hasattr(param, "compose"):
        raise GanpriorError("feature interpolation needs a composing method (multi or subspace), not single")
    if frames < 2:
        raise GanpriorError(f"need at least 2 frames, got {frames}")
    prior = param.prior
    with torch.no_grad():
        feats = param.compose()
        t = torch.linspace(0, 1, frames, device=feature_map(feats).device)

        def blend(x: torch.Tensor) -> torch.Tensor:
            a, b = x[first][None], x[second][None]
            w = t.view(-1, *([1] * (x.dim() - 1)))
            return (1 - w) * a + w * b

        return prior.to_unit(prior.tail(map_features(blend, feats), param.layer)).clamp(0, 1).cpu()


def max_jump(frames: torch.Tensor, metric: str = "pixel") -> float:
    """Largest distance between consecutive frames: RMSE in [0, 1] (``pixel``) or LPIPS (``lpips``)."""
    a, b = frames[:-1], frames[1:]
    if metric == "pixel":
        return float((a - b).pow(2).flatten(1).mean(1).sqrt().max())
    if metric == "lpips":
        from ..metrics import lpips
        return float(lpips(a, b).max())
    raise GanpriorError(f"unknown smoothness metric {metric!r}; choose pixel or lpips")
