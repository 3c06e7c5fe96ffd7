"""What each latent code of a multi-code inversion is responsible for (mGANprior, Gu et al. CVPR 2020, Fig. 5).

For code n, the channels it matters for (importance ``alpha_n`` above a threshold) are switched off
(``alpha_n,c = 0``), the features are re-composed and rendered, and the per-pixel change against the
full reconstruction is code n's *role map*: the image regions that code explains.
"""

from __future__ import annotations

import torch

from ..errors import GanpriorError
from ..inversion.base import Parameterization, Result
from ..inversion.multi_code import MultiCode
from ..io import make_sheet, stack_rows
from ..priors.base import map_features
from .edit import check_index, resolve_parameterization


class RoleMaps(tuple):
    """``(maps, rendered)``, unpackable as a pair, with two more attributes.

    maps: ``(N, R, R)`` in [0, 1], mean absolute colour difference per pixel, divided by ``scale``.
    rendered: ``(N, C, R, R)`` in [0, 1], the image without code n's important channels.
    scale: the largest raw difference over all N maps (the normaliser; 0 when nothing changed).
    reconstruction: ``(C, R, R)`` in [0, 1], the full composition.
    """

    def __new__(cls, maps: torch.Tensor, rendered: torch.Tensor, scale: float, reconstruction: torch.Tensor):
        obj = super().__new__(cls, (maps, rendered))
        obj.scale = scale
        obj.reconstruction = reconstruction
        return obj

    @property
    def maps(self) -> torch.Tensor:
        return self[0]

    @property
    def rendered(self) -> torch.Tensor:
        return self[1]


def _multi_code(source: Result | Parameterization) -> MultiCode:
    param = resolve_parameterization(source)
    if not isinstance(param, MultiCode):
        raise GanpriorError(f"code role maps need a multi-code result (method 'multi'), not a {type(param).__name__}")
    return param


def code_role_maps(result_or_param: Result | Parameterization, image: int = 0, threshold: float = 0.2) -> RoleMaps:
    """Role maps of the N codes of one multi-code inversion (mGANprior Fig. 5).

    For each code n, its importances above ``threshold`` are set to 0, the N codes are re-composed
    and the tail renders the image; map n is the per-pixel absolute difference to the full
    reconstruction (mean over colour). All maps share one normaliser, the largest difference over
    all of them (``RoleMaps.scale``), so a code that changes little keeps a faint map. A code with
    no importance above the threshold changes nothing: its map is exactly 0.

    Returns a ``RoleMaps``: ``maps, rendered = code_role_maps(result)`` with maps ``(N, R, R)`` in
    [0, 1] and rendered ``(N, C, R, R)`` in [0, 1], on the CPU.
    """
    param = _multi_code(result_or_param)
    i = check_index(image, param.codes.shape[0])
    prior = param.prior
    with torch.no_grad():
        codes = param.codes.detach()[i]  # (N, *latent_shape)
        n = codes.shape[0]
        importance = param.importance.detach()[i]  # (N, C)
        important = importance > threshold
        # variant 0: the full composition; variant 1 + n: without code n's important channels
        variants = importance[None].repeat(n + 1, 1, 1)
        for k in range(n):
            variants[1 + k, k][important[k]] = 0
        if param.normalize:
            variants = variants / n
        feats = prior.head(codes, param.layer)  # one head pass for all variants
        feats = map_features(lambda t: t[None].expand(n + 1, *t.shape), feats)
        x = prior.to_unit(prior.tail(prior.compose_features(feats, variants), param.layer)).clamp(0, 1)
        reconstruction, rendered = x[0], x[1:]
        diff = (rendered - reconstruction[None]).abs().mean(dim=1)  # (N, R, R)
        unchanged = ~important.any(dim=1)
        diff[unchanged] = 0
        rendered[unchanged] = reconstruction
        scale = float(diff.max())
        maps = diff / scale if scale > 0 else torch.zeros_like(diff)
    return RoleMaps(maps.cpu(), rendered.cpu(), scale, reconstruction.cpu())


def heat_colors(maps: torch.Tensor) -> torch.Tensor:
    """Maps ``(..., H, W)`` in [0, 1] -> ``(..., 3, H, W)`` black-red-yellow-white heat colours."""
    m = maps.clamp(0, 1)[..., None, :, :]
    ramp = torch.tensor([0.0, 1.0, 2.0], dtype=m.dtype).view(3, 1, 1)
    return (3 * m - ramp).clamp(0, 1)


def role_sheet(result_or_param: Result | Parameterization, image: int = 0, threshold: float = 0.2, *,
               tile: int = 96, color: bool = True, show_rendered: bool = True) -> torch.Tensor:
    """A sheet ``(3, H, W)`` in [0, 1] of ``code_role_maps``: the reconstruction, then each code's
    map (heat colours, or gray with ``color=False``) labelled ``code n``; with ``show_rendered`` a
    second row shows each image without that code's channels."""
    roles = code_role_maps(result_or_param, image, threshold)
    maps, rendered = roles
    tiles = heat_colors(maps) if color else maps[:, None].expand(-1, 3, -1, -1)
    labels = [f"code {k}" for k in range(maps.shape[0])]
    top = make_sheet([roles.reconstruction, *tiles], [f"recon (max {roles.scale:.3f})", *labels], tile=tile)
    if not show_rendered:
        return top
    bottom = make_sheet([roles.reconstruction, *rendered], ["recon", *(f"w/o code {k}" for k in range(len(labels)))],
                        tile=tile)
    return stack_rows([top, bottom])


__all__ = ["RoleMaps", "code_role_maps", "role_sheet", "heat_colors"]
