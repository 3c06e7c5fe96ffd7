"""Classical blend: the prior's detail added to the classical restoration of the same observation.

With ``C`` the classical operator chain of a task (each task's inverse step: BM3D or non-local means,
biharmonic fill, bicubic upsampling, the gray image as colour, Wiener deconvolution;
``tasks.classical.classical_restore``), ``A`` the degradation (with fresh noise drawn from its noise
model when it is noisy) and ``x`` the prior's output::

    out = C(y) + w * (x - C(A(x)))

``x - C(A(x))`` is what the prior adds beyond what the classical operator recovers from the prior's
own degraded image: the detail, the hole's content, the colour, the texture a denoiser smooths away.
For the linear operators (fill, upsampling) ``w = 1`` is a residual correction of the prior's output,
``x + C(y - A(x))``; at ``w = 0`` it is the classical restoration. Known pixels stay exactly the
observation's, as with paste-back, since ``C`` keeps them. In a chain with colorization the blend
gives the luminance and the prior the chroma, so colours are not faded by ``w`` (``Task.keep_observed``).

Denoising uses BM3D when the ``bm3d`` package is installed (``pip install 'ganprior[baselines]'``;
its licence is non-commercial), else scikit-image's non-local means. With BM3D a second weight, the
*guide* ``g``, lets the prior steer ``C(y)`` itself: the prior's image, degraded without noise, is ``g``
of the pilot estimate of BM3D's Wiener stage (``baselines.denoise(guide=...)``). The stage still
filters the noisy input, with gains from a pilot that holds the prior's detail where BM3D's own first
stage smoothed it away::

    out = BM3D(y; pilot (1 - g) HT(y) + g A(x)) + w * (x - BM3D(A(x) + noise))

Measured on held-out faces (BENCHMARKS.md, restoration section): ``w = 0.5`` beats both the prior's
output and the classical restoration in PSNR and LPIPS at x4 super-resolution and centre-box
inpainting; for denoising, guide 0.2 with blend 0.05 beats BM3D in both at sigma 0.1 and 0.2.

A task may make ``w`` a per-pixel map (``Task.blend_weight``): inpainting keeps ``w`` for scattered
missing pixels and the rim of a hole, and takes the prior's own content (``w = 1``, residual-corrected
by the smooth fill of the boundary mismatch) deeper inside a hole, where averaging the prior's eye or
mouth with a smooth fill left a smudge (#27; ``tasks.inpaint``).
"""

from __future__ import annotations

import torch

from ..errors import GanpriorError
from .base import get_task
from .classical import classical_restore, default_methods

# the noise put on the prior's image for noisy tasks: its own seed, unrelated to the seeds that
# simulate test inputs (the same draw as the observation's noise would correlate the two)
BLEND_NOISE_SEED = 7919


def blend_applies(tasks: list[str]) -> bool:
    """Whether the classical blend is defined for a task chain: some task of it degrades the image."""
    return any(not get_task(t).identity for t in tasks)


def check_weight(weight, name: str = "blend") -> float:
    """A blend or guide weight as a float in [0, 1] (None = 0), or a one-line error."""
    weight = float(weight or 0.0)
    if not 0 <= weight <= 1:
        raise GanpriorError(f"{name} weight must be in [0, 1], got {weight}")
    return weight


def blend_weights(weight: float, degradation, x: torch.Tensor):
    """The prior's weight in the blend, per pixel where a task of the chain sets it (inpainting: the
    prior's own content inside large holes over facial parts; ``Task.blend_weight``), else ``weight``."""
    weights = weight
    for task in degradation.chain:
        weights = task.blend_weight(weights, degradation, x.shape[-1])
    return weights.to(x) if isinstance(weights, torch.Tensor) else weights


def prior_detail(x_hat: torch.Tensor, degradation, seed: int = BLEND_NOISE_SEED) -> torch.Tensor:
    """``x_hat - C(A(x_hat))``: what the prior adds beyond the classical restoration of its own image
    degraded as the input was (with seeded noise of the same model when the task is noisy). The
    blend's detail term; a whole photo adds it, warped, to its classical background
    (``faces.photo``)."""
    if not blend_applies(degradation.tasks):
        raise GanpriorError("the prior's detail needs a task chain that degrades the image")
    methods = default_methods(degradation)
    with torch.no_grad():
        x = x_hat.detach().clamp(0, 1)
        ax = degradation.A(x)
        ax = degradation.add_noise(ax, seed) if degradation.noise_sigma > 0 else ax.clamp(0, 1)
        return (x - classical_restore(ax, degradation, **methods)).to(x_hat)


def classical_blend(x_hat: torch.Tensor, y: torch.Tensor, degradation, weight: float,
                    seed: int = BLEND_NOISE_SEED, guide: float = 0.0) -> torch.Tensor:
    """``C(y) + weight * (x_hat - C(A(x_hat)))`` for the degradation's task chain; see the module doc.
    ``guide``: the prior's weight in the pilot of ``C(y)``'s guided step (BM3D's Wiener stage)."""
    weight, guide = check_weight(weight), check_weight(guide, "guide")
    if not blend_applies(degradation.tasks):
        return x_hat
    methods = default_methods(degradation)
    noisy = degradation.noise_sigma > 0
    with torch.no_grad():
        x = x_hat.detach().clamp(0, 1)
        clean = degradation.A(x)  # the prior's image as the input would be without noise
        if not noisy:  # a noisy observation is not clipped, since the denoiser expects the noise as it came
            y = y.clamp(0, 1)
        pilot = None
        if noisy and guide > 0 and any(methods.get(t.classical_option) in t.guided_methods for t in degradation.chain):
            pilot = clean.clamp(0, 1)
            if pilot.shape != y.shape:
                pilot = pilot.mean(1, keepdim=True).expand_as(y)
        base = classical_restore(y, degradation, guide=pilot, guide_weight=guide, **methods)
        out = base
        if weight > 0:  # the prior's image observed as the input was (with seeded noise of the same model)
            out = base + blend_weights(weight, degradation, x) * prior_detail(x, degradation, seed)
        out = out.clamp(0, 1)
        for task in degradation.chain:
            out = task.keep_observed(x, out, "luma")
    return out.to(x_hat)
