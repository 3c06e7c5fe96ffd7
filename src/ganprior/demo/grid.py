"""The demo's ``summary.png``: one compact grid a newcomer reads at a glance. One row per run: what it
did and its mean scores on the left, then each input next to its result, all at one height."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..io import to_uint8

ROW_HEIGHT = 112
LABEL_WIDTH = 230
GAP = 6  # between an input and its result
ITEM_GAP = 18  # between items


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: its small bitmap font
        return ImageFont.load_default()


def _tile(image: torch.Tensor, height: int) -> Image.Image:
    """``(C, h, w)`` in [0, 1] as an RGB image ``height`` px high (nearest when enlarged, so pixels show)."""
    img = Image.fromarray(to_uint8(image.expand(3, -1, -1) if image.shape[0] == 1 else image))
    width = max(1, round(img.width * height / img.height))
    return img.resize((width, height), Image.NEAREST if height >= img.height else Image.LANCZOS)


def summary_grid(rows: Sequence[tuple[str, str, Sequence[Sequence[torch.Tensor]]]],
                 title: str = "") -> torch.Tensor:
    """``rows``: (label, scores line, items) -> ``(3, H, W)`` in [0, 1]; an item is ``(input, result)``
    (or one image alone), ``(C, h, w)`` tensors in [0, 1]."""
    big, small = _font(15), _font(12)
    header = 34 if title else 0
    groups = [[[_tile(t, ROW_HEIGHT) for t in item] for item in items] for _, _, items in rows]
    widths = [sum(sum(t.width for t in item) + GAP * (len(item) - 1) for item in row)
              + ITEM_GAP * max(0, len(row) - 1) for row in groups]
    width = LABEL_WIDTH + max(widths + [0]) + 2 * GAP
    canvas = Image.new("RGB", (width, header + len(rows) * (ROW_HEIGHT + GAP) + GAP), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((GAP, 9), title, fill=(0, 0, 0), font=big)
    for r, ((label, scores, _), row) in enumerate(zip(rows, groups)):
        y = header + GAP + r * (ROW_HEIGHT + GAP)
        draw.text((GAP, y + ROW_HEIGHT // 2 - 18), label, fill=(0, 0, 0), font=big)
        draw.text((GAP, y + ROW_HEIGHT // 2 + 4), scores, fill=(90, 90, 90), font=small)
        x = LABEL_WIDTH
        for item in row:
            for t in item:
                canvas.paste(t, (x, y))
                x += t.width + GAP
            x += ITEM_GAP - GAP
    return torch.from_numpy(np.asarray(canvas).astype(np.float32) / 255.0).permute(2, 0, 1)


def scores_line(records: Sequence[dict], seconds: float) -> str:
    """``PSNR 30.1 dB  LPIPS 0.031  2.1 s`` (means of the records that have them; time always)."""
    parts = []
    for key, fmt in (("psnr", "PSNR {:.1f} dB"), ("lpips", "LPIPS {:.3f}")):
        values = [r[key] for r in records if r.get(key) is not None]
        if values:
            parts.append(fmt.format(float(np.mean(values))))
    parts.append(f"{seconds:.1f} s")
    return "  ".join(parts)
