"""Degradations the way users' images have them, made with ordinary tools instead of ganprior's own
forward models (issue #27), for ``benchmarks/restoration.py --part realistic``.

Each case: (label, task, task options the user would pass, how the observation is made). Every
observation is rounded to 8 bits, as an image file holds it. The user's options are what they can
know: the factor, a noise level measured on the observation, never the kernel (the library's default
kernel, PIL's antialiased bicubic, is used for every low-resolution case, so the rows made by other
tools measure the mismatch).
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

import deepinv as dinv


def _u8(img: torch.Tensor) -> np.ndarray:
    return (img.permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)


def _float(a: np.ndarray) -> torch.Tensor:
    a = np.asarray(a, dtype=np.float32) / 255.0
    return torch.from_numpy(a[..., None] if a.ndim == 2 else a).permute(2, 0, 1)


def quantize(x: torch.Tensor) -> torch.Tensor:
    return torch.round(x.clamp(0, 1) * 255) / 255


def pil_resize(images: torch.Tensor, factor: int, resample) -> torch.Tensor:
    s = images.shape[-1] // factor
    return torch.stack([_float(np.asarray(Image.fromarray(_u8(x)).resize((s, s), resample))) for x in images])


def cv2_resize(images: torch.Tensor, factor: int, flag: str) -> torch.Tensor:
    import cv2
    s = images.shape[-1] // factor
    interp = {"area": cv2.INTER_AREA, "cubic": cv2.INTER_CUBIC}[flag]
    return torch.stack([_float(cv2.resize(_u8(x), (s, s), interpolation=interp)) for x in images])


def deepinv_resize(images: torch.Tensor, factor: int) -> torch.Tensor:
    op = dinv.physics.Downsampling(img_size=tuple(images.shape[1:]), factor=factor, filter="bicubic",
                                   padding="replicate")
    return quantize(op.A(images))


def jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    out = []
    for x in images:
        buf = io.BytesIO()
        Image.fromarray(_u8(x)).save(buf, format="JPEG", quality=quality)
        out.append(_float(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))))
    return torch.stack(out)


# Poisson-Gaussian sensor noise at a realistic low-light level: PEAK photo-electrons at white, plus
# read noise READ (on the [0, 1] scale); its standard deviation at mid-gray is about 0.1
PEAK, READ = 50.0, 0.02


def poisson_gaussian(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    counts = torch.poisson(images.clamp(0, 1) * PEAK, generator=g)
    return quantize(counts / PEAK + READ * torch.randn(images.shape, generator=g))


def old_print(images: torch.Tensor) -> torch.Tensor:
    """A faded black-and-white print: Rec.601 gray through a lifted, compressed tone curve (paper
    white and a milky black: 0.08 + 0.82 * luma ** 1.15)."""
    luma = (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2])[:, None]
    return quantize(0.08 + 0.82 * luma.clamp(0, 1) ** 1.15)


# key -> (label, task, options, make(images) -> observation)
CASES = {
    "sr4-pil-bicubic": ("x4, PIL bicubic (the headline)", "super-resolve", {"factor": 4},
                        lambda x: pil_resize(x, 4, Image.BICUBIC)),
    "sr4-pil-lanczos": ("x4, PIL Lanczos", "super-resolve", {"factor": 4}, lambda x: pil_resize(x, 4, Image.LANCZOS)),
    "sr4-cv2-area": ("x4, OpenCV area", "super-resolve", {"factor": 4}, lambda x: cv2_resize(x, 4, "area")),
    "sr4-cv2-cubic": ("x4, OpenCV bicubic (not antialiased)", "super-resolve", {"factor": 4},
                      lambda x: cv2_resize(x, 4, "cubic")),
    "sr4-deepinv": ("x4, deepinv Downsampling", "super-resolve", {"factor": 4}, lambda x: deepinv_resize(x, 4)),
    "sr8-pil-bicubic": ("x8, PIL bicubic", "super-resolve", {"factor": 8}, lambda x: pil_resize(x, 8, Image.BICUBIC)),
    "sr4-jpeg50": ("x4, PIL bicubic then JPEG q50", "super-resolve", {"factor": 4},
                   lambda x: jpeg(pil_resize(x, 4, Image.BICUBIC), 50)),
    "jpeg30": ("JPEG q30, restored as denoising sigma 0.03", "denoise", {"noise_sigma": 0.03}, lambda x: jpeg(x, 30)),
    "jpeg70": ("JPEG q70, restored as denoising sigma 0.02", "denoise", {"noise_sigma": 0.02},
               lambda x: jpeg(x, 70)),
    "denoise-pg": (f"Poisson-Gaussian (peak {PEAK:g}, read {READ:g}), restored as sigma 0.1", "denoise",
                   {"noise_sigma": 0.1}, poisson_gaussian),
    "gray-old-print": ("colorize an old print (faded tone curve)", "colorize", {}, old_print),
}

