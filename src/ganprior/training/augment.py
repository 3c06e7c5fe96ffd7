"""Differentiable augmentation (Zhao et al. 2020, "DiffAugment") for data-efficient GAN training.

The same random transforms are applied to real and generated images before the discriminator
sees them, in both the D and the G step; every op is differentiable so G's gradient passes
through. Images are in ``[-1, 1]``. All randomness comes from the ``generator`` argument, so a
resumed run draws exactly the same augmentations.

Ops: ``color`` (brightness, saturation, contrast), ``translation`` (shift up to 1/8 of the size,
zero fill), ``cutout`` (one zeroed square of half the size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import GanpriorError

OPS = ("color", "translation", "cutout")


def _rand(shape, generator, device):
    return torch.rand(shape, generator=generator).to(device)


def color(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    x = x + (_rand((b, 1, 1, 1), generator, x.device) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand((b, 1, 1, 1), generator, x.device) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand((b, 1, 1, 1), generator, x.device) + 0.5) + mean


def translation(x: torch.Tensor, generator: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = (torch.randint(-sh, sh + 1, (b,), generator=generator)).to(x.device)
    dx = (torch.randint(-sw, sw + 1, (b,), generator=generator)).to(x.device)
    # gather from a zero-padded copy: output pixel (i, j) reads input (i - dy, j - dx)
    padded = F.pad(x, (sw, sw, sh, sh))
    rows = (torch.arange(h, device=x.device)[None, :] - dy[:, None] + sh)       # (B, H)
    cols = (torch.arange(w, device=x.device)[None, :] - dx[:, None] + sw)       # (B, W)
    idx_b = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_b, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def cutout(x: torch.Tensor, generator: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b,), generator=generator).to(x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b,), generator=generator).to(x.device)
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    in_y = ((ys - cy[:, None] + ch // 2) >= 0) & ((ys - cy[:, None] + ch // 2) < ch)
    in_x = ((xs - cx[:, None] + cw // 2) >= 0) & ((xs - cx[:, None] + cw // 2) < cw)
    keep = ~(in_y[:, :, None] & in_x[:, None, :])
    return x * keep[:, None].to(x.dtype)


_FUNCS = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(policy: str) -> tuple[str, ...]:
    ops = tuple(p for p in (s.strip() for s in policy.split(",")) if p and p != "none")
    bad = [p for p in ops if p not in OPS]
    if bad:
        raise GanpriorError(f"unknown augmentation {bad[0]!r}; choose from {', '.join(OPS)} (comma-separated) or none")
    return ops


def diff_augment(x: torch.Tensor, ops: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
    """Apply ``ops`` in order to ``(B, C, H, W)`` images."""
    for op in ops:
        x = _FUNCS[op](x, generator)
    return x
