"""Image quality metrics on ``(B, C, H, W)`` tensors in [0, 1], one value per image.

PSNR and SSIM are deepinv's (checked equal to scikit-image's Gaussian-window SSIM).
"""

from __future__ import annotations

import math

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


# -- LPIPS -------------------------------------------------------------------------------
_LPIPS_MODELS: dict[str, torch.nn.Module] = {}


def lpips(x: torch.Tensor, ref: torch.Tensor, net: str = "alexnet") -> torch.Tensor:
    """LPIPS v0.1 distance (lower is better), ``(B,)``; AlexNet trunk by default, as the papers report."""
    _check(x, ref)
    from .perceptual import LPIPS
    if net not in _LPIPS_MODELS:
        _LPIPS_MODELS[net] = LPIPS(net)
    model = _LPIPS_MODELS[net].to(x.device)
    with torch.no_grad():
        return model(x.clamp(0, 1).float(), ref.float())


# -- colorization AuC (Zhang et al. 2016) ------------------------------------------------
_XYZ_FROM_RGB = torch.tensor([[0.412453, 0.357580, 0.180423],
                              [0.212671, 0.715160, 0.072169],
                              [0.019334, 0.119193, 0.950227]])
_RGB_FROM_XYZ = torch.linalg.inv(_XYZ_FROM_RGB.double())
_D65_WHITE = (0.950456, 1.0, 1.088754)


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """sRGB ``(B, 3, H, W)`` in [0, 1] -> CIE Lab (D65): L in [0, 100], a/b roughly [-110, 110]."""
    x = x.clamp(0, 1).double()
    linear = torch.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92)
    xyz = torch.einsum("ij,bjhw->bihw", _XYZ_FROM_RGB.to(linear), linear)
    xyz = xyz / torch.tensor(_D65_WHITE, dtype=xyz.dtype, device=xyz.device).view(1, 3, 1, 1)
    eps = (6 / 29) ** 3
    f = torch.where(xyz > eps, xyz.clamp_min(eps) ** (1 / 3), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    L = 116 * f[:, 1] - 16
    a = 500 * (f[:, 0] - f[:, 1])
    b = 200 * (f[:, 1] - f[:, 2])
    return torch.stack([L, a, b], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE Lab (D65) ``(B, 3, H, W)`` -> sRGB in [0, 1] (out-of-gamut colours clipped); inverts ``rgb_to_lab``."""
    lab = lab.double()
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], dim=1)
    delta = 6 / 29
    xyz = torch.where(f > delta, f ** 3, 3 * delta ** 2 * (f - 4 / 29))
    xyz = xyz * torch.tensor(_D65_WHITE, dtype=xyz.dtype, device=xyz.device).view(1, 3, 1, 1)
    linear = torch.einsum("ij,bjhw->bihw", _RGB_FROM_XYZ.to(xyz), xyz).clamp(0, 1)
    rgb = torch.where(linear > 0.0031308, 1.055 * linear.clamp_min(0.0031308) ** (1 / 2.4) - 0.055, linear * 12.92)
    return rgb.clamp(0, 1).float()


def auc_from_ab_error(err: torch.Tensor, max_threshold: int = 150) -> torch.Tensor:
    """Area under the cumulative curve of per-pixel ab errors ``(B, H, W)``, in percent, ``(B,)``.

    For thresholds t = 0, 1, ..., max_threshold, the fraction of pixels with error <= t; AuC is
    the mean of those fractions times 100 (100 = every pixel exact).
    """
    thresholds = torch.arange(0, max_threshold + 1, dtype=err.dtype, device=err.device)
    flat = err.flatten(1)
    frac = (flat[:, None, :] <= thresholds[None, :, None]).to(err.dtype).mean(dim=2)
    return frac.mean(dim=1) * 100


def colorization_auc(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Colorization AuC (percent, higher is better) of the ab error in Lab against ``ref``, ``(B,)``."""
    _check(x, ref)
    ab_x, ab_ref = rgb_to_lab(x)[:, 1:], rgb_to_lab(ref)[:, 1:]
    err = (ab_x - ab_ref).pow(2).sum(dim=1).sqrt()
    return auc_from_ab_error(err).float()


# -- colour stains (#27) -------------------------------------------------------------------
STAIN_THRESHOLD = 15.0  # Lab ab distance: well past a tone a viewer accepts, below a wrong hue
STAIN_WINDOW = 5  # px of the 64 px face: a blotch on a nose or a patch on a cheek, not an edge


def chroma_stain(x: torch.Tensor, ref: torch.Tensor, threshold: float = STAIN_THRESHOLD,
                 window: int = STAIN_WINDOW) -> torch.Tensor:
    """Stained area of a colorization, percent of the image (lower is better), ``(B,)``.

    The chroma error ``d = ab(x) - ab(ref)`` (CIE Lab a/b, the colour without the brightness, which a
    colorization keeps) is averaged over a ``window`` x ``window`` box around each pixel, and a pixel
    is stained where that local mean error is longer than ``threshold``. The box keeps what a person
    sees as a stain, a patch of one wrong colour (a yellow blotch on a nose, blue on a cheek), and
    drops errors that change sign within a few pixels: a colour edge drawn a pixel off, chroma noise.
    A cast over the whole image (a blue tint on a black-and-white portrait) is a stain everywhere.
    The threshold separates a wrong hue from a wrong tone: skin's chroma is about 10-35 long, so a
    face a little paler or more saturated than the truth errs by well under 15 (the first 20 held-out
    faces with their chroma scaled by 0.7 / 1.3: 1.3% / 0.8% stained), while blue or yellow where the
    truth is skin or gray errs by 20-60. Unlike PSNR or AuC, a face evenly a little off scores about 0
    and a small bright stain counts with its whole area. A cast shorter than 15 (a blue tint of 0.07
    in RGB, about 12) is not counted.
    """
    _check(x, ref)
    d = (rgb_to_lab(x)[:, 1:] - rgb_to_lab(ref)[:, 1:]).float()
    if window > 1:
        d = torch.nn.functional.avg_pool2d(d, window, stride=1, padding=window // 2, count_include_pad=False)
    return (d.pow(2).sum(dim=1).sqrt() > threshold).float().flatten(1).mean(dim=1) * 100


# -- everything at once ------------------------------------------------------------------
METRIC_KEYS = ("psnr", "ssim", "lpips", "niqe", "auc")


def _optional(fn):
    """Run a metric whose weights or parameters may be unavailable; None (with the reason) if so."""
    from .errors import GanpriorError
    try:
        return fn(), None
    except GanpriorError as e:
        return None, str(e)


def evaluate_images(images: torch.Tensor, ref: torch.Tensor | None = None, *, niqe_params=None,
                    notes: list[str] | None = None) -> list[dict]:
    """Per-image ``psnr, ssim, lpips, niqe, auc`` for ``(B, 3, H, W)`` images in [0, 1].

    Reference metrics are None without ``ref``; LPIPS is None when its weights cannot be had, NIQE when
    its parameters cannot be had or the image is smaller than 96x96, PSNR when the images are identical
    (infinite). Reasons are appended to ``notes``.
    """
    from .niqe import BLOCK_SIZE as NIQE_BLOCK, NiqeParams, load_niqe_params, niqe_or_none
    b = images.shape[0]
    cols: dict[str, list] = {k: [None] * b for k in METRIC_KEYS}
    if ref is not None:
        cols["psnr"] = psnr(images, ref).tolist()
        cols["ssim"] = ssim(images, ref).tolist()
        cols["auc"] = colorization_auc(images, ref).tolist()
        values, why = _optional(lambda: lpips(images, ref).tolist())
        if values is not None:
            cols["lpips"] = values
        elif notes is not None:
            notes.append(f"LPIPS unavailable: {why}")
    if min(images.shape[-2:]) >= NIQE_BLOCK:  # smaller images have no NIQE block: skip the parameter fetch
        params, why = _optional(lambda: niqe_params if isinstance(niqe_params, NiqeParams)
                                else load_niqe_params(niqe_params))
        if params is not None:
            cols["niqe"] = [niqe_or_none(img, params) for img in images]
        elif notes is not None:
            notes.append(f"NIQE unavailable: {why}")
    # JSON has no infinity: PSNR of identical images (and any other non-finite value) becomes None
    return [{k: (float(cols[k][i]) if cols[k][i] is not None and math.isfinite(cols[k][i]) else None)
             for k in METRIC_KEYS} for i in range(b)]
