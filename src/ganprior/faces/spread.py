"""Colour the skin around a colourised face: the prior colours only its crop, which in a tight
template (``utkface``) ends mid-forehead and above the chin, so a pasted face shows where its crop
stopped. The faces' colour is spread from the pasted crops over the pixels of similar brightness
around them (forehead, ears, neck), fading to gray with distance, as in colourisation by
optimisation (Levin, Lischinski and Weiss, SIGGRAPH 2004): minimise

    sum_r w_r |c_r - c0_r|^2 + sum_{r~s} a_rs |c_r - c_s|^2 + mu sum_r |c_r|^2

over the chroma ``c`` (an image minus its luma), where ``c0`` is the pasted faces' chroma and ``w``
their paste weight, ``a_rs = exp(-(Y_r - Y_s)^2 / (2 sigma^2))`` links 4-neighbours of similar
luma ``Y`` (so colour stops at the hairline and the collar), and ``mu`` sets how far colour reaches
(about ``reach`` of a face's crop side). Chroma varies slowly, so the system is solved on a grid
reduced to at most ``max_side`` pixels, and the result is brought back to the photo's size; inside
the crops the faces keep their own chroma at full resolution.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..io import to_gray
from ..tasks.colorize import keep_luminance

# luma difference at which neighbours stop sharing colour (about a hairline's or a collar's contrast)
SIGMA = 0.04
# how far colour reaches beyond a crop, as a fraction of the crop's side
REACH = 0.25
MAX_SIDE = 512


def _solve(luma: np.ndarray, target: np.ndarray, weight: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """The minimiser above on one grid: ``luma`` (h, w), ``target`` (k, h, w), ``weight`` (h, w)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla
    h, w = luma.shape
    n = h * w
    idx = np.arange(n).reshape(h, w)
    rows, cols, vals = [], [], []
    for a, b, ya, yb in ((idx[:, :-1], idx[:, 1:], luma[:, :-1], luma[:, 1:]),
                         (idx[:-1, :], idx[1:, :], luma[:-1, :], luma[1:, :])):
        aff = np.exp(-((ya - yb) ** 2) / (2 * sigma ** 2)).ravel()
        rows += [a.ravel(), b.ravel()]
        cols += [b.ravel(), a.ravel()]
        vals += [-aff, -aff]
    off = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    degree = -np.asarray(off.sum(axis=1)).ravel()
    system = (off + sp.diags(degree + weight.ravel() + mu)).tocsc()
    lu = spla.splu(system)
    rhs = (target * weight[None]).reshape(target.shape[0], n).T
    return lu.solve(np.ascontiguousarray(rhs)).T.reshape(target.shape)


def spread_colour(image: torch.Tensor, luma: torch.Tensor, weight: torch.Tensor, face_side: float, *,
                  reach: float = REACH, sigma: float = SIGMA, max_side: int = MAX_SIDE) -> torch.Tensor:
    """``image`` (3, H, W): a gray photo with colourised faces pasted under ``weight`` (H, W) in [0, 1];
    ``luma`` (1, H, W): the photo's brightness, kept exactly; ``face_side``: a typical crop side in
    photo pixels. Returns the photo with the faces' colour spread over the similar skin around them."""
    h, w = luma.shape[-2:]
    k = max(1, math.ceil(max(h, w) / max_side))
    chroma = image - to_gray(image[None])[0]
    size = (max(1, round(h / k)), max(1, round(w / k)))

    def down(x):
        return F.interpolate(x[None], size=size, mode="area")[0] if k > 1 else x
    wk = down(weight[None].float())[0]
    # the pasted image's chroma is weight * the face's own: the face's chroma, averaged by weight
    ck = down(chroma) / wk.clamp_min(1e-6)
    yk = down(luma.float())[0]
    length = max(1.0, reach * face_side / k)  # grid pixels over which colour fades by 1/e
    solved = _solve(yk.double().numpy(), ck.double().numpy(), wk.double().numpy(), 1.0 / length ** 2, sigma)
    spread = torch.from_numpy(solved).float()
    if k > 1:
        spread = F.interpolate(spread[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    m = weight[None].float()
    out = luma + chroma + (1 - m) * spread
    return keep_luminance(out[None], luma[None])[0]


__all__ = ["spread_colour", "REACH", "SIGMA"]
