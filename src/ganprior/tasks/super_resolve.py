"""Super-resolution: downscaling by an integer factor with the resize kernel of common image tools
(``physics.resize``: PIL's antialiased bicubic by default), or deepinv's ``Downsampling``
(``kernel="deepinv"``); the classical inverse is bicubic or Lanczos upsampling."""

from __future__ import annotations

import deepinv as dinv
import torch

from ..baselines.classical import UPSAMPLERS, upsample
from ..errors import GanpriorError
from ..physics.resize import KERNELS, Resize
from .base import Geometry, Step, Task, TaskOption, register


# deepinv's bicubic ``Downsampling``, which samples a grid moved by factor/2 - 1 high-resolution
# pixels from the centred one of image tools (1 px at x4, 3 px at x8)
DEEPINV_KERNEL = "deepinv"
SR_KERNELS = (*KERNELS, DEEPINV_KERNEL)


def check_kernel(kernel, resolution=None) -> str:
    if kernel not in SR_KERNELS:
        raise GanpriorError(f"super-resolution kernel must be one of {', '.join(SR_KERNELS)}, got {kernel!r}")
    return kernel


def check_factor(factor, resolution: int) -> int:
    """A valid super-resolution factor (2..16, dividing ``resolution``) or a clear error."""
    if factor is None:
        raise GanpriorError("super-resolve needs a factor (--factor 2..16)")
    factor = int(factor)
    if not 2 <= factor <= 16 or resolution % factor:
        raise GanpriorError(f"super-resolution factor must be in 2..16 and divide the prior's "
                            f"resolution {resolution}, got {factor}")
    return factor


# DGP's experiments/examples/run_SR.sh (BigGAN 256), per stage; the fields are explained with
# presets.DGP_SCHEDULES. Other tasks without a script of their own start from it.
SR_SCRIPT = {
    "iterations": [200, 200, 200, 200, 200],
    "unfrozen_blocks": [2, 3, 4, 5, 7],
    "generator_lr": [5e-5, 5e-5, 2e-5, 1e-5, 1e-5],
    "latent_lr": [2e-3, 1e-3, 2e-5, 1e-5, 1e-5],
    "block_lr_ratio": [1.0, 1.0, 1.0, 1.0, 1.0],
    "feature_weight": [1.0, 1.0, 1.0, 1.0, 1.0],
    "mse_weight": [1.0, 1.0, 1.0, 1.0, 1.0],
    "discriminator_features": [8, 8, 8, 8, 8],
}


