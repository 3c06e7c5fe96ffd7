"""Mixing two images through the prior: per-layer styles (StyleGAN2) and composed features.

* ``style_mix``: StyleGAN's style mixing. A StyleGAN2 generator reads one w per layer (w+); the
  coarse layers ``[:crossover]`` take image A's styles and the fine layers ``[crossover:]`` image B's,
  so the result has A's pose and layout and B's colours and texture (low crossover: mostly B).
* ``feature_mix``: layer-wise mixing for priors without per-layer styles (DCGAN, PGGAN, BigGAN).
  Both images are multi-code (mGANprior, Gu et al. CVPR 2020) or subspace inversions at the same
  composition layer; their composed feature maps are mixed and the generator tail renders the result:

  - ``mode="adain"``: adaptive instance normalisation (Huang & Belongie 2017). Each channel of A's
    composed map is normalised to zero mean and unit std over space, then given B's mean and std
    for that channel: A's spatial structure with B's feature statistics.
  - ``mode="channels"``: the first ``fraction`` of the channels come from A, the rest from B
    (channels in index order, or ranked by A's total channel importance with ``order="importance"``).

  Side inputs of the features (StyleGAN2's running RGB image and remaining styles, BigGAN's class
  vectors) are A's in both modes.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..errors import GanpriorError
from ..inversion.base import Parameterization, Result
from ..inversion.dgp import DGPGenerator
from ..io import make_sheet, stack_rows
from ..priors.base import Features, Prior, feature_map, replace_feature_map
from .edit import check_index, resolve_parameterization

FEATURE_MIX_MODES = ("adain", "channels")


# -- style mixing (StyleGAN2 w+) ---------------------------------------------------------------------


def _check_style_prior(prior: Prior) -> None:
    if not (hasattr(prior, "codes_to_ws") and hasattr(prior, "num_ws") and hasattr(prior, "generator")):
        raise GanpriorError(f"prior {prior.name!r} ({prior.family}) has no per-layer styles; style mixing needs a "
                            "StyleGAN2 prior (use feature_mix with multi-code results instead)")


def as_ws(prior: Prior, source) -> torch.Tensor:
    """Per-layer styles ``(B, num_ws, w_dim)`` of a StyleGAN2 prior.

    ``source``: a single-code ``Result`` or ``SingleCode`` (codes in the prior's current latent space,
    mapped by ``prior.codes_to_ws``), or a tensor of styles: w+ ``(B, num_ws, w_dim)``, w ``(B, w_dim)``
    or one w ``(w_dim,)`` (broadcast over layers). A single w+ code needs its batch axis: ``ws[None]``.
    """
    _check_style_prior(prior)
    num_ws, w_dim = prior.num_ws, prior.generator.w_dim
    if isinstance(source, (Result, Parameterization)):
        param = resolve_parameterization(source, prior)
        if isinstance(param, DGPGenerator) or hasattr(param, "compose"):
            raise GanpriorError(f"style mixing needs one code per image (a single-code result), not a "
                                f"{type(param).__name__}")
        with torch.no_grad():
            return prior.codes_to_ws(param.codes.detach().to(prior.device))
    ws = torch.as_tensor(source).to(prior.device, torch.float32)
    if ws.ndim == 1 and ws.shape == (w_dim,):
        ws = ws[None]
    if ws.ndim == 2 and ws.shape[1] == w_dim:
        return ws[:, None].expand(-1, num_ws, -1)
    if ws.ndim == 3 and ws.shape[1:] == (num_ws, w_dim):
        return ws
    raise GanpriorError(f"styles for {prior.name!r} must be w+ (B, {num_ws}, {w_dim}), w (B, {w_dim}) or "
                        f"(w_dim,), got {tuple(ws.shape)}")


def style_mix(prior: Prior, codes_a, codes_b, crossover: int) -> torch.Tensor:
    """StyleGAN style mixing: layers ``[:crossover]`` (coarse) from A, the rest (fine) from B.

    ``codes_a`` / ``codes_b``: single-code results or styles (see ``as_ws``); batches of equal size,
    or one of size 1 (broadcast). ``crossover`` in ``0..num_ws``: 0 renders B, ``num_ws`` renders A.
    Returns ``(B, C, R, R)`` in [0, 1] on the CPU.
    """
    ws_a, ws_b = as_ws(prior, codes_a), as_ws(prior, codes_b)
    num_ws = prior.num_ws
    if isinstance(crossover, bool) or not isinstance(crossover, int) or not 0 <= crossover <= num_ws:
        raise GanpriorError(f"crossover must be a layer index in 0..{num_ws}, got {crossover!r}")
    na, nb = ws_a.shape[0], ws_b.shape[0]
    if na != nb and 1 not in (na, nb):
        raise GanpriorError(f"style mixing needs batches of equal size (or one of size 1), got {na} and {nb}")
    n = max(na, nb)
    ws = torch.cat([ws_a[:, :crossover].expand(n, -1, -1), ws_b[:, crossover:].expand(n, -1, -1)], dim=1)
    with torch.no_grad():
        x = prior.generator.synthesize(ws, prior.noise_mode)
    return prior.to_unit(x).clamp(0, 1).cpu()


def style_mix_grid(prior: Prior, codes_a, codes_b, crossovers: Sequence[int], tile: int = 96) -> torch.Tensor:
    """A sheet ``(3, H, W)`` in [0, 1]: one row per image pair, columns A, the mix at each crossover, B."""
    crossovers = list(crossovers)
    if not crossovers:
        raise GanpriorError("style_mix_grid needs at least one crossover")
    num_ws = prior.num_ws if hasattr(prior, "num_ws") else 0
    a = style_mix(prior, codes_a, codes_b, num_ws)
    b = style_mix(prior, codes_a, codes_b, 0)
    mixes = [style_mix(prior, codes_a, codes_b, c) for c in crossovers]
    labels = ["A", *(f"A[:{c}] B[{c}:]" for c in crossovers), "B"]
    rows = [make_sheet([a[j], *(m[j] for m in mixes), b[j]], labels, tile=tile) for j in range(a.shape[0])]
    return stack_rows(rows)


# -- feature mixing (composed features of multi-code / subspace inversions) ---------------------------


def adain(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Adaptive instance normalisation of maps ``(..., C, H, W)``.

    ``(content - mean_c) * sqrt(var_s + eps) / sqrt(var_c + eps) + mean_s`` per channel, with the
    mean and (population) variance over space. The result has ``style``'s per-channel means and,
    wherever both variances are well above ``eps``, its stds; ``adain(x, x) == x``. A channel that
    is constant in ``content`` stays constant (at ``style``'s mean).
    """
    mc, vc = content.mean(dim=(-2, -1), keepdim=True), content.var(dim=(-2, -1), keepdim=True, unbiased=False)
    ms, vs = style.mean(dim=(-2, -1), keepdim=True), style.var(dim=(-2, -1), keepdim=True, unbiased=False)
    return (content - mc) * ((vs + eps) / (vc + eps)).sqrt() + ms


