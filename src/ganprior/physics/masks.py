"""Known-pixel masks for deepinv's ``Inpainting`` operator: the built-in shapes a user can name
(``center[:SIDE]``, ``random[:MISSING_FRACTION]``) instead of supplying a mask file."""

from __future__ import annotations

import torch

from ..errors import GanpriorError


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


LEAK_MAX = 0.02  # a resized pixel stays known while under this share of its value comes from missing pixels


def fit_known_mask(known: torch.Tensor, size: int, fit: str = "crop", name: str = "the input") -> torch.Tensor:
    """A known-pixel mask ``(1, H, W)`` at an input's own size, brought to ``size`` as the input is
    (``io.fit_image``: the same crop or pad, then an antialiased bicubic resize).

    The resize mixes each output pixel from a neighbourhood of input pixels, so a pixel next to the
    hole would carry some of the hole's content (paint, a scratch) into the known pixels: it stays
    known only when less than ``LEAK_MAX`` of its value comes from missing pixels (the same resize of
    the missing-pixel map, over- and undershoot included). At the input's own size nothing changes."""
    from ..io import fit_image
    missing = 1.0 - known.float().reshape(1, *known.shape[-2:])
    leak = fit_image(missing, size, fit, mode="bicubic", clamp=False)
    out = (leak.abs() < LEAK_MAX).float()
    if out.all():
        raise GanpriorError(f"the mask of {name} marks no missing pixel in the part of it that is restored "
                            f"(--fit {fit})")
    if not out.any():
        raise GanpriorError(f"the mask of {name} leaves no known pixel at {size}x{size} (the size it is "
                            f"restored at)")
    return out
