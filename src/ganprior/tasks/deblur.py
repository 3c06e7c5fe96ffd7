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

    # Provisional, not yet measured: super-resolution's recipes (a multi-code fit at layer 1 blended
    # into the classical restoration, with the VGG term for the perceptual style), since both tasks
    # lose the same kind of detail. To be chosen by benchmarks/restoration.py.
    recipes = {
        "faithful": {"method": "multi", "perceptual": 0.0, "blend": 0.5, "layer": 1},
        "perceptual": {"method": "multi", "perceptual": "auto", "blend": 0.7, "layer": 1},
    }
    method_defaults = {"layer": 2}
    preset_rank = 35  # after super-resolution, whose recipes are measured
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

    def classical(self, x, degradation, method, *, guide=None, guide_weight=0.0) -> torch.Tensor:
        psf = blur_kernel(degradation.options["blur_sigma"], x.shape[-1])
        if method == "richardson-lucy":
            return richardson_lucy(x, psf, RICHARDSON_LUCY_ITERATIONS)
        if method == "wiener":
            return wiener(x, psf, WIENER_BALANCE)
        raise GanpriorError(f"deconvolver must be one of {', '.join(DECONVOLVERS)}, got {method!r}")
