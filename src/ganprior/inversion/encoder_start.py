"""The encoder start (``latent_init="encoder"``): codes from an image encoder instead of a seeded
sample or the best of K prior samples, so an inversion starts near its answer (IDInvert; issue #29).

The encoder sees images, not observations. What it sees, ``x0``, is the observation mapped back to
the prior's resolution:

* for a task chain, the chain's quick classical restoration (``tasks.classical_restore`` with
  ``quick=True``): the bicubic upsampling for super-resolution, the gray image for colorization,
  the filled holes for inpainting, Wiener for deblurring, the image itself for reconstruction, and
  for denoising a Gaussian smoothing of one pixel instead of BM3D (BM3D cost as much as the whole
  fast inversion, and the post-processing runs it anyway; on the first 8 held-out faces at sigma 0.1
  the final image was 30.82 dB / LPIPS 0.0281 from the smoothed start against 30.83 / 0.0284 from
  BM3D's, 4.1 against 5.2 s per image);
* for a user's physics, its pseudo-inverse ``A_dagger`` when deepinv offers one (a linear
  operator's least squares), else a one-line error: there is nothing to show the encoder.

Multi-code starts with the encoder's code as its first code, at importance 1, and the best
N - 1 of the seeded pool of prior samples (``candidates.best_codes``) at importance 0
(``MultiCode.start_at``): the composed features are exactly those of ``E(x0)``, so the start renders
the encoder's image, and the other codes are diverse and near the face, ready to join as their
importances grow. On the first 12 held-out UTKFace faces (``utkface64``, its shipped encoder,
reconstruction, 20 codes at layer 2, lr 0.03) this leads the best-20-of-256 start at every step:
PSNR 25.00 / 29.96 / 33.48 dB at 25 / 100 / 300 steps against 24.44 / 29.33 / 32.92, LPIPS 0.076 /
0.032 / 0.010 against 0.112 / 0.037 / 0.013. Starting all 20 codes near ``E(x0)`` instead (a spread
of 0.3 around it, importances 1/N) trailed the best-of-K start after 100 steps (27.87 against 29.51
dB on 20 faces): the codes start nearly alike.

This start also makes the codes worth keeping fixed (``code_steps=0``): the encoder's image is
already the composition, and the best samples are a basis the importances can mix without moving
them. A step then renders the generator's tail only, a tenth of a 20-code step at layer 2; the
presets that start here (``Task.encoder_recipes``) mostly run that way (reconstruction on the first
8 held-out faces, 300 steps: 32.09 dB / LPIPS 0.018 in 1.2 s per image, against 31.11 / 0.024 in 7.7
s for the seeded start's 300 joint steps).

Subspace inversion starts every code at ``E(x0)`` plus a small seeded perturbation
(``ENCODER_SPREAD``), centred over each subspace's K codes so that their mean is exactly ``E(x0)``;
with equal subspace weights each composed channel is, to first order, the feature of ``E(x0)``. The
perturbation is there because K equal codes get equal gradients and would stay equal for ever; its
size (0.3) was measured on multi-code, where 0.1 / 0.3 / 1.0 gave 27.07 / 27.87 / 26.85 dB after 100
steps. Whether subspace gains from the multi-code start above is not measured yet.
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
            return classical_restore(y, degradation, quick=True).to(prior.device)
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


def encoder_code(encoder: ImageEncoder, y: torch.Tensor, degradation, prior: Prior) -> torch.Tensor:
    """``(B, *latent_shape)``: the encoder's code of each observation mapped back to an image."""
    return encoder.encode(encoder_input(y, degradation, prior)).to(prior.device)


def encoder_codes(encoder: ImageEncoder, y: torch.Tensor, degradation, prior: Prior, num_codes: int, *,
                  groups: int = 1, seed: int = 0, spread: float = ENCODER_SPREAD) -> torch.Tensor:
    """``(B, num_codes, *latent_shape)`` starting codes: ``E(x0)`` for every code, plus a seeded
    perturbation of std ``spread`` centred over each of ``groups`` runs of consecutive codes (the
    codes composed together; ``Parameterization.code_groups``). The draw is the same for every
    image, so an image's start does not depend on its batch; a group of one code is not perturbed."""
    if num_codes < 1 or groups < 1 or num_codes % groups:
        raise GanpriorError(f"cannot split {num_codes} codes into {groups} equal groups")
    codes = encoder_code(encoder, y, degradation, prior)
    out = codes[:, None].repeat(1, num_codes, *([1] * (codes.ndim - 1)))
    if num_codes > groups and spread > 0:
        noise = torch.randn((groups, num_codes // groups, *codes.shape[1:]),
                            generator=torch.Generator().manual_seed(seed))
        noise = ((noise - noise.mean(1, keepdim=True)) * spread).flatten(0, 1)
        out = out + noise.to(out)[None]
    return out


__all__ = ["ENCODER_SPREAD", "encoder_code", "encoder_codes", "encoder_input"]
