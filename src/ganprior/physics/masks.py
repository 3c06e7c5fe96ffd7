"""Known-pixel masks for deepinv's ``Inpainting`` operator: the built-in shapes a user can name
(``center[:SIDE]``, ``random[:MISSING_FRACTION]``, and boxes over a facial part of an aligned crop:
``left-eye``, ``right-eye``, ``eyes``, ``nose``, ``mouth``, each ``[:SCALE]``) instead of supplying a
mask file."""

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


# Boxes over the facial parts of a crop aligned to the UTKFace template (``faces.align.UTKFACE``, the
# 5 points of the utkface64 prior's crops; its own samples agree within 0.02 of the side): part ->
# (centre x, centre y, width, height) as fractions of the side. At 64 px: an eye box 16 x 12 px around
# the eye's centre (the eye and its lids, not the brow); both eyes 42 x 12 px; the nose 14 x 16 px
# from the bridge below the eyes to the nostrils; the mouth 30 x 14 px around the corners' midpoint
# (both corners and the lips). Left and right are as seen in the image. x and y: the template's
# points; sizes chosen by looking at held-out faces (benchmarks/inpaint_parts.py).
_EYE_L, _EYE_R, _NOSE, _MOUTH_L, _MOUTH_R = ((0.294, 0.290), (0.687, 0.288), (0.482, 0.518), (0.316, 0.677),
                                             (0.667, 0.675))
PART_BOXES = {
    "left-eye": (_EYE_L[0], _EYE_L[1], 0.25, 0.1875),
    "right-eye": (_EYE_R[0], _EYE_R[1], 0.25, 0.1875),
    "eyes": ((_EYE_L[0] + _EYE_R[0]) / 2, (_EYE_L[1] + _EYE_R[1]) / 2, 0.65625, 0.1875),
    "nose": (_NOSE[0], _NOSE[1] - 0.03125, 0.21875, 0.25),
    "mouth": ((_MOUTH_L[0] + _MOUTH_R[0]) / 2, (_MOUTH_L[1] + _MOUTH_R[1]) / 2, 0.46875, 0.21875),
}


def part_box(part: str, size: int, scale: float = 1.0) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` in pixels of the box over ``part`` (``PART_BOXES``) in a
    ``size`` crop, its sides times ``scale``, clipped to the crop."""
    if part not in PART_BOXES:
        raise GanpriorError(f"unknown facial part {part!r}; choose from {', '.join(PART_BOXES)}")
    if not 0 < scale <= 3:
        raise GanpriorError(f"part box scale must be in (0, 3], got {scale}")
    cx, cy, w, h = PART_BOXES[part]
    bw, bh = max(1, round(w * scale * size)), max(1, round(h * scale * size))
    # centres are fractions of the side, pixel i covering [i, i + 1) / size
    left, top = round(cx * size - bw / 2), round(cy * size - bh / 2)
    left, top = min(max(left, 0), size - 1), min(max(top, 0), size - 1)
    return top, left, min(bh, size - top), min(bw, size - left)


def part_mask(part: str, size: int, scale: float = 1.0) -> torch.Tensor:
    """``(1, size, size)``, 1 = known, missing the box over a facial part (``part_box``)."""
    top, left, h, w = part_box(part, size, scale)
    m = torch.ones(1, size, size)
    m[:, top:top + h, left:left + w] = 0
    return m


def part_region(parts, size: int, scale: float = 1.0) -> torch.Tensor:
    """``(1, 1, size, size)``: 1 inside the union of the boxes over ``parts`` (sides times ``scale``), else 0."""
    region = torch.zeros(1, 1, size, size)
    for part in parts:
        region = torch.maximum(region, 1 - part_mask(part, size, scale)[None])
    return region


BUILTIN_MASKS = ("center", "centre", "box", "random", *PART_BOXES)


def builtin_mask(spec: str, size: int, seed: int = 0) -> torch.Tensor:
    """``center[:SIDE]``, ``random[:MISSING_FRACTION]`` or ``PART[:SCALE]`` (a facial part of
    ``PART_BOXES``) -> mask at ``size``."""
    kind, _, arg = spec.partition(":")
    try:
        value = float(arg) if arg else None
    except ValueError:
        raise GanpriorError(f"bad mask spec {spec!r}: {arg!r} is not a number") from None
    if kind in ("center", "centre", "box"):
        return center_box_mask(size, 0.25 if value is None else value)
    if kind == "random":
        return random_pixel_mask(size, 0.8 if value is None else value, seed)
    if kind in PART_BOXES:
        return part_mask(kind, size, 1.0 if value is None else value)
    raise GanpriorError(f"unknown built-in mask {spec!r}; use a file, center[:SIDE], random[:FRACTION] or "
                        f"{'|'.join(PART_BOXES)}[:SCALE]")


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
