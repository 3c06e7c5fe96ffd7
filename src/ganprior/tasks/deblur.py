"""Deblurring: a Gaussian blur of ``blur_sigma`` pixels at the prior's resolution (deepinv ``BlurFFT``,
circular, with deepinv's Gaussian filter). The observation is no longer the image's own pixels, so
nothing is pasted back; the classical answer is Wiener deconvolution (or Richardson-Lucy)."""

from __future__ import annotations

import deepinv as dinv
import torch

from ..baselines.classical import DECONVOLVERS, richardson_lucy, wiener
from ..errors import GanpriorError
from .base import Step, Task, TaskOption, finite_at_least, register
from .super_resolve import SR_SCRIPT

MAX_BLUR_SIGMA = 8.0  # pixels; wider blurs leave a prior-resolution image little to invert
# Wiener's noise-to-signal ratio: low enough to undo the blur of a clean observation, high enough to
# keep 8-bit quantisation from being amplified into ringing
WIENER_BALANCE = 1e-3
RICHARDSON_LUCY_ITERATIONS = 30


def blur_kernel(sigma: float, size: int) -> torch.Tensor:
    """``(k, k)`` Gaussian point-spread function of std ``sigma`` pixels, summing to 1: deepinv's filter
    on its own support (about 3.3 sigma each side), cut to the largest odd size that fits ``size``."""
    k = 2 * int(sigma / 0.3 + 1) + 1
    k = min(k, size if size % 2 else size - 1)
    psf = dinv.physics.functional.gaussian_blur(psf_size=(k, k), sigma=(sigma, sigma))[0, 0]
    return psf / psf.sum()


@register
class Deblur(Task):
    name = "deblur"
    aliases = ("deblurring",)
    order = 10  # the lens blurs the full-resolution image, before it is downsampled
    options = (TaskOption("blur_sigma", float, 1.5, "deblur: std of the Gaussian blur, in pixels of the "
                          "prior's resolution", "0 < SIGMA <= 8",
                          check=finite_at_least("blur sigma", 0.0, strict=True, high=MAX_BLUR_SIGMA)),)
    observes_pixels = False
    classical_option = "deconvolver"
    classical_methods = DECONVOLVERS

    # Chosen on 16 *training* faces of UTKFace (outside the prior's 200 held-out faces, spread over the
    # age-sorted file list), blurred with seed 0 and no noise; PSNR / LPIPS at blur sigma 1.5 (2.5):
    # Wiener 32.30 / 0.0587 (27.00 / 0.2108), Richardson-Lucy 28.97 / 0.1241 (24.69 / 0.3258). A
    # multi-code fit at layer 1 with the pixel loss is 26.45 / 0.0767 (24.44 / 0.1083) alone, and
    # blended into Wiener with weight 0.3 / 0.5 / 0.7 / 1.0: 33.52 / 0.0520, 34.02 / 0.0436,
    # 34.11 / 0.0346, 33.45 / 0.0240 (27.82 / 0.1613, 28.12 / 0.1235, 28.14 / 0.0950, 27.68 / 0.0708),
    # about 19 s per image on a shared CPU thread. One code from the best of the prior's samples:
    # 23.20 / 0.1031 alone, blended 33.72 / 0.0400, 33.63 / 0.0297, 32.78 / 0.0194 at 0.5 / 0.7 / 1.0
    # (27.84 / 0.0951, 27.62 / 0.0679, 26.78 / 0.0545), 11 s per image. Blending into Richardson-Lucy
    # instead was 3.5 dB lower and worse in LPIPS for every fit and weight (multi-code 0.7: 30.60 /
    # 0.0624, 26.24 / 0.1169), so the blend keeps Wiener. Faithful: multi-code at layer 1, weight 0.7
    # (the best PSNR at both sigmas, and LPIPS well below both baselines). Perceptual: one code from
    # the best start, the residual correction (weight 1.0), the lowest LPIPS at both sigmas; its PSNR
    # is above Wiener's at 1.5 and 0.2 dB below it at 2.5. With the VGG term (the perceptual style's
    # loss) that fit was measured on the first 8 of the 16 faces at sigma 1.5 only: blended 1.0,
    # 32.92 / 0.0194 against 33.18 / 0.0196 with the pixel loss, a tie in LPIPS at about 5x the time
    # (53 against 11 s per image); the style keeps its VGG term. Layer 2 (20 codes, pixel loss) was
    # measured on the first 4 faces at sigma 1.5 only (about 4x the cost): blended 0.7 35.16 / 0.0203
    # against layer 1's 35.50 / 0.0240 on the same faces, blended 1.0 34.38 / 0.0114 (layer 1 34.99 /
    # 0.0141, one code 34.22 / 0.0124): lower PSNR, an LPIPS lead too small on 4 faces to pay for the
    # time. Not measured: layer 2 on more faces or at sigma 2.5, the VGG term at sigma 2.5.
    recipes = {
        "faithful": {"method": "multi", "perceptual": 0.0, "blend": 0.7, "layer": 1},
        "perceptual": {"method": "single", "perceptual": "auto", "latent_init": "best", "blend": 1.0},
    }
    method_defaults = {"layer": 2}
    preset_rank = 35  # after super-resolution: a blurred low-resolution image takes SR's recipes
    # The DGP repository has no deblurring script: the SR script's schedule (an observation that
    # keeps the layout and loses the detail, as SR's does). Our choice, not the paper's.
    dgp_schedule = {"source": "ours: experiments/examples/run_SR.sh's schedule (no deblurring script)",
                    **SR_SCRIPT, "candidate_std": 0.3}
    dgp_rank = 35

    def forward(self, geometry, options, *, mask=None, device="cpu") -> Step:
        channels, size = geometry
        psf = blur_kernel(options["blur_sigma"], size)
        op = dinv.physics.BlurFFT(img_size=(channels, size, size), filter=psf[None, None], device=device)
        return Step(op, geometry)

    def background(self, x, options, *, mask=None, method=None) -> torch.Tensor:
        # the deconvolvers take square images: pad the photo to a square (edges replicated), then crop
        h, w = x.shape[-2:]
        side = max(h, w)
        padded = torch.nn.functional.pad(x, (0, side - w, 0, side - h), mode="replicate")
        psf = blur_kernel(options["blur_sigma"], side)
        method = method or self.default_method()
        out = richardson_lucy(padded, psf, RICHARDSON_LUCY_ITERATIONS) if method == "richardson-lucy" \
            else wiener(padded, psf, WIENER_BALANCE)
        return out[..., :h, :w]

    def classical(self, x, degradation, method, *, guide=None, guide_weight=0.0) -> torch.Tensor:
        psf = blur_kernel(degradation.options["blur_sigma"], x.shape[-1])
        if method == "richardson-lucy":
            return richardson_lucy(x, psf, RICHARDSON_LUCY_ITERATIONS)
        if method == "wiener":
            return wiener(x, psf, WIENER_BALANCE)
        raise GanpriorError(f"deconvolver must be one of {', '.join(DECONVOLVERS)}, got {method!r}")