@register
class SuperResolve(Task):
    name = "super-resolve"
    aliases = ("sr", "superresolve", "super-resolution")
    order = 20  # after a blur of the full-resolution image, before colour and pixels are lost
    options = (TaskOption("factor", int, None, "super-resolve factor, 2..16", "2..16",
                          check=lambda value, resolution: check_factor(value, resolution)),
               TaskOption("kernel", str, "bicubic", "how the low-resolution image was made: "
                          "bicubic (PIL, antialiased), lanczos, area (OpenCV INTER_AREA), bilinear, "
                          "cubic-sampled (OpenCV INTER_CUBIC) or deepinv (its Downsampling)",
                          "|".join(SR_KERNELS), check=check_kernel))
    observes_pixels = False
    classical_option = "upsampler"
    classical_methods = UPSAMPLERS

    # Both styles blend the prior's output into the classical restoration (tasks.blend): weight 0.5
    # gave the best PSNR and 0.7 the best LPIPS on the first 20 held-out faces (weights
    # 0.3/0.5/0.7/1.0 tried on the pixel-loss output). They compose at layer 1 (4x4) rather than
    # the library's layer 2: at layer 2 the 20 codes fit the low-resolution input with stripes the
    # downsampling cannot see (first 8 held-out faces, x4, blended: layer 1 24.46 dB / LPIPS 0.136
    # at 2.8 s per image, layer 2 24.11 / 0.142 at 11.4 s, and visibly cleaner).
    recipes = {
        "faithful": {"method": "multi", "perceptual": 0.0, "blend": 0.5, "layer": 1},
        "perceptual": {"method": "multi", "perceptual": "auto", "blend": 0.7, "layer": 1},
    }
    # From the prior's encoder (issue #29; benchmarks/time_to_quality.py, BENCHMARKS.md "Time to
    # quality"), per factor. x2: the encoder's code and the best 19 of 256 samples stay fixed and only
    # their importances move, at layer 2 (fixed codes cannot paint the stripes a moving layer-2 fit
    # drew), 150 steps. Larger factors need their codes to move: 3 codes at layer 1, lr 0.05, 120 steps
    # (100 from x8, where the 8 px input holds less to fit: the same PSNR, LPIPS 0.205 against 0.201)
    # (first 16 held-out faces; fixed codes lost 0.2-0.3 dB at x4 and 0.19 at x8; 5 codes for 120-150
    # steps were no better in PSNR and slower; 100 steps lost LPIPS at x4).
    encoder_recipes = {"faithful": {"method": "multi", "perceptual": 0.0, "blend": 0.5, "layer": 2,
                                    "latent_init": "encoder", "code_steps": 0, "steps": 150}}
    MOVING_CODES_RECIPE = {"method": "multi", "perceptual": 0.0, "blend": 0.5, "layer": 1, "latent_init": "encoder",
                           "num_codes": 3, "lr": 0.05}

    # x16 (a 4 px input) keeps the recipe without the encoder: the encoder's start from 4 px misleads
    # the 3 codes (first 16 held-out faces: 18.03 dB / LPIPS 0.397 against 18.49 / 0.257)
    ENCODER_MAX_FACTOR = 8

    def recipe(self, style, options, encoder=False):
        factor = options.get("factor")  # None: refused later ("super-resolve needs a factor")
        if factor is not None and int(factor) > self.ENCODER_MAX_FACTOR:
            encoder = False
        if encoder and style == "faithful" and factor is not None and int(factor) > 2:
            return {**self.MOVING_CODES_RECIPE, "steps": 120 if int(factor) < 8 else 100}
        return super().recipe(style, options, encoder)
    method_defaults = {"layer": 2}
    preset_rank = 30
    dgp_schedule = {"source": "experiments/examples/run_SR.sh", **SR_SCRIPT, "candidate_std": 0.3}
    dgp_rank = 30

    def forward(self, geometry, options, *, mask=None, device="cpu") -> Step:
        channels, size = geometry
        factor, kernel = options["factor"], options.get("kernel", "bicubic")
        if kernel == DEEPINV_KERNEL:
            op = dinv.physics.Downsampling(img_size=(channels, size, size), factor=factor, filter="bicubic",
                                           padding="replicate", device=device)
        else:
            op = Resize(size, factor, kernel, device=device)
        return Step(op, Geometry(channels, size // factor))

    def photo_options(self, options, resolution):
        # A face larger than the 64/factor crop would be shrunk into it, losing pixels the photo has.
        # Observed at a smaller factor, in a larger crop, it keeps them; the prior then adds the
        # detail between the face's own scale and its 64 px (benchmarks/photos.py, x4: faces of 24-40
        # px in the input, ratio 1.7-2.5 at 16 px, come to 0.85-1.25 at 32 px).
        factor = int(options["factor"])
        return [{"factor": f} for f in range(factor - 1, 1, -1) if resolution % f == 0]

    def classical(self, x, degradation, method, *, guide=None, guide_weight=0.0) -> torch.Tensor:
        # the upsamplers take images in [0, 1]; bicubic downsampling may overshoot it slightly
        return upsample(x.clamp(0, 1), x.shape[-1] * degradation.options["factor"], method)

    def background(self, x, options, *, mask=None, method=None) -> torch.Tensor:
        factor = options["factor"]
        size = (x.shape[-2] * factor, x.shape[-1] * factor)
        if method == "realesrgan":  # Real-ESRGAN x4plus, then resized to the factor (antialiased)
            from ..baselines.realesrgan import realesrgan_x4_tiled
            rgb = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
            y = realesrgan_x4_tiled(rgb.clamp(0, 1))
            if y.shape[-2:] != size:
                y = torch.nn.functional.interpolate(y, size=size, mode="bicubic", antialias=True, align_corners=False)
            return (y.mean(1, keepdim=True) if x.shape[1] == 1 else y).clamp(0, 1)
        return upsample(x.clamp(0, 1), size, method or self.default_method())
