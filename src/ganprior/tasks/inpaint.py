"""Inpainting: pixels missing under a known-pixel mask at the observed size (deepinv
``Inpainting``). The known pixels are pasted back; the classical answer is a biharmonic fill."""

from __future__ import annotations

import deepinv as dinv
import torch
import torch.nn.functional as F

from ..baselines.classical import FILLS, fill
from ..errors import GanpriorError
from ..physics.masks import part_region
from .base import Step, Task, register


@register
class Inpaint(Task):
    name = "inpaint"
    aliases = ("inpainting",)
    order = 40  # masks the observation as it is: at the observed (low) resolution, gray or colour
    needs_mask = True
    classical_option = "filler"
    classical_methods = FILLS

    # Both styles blend the prior's output into the classical restoration (tasks.blend): weight 0.5
    # gave the best PSNR and 0.7 the best LPIPS on the first 20 held-out faces (weights
    # 0.3/0.5/0.7/1.0 tried on the pixel-loss output). That weight holds where a known pixel is near
    # (``blend_weight``); deep inside a hole the prior's own content is taken.
    recipes = {
        "faithful": {"method": "multi", "perceptual": 0.0, "blend": 0.5},
        "perceptual": {"method": "multi", "perceptual": "auto", "blend": 0.7},
    }
    # The fast faithful fit (issue #29) starts from the best 20 of 256 prior samples and moves only
    # their importances (code_steps 0: the codes' features are rendered once), 100 steps at lr 0.05,
    # blended 0.6: a quarter of the time of 300 joint steps blended 0.5, for the same PSNR and LPIPS
    # on utkface64's held-out faces (BENCHMARKS.md, "Time to quality"). It does not start from the
    # encoder (which sees the hole filled by the classical fill, and was lower in PSNR), but it
    # holds only for a prior whose samples lie near real faces: on dcgan-digiface64 (synthetic faces)
    # the fixed samples lost 0.32 dB, so it is one of the recipes a prior's encoder file vouches for
    # (``default_tasks``; utkface64's covers every task, dcgan-digiface64's leaves inpaint out).
    encoder_recipes = {"faithful": {"method": "multi", "perceptual": 0.0, "blend": 0.6, "latent_init": "best",
                                    "code_steps": 0, "steps": 100, "lr": 0.05}}
    # composes at layer 1 (4x4, 512 channels; 30.6 dB vs 30.2 at layer 2 for a centre box, on 6 of the
    # 21 benchmark faces), so the hole is filled from the prior's semantics rather than from local
    # texture, as in the paper
    method_defaults = {"layer": 1}
    preset_rank = 20
    # Not reproduced: --update_embed (the script also tunes BigGAN's class embedding table; it is not
    # one of prior.blocks).
    dgp_schedule = {
        # not progressive in the paper's script: every tuned block from the first stage
        "source": "experiments/examples/run_inpainting.sh",
        "iterations": [200, 200, 200, 200, 200],
        "unfrozen_blocks": [7, 7, 7, 7, 7],
        "generator_lr": [5e-5, 5e-5, 2e-5, 2e-5, 1e-5],
        "latent_lr": [2e-3, 1e-3, 2e-5, 2e-5, 1e-5],
        "block_lr_ratio": [1.0, 1.0, 1.0, 1.0, 1.0],
        "feature_weight": [1.0, 1.0, 1.0, 1.0, 0.5],
        "mse_weight": [1.0, 1.0, 1.0, 1.0, 10.0],
        "discriminator_features": [8, 8, 8, 8, 8],
        "candidate_std": 0.3,
    }
    dgp_rank = 10  # a hole needs the schedule made for it

    # The blend weight by the hole's size and position (``blend_weight``). Size: a missing pixel at
    # most ``hole_depths[0]`` pixels (chessboard distance) from a known one keeps the run's blend
    # weight w; from ``hole_depths[1]`` pixels on it may take the prior's content (w = 1: the prior's
    # pixels plus the smooth fill of the boundary mismatch), linearly between. With 80% of pixels
    # missing at random, 99.5% of the missing pixels are within 2 px of a known one: the classical
    # blend, whose 0.5 beat w = 1 there. Position: the prior's content is taken where the template of
    # the prior's crops puts an eye or the mouth (``prior_parts``, their boxes at ``prior_part_scale``
    # of the masks' size: the part itself). Inside a box over an eye or the mouth, w = 0.5 averaged
    # the prior's eye with the smooth fill, a smudge (#27): w = 1 there draws the part, and on the first
    # 20 held-out faces cut the LPIPS of the box around an eye hole from 0.115 to 0.078 at +0.1 dB.
    # Over skin (the centre box, below the eyes and above the lips) w = 1 lost 0.5 dB of PSNR to the
    # constant blend (34.12 against 34.60 dB) for a better LPIPS: there the blend stays. A rim of 2 px
    # at w kept 0.1 dB of PSNR over w = 1 in the whole hole; rims of (1, 3) and (3, 5) px were measured
    # too. The nose is not among the parts: a nose hole gained with it (+0.2 dB), but the centre box,
    # whose inside is the nose's, lost the same 0.5 dB (benchmarks/inpaint_parts.py,
    # benchmarks/results/restoration_notes.md). The boxes are the utkface64 template's (the default
    # prior's crops): a prior whose crops put the face elsewhere gets the blend over its eyes.
    hole_depths = (2, 4)
    prior_parts = ("left-eye", "right-eye", "mouth")
    prior_part_scale = 0.75

    def forward(self, geometry, options, *, mask=None, device="cpu") -> Step:
        channels, size = geometry
        if mask is None:
            raise GanpriorError("inpaint needs a mask (--mask FILE, center[:SIDE], random[:FRACTION] or PART[:SCALE])")
        mask = mask.float()
        if mask.ndim == 3:
            mask = mask[None]
        if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[-2:] != (size, size):
            raise GanpriorError(f"mask must be (1, {size}, {size}) at the observed size, got {tuple(mask.shape)}")
        op = dinv.physics.Inpainting(img_size=(channels, size, size), mask=mask.to(device), device=device)
        return Step(op, geometry, mask)

    def paste_back(self, out, y, degradation, color_space):
        if y.shape[1] != out.shape[1]:
            return out  # a gray observation's pixels are its brightness, which colorization keeps
        known = degradation.mask.to(out)
        return known * y + (1 - known) * out

    def blend_weight(self, weight, degradation, size: int):
        """``weight`` where a known pixel is near or away from the eyes and mouth, 1 deep inside holes
        (``hole_depths``) over them (``prior_parts``), as a ``(B or 1, 1, size, size)`` map (computed at
        the observed size and brought to ``size`` by nearest)."""
        if degradation.mask is None:
            return weight
        near, far = self.hole_depths
        mask = degradation.mask
        depth = hole_depth(mask, far)
        ramp = ((depth - near) / max(far - near, 1)).clamp(0, 1)
        ramp = ramp * part_region(self.prior_parts, mask.shape[-1], self.prior_part_scale).to(ramp)
        out = weight + (1 - weight) * ramp
        if out.shape[-1] != size:
            out = F.interpolate(out, size=(size, size), mode="nearest")
        return out

    def classical(self, x, degradation, method, *, guide=None, guide_weight=0.0) -> torch.Tensor:
        return fill(x, degradation.mask.to(x), method)

    def background(self, x, options, *, mask=None, method=None) -> torch.Tensor:
        if mask is None or bool((mask >= 0.5).all()):
            return x
        return fill(x, mask.to(x), method or self.default_method())


def hole_depth(mask: torch.Tensor, limit: int) -> torch.Tensor:
    """How deep each pixel lies in a hole of a known-pixel ``mask`` ``(B, 1, h, w)`` (1 = known): 0 on
    known pixels, else the chessboard distance to the nearest known pixel, at most ``limit``."""
    known = (mask >= 0.5).float()
    depth = torch.full_like(known, float(limit))
    depth[known > 0] = 0
    for k in range(limit - 1, 0, -1):  # the nearest known pixel within k px: depth at most k
        near = F.max_pool2d(known, 2 * k + 1, stride=1, padding=k) > 0
        depth[near & (known == 0)] = k
    return depth
