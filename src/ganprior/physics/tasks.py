"""Task names -> deepinv physics, observation geometry, test-input synthesis and post-processing.

A task is one of ``TASKS`` or a chain joined by ``+`` (``colorize+inpaint+super-resolve``).
Whatever order the user writes, a chain is applied to the clean image in the canonical order
super-resolve -> colorize -> inpaint -> denoise: the image is downsampled, turned gray, masked at
the observed resolution, and noise is added last. The mask of ``inpaint`` therefore lives at the
observed (low) resolution.

Post-processing follows the papers: colorization keeps the input's luminance and takes only chroma
from the prior (needs the observation at full resolution), inpainting pastes the known pixels back
(not when the observation is noisy or downsampled). With a ``blend`` weight, the prior's output is
instead blended into the classical restoration (``physics.blend``), which keeps known pixels too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import deepinv as dinv
import torch

from ..errors import GanpriorError
from ..io import REC601, to_gray
from ..metrics import lab_to_rgb, rgb_to_lab
from .blend import blend_applies, check_weight, classical_blend
from .operator import as_operator

TASKS = ("reconstruct", "colorize", "super-resolve", "inpaint", "denoise")
_ORDER = {"super-resolve": 0, "colorize": 1, "inpaint": 2, "denoise": 3, "reconstruct": 4}
_ALIASES = {"sr": "super-resolve", "superresolve": "super-resolve", "super-resolution": "super-resolve",
            "colorise": "colorize", "colorization": "colorize", "inpainting": "inpaint",
            "denoising": "denoise", "reconstruction": "reconstruct", "invert": "reconstruct"}


def parse_task(task: str | list[str]) -> list[str]:
    """``'inpaint+colorize'`` -> ``['colorize', 'inpaint']`` (canonical order, validated)."""
    parts = task if isinstance(task, (list, tuple)) else str(task).split("+")
    names = []
    for p in parts:
        name = _ALIASES.get(p.strip().lower(), p.strip().lower())
        if name not in TASKS:
            raise GanpriorError(f"unknown task {p!r}; choose from {', '.join(TASKS)} or join them with '+'")
        if name in names:
            raise GanpriorError(f"task {name!r} appears twice in {task!r}")
        names.append(name)
    if "reconstruct" in names and len(names) > 1:
        names.remove("reconstruct")  # identity: adds nothing to a chain
    return sorted(names, key=_ORDER.__getitem__)


def center_box_mask(size: int, side: float = 0.25) -> torch.Tensor:
    """``(1, size, size)``, 1 = known, with a missing centre square of ``side * size`` pixels."""
    if not 0 < side < 1:
        raise GanpriorError(f"centre box side must be in (0, 1), got {side}")
    m = torch.ones(1, size, size)
    s = max(1, round(size * side))
    o = (size - s) // 2
    m[:, o:o + s, o:o + s] = 0
    return m


def random_pixel_mask(size: int, missing: float = 0.8, seed: int = 0) -> torch.Tensor:
    """``(1, size, size)``, 1 = known, with a fraction ``missing`` of pixels missing at random."""
    if not 0 < missing < 1:
        raise GanpriorError(f"missing fraction must be in (0, 1), got {missing}")
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(1, size, size, generator=g) >= missing).float()


BUILTIN_MASKS = ("center", "centre", "box", "random")


def builtin_mask(spec: str, size: int, seed: int = 0) -> torch.Tensor:
    """``center[:SIDE]`` or ``random[:MISSING_FRACTION]`` -> mask at ``size``."""
    kind, _, arg = spec.partition(":")
    try:
        value = float(arg) if arg else None
    except ValueError:
        raise GanpriorError(f"bad mask spec {spec!r}: {arg!r} is not a number") from None
    if kind in ("center", "centre", "box"):
        return center_box_mask(size, 0.25 if value is None else value)
    if kind == "random":
        return random_pixel_mask(size, 0.8 if value is None else value, seed)
    raise GanpriorError(f"unknown built-in mask {spec!r}; use a file, center[:SIDE] or random[:FRACTION]")


@dataclass
class Degradation:
    """A forward model with what the tasks need around it.

    Attributes:
        tasks: canonical task chain (empty for a user-supplied physics).
        physics: deepinv Physics; ``physics.A(x)`` maps ``(B, 3, R, R)`` in [0, 1] to observations.
        resolution: R, the clean image size.
        observed_size: spatial size of the observation.
        observed_channels: 1 for gray observations, else 3.
        mask: ``(B or 1, 1, s, s)`` known-pixel mask at the observed size, if inpainting.
        noise_sigma: standard deviation of the Gaussian noise added by ``simulate``.
        paste_known: paste known pixels / luminance back after inversion.
        blend: weight of the prior in the classical blend (``physics.blend``; 0 = the prior's output
            with paste-back only). Applies with ``paste_known``.
        guide: with denoising and BM3D, the prior's weight in the pilot of BM3D's Wiener stage
            (``physics.blend``; 0 = plain BM3D in the blend).
    """
    tasks: list[str]
    physics: dinv.physics.Physics
    resolution: int
    observed_size: int
    observed_channels: int
    mask: torch.Tensor | None = None
    noise_sigma: float = 0.0
    paste_known: bool = True
    blend: float = 0.0
    guide: float = 0.0
    gray_weights: tuple = field(default=REC601)

    @property
    def name(self) -> str:
        return "+".join(self.tasks) if self.tasks else "custom"

    def A(self, x: torch.Tensor) -> torch.Tensor:
        """The noiseless forward model (what the inversion loss compares)."""
        return self.physics.A(x)

    def simulate(self, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """A degraded test input from clean ``x`` (noise seeded for repeatability)."""
        with torch.no_grad():
            y = self.physics.A(x)
            if self.noise_sigma > 0:
                g = torch.Generator().manual_seed(seed)
                y = y + self.noise_sigma * torch.randn(y.shape, generator=g).to(y)
        return y

    def postprocess(self, x_hat: torch.Tensor, y: torch.Tensor, color_space: str = "luma") -> torch.Tensor:
        """Paper post-processing of the prior's output ``x_hat`` (B, 3, R, R) given observation ``y``.

        Colorization keeps the input's brightness: ``color_space="luma"`` (mGANprior) keeps the gray
        input exactly as the output's Rec.601 luma (``keep_luminance``); ``"lab"`` (DGP) takes the
        output's a/b channels and the input's L in CIE Lab (``keep_lightness_lab``).
        """
        if color_space not in ("luma", "lab"):
            raise GanpriorError(f"color space must be luma or lab, got {color_space!r}")
        if not self.paste_known or not self.tasks:
            return x_hat
        if (self.blend > 0 or (self.guide > 0 and "denoise" in self.tasks)) and blend_applies(self.tasks):
            out = classical_blend(x_hat, y, self, self.blend, guide=self.guide)
            if "colorize" in self.tasks and color_space == "lab":
                out = keep_lightness_lab(x_hat, to_gray(out))
            return out
        full_res = "super-resolve" not in self.tasks
        noisy = "denoise" in self.tasks
        if not full_res or noisy:
            return x_hat
        known = self.mask.to(x_hat) if self.mask is not None else torch.ones_like(x_hat[:, :1])
        if "colorize" in self.tasks:
            recolored = (keep_luminance(x_hat, y, self.gray_weights) if color_space == "luma"
                         else keep_lightness_lab(x_hat, y))
            return known * recolored + (1 - known) * x_hat
        if "inpaint" in self.tasks:
            return known * y + (1 - known) * x_hat
        return x_hat


def check_factor(factor, resolution: int) -> int:
    """A valid super-resolution factor (2..16, dividing ``resolution``) or a clear error."""
    if factor is None:
        raise GanpriorError("super-resolve needs a factor (--factor 2..16)")
    factor = int(factor)
    if not 2 <= factor <= 16 or resolution % factor:
        raise GanpriorError(f"super-resolution factor must be in 2..16 and divide the prior's "
                            f"resolution {resolution}, got {factor}")
    return factor


def keep_luminance(x_hat: torch.Tensor, luma: torch.Tensor, weights=REC601) -> torch.Tensor:
    """Colour image with luminance ``luma`` (B, 1, H, W) and the chroma of ``x_hat`` (B, 3, H, W).

    out = luma + t * (x_hat - gray(x_hat)); the chroma term has zero luminance, and t in [0, 1] is the
    largest per-pixel scale that keeps every channel in [0, 1], so the luminance is kept exactly.
    """
    luma = luma.clamp(0, 1)
    chroma = x_hat - to_gray(x_hat, weights)
    eps = 1e-8
    up = torch.where(chroma > eps, (1 - luma) / chroma.clamp_min(eps), torch.full_like(chroma, float("inf")))
    down = torch.where(chroma < -eps, luma / (-chroma).clamp_min(eps), torch.full_like(chroma, float("inf")))
    t = torch.minimum(up, down).amin(dim=1, keepdim=True).clamp(max=1.0)
    return (luma + t * chroma).clamp(0, 1)


def keep_lightness_lab(x_hat: torch.Tensor, gray: torch.Tensor) -> torch.Tensor:
    """DGP's colorization output: CIE Lab with L from the gray input ``(B, 1, H, W)`` and a/b from
    ``x_hat`` ``(B, 3, H, W)``, back to sRGB (colours outside the gamut are clipped)."""
    lightness = rgb_to_lab(gray.clamp(0, 1).expand(-1, 3, -1, -1))[:, :1]
    chroma = rgb_to_lab(x_hat)[:, 1:]
    return lab_to_rgb(torch.cat([lightness, chroma], dim=1)).to(x_hat)


def build_degradation(task: str | list[str], resolution: int, *, factor: int | None = None,
                      mask: torch.Tensor | None = None, noise_sigma: float | None = None,
                      paste_known: bool = True, blend: float | None = 0.0, guide: float | None = 0.0,
                      device: str | torch.device = "cpu") -> Degradation:
    """The deepinv physics of a task chain for clean images of size ``resolution``.

    ``mask`` is ``(1, s, s)`` or ``(B, 1, s, s)`` with 1 = known, at the observed size; it is
    required for ``inpaint``. ``factor`` (2..16) is required for ``super-resolve``.
    """
    tasks = parse_task(task)
    blend, guide = check_weight(blend), check_weight(guide, "guide")
    ops: list[dinv.physics.Physics] = []
    size, channels = resolution, 3
    if "super-resolve" in tasks:
        factor = check_factor(factor, resolution)
        ops.append(dinv.physics.Downsampling(img_size=(3, resolution, resolution), factor=factor,
                                             filter="bicubic", padding="replicate", device=device))
        size //= factor
    if "colorize" in tasks:
        ops.append(dinv.physics.Decolorize(channels=3, srf=list(REC601), device=device))
        channels = 1
    if "inpaint" in tasks:
        if mask is None:
            raise GanpriorError("inpaint needs a mask (--mask FILE, center[:SIDE] or random[:FRACTION])")
        mask = mask.float()
        if mask.ndim == 3:
            mask = mask[None]
        if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[-2:] != (size, size):
            raise GanpriorError(f"mask must be (1, {size}, {size}) at the observed size, "
                                f"got {tuple(mask.shape)}")
        ops.append(dinv.physics.Inpainting(img_size=(channels, size, size), mask=mask.to(device),
                                           device=device))
    if "denoise" in tasks:
        noise_sigma = 0.1 if noise_sigma is None else float(noise_sigma)
        if noise_sigma < 0:
            raise GanpriorError(f"noise sigma must be >= 0, got {noise_sigma}")
    else:
        noise_sigma = 0.0
    if not ops:
        physics = dinv.physics.Denoising(noise_model=dinv.physics.ZeroNoise(), device=device)
    elif len(ops) == 1:
        physics = ops[0]
    else:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            physics = dinv.physics.compose(*ops)
    return Degradation(tasks=tasks, physics=physics, resolution=resolution, observed_size=size,
                       observed_channels=channels, mask=mask if "inpaint" in tasks else None,
                       noise_sigma=noise_sigma, paste_known=paste_known, blend=blend, guide=guide)


def custom_degradation(physics, resolution: int, device: str | torch.device = "cpu"):
    """Wrap a user-supplied deepinv Physics or callable ``x -> y`` (``operator.as_operator``: its own
    noise model is used by ``simulate``, seeded)."""
    return as_operator(physics, resolution, device=device)
