"""Classical restorations: what a user would run instead of a GAN prior.

The primitive operators, one per kind of loss, on ``(B, C, h, w)`` float tensors in [0, 1]:

* denoising: non-local means (scikit-image) or BM3D (the ``bm3d`` package), with the known sigma;
* inpainting: biharmonic fill (scikit-image);
* colorization: the gray input itself, as three equal channels (no colour is invented);
* super-resolution: bicubic (antialiased, the same kernel family as the forward model) or Lanczos;
* deblurring: Wiener deconvolution and Richardson-Lucy, both with the circular (FFT) convolution of
  the forward model (deepinv ``BlurFFT``), so the borders are modelled as they were blurred.

Each task of ``ganprior.tasks`` names the primitive that undoes it; this module knows no task.
scikit-image and bm3d are the optional extra ``ganprior[baselines]``; a missing one gives a one-line
error naming the extra.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..errors import GanpriorError

DENOISERS = ("nl-means", "bm3d")
FILLS = ("biharmonic",)
UPSAMPLERS = ("bicubic", "lanczos")
DECONVOLVERS = ("wiener", "richardson-lucy")


def _need(module: str):
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise GanpriorError(f"this baseline needs {module.split('.')[0]}: pip install 'ganprior[baselines]'") from None


def check_image(y: torch.Tensor) -> None:
    """A one-line error unless ``y`` is a finite (B, 1 or 3, h, w) image batch."""
    if not isinstance(y, torch.Tensor) or y.ndim != 4 or y.shape[1] not in (1, 3):
        raise GanpriorError(f"baselines take (B, 1 or 3, h, w) images, got "
                            f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}")
    if not torch.isfinite(y).all():
        raise GanpriorError("the observation holds NaN or infinite values")


def _per_image(y: torch.Tensor, fn: Callable[[np.ndarray], np.ndarray]) -> torch.Tensor:
    """Apply ``fn`` to each image as an (h, w, C) float64 array; returns (B, C', h', w') float32."""
    out = []
    for img in y.detach().cpu().double():
        a = np.asarray(fn(img.permute(1, 2, 0).numpy()), dtype=np.float32)
        if a.ndim == 2:
            a = a[..., None]
        out.append(torch.from_numpy(a).permute(2, 0, 1))
    return torch.stack(out).to(y.device)


def denoise(y: torch.Tensor, sigma: float, method: str = "bm3d", *, guide: torch.Tensor | None = None,
            guide_weight: float = 0.0) -> torch.Tensor:
    """Remove white Gaussian noise of known standard deviation ``sigma`` (on the [0, 1] scale).

    ``guide`` (BM3D only; same shape as ``y``) is an estimate of the clean image from elsewhere, such
    as a GAN prior's: BM3D's second stage, an empirical Wiener filter of the noisy input, then takes as
    its pilot ``(1 - guide_weight) * first-stage estimate + guide_weight * guide`` instead of its own
    hard-thresholding estimate alone. The pilot only sets the filter's per-coefficient gains, so the
    output is still a filtering of ``y``; ``guide_weight = 0`` is plain BM3D.
    """
    check_image(y)
    if method not in DENOISERS:
        raise GanpriorError(f"denoiser must be one of {', '.join(DENOISERS)}, got {method!r}")
    if guide is not None:
        if method != "bm3d":
            raise GanpriorError(f"a guide image needs the bm3d denoiser, got {method!r}")
        check_image(guide)
        if not 0 <= guide_weight <= 1:
            raise GanpriorError(f"the guide weight must be in [0, 1], got {guide_weight}")
        if guide.shape != y.shape:
            raise GanpriorError(f"the guide image must have the observation's shape {tuple(y.shape)}, "
                                f"got {tuple(guide.shape)}")
    if sigma <= 0:
        return y.clone()
    if guide is not None and guide_weight > 0:
        bm3d = _need("bm3d")
        guides = iter(guide.detach().cpu().double().permute(0, 2, 3, 1).numpy())
        return _per_image(y, lambda a: _bm3d_guided(bm3d, a, sigma, next(guides), guide_weight)).clamp(0, 1)
    if method == "nl-means":
        restoration = _need("skimage.restoration")

        def fn(a):  # h = 0.8 sigma: scikit-image's recommendation when sigma is known
            return restoration.denoise_nl_means(a, h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6,
                                                fast_mode=True, channel_axis=-1)
    else:
        bm3d = _need("bm3d")

        def fn(a):
            return _bm3d(bm3d, a, sigma)
    return _per_image(y, fn).clamp(0, 1)


def _gray(a: np.ndarray) -> bool:
    """One channel, or three equal ones: BM3D's colour version cannot take it (zero chroma range)."""
    return a.shape[-1] == 1 or (np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2]))


