"""Reading a run's inputs: files, folders or tensors, validated and brought to the sizes the task
chain needs, with their masks, before any optimisation starts (a bad file fails fast)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import torch

from .errors import GanpriorError
from .io import expand_inputs, fit_image, read_image, read_mask, to_gray
from .physics.masks import BUILTIN_MASKS, builtin_mask
from .physics.operator import as_operator
from .tasks import build_degradation, needs_mask, observed_geometry, parse_task

ImageLike = str | os.PathLike | torch.Tensor


@dataclass
class Inputs:
    """Validated inputs of a run, at the sizes the degradation needs.

    names: one label per image (file stem or ``image{i}``).
    observed: ``(B, c, s, s)`` observations (degraded images) in [0, 1] (noise may exceed it).
    ground_truth: ``(B, 3, R, R)`` clean images when simulated, else None.
    masks: ``(B, 1, s, s)`` known-pixel masks for inpainting, else None.
    """
    names: list[str]
    sources: list[str]
    observed: torch.Tensor
    ground_truth: torch.Tensor | None
    masks: torch.Tensor | None

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def concat(cls, parts: list[Inputs]) -> Inputs:
        """The inputs of several loads as one batch, in order."""
        cat = lambda xs: torch.cat(xs) if xs[0] is not None else None  # noqa: E731
        return cls(names=[n for i in parts for n in i.names], sources=[s for i in parts for s in i.sources],
                   observed=cat([i.observed for i in parts]), ground_truth=cat([i.ground_truth for i in parts]),
                   masks=cat([i.masks for i in parts]))


def _as_items(images: ImageLike | Sequence[ImageLike]) -> list[tuple[str, str, ImageLike]]:
    """-> list of (unique name, source, path or (C, H, W) tensor); folders are expanded."""
    if isinstance(images, (str, os.PathLike, torch.Tensor)):
        images = [images]
    items: list[tuple[str, str, ImageLike]] = []
    for i, im in enumerate(images):
        if isinstance(im, torch.Tensor):
            t = im[None] if im.ndim == 3 else im
            if t.ndim != 4:
                raise GanpriorError(f"image tensors must be (C, H, W) or (B, C, H, W), got {tuple(im.shape)}")
            items.extend((f"image{i}_{j}" if t.shape[0] > 1 else f"image{i}", f"tensor[{i}]", t[j])
                         for j in range(t.shape[0]))
        else:
            items.extend((f.stem, str(f), f) for f in expand_inputs([im]))
    if not items:
        raise GanpriorError("no input given")
    seen: dict[str, int] = {}
    out = []
    for name, src, obj in items:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append((name if n == 0 else f"{name}_{n}", src, obj))
    return out


def _load(obj: ImageLike, channels: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().float().cpu()
        if not torch.isfinite(t).all():
            raise GanpriorError("input tensor holds NaN or infinite values")
        if t.shape[0] not in (1, 3):
            raise GanpriorError(f"input tensor must have 1 or 3 channels, got {t.shape[0]}")
        if channels == 3 and t.shape[0] == 1:
            t = t.expand(3, -1, -1)
        elif channels == 1 and t.shape[0] == 3:
            t = to_gray(t[None])[0]
        return t.clamp(0, 1), None
    return read_image(obj, channels)


def _inpaint_masks(mask, alphas: list[torch.Tensor | None], size: int, *, fit: str, simulate: bool, seed: int,
                   white_is_missing: bool) -> torch.Tensor:
    """Known-pixel masks ``(B, 1, size, size)`` for B images, from (in order): a mask tensor, a built-in
    spec, a mask file, the inputs' transparency, or (simulated inputs only) the default centre box."""
    n = len(alphas)
    if isinstance(mask, torch.Tensor):
        m = mask.float()
        while m.ndim < 4:
            m = m[None]
        if m.ndim != 4 or m.shape[1] != 1 or m.shape[0] not in (1, n):
            raise GanpriorError(f"mask tensor must be (H, W), (1, H, W) or (B, 1, H, W) with B = {n} images, "
                                f"got {tuple(mask.shape)}")
        m = torch.stack([fit_image(mi, size, fit, mode="nearest") for mi in m]).round()
    elif mask is not None and str(mask).split(":")[0] in BUILTIN_MASKS and not os.path.exists(str(mask)):
        m = builtin_mask(str(mask), size, seed)[None]
    elif mask is not None:
        m = read_mask(mask, size, fit, white_is_missing)[None]
    elif any(a is not None for a in alphas):
        m = torch.stack([(fit_image(a, size, fit, mode="nearest") >= 0.5).float() if a is not None
                         else torch.ones(1, size, size) for a in alphas])
    elif simulate:
        m = builtin_mask("center", size, seed)[None]
    else:
        raise GanpriorError("inpaint needs a mask: --mask FILE, center[:SIDE], random[:FRACTION], PART[:SCALE], "
                            "or an input with transparent pixels")
    return m.expand(n, -1, -1, -1).clone()


def load_inputs(images: ImageLike | Sequence[ImageLike], task: str | list[str], resolution: int, *,
                simulate: bool = False, fit: str = "crop", mask: str | os.PathLike | torch.Tensor | None = None,
                mask_white_is_missing: bool = True, seed: int = 0, **task_options) -> Inputs:
    """Read and validate every input before any optimisation starts (a bad file fails fast).

    ``task_options``: the tasks' own options (``factor=4``, ``noise_sigma=0.1``, ...)."""
    tasks = parse_task(task)
    channels, size = observed_geometry(tasks, resolution, **task_options)  # checks the task options too
    items = _as_items(images)
    loaded = [_load(obj, 3 if simulate else channels) for _, _, obj in items]
    target = resolution if simulate else size
    pics = torch.stack([fit_image(t, target, fit) for t, _ in loaded])
    masks = _inpaint_masks(mask, [a for _, a in loaded], size, fit=fit, simulate=simulate, seed=seed,
                           white_is_missing=mask_white_is_missing) if needs_mask(tasks) else None
    # validates the task options and the mask size before any optimisation starts
    deg = build_degradation(tasks, resolution, mask=masks, **task_options)
    if simulate:
        observed = deg.simulate(pics, seed)
        truth = pics
    else:
        observed = pics * masks if masks is not None else pics
        truth = None
    return Inputs(names=[n for n, _, _ in items], sources=[s for _, s, _ in items], observed=observed,
                  ground_truth=truth, masks=masks)


def load_custom_inputs(images: ImageLike | Sequence[ImageLike], physics, resolution: int, *, simulate: bool = False,
                       fit: str = "crop", seed: int = 0, device: str | torch.device = "cpu") -> Inputs:
    """Inputs for a user-supplied physics: clean images degraded through it (``simulate``), or its
    observations."""
    deg = as_operator(physics, resolution, device=device)
    items = _as_items(images)
    size = resolution if simulate else deg.observed_size
    channels = 3 if simulate else deg.observed_channels
    pics = torch.stack([fit_image(_load(obj, channels)[0], size, fit) for _, _, obj in items])
    if simulate:
        with torch.no_grad():
            observed = deg.simulate(pics.to(device), seed).cpu()
        truth = pics
    else:
        observed, truth = pics, None
    return Inputs([n for n, _, _ in items], [s for _, s, _ in items], observed, truth, None)
