"""Damage painted on the image itself (``--mask-paint COLOR[:TOLERANCE]``): the pixels of the paint
colour are the missing ones.

Users mark what to fill by painting over it (white, or a colour the picture lacks). Two things make a
plain colour threshold leave a halo of paint around the fill:

* the edge of a stroke is antialiased (or blurred by resampling, or by JPEG): its pixels are a mix
  of the paint and the colour under it, too far from the paint colour to pass the threshold, yet
  brighter (for white paint) than the picture was. ``paint_known`` therefore also marks missing
  the pixels touching the paint (``GROW_PX``), and every pixel within ``EDGE_PX`` pixels of the
  paint that has moved from the colour around it
  (the mean of the unpainted pixels nearby) towards the paint colour (or, by resampling's ringing,
  away from it) by at least ``MIX_MIN`` of the way, and those whose surroundings are themselves
  near the paint colour (no way to tell);
* resizing the input to the prior's size mixes the paint into the known pixels next to it:
  ``masks.fit_known_mask`` keeps a resized pixel known only when almost none of its value comes from
  a missing one.

Colour distance is the Euclidean RGB distance divided by sqrt(3), so 0 is the same colour and 1 is
black to white; TOLERANCE is in that unit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import GanpriorError

DEFAULT_TOLERANCE = 0.1
GROW_PX = 1  # the pixels touching the paint are missing: an antialiased edge, always part paint
EDGE_PX = 2  # antialiased edges: pixels this close to the paint are checked for a mix of paint
MIX_MIN = 0.05  # ... and are missing once moved this far (of the way) from their surroundings to the paint
WINDOW_PX = 3  # the surroundings' colour is averaged over unpainted pixels this far beyond the edge band
USAGE = "use COLOR[:TOLERANCE], e.g. white, #ffffff:0.1 or 255,0,0:0.15 (TOLERANCE a colour distance in [0, 1])"


@dataclass(frozen=True)
class PaintSpec:
    """The paint colour (RGB in [0, 1]) and how far (colour distance, 0..1) a pixel may be from it."""
    color: tuple[float, float, float]
    tolerance: float = DEFAULT_TOLERANCE

    def text(self) -> str:
        """The canonical spec, ``#rrggbb:TOL`` (what a job's manifest records)."""
        r, g, b = (round(c * 255) for c in self.color)
        return f"#{r:02x}{g:02x}{b:02x}:{self.tolerance:g}"


def _fail(text: str, why: str) -> GanpriorError:
    return GanpriorError(f"--mask-paint {text!r}: {why}; {USAGE}")


def _color(text: str, whole: str) -> tuple[float, float, float]:
    t = text.strip()
    if re.fullmatch(r"[+-]?\d+(\s*,\s*[+-]?\d+)*", t):
        values = [int(v) for v in t.split(",")]
        if len(values) != 3:
            raise _fail(whole, f"R,G,B takes 3 numbers, got {len(values)}")
        if any(not 0 <= v <= 255 for v in values):
            raise _fail(whole, "R,G,B values must be in 0..255")
        return tuple(v / 255 for v in values)  # type: ignore[return-value]
    from PIL import ImageColor
    try:
        rgb = ImageColor.getrgb(t)
    except (ValueError, AttributeError, TypeError):
        raise _fail(whole, f"unknown colour {t!r}") from None
    return tuple(v / 255 for v in rgb[:3])  # type: ignore[return-value]


def parse_paint(text) -> PaintSpec:
    """``COLOR[:TOLERANCE]`` -> ``PaintSpec``. COLOR: a name (``white``), ``#rgb``/``#rrggbb``,
    ``rgb(...)`` or ``R,G,B`` (0..255); TOLERANCE: a colour distance in [0, 1] [0.1]."""
    if isinstance(text, PaintSpec):
        return text
    if not isinstance(text, str):
        raise _fail(str(text)[:40], f"must be text, got {type(text).__name__}")
    whole = text
    color_text, sep, tol_text = text.strip().rpartition(":")
    if not sep:
        color_text, tol_text = text.strip(), None
    if not color_text.strip():
        raise _fail(whole, "no colour given")
    tolerance = DEFAULT_TOLERANCE
    if tol_text is not None:
        try:
            tolerance = float(tol_text)
        except ValueError:
            raise _fail(whole, f"tolerance {tol_text!r} is not a number") from None
        if not math.isfinite(tolerance) or not 0 <= tolerance <= 1:
            raise _fail(whole, f"tolerance must be in [0, 1], got {tol_text.strip()}")
    return PaintSpec(_color(color_text, whole), tolerance)


def _dilate(m: torch.Tensor, r: int) -> torch.Tensor:
    """(H, W) bool grown by ``r`` pixels (a square)."""
    if r <= 0:
        return m
    return F.max_pool2d(m[None, None].float(), 2 * r + 1, stride=1, padding=r)[0, 0] > 0


def paint_known(rgb: torch.Tensor, spec: PaintSpec | str, name: str = "the input") -> torch.Tensor:
    """Known pixels ``(1, H, W)`` (1 = known) of an RGB image ``(3, H, W)`` in [0, 1] whose damage is
    painted in ``spec``'s colour: the paint, and its antialiased edge (see the module doc)."""
    spec = parse_paint(spec)
    x = rgb.detach().float().cpu()
    if x.ndim == 4:
        x = x[0]
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    paint = torch.tensor(spec.color, dtype=x.dtype)[:, None, None]
    dist = (x - paint).pow(2).sum(0).sqrt() / math.sqrt(3)
    core = dist <= spec.tolerance + 1e-6
    if not core.any():
        raise GanpriorError(f"{name} has no pixel within {spec.tolerance:g} of the paint colour {spec.text()[:7]} "
                            f"(--mask-paint): nothing marked to fill; check the colour or raise the tolerance")
    near = _dilate(core, EDGE_PX)
    ring = near & ~core
    if ring.any():
        clean = (~near).float()
        r = EDGE_PX + WINDOW_PX
        k = 2 * r + 1
        weight = F.avg_pool2d(clean[None, None], k, stride=1, padding=r)[0, 0]
        around = F.avg_pool2d((x * clean)[None], k, stride=1, padding=r)[0] / weight.clamp_min(1e-6)
        towards = paint - around  # (3, H, W): from the surroundings to the paint
        span = towards.pow(2).sum(0)
        mix = ((x - around) * towards).sum(0) / span.clamp_min(1e-12)  # 0: surroundings, 1: paint
        unclear = (weight < 1e-3) | (span.sqrt() / math.sqrt(3) <= max(spec.tolerance, MIX_MIN))
        missing = _dilate(core, GROW_PX) | (ring & (unclear | (mix.abs() >= MIX_MIN)))
    else:
        missing = core
    if missing.all():
        raise GanpriorError(f"{name}: every pixel is within {spec.tolerance:g} of the paint colour "
                            f"{spec.text()[:7]} (--mask-paint): nothing is known; lower the tolerance")
    return (~missing).float()[None]