def _bm3d(bm3d, a: np.ndarray, sigma: float) -> np.ndarray:
    """BM3D of an (h, w, C) image. Colour goes through the package's opponent-space version, which
    divides each opponent channel by its range: a gray image (zero chroma range) is denoised as one
    channel instead, and a flat one is returned as it is (nothing to denoise, and nothing to divide by)."""
    if np.ptp(a) == 0:
        return a
    if _gray(a):
        out = bm3d.bm3d(a[..., 0], sigma)
        return np.repeat(np.asarray(out)[..., None], a.shape[-1], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = bm3d.bm3d_rgb(a, sigma)  # decorrelates the channels (opponent space) before filtering
    if np.isfinite(out).all():
        return out
    return np.stack([bm3d.bm3d(a[..., c], sigma) for c in range(a.shape[-1])], axis=-1)


def _bm3d_channels(bm3d, z: np.ndarray, sigmas, stage) -> np.ndarray:
    """One BM3D stage on each channel of an (h, w, C) array, with the block matches found on the first
    channel (as the package's multichannel BM3D does; its own multichannel call cannot take a pilot
    per channel). ``stage`` is a ``BM3DStages`` value or an (h, w, C) pilot for the Wiener stage."""
    wiener = isinstance(stage, np.ndarray)

    def run(c, matches):
        arg = stage[..., c] if wiener else stage
        flat = arg if wiener else z[..., c]
        if np.mean(flat) == np.min(flat):  # the package answers a flat channel or pilot with that array
            return flat  # alone, where its own wrapper expects block matches too
        return bm3d.bm3d(z[..., c], sigmas[c], stage_arg=arg, blockmatches=matches)
    first = run(0, (False, True) if wiener else (True, False))
    if isinstance(first, tuple):
        first, matches = first
    else:  # the package returns a flat pilot as it is, without block matches: each channel finds its own
        matches = (False, False)
    out = [np.squeeze(first)] + [np.squeeze(run(c, matches)) for c in range(1, z.shape[-1])]
    return np.stack(out, axis=-1)


def _bm3d_guided(bm3d, a: np.ndarray, sigma: float, guide: np.ndarray, weight: float) -> np.ndarray:
    """BM3D whose Wiener stage takes ``(1 - weight) * hard-thresholding estimate + weight * guide``
    as pilot; colour in the package's opponent space, gray and flat images as in ``_bm3d``."""
    if np.ptp(a) == 0:
        return a
    if _gray(a):
        z, g, sigmas, back = a[..., :1], guide.mean(axis=-1, keepdims=True), [sigma], None
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            z, o_max, o_min, scale, fwd = bm3d.rgb_to(a, "opp")
        if not (np.isfinite(z).all() and np.isfinite(scale).all()):  # a zero opponent range: per RGB channel
            z, g, sigmas, back = a, guide, [sigma] * 3, None
        else:
            g = ((guide.reshape(-1, 3) @ fwd.T - o_min) / (o_max - o_min)).reshape(guide.shape)
            sigmas, back = sigma * np.sqrt(scale), (o_max, o_min)
    first = _bm3d_channels(bm3d, z, sigmas, bm3d.BM3DStages.HARD_THRESHOLDING)
    out = _bm3d_channels(bm3d, z, sigmas, (1 - weight) * first + weight * g)
    if back is not None:
        out = bm3d.rgb_to(out, "opp", True, *back)[0]
    return np.repeat(out, a.shape[-1], axis=-1) if out.shape[-1] != a.shape[-1] else out


def fill(y: torch.Tensor, mask: torch.Tensor, method: str = "biharmonic") -> torch.Tensor:
    """Fill the pixels where ``mask`` (B or 1, 1, h, w; 1 = known) is 0."""
    check_image(y)
    if method not in FILLS:
        raise GanpriorError(f"fill must be one of {', '.join(FILLS)}, got {method!r}")
    if mask.shape[-2:] != y.shape[-2:]:
        raise GanpriorError(f"mask is {tuple(mask.shape[-2:])}, the image {tuple(y.shape[-2:])}")
    restoration = _need("skimage.restoration")
    masks = mask.expand(y.shape[0], 1, *y.shape[-2:]).detach().cpu()
    out = []
    for img, m in zip(y, masks):
        missing = (m[0] < 0.5).numpy()
        if not missing.any():
            out.append(img.clone())
            continue
        if missing.all():
            raise GanpriorError("the mask hides every pixel: nothing to fill from")
        a = restoration.inpaint_biharmonic(img.detach().cpu().double().permute(1, 2, 0).numpy(), missing,
                                           channel_axis=-1)
        out.append(torch.from_numpy(np.asarray(a, dtype=np.float32)).permute(2, 0, 1).to(y.device))
    return torch.stack(out).clamp(0, 1)


def upsample(y: torch.Tensor, size: int | tuple[int, int], method: str = "bicubic") -> torch.Tensor:
    """Resize to ``size`` x ``size`` (or ``(height, width)``) by bicubic or Lanczos-3 interpolation."""
    check_image(y)
    if method not in UPSAMPLERS:
        raise GanpriorError(f"upsampler must be one of {', '.join(UPSAMPLERS)}, got {method!r}")
    h, w = (size, size) if isinstance(size, int) else size
    if method == "bicubic":
        return torch.nn.functional.interpolate(y, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    from PIL import Image

    def fn(a):  # PIL's Lanczos on 8-bit images, as a user's image editor would do it
        u8 = (a * 255 + 0.5).clip(0, 255).astype(np.uint8)
        im = Image.fromarray(u8[..., 0] if u8.shape[-1] == 1 else u8)
        return np.asarray(im.resize((w, h), Image.LANCZOS), dtype=np.float64) / 255.0
    return _per_image(y, fn).clamp(0, 1)


def colorize(y: torch.Tensor) -> torch.Tensor:
    """The gray image as RGB: the classical answer when no colour can be inferred."""
    check_image(y)
    return y.expand(-1, 3, -1, -1).clamp(0, 1).clone() if y.shape[1] == 1 else y.clamp(0, 1).clone()


def _transfer(psf: torch.Tensor, size: int) -> torch.Tensor:
    """The FFT of a centred ``(k, k)`` point-spread function, zero-padded to ``size`` with its centre at
    the origin (circular convolution), normalised to sum 1; float64."""
    if not isinstance(psf, torch.Tensor) or psf.ndim != 2 or psf.shape[0] != psf.shape[1] or psf.shape[0] % 2 == 0:
        raise GanpriorError(f"the blur kernel must be a square (k, k) tensor with odd k, got "
                            f"{tuple(psf.shape) if isinstance(psf, torch.Tensor) else type(psf).__name__}")
    k = psf.shape[0]
    if k > size:
        raise GanpriorError(f"the blur kernel ({k} px) is larger than the image ({size} px)")
    psf = psf.detach().cpu().double()
    if not torch.isfinite(psf).all() or (psf < 0).any() or psf.sum() <= 0:
        raise GanpriorError("the blur kernel must be finite, non-negative and not all zero")
    pad = torch.zeros(size, size, dtype=torch.float64)
    pad[:k, :k] = psf / psf.sum()
    return torch.fft.fft2(torch.roll(pad, (-(k // 2), -(k // 2)), dims=(0, 1)))


def _square(y: torch.Tensor) -> int:
    check_image(y)
    if y.shape[-1] != y.shape[-2]:
        raise GanpriorError(f"deconvolution takes square images, got {tuple(y.shape[-2:])}")
    return y.shape[-1]


def wiener(y: torch.Tensor, psf: torch.Tensor, balance: float = 1e-3) -> torch.Tensor:
    """Wiener deconvolution of ``y`` blurred (circularly) by ``psf``: ``conj(H) Y / (|H|^2 + balance)``.

    ``balance`` is the noise-to-signal power ratio taken as constant over frequencies: small values
    undo more of the blur and amplify more noise."""
    h = _transfer(psf, _square(y))
    if not balance > 0:
        raise GanpriorError(f"the Wiener balance must be > 0, got {balance}")
    spectrum = torch.fft.fft2(y.detach().cpu().double())
    x = torch.fft.ifft2(h.conj() * spectrum / (h.abs() ** 2 + balance)).real
    return x.float().clamp(0, 1).to(y.device)


def richardson_lucy(y: torch.Tensor, psf: torch.Tensor, iterations: int = 30) -> torch.Tensor:
    """Richardson-Lucy deconvolution (the maximum-likelihood iteration for Poisson noise) of ``y``
    blurred circularly by ``psf``: ``x <- x * H^T (y / H x)``, from a flat image, ``iterations`` times."""
    h = _transfer(psf, _square(y))
    if int(iterations) < 1:
        raise GanpriorError(f"Richardson-Lucy needs at least one iteration, got {iterations}")

    def conv(img, transfer):
        return torch.fft.ifft2(torch.fft.fft2(img) * transfer).real
    observed = y.detach().cpu().double().clamp(0, 1)
    x = torch.full_like(observed, 0.5)
    eps = 1e-12
    for _ in range(int(iterations)):
        x = x * conv(observed / conv(x, h).clamp_min(eps), h.conj())
    return x.float().clamp(0, 1).to(y.device)
