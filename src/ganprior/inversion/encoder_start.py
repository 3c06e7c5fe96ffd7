"""The encoder start (``latent_init="encoder"``): codes from an image encoder instead of a seeded
sample or the best of K prior samples, so an inversion starts near its answer (IDInvert; issue #29).

The encoder sees images, not observations. What it sees, ``x0``, is the observation mapped back to
the prior's resolution:

* for a task chain, the chain's classical restoration (``tasks.classical_restore``): the bicubic
  upsampling for super-resolution, the gray image for colorization, the filled holes for
  inpainting, BM3D (or non-local means) for denoising, Wiener for deblurring, the image itself for
  reconstruction;
* for a user's physics, its pseudo-inverse ``A_dagger`` when deepinv offers one (a linear
  operator's least squares), else a one-line error: there is nothing to show the encoder.

Several codes per image (multi-code, subspace) all start at ``E(x0)`` plus a small seeded
perturbation (``ENCODER_SPREAD``), centred over the codes that are composed together (all N codes
of multi-code; each subspace's K codes) so that their mean is exactly ``E(x0)``. With the
composition weights at their usual start (importances 1/N, equal subspace weights) each composed
channel is the mean of those codes' features, which to first order in the perturbation is the
feature of ``E(x0)``: the start renders the encoder's image, up to second-order terms. (With
``importance_init="one"`` the composed features are N times larger, as from any other start.)

The perturbation is there because N equal codes with equal importances get equal gradients and would stay equal for ever. Its size,
measured on the first 20 held-out UTKFace faces (``utkface64``, its shipped encoder, multi-code
reconstruction with 20 codes at layer 2, ``benchmarks/encoder_start.py``): std 0.1 per dimension gives
19.36 dB at the start and 27.07 after 100 steps, 0.3 gives 19.20 and 27.87, 1.0 gives 16.38 and
26.85. The best 20 of 256 prior samples start lower (16.04) but reach 29.51 after 100 steps: for
multi-code, diverse codes matter more than a close start, and how to have both is open (issue #29).
"""

from __future__ import annotations

import torch

from ..encoders import ImageEncoder
from ..errors import GanpriorError
from ..priors.base import Prior
from ..tasks.classical import classical_restore

# std (per code dimension) of the seeded perturbation around E(x0) of an image's codes (module docstring)
ENCODER_SPREAD = 0.3


def encoder_input(y: torch.Tensor, degradation, prior: Prior) -> torch.Tensor:
    """``x0``: the observations ``y`` mapped back to ``(B, C, R, R)`` images in [0, 1] at the prior's
    resolution (see the module docstring)."""
    y = y.to(prior.device).float()
    if degradation.tasks:
        with torch.no_grad():
            return classical_restore(y, degradation).to(prior.device)
    physics = getattr(degradation, "physics", None)
    pseudo_inverse = getattr(physics, "A_dagger", None)
    name = getattr(degradation, "name", type(physics).__name__)
    if not callable(pseudo_inverse):
        raise GanpriorError(f"latent_init='encoder' shows the encoder the observation mapped back to an image, and "
                            f"the forward model {name} has no pseudo-inverse (A_dagger); use another latent_init")
    try:
        with torch.no_grad():
            x0 = pseudo_inverse(y)
    except Exception as e:  # noqa: BLE001 - a user's physics: any failure means there is no inverse to use
        why = str(e).splitlines()[0][:160] if str(e) else ""
        raise GanpriorError(f"latent_init='encoder' needs the pseudo-inverse of {name}, which failed "
                            f"({type(e).__name__}: {why}); use another latent_init") from None
    expected = (y.shape[0], prior.channels, prior.resolution, prior.resolution)
    if not isinstance(x0, torch.Tensor) or tuple(x0.shape) != expected:
        got = tuple(x0.shape) if isinstance(x0, torch.Tensor) else type(x0).__name__
        raise GanpriorError(f"the pseudo-inverse of {name} gives {got}, not images {expected}; "
                            "latent_init='encoder' cannot use it")
    return x0.float().clamp(0, 1)


def encoder_codes(encoder: ImageEncoder, y: torch.Tensor, degradation, prior: Prior, num_codes: int, *,
                  groups: int = 1, seed: int = 0, spread: float = ENCODER_SPREAD) -> torch.Tensor:
    """``(B, num_codes, *latent_shape)`` starting codes: ``E(x0)`` for every code, plus a seeded
    perturbation of std ``spread`` centred over each of ``groups`` runs of consecutive codes (the
    codes composed together; ``Parameterization.code_groups``). The draw is the same for every
    image, so an image's start does not depend on its batch; a group of one code is not perturbed."""
    if num_codes < 1 or groups < 1 or num_codes % groups:
        raise GanpriorError(f"cannot split {num_codes} codes into {groups} equal groups")
    codes = encoder.encode(encoder_input(y, degradation, prior)).to(prior.device)  # (B, *latent_shape)
    out = codes[:, None].repeat(1, num_codes, *([1] * (codes.ndim - 1)))
    if num_codes > groups and spread > 0:
        noise = torch.randn((groups, num_codes // groups, *codes.shape[1:]),
                            generator=torch.Generator().manual_seed(seed))
        noise = ((noise - noise.mean(1, keepdim=True)) * spread).flatten(0, 1)
        out = out + noise.to(out)[None]
    return out


__all__ = ["ENCODER_SPREAD", "encoder_codes", "encoder_input"]
