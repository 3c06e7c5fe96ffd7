"""Downscaling the way image tools do it, as an exact linear operator (a deepinv ``LinearPhysics``).

A user's low-resolution face rarely comes from deepinv's ``Downsampling``: it was resized by PIL,
OpenCV, a browser or a camera. Each of those is a separable resampling: output pixel ``i`` of a
row of ``n / f`` pixels is a weighted sum of the input pixels ``j`` around the centre ``(i + 0.5) f``,
with weights ``k((j + 0.5 - centre) / s)`` normalised to sum 1, where ``k`` is the filter and ``s``
its scale (``f`` when the filter is stretched to antialias, 1 when it only interpolates). Truncating
the support at the border and renormalising is PIL's rule.

As matrices ``W`` (rows, ``n/f x n``) the operator is ``A(x) = W x Wᵀ`` per channel, and its adjoint
``Wᵀ y W`` is exact. The filters (``KERNELS``):

* ``bicubic``: Keys' cubic with a = -0.5, antialiased: PIL's ``BICUBIC`` and torch's
  ``interpolate(mode="bicubic", antialias=True)``, to float precision (tests/test_resize.py);
* ``lanczos``: Lanczos-3, antialiased: PIL's ``LANCZOS``;
* ``area``: the box: OpenCV's ``INTER_AREA`` and torch's ``mode="area"`` for integer factors;
* ``bilinear``: the triangle, antialiased: PIL's ``BILINEAR``;
* ``cubic-sampled``: the cubic with a = -0.75 at the block centres, not antialiased: OpenCV's
  ``INTER_CUBIC`` and torch's ``mode="bicubic"`` (borders replicated, as they do).

``shift`` moves the sampling grid by that many high-resolution pixels (fractions allowed; the
weights are differentiable in it).
"""

from __future__ import annotations

import deepinv as dinv
import torch

from ..errors import GanpriorError


def _cubic(a: float):
    def k(t):
        t = t.abs()
        near = ((a + 2) * t - (a + 3)) * t * t + 1
        far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
        return torch.where(t < 1, near, torch.where(t < 2, far, torch.zeros_like(t)))
    return k


def _lanczos(t):
    t = t.abs()
    return torch.where(t < 3, torch.sinc(t) * torch.sinc(t / 3), torch.zeros_like(t))


def _box(t):
    # half-open on the right so that, at integer factors, each input pixel falls in exactly one box
    return ((t >= -0.5) & (t < 0.5)).to(t.dtype)


def _triangle(t):
    return (1 - t.abs()).clamp(min=0)


# name -> (filter, antialiased, borders replicated instead of truncated)
KERNELS = {
    "bicubic": (_cubic(-0.5), True, False),
    "lanczos": (_lanczos, True, False),
    "area": (_box, True, False),
    "bilinear": (_triangle, True, False),
    "cubic-sampled": (_cubic(-0.75), False, True),
}


def check_kernel(name: str) -> str:
    if name not in KERNELS:
        raise GanpriorError(f"unknown resize kernel {name!r}; use one of {', '.join(KERNELS)}")
    return name


def resize_weights(n: int, factor: int, kernel: str = "bicubic", shift: torch.Tensor | float = 0.0,
                   dtype=torch.float32, device="cpu") -> torch.Tensor:
    """The ``(n // factor, n)`` matrix that resizes a row of ``n`` pixels by ``1 / factor``."""
    fn, antialias, replicate = KERNELS[check_kernel(kernel)]
    shift = torch.as_tensor(shift, dtype=dtype, device=device)
    m = n // factor
    scale = float(factor) if antialias else 1.0
    centre = (torch.arange(m, dtype=dtype, device=device) + 0.5) * factor + shift
    if replicate:  # taps at integer positions around the centre, indices clamped to the row
        first = torch.floor(centre - 0.5).detach()
        taps = torch.arange(-1, 3, dtype=dtype, device=device)
        pos = first[:, None] + taps[None]  # (m, 4) input pixel indices
        w = fn((pos + 0.5 - centre[:, None]) / scale)
        idx = pos.long().clamp(0, n - 1)
        out = torch.zeros(m, n, dtype=dtype, device=device).scatter_add(1, idx, w)
    else:
        j = torch.arange(n, dtype=dtype, device=device) + 0.5
        out = fn((j[None] - centre[:, None]) / scale)
    return out / out.sum(1, keepdim=True)


class Resize(dinv.physics.LinearPhysics):
    """Downscaling of ``(B, C, n, n)`` images by an integer ``factor`` with one of ``KERNELS``."""

    def __init__(self, size: int, factor: int, kernel: str = "bicubic", shift: float = 0.0, device="cpu", **kwargs):
        super().__init__(**kwargs)
        if size % factor:
            raise GanpriorError(f"resize factor {factor} must divide the size {size}")
        self.size, self.factor, self.kernel = size, factor, check_kernel(kernel)
        self.register_buffer("weights", resize_weights(size, factor, kernel, shift, device=device))

    def A(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        w = self.weights.to(x)
        return w @ x @ w.T

    def A_adjoint(self, y: torch.Tensor, **kwargs) -> torch.Tensor:
        w = self.weights.to(y)
        return w.T @ y @ w