def _composing(source, what: str) -> Parameterization:
    param = resolve_parameterization(source)
    if not hasattr(param, "compose") or not hasattr(param, "layer"):
        raise GanpriorError(f"feature mixing needs a composing method (multi or subspace) for image {what}, "
                            f"not a {type(param).__name__}")
    return param


def feature_mix(param_a: Result | Parameterization, param_b: Result | Parameterization, layer: int | None = None,
                image_a: int = 0, image_b: int = 0, *, mode: str = "adain", fraction: float = 0.5,
                order: str = "index", eps: float = 1e-5,
                return_features: bool = False) -> torch.Tensor | tuple[torch.Tensor, Features]:
    """Mix the composed features of two multi-code / subspace inversions (see the module docstring).

    Args:
        param_a, param_b: results (or their parameterisations) of a composing method, same prior and layer.
        layer: the composition layer, a check only: both inversions must have composed there
            (None: theirs).
        image_a, image_b: which image of each batch.
        mode: ``adain`` (A's structure, B's per-channel statistics) or ``channels``.
        fraction: ``channels`` mode: share of the channels taken from A (``round(fraction * C)``).
        order: ``channels`` mode: ``index`` (channels 0.. from A) or ``importance`` (A's channels with
            the largest total importance ``sum_n |alpha_n|``, multi-code only).
        eps: AdaIN's variance floor.
        return_features: also return the mixed features (batch of 1) that went into the tail.

    Returns: ``(1, C, R, R)`` in [0, 1] on the CPU (and the features with ``return_features``).
    """
    pa, pb = _composing(param_a, "A"), _composing(param_b, "B")
    if pa.prior is not pb.prior:
        raise GanpriorError("feature mixing needs two inversions with the same prior")
    if pa.layer != pb.layer:
        raise GanpriorError(f"feature mixing needs both inversions composed at one layer, "
                            f"got {pa.layer} and {pb.layer}")
    if layer is not None and layer != pa.layer:
        raise GanpriorError(f"these inversions composed their features at layer {pa.layer}, not layer {layer}")
    if mode not in FEATURE_MIX_MODES:
        raise GanpriorError(f"unknown feature mix mode {mode!r}; choose from {', '.join(FEATURE_MIX_MODES)}")
    ia = check_index(image_a, pa.codes.shape[0], "image A")
    ib = check_index(image_b, pb.codes.shape[0], "image B")
    prior = pa.prior
    with torch.no_grad():
        feats_a, feats_b = pa.compose(), pb.compose()
        fa, fb = feature_map(feats_a)[ia:ia + 1], feature_map(feats_b)[ib:ib + 1]
        if mode == "adain":
            mixed = adain(fa, fb, eps)
        else:
            channels = fa.shape[1]
            if not 0 <= fraction <= 1:
                raise GanpriorError(f"fraction must be in [0, 1], got {fraction}")
            count = int(round(fraction * channels))
            if order == "index":
                ranked = torch.arange(channels, device=fa.device)
            elif order == "importance":
                if not hasattr(pa, "importance"):
                    raise GanpriorError("order='importance' needs a multi-code result for image A")
                ranked = pa.importance.detach()[ia].abs().sum(0).argsort(descending=True)
            else:
                raise GanpriorError(f"unknown channel order {order!r}; choose index or importance")
            from_a = torch.zeros(channels, dtype=torch.bool, device=fa.device)
            from_a[ranked[:count]] = True
            mixed = torch.where(from_a[None, :, None, None], fa, fb)
        sides = feats_a if isinstance(feats_a, torch.Tensor) else tuple(t[ia:ia + 1] for t in feats_a)
        features = replace_feature_map(sides, mixed)
        x = prior.to_unit(prior.tail(features, pa.layer)).clamp(0, 1).cpu()
    return (x, features) if return_features else x


__all__ = ["style_mix", "style_mix_grid", "as_ws", "adain", "feature_mix", "FEATURE_MIX_MODES"]
