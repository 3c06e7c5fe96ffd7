"""Denoising: white Gaussian noise of known standard deviation, deepinv's ``GaussianNoise`` carried by
the chain's physics (``physics.noise_model.sigma`` is the real level, so a deepinv reconstructor
sees it). The classical answer is BM3D or non-local means with that sigma."""

from __future__ import annotations

import importlib.util

import deepinv as dinv
import torch
from torchvision.transforms.functional import gaussian_blur

from ..baselines.classical import DENOISERS, denoise
from .base import Task, TaskOption, finite_at_least, register
from .super_resolve import SR_SCRIPT


def default_denoiser() -> str:
    """BM3D when its package is installed, else non-local means (scikit-image)."""
    return "bm3d" if importlib.util.find_spec("bm3d") is not None else "nl-means"


# std in pixels of the smoothing the encoder sees a noisy image through (Denoise.quick)
QUICK_BLUR = 1.0


@register
class Denoise(Task):
    name = "denoise"
    aliases = ("denoising",)
    order = 50  # noise is added last, to the observation as the sensor sees it
    options = (TaskOption("noise_sigma", float, 0.1, "denoise: noise std on the [0, 1] scale", ">= 0",
                          check=finite_at_least("noise sigma", 0.0)),)
    observes_pixels = False  # noisy pixels: nothing to paste back
    classical_option = "denoiser"
    classical_methods = DENOISERS
    # BM3D's Wiener stage can take the prior's image as its pilot (baselines.classical.denoise)
    guided_methods = ("bm3d",)
    # RetinaFace on the noisy photo found 28 of 40 composite faces at sigma 0.1 and 7 of 40 at 0.2; on
    # the BM3D background the photo gets anyway, 38 and 30, still with no false positive
    # (benchmarks/photos.py, 8 photos)
    detect_on_background = True

    # Both styles steer the classical denoiser with the prior (tasks.blend). The faithful one guides
    # BM3D's Wiener stage with the prior's image (guide 0.2) and blends 0.05 of its detail: on the first
    # 20 held-out faces +0.02 dB / LPIPS 0.0298 vs 0.0304 at sigma 0.1 and +0.12 dB / 0.080 vs 0.099 at
    # sigma 0.2 (guides 0.15-1.0 and blends 0.03-0.3 tried; a larger guide loses LPIPS, a larger blend
    # PSNR). It composes at layer 2 with 20 codes: the layer-1 fit (10 codes) is too coarse a pilot
    # (27.4 vs 25.8 dB on its own at sigma 0.1; guided, LPIPS 0.0333, worse than BM3D). The perceptual
    # preset blends 0.3 of a layer-1 fit with the VGG term into plain BM3D (30.48 dB / LPIPS 0.028 on 20
    # faces); guided at 0.2 with a layer-2 VGG fit it was worse in both (30.18 / 0.0353 on 10). Without
    # the bm3d package the guide does nothing and the blend uses non-local means.
    recipes = {
        "faithful": {"method": "multi", "perceptual": 0.0, "guide": 0.2, "blend": 0.05, "layer": 2, "num_codes": 20},
        "perceptual": {"method": "multi", "perceptual": "auto", "blend": 0.3},
    }
    # From the prior's encoder (issue #29): only the importances move, the codes' features rendered
    # once; the encoder sees the noisy image smoothed (``quick``) rather than a second BM3D. Half the
    # time or less for the same PSNR and LPIPS (BENCHMARKS.md, "Time to quality"); BM3D remains most
    # of it.
    encoder_recipes = {"faithful": {"method": "multi", "perceptual": 0.0, "guide": 0.2, "blend": 0.05, "layer": 2,
                                    "num_codes": 20, "latent_init": "encoder", "code_steps": 0}}
    # composes at layer 1 with 10 codes (26.6 dB vs 26.0 at layer 2, 18.6 single code, on 6 of the 21
    # benchmark faces) so the prior cannot reproduce the noise
    method_defaults = {"num_codes": 10, "layer": 1}
    preset_rank = 10
    # The DGP repository has no denoising script: run_SR.sh's schedule, but its last stage stops one
    # block short of SR's (6 instead of 7, like colorization), so that on the 8-block BigGAN-256 the
    # deepest stage, which renders fine texture and would reproduce the noise, stays frozen. Our
    # choice, not the paper's.
    dgp_schedule = {
        "source": "ours: run_SR.sh's schedule, last stage tunes 6 blocks as colorization (no denoising script)",
        **{**SR_SCRIPT, "unfrozen_blocks": [2, 3, 4, 5, 6]},
        "candidate_std": 0.3,
    }
    dgp_rank = 40

    def noise_model(self, options, device="cpu"):
        return dinv.physics.GaussianNoise(sigma=float(options["noise_sigma"])).to(device)

    def default_method(self) -> str:
        return default_denoiser()

    def classical(self, x, degradation, method, *, guide=None, guide_weight=0.0) -> torch.Tensor:
        return denoise(x, degradation.noise_sigma, method, guide=guide, guide_weight=guide_weight)

    def quick(self, x, degradation) -> torch.Tensor:
        # what the encoder sees (inversion.encoder_start): BM3D costs about as much as the whole fast
        # inversion; a Gaussian smoothing of QUICK_BLUR px costs nothing and starts as well (#29)
        k = 2 * int(3 * QUICK_BLUR + 0.5) + 1
        return gaussian_blur(x, [k, k], [QUICK_BLUR, QUICK_BLUR]).clamp(0, 1)

    def background(self, x, options, *, mask=None, method=None) -> torch.Tensor:
        return denoise(x, options["noise_sigma"], method or self.default_method())
