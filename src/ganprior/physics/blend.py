"""Classical blend: the prior's detail added to the classical restoration of the same observation.

With ``C`` the classical operator chain of a task (BM3D or non-local means, biharmonic fill, bicubic
upsampling, the gray image as colour; ``ganprior.baselines.classical_restore``), ``A`` the
degradation (with fresh noise of the task's sigma when it is noisy) and ``x`` the prior's output::

    out = C(y) + w * (x - C(A(x)))

``x - C(A(x))`` is what the prior adds beyond what the classical operator recovers from the prior's
own degraded image: the detail, the hole's content, the colour, the texture a denoiser smooths away.
For the linear operators (fill, upsampling) ``w = 1`` is a residual correction of the prior's output,
``x + C(y - A(x))``; at ``w = 0`` it is the classical restoration. Known pixels stay exactly the
observation's, as with paste-back, since ``C`` keeps them. In a chain with colorization the blend
gives the luminance and the prior the chroma, so colours are not faded by ``w``.

Denoising with BM3D (when the ``bm3d`` package is installed: ``pip install 'ganprior[baselines]'``;
its licence is non-commercial) lets the prior in twice. The prior's image, degraded without noise,
enters BM3D's Wiener stage as ``w`` of its pilot (``baselines.denoise(guide=...)``): the stage still
filters the noisy input, but with gains from a pilot that holds the prior's detail where BM3D's own
first stage smoothed it away. Then ``DENOISE_DETAIL * w`` of the prior's detail, as above, is added::

    out = BM3D_guided(y; A(x), w) + DENOISE_DETAIL * w * (x - BM3D(A(x) + noise))

Without bm3d, scikit-image's non-local means is ``C`` in the plain blend.

Measured on held-out faces (BENCHMARKS.md, restoration section): ``w = 0.5`` beats both the prior's
output and the classical restoration in PSNR and LPIPS at x4 super-resolution and centre-box
inpainting; for denoising, 0.2 beats BM3D in both at sigma 0.1 and 0.2.
"""

from __future__ import annotations

import torch

from ..errors import GanpriorError
from ..io import to_gray


# the noise put on the prior's image for noisy tasks: its own seed, unrelated to the seeds that
# simulate test inputs (the same draw as the observation's noise would correlate the two)
BLEND_NOISE_SEED = 7919
# the part of the denoising weight that adds the prior's detail after the guided BM3D (chosen on the
# first 20 held-out faces: 0.25 of 0.2 keeps the PSNR gain of the guided pilot and lowers LPIPS)
DENOISE_DETAIL = 0.25


def blend_applies(tasks: list[str]) -> bool:
    """Whether the classical blend is defined for a task chain."""
    return bool(tasks) and tasks != ["reconstruct"]


def check_weight(weight) -> float:
    """The blend weight as a float in [0, 1] (None = 0), or a one-line error."""
    weight = float(weight or 0.0)
    if not 0 <= weight <= 1:
        raise GanpriorError(f"blend weight must be in [0, 1], got {weight}")
    return weight


def default_denoiser() -> str:
    """BM3D when its package is installed, else non-local means (scikit-image)."""
    import importlib.util
    return "bm3d" if importlib.util.find_spec("bm3d") is not None else "nl-means"


def classical_blend(x_hat: torch.Tensor, y: torch.Tensor, degradation, weight: float,
                    seed: int = BLEND_NOISE_SEED) -> torch.Tensor:
    """``C(y) + weight * (x_hat - C(A(x_hat)))`` for the degradation's task chain; see the module doc."""
    from ..baselines.classical import classical_restore
    from .tasks import keep_luminance

    weight = check_weight(weight)
    if not blend_applies(degradation.tasks):
        return x_hat
    sigma = degradation.noise_sigma if "denoise" in degradation.tasks else 0.0
    denoiser = default_denoiser()
    with torch.no_grad():
        x = x_hat.detach().clamp(0, 1)
        ax = degradation.A(x)
        if sigma > 0:  # the prior's image observed as the input was: with noise of the same sigma (seeded);
            # neither is clipped, since the denoiser expects the noise as it came
            noise = torch.randn(ax.shape, generator=torch.Generator().manual_seed(seed))
            ax = ax + sigma * noise.to(ax)
        else:
            y, ax = y.clamp(0, 1), ax.clamp(0, 1)
        guided = sigma > 0 and denoiser == "bm3d"
        guide = None
        if guided:  # the prior's image as the input would be without noise (gray, holes, low resolution)
            guide = degradation.A(x).clamp(0, 1)
            if guide.shape != y.shape:
                guide = guide.mean(1, keepdim=True).expand_as(y)
        base = classical_restore(y, degradation, denoiser=denoiser, guide=guide, guide_weight=weight)
        own = classical_restore(ax, degradation, denoiser=denoiser)
        out = (base + weight * (DENOISE_DETAIL if guided else 1.0) * (x - own)).clamp(0, 1)
        if "colorize" in degradation.tasks:
            out = keep_luminance(x, to_gray(out))
    return out.to(x_hat)
