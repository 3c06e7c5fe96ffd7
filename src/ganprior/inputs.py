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


def _as_items(images: ImageLike | Sequence[ImageLike], drop_masks: bool = False) -> list[tuple[str, str, ImageLike]]:
    """-> list of (unique name, source, path or (C, H, W) tensor); folders are expanded.
    ``drop_masks`` (inpainting): a ``NAME_mask.*`` file beside an input ``NAME.*`` is its mask, not an
    input (``mask_files.drop_paired_masks``)."""
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
    if drop_masks:
        from .mask_files import drop_paired_masks
        kept = {id(f) for f in drop_paired_masks([obj for _, _, obj in items if not isinstance(obj, torch.Tensor)])}
        items = [it for it in items if isinstance(it[2], torch.Tensor) or id(it[2]) in kept]
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


def _own_masks(mask, items: list, loaded: list, *, white_is_missing: bool) -> list[torch.Tensor | None] | None:
    """Known-pixel masks ``(1, H, W)`` at each input's own size from per-image masks
    (``ganprior.mask_files``): ``mask`` a list (one file or tensor per input), a folder matched by
    name, or None (``NAME_mask.*`` files beside the inputs, where there are some). None when the run
    has no per-image mask (one mask for all, or transparency)."""
    from .mask_files import check_mask_size, find_masks, is_mask_folder, missing_mask_error
    files = [obj if not isinstance(obj, torch.Tensor) else None for _, _, obj in items]
    if isinstance(mask, (list, tuple)):
        if len(mask) != len(items):
            raise GanpriorError(f"got {len(mask)} masks for {len(items)} inputs: give one mask per input")
        entries = list(mask)
    elif is_mask_folder(mask):
        if any(f is None for f in files):
            raise GanpriorError("a folder of masks is matched to inputs by file name; give image tensors a mask "
                                "tensor, or one mask per input")
        entries = find_masks(files, mask)
        missing = [src for e, (_, src, _) in zip(entries, items) if e is None]
        if missing:
            raise missing_mask_error(missing, mask, len(items))
    elif mask is None:
        found = find_masks([f for f in files if f is not None])
        if not any(found):
            return None
        it = iter(found)
        entries = [next(it) if f is not None else None for f in files]
    else:
        return None
    known: list[torch.Tensor | None] = []
    for entry, (t, _), (_, src, _) in zip(entries, loaded, items):
        if entry is None:
            known.append(None)
            continue
        if isinstance(entry, torch.Tensor):  # 1 = known, as every mask tensor of the library
            m = entry.detach().float().cpu()
            if m.ndim not in (2, 3) or (m.ndim == 3 and m.shape[0] != 1):
                raise GanpriorError(f"the mask tensor of {src} must be (H, W) or (1, H, W), got {tuple(m.shape)}")
            m = (m.reshape(1, *m.shape[-2:]) >= 0.5).float()
            name = f"tensor for {src}"
        else:
            g, _ = read_image(entry, channels=1)  # transparency is composited over white: missing
            m = ((g < 0.5) if white_is_missing else (g >= 0.5)).float()
            name = str(entry)
        check_mask_size(tuple(m.shape[-2:])[::-1], tuple(t.shape[-2:])[::-1], name, src)
        if bool(m.all()):
            raise GanpriorError(f"mask {name} marks no missing pixel (white = missing"
                                f"{'' if white_is_missing else ', inverted'})")
        if not bool(m.any()):
            raise GanpriorError(f"mask {name} marks every pixel of {src} as missing")
        known.append(m)
    return known


def load_inputs(images: ImageLike | Sequence[ImageLike], task: str | list[str], resolution: int, *,
                simulate: bool = False, fit: str = "crop", mask=None, mask_white_is_missing: bool = True,
                mask_paint: str | None = None, seed: int = 0, **task_options) -> Inputs:
    """Read and validate every input before any optimisation starts (a bad file fails fast).

    ``mask`` (inpainting): a file or built-in spec for every input, a ``(B or 1, 1, H, W)`` tensor, a
    folder of per-image masks matched by name, or a list of one mask (file or tensor) per input;
    None: each input's ``NAME_mask.*`` beside it, else its transparency (``mask_files``).
    ``mask_paint`` (``COLOR[:TOLERANCE]``): the missing pixels are painted on the inputs themselves
    (``physics.paint``). A per-image mask is at its input's own size; it is resized with the input
    and keeps a pixel known only if the hole's content does not leak into it (``fit_known_mask``).
    ``task_options``: the tasks' own options (``factor=4``, ``noise_sigma=0.1``, ...)."""
    tasks = parse_task(task)
    channels, size = observed_geometry(tasks, resolution, **task_options)  # checks the task options too
    inpaint = needs_mask(tasks)
    paint = None
    if mask_paint is not None and inpaint:
        from .physics.paint import parse_paint
        paint = parse_paint(mask_paint)
        if simulate:
            raise GanpriorError("--mask-paint reads the damage painted on the inputs; --simulate takes clean inputs")
    items = _as_items(images, drop_masks=inpaint)
    read_channels = 3 if simulate or paint is not None else channels
    loaded = [_load(obj, read_channels) for _, _, obj in items]
    own = None
    if paint is not None:
        from .physics.paint import paint_known
        own = [paint_known(t, paint, name=src) for (t, _), (_, src, _) in zip(loaded, items)]
    elif inpaint:
        own = _own_masks(mask, items, loaded, white_is_missing=mask_white_is_missing)
    if read_channels != (3 if simulate else channels):  # painted inputs are read in colour, observed in gray
        loaded = [(to_gray(t[None])[0], a) for t, a in loaded]
    target = resolution if simulate else size
    pics = torch.stack([fit_image(t, target, fit) for t, _ in loaded])
    if own is not None:
        masks = torch.stack([_fitted_own(k, a, src, size, fit=fit, simulate=simulate, seed=seed,
                                         folder=mask if paint is None else None, total=len(items))
                             for k, (_, a), (_, src, _) in zip(own, loaded, items)])
    else:
        masks = _inpaint_masks(mask, [a for _, a in loaded], size, fit=fit, simulate=simulate, seed=seed,
                               white_is_missing=mask_white_is_missing) if inpaint else None
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


def _fitted_own(known: torch.Tensor | None, alpha: torch.Tensor | None, source: str, size: int, *, fit: str,
                simulate: bool, seed: int, folder, total: int) -> torch.Tensor:
    """One input's known pixels at ``size``: its own mask (resized without the hole leaking into the
    known pixels; a simulated input is clean, so nearest), else its transparency, else (simulated)
    the centre box; an input with none of them is the error naming it."""
    from .physics.masks import fit_known_mask
    if known is not None:
        if simulate:
            return (fit_image(known, size, fit, mode="nearest") >= 0.5).float()
        return fit_known_mask(known, size, fit, name=source)
    if alpha is not None:
        return (fit_image(alpha, size, fit, mode="nearest") >= 0.5).float()
    if simulate:
        return builtin_mask("center", size, seed)
    from .mask_files import is_mask_folder, missing_mask_error
    raise missing_mask_error([source], folder if is_mask_folder(folder) else None, total)


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
