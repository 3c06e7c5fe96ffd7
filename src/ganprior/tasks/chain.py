"""A task chain as one degradation: the composed deepinv physics (noise model inside), test-input
synthesis and post-processing.

A task is one of ``TASKS`` or a chain joined by ``+`` (``colorize+inpaint+super-resolve``). Whatever
order the user writes, a chain is applied to the clean image in the canonical order of the tasks'
``order`` (deblur -> super-resolve -> colorize -> inpaint -> denoise): the image is blurred,
downsampled, turned gray, masked at the observed resolution, and noise is added last. The mask of
``inpaint`` therefore lives at the observed (low) resolution.

Post-processing follows the papers: colorization keeps the input's luminance and takes only chroma
from the prior, inpainting pastes the known pixels back, and only where every task of the chain
observes the image's own pixels (not when it is blurred, noisy or downsampled). With a ``blend``
weight, the prior's output is instead blended into the classical restoration (``tasks.blend``),
which keeps known pixels too.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

import deepinv as dinv
import numpy as np
import torch

from ..errors import GanpriorError
from ..io import REC601
from .base import Geometry, Task, chain_of, parse_task, task_options
from .blend import blend_applies, check_weight, classical_blend


@dataclass
class Degradation:
    """A forward model with what the tasks need around it.

    Attributes:
        tasks: canonical task chain (empty for a user-supplied physics).
        physics: deepinv Physics; ``physics.A(x)`` maps ``(B, 3, R, R)`` in [0, 1] to observations,
            ``physics(x)`` adds its ``noise_model`` too.
        resolution: R, the clean image size.
        observed_size: spatial size of the observation.
        observed_channels: 1 for gray observations, else 3.
        mask: ``(B or 1, 1, s, s)`` known-pixel mask at the observed size, if inpainting.
        paste_known: paste known pixels / luminance back after inversion.
        blend: weight of the prior in the classical blend (``tasks.blend``; 0 = the prior's output
            with paste-back only). Applies with ``paste_known``.
        guide: with denoising and BM3D, the prior's weight in the pilot of BM3D's Wiener stage
            (``tasks.blend``; 0 = plain BM3D in the blend).
        options: the tasks' resolved options (``factor``, ``noise_sigma``, ``blur_sigma``).
        chroma_fence: how many of the prior's samples closest to the observation limit the output
            before paste-back (``Task.fence``; colorization: the chroma band of ``ganprior.chroma``);
            0 = off, and 0 for chains without a task that fences.
    """
    tasks: list[str]
    physics: dinv.physics.Physics
    resolution: int
    observed_size: int
    observed_channels: int
    mask: torch.Tensor | None = None
    paste_known: bool = True
    blend: float = 0.0
    guide: float = 0.0
    options: dict = field(default_factory=dict)
    chroma_fence: int = 0
    gray_weights: tuple = field(default=REC601)

    @property
    def name(self) -> str:
        return "+".join(self.tasks) if self.tasks else "custom"

    @property
    def chain(self) -> list[Task]:
        """The registered ``Task`` of each name in ``tasks``."""
        return chain_of(self.tasks)

    @property
    def noise_sigma(self) -> float:
        """Standard deviation of the physics' Gaussian noise (0 without one, or with per-image levels)."""
        sigma = getattr(getattr(self.physics, "noise_model", None), "sigma", None)
        if isinstance(sigma, torch.Tensor) and sigma.numel() == 1:
            # deepinv holds it in float32: the shortest decimal of that float32 is the level as given
            return float(str(np.float32(sigma.item())))
        return float(sigma) if isinstance(sigma, (int, float)) else 0.0

    def A(self, x: torch.Tensor) -> torch.Tensor:
        """The noiseless forward model (what the inversion loss compares)."""
        return self.physics.A(x)

    def add_noise(self, y: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """``y`` through the physics' noise model, drawn on the CPU from ``seed``: the same seed gives
        the same noise on every device and every call."""
        model = getattr(self.physics, "noise_model", None)
        if model is None or isinstance(model, dinv.physics.ZeroNoise):
            return y
        model = copy.deepcopy(model).to("cpu")  # the physics' own model keeps its state and device
        model.rng = torch.Generator().manual_seed(seed)
        return model(y.detach().cpu().contiguous()).to(y)

    def simulate(self, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """A degraded test input from clean ``x`` (noise seeded for repeatability)."""
        with torch.no_grad():
            return self.add_noise(self.physics.A(x), seed)

    @property
    def fence_samples(self) -> int:
        """How many of the prior's samples closest to the observation ``postprocess`` wants (0 = none)."""
        fences = self.paste_known and any(t.fences for t in self.chain)
        return self.chroma_fence if fences else 0

    def postprocess(self, x_hat: torch.Tensor, y: torch.Tensor, color_space: str = "luma",
                    samples: torch.Tensor | None = None) -> torch.Tensor:
        """Paper post-processing of the prior's output ``x_hat`` (B, 3, R, R) given observation ``y``.

        ``samples`` ``(B, K, 3, R, R)``: the prior's samples closest to ``y`` (``fence_samples`` of
        them; ``inversion.candidates.nearest_samples``); each task's ``fence`` limits ``x_hat`` to
        them first.

        Colorization keeps the input's brightness: ``color_space="luma"`` (mGANprior) keeps the gray
        input exactly as the output's Rec.601 luma (``keep_luminance``); ``"lab"`` (DGP) takes the
        output's a/b channels and the input's L in CIE Lab (``keep_lightness_lab``).
        """
        if color_space not in ("luma", "lab"):
            raise GanpriorError(f"color space must be luma or lab, got {color_space!r}")
        if not self.paste_known or not self.tasks:
            return x_hat
        chain = self.chain
        if samples is not None:
            for task in chain:
                x_hat = task.fence(x_hat, samples)
        guided = self.guide > 0 and any(t.guided_methods for t in chain)
        if (self.blend > 0 or guided) and blend_applies(self.tasks):
            out = classical_blend(x_hat, y, self, self.blend, guide=self.guide)
            if color_space != "luma":  # the blend kept the luminance as luma; DGP's Lab takes L from it
                for task in chain:
                    out = task.keep_observed(x_hat, out, color_space)
            return out
        if not all(t.observes_pixels for t in chain):
            return x_hat
        out = x_hat
        for task in reversed(chain):
            out = task.paste_back(out, y, self, color_space)
        return out


def _compose(ops: list, noise, device) -> dinv.physics.Physics:
    """One deepinv physics applying ``ops`` in order, then ``noise`` (ZeroNoise when None)."""
    if not ops:
        return dinv.physics.Denoising(noise_model=noise or dinv.physics.ZeroNoise(), device=device)
    if len(ops) == 1:
        physics = ops[0]
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # composing decomposable operators: not decomposable, known
            physics = dinv.physics.compose(*ops)
    if noise is not None:
        physics.set_noise_model(noise)
    return physics


def _resolve_options(chain, options: dict, resolution: int) -> dict:
    """The chain's task options, converted and checked (defaults filled); an option no task declares
    is an error naming it, options of tasks outside the chain are ignored."""
    declared = [o.name for o in task_options()]
    unknown = sorted(set(options) - set(declared))
    if unknown:
        raise GanpriorError(f"unknown task option {', '.join(unknown)}; the tasks take {', '.join(declared)}")
    resolved: dict = {}
    for t in chain:
        for option in t.options:
            if option.name not in resolved:
                resolved[option.name] = option.resolve(options.get(option.name), resolution, t.name)
    return resolved


def needs_mask(task: str | list[str]) -> bool:
    """Whether a chain observes through a known-pixel mask the user must give (inpainting)."""
    return any(t.needs_mask for t in chain_of(parse_task(task)))


def observed_geometry(task: str | list[str], resolution: int, **options) -> Geometry:
    """The observation's (channels, size) for clean images of size ``resolution``, checking the
    task options (a chain that needs a mask is measured with an all-known one)."""
    chain = chain_of(parse_task(task))
    resolved = _resolve_options(chain, options, resolution)
    geometry = Geometry(3, resolution)
    for t in chain:
        mask = torch.ones(1, 1, geometry.size, geometry.size) if t.needs_mask else None
        geometry = t.forward(geometry, resolved, mask=mask).geometry
    return geometry


def build_degradation(task: str | list[str], resolution: int, *, mask: torch.Tensor | None = None,
                      paste_known: bool = True, blend: float | None = 0.0, guide: float | None = 0.0,
                      chroma_fence: int | None = 0, device: str | torch.device = "cpu", **options) -> Degradation:
    """The deepinv physics of a task chain for clean images of size ``resolution``.

    ``options`` are the tasks' declared options (``task_options``): ``factor`` (2..16) is required
    for ``super-resolve``, ``noise_sigma`` (default 0.1) for ``denoise``, ``blur_sigma`` for
    ``deblur``; None means not given, and options of tasks outside the chain are ignored.
    ``mask`` is ``(1, s, s)`` or ``(B, 1, s, s)`` with 1 = known, at the observed size; it is
    required for ``inpaint``. ``chroma_fence``: see ``Degradation`` (None = 0).
    """
    tasks = parse_task(task)
    blend, guide = check_weight(blend), check_weight(guide, "guide")
    chain = chain_of(tasks)
    resolved = _resolve_options(chain, options, resolution)
    ops, noise, observed_mask = [], None, None
    geometry = Geometry(3, resolution)
    for t in chain:
        step = t.forward(geometry, resolved, mask=mask, device=device)
        geometry = step.geometry
        if step.physics is not None:
            ops.append(step.physics)
        if step.mask is not None:
            observed_mask = step.mask
        model = t.noise_model(resolved, device)
        if model is not None:  # noisy tasks come last in the canonical order: the noise ends the chain
            noise = model
    return Degradation(tasks=tasks, physics=_compose(ops, noise, device), resolution=resolution,
                       observed_size=geometry.size, observed_channels=geometry.channels, mask=observed_mask,
                       paste_known=paste_known, blend=blend, guide=guide, options=resolved,
                       chroma_fence=int(chroma_fence or 0))
