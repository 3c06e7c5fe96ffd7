"""The external kind: boundaries fitted elsewhere, as the ``boundaries/*.npy`` arrays of the
InterFaceGAN and mGANprior repositories.

A plain array says nothing about its latent space, so it is read in the light of the prior it is
for: shape ``(1, D)`` or ``(D,)``, normalised to unit norm and named after the file stem. Its space
is ``"z"`` unless ``prior`` is in w or w+ space and D is its w size (then ``"w"``; a flattened
``num_ws * w_dim`` array on a w+ prior is ``"w+"``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ...errors import GanpriorError
from ...priors.base import Prior
from .base import Direction, active_space, prior_info, shape_text
from .records import StoredFile


def holds_boundary(stored: StoredFile) -> bool:
    """Whether the file is a plain array (``.npy``), the form external boundaries come in."""
    return not stored.is_archive


def load_boundary(stored: StoredFile, prior: Prior | None = None) -> Direction:
    """The boundary in a plain array, read for ``prior``'s active space if given. A z boundary of
    the prior's own mapping network is accepted for a prior in w space (usable after
    ``use_latent_space("z")``)."""
    array, path = np.asarray(stored.content), stored.path
    space = active_space(prior) if prior is not None else "z"
    expected = tuple(prior.latent_shape) if prior is not None else None
    if space in ("w", "w+"):
        w_dim = expected[-1]
        want = f"(1, {w_dim}) or ({w_dim},)"
        if space == "w+":
            want += f" (a w direction), or {shape_text(expected)} / (1, {math.prod(expected)}) (w+)"
    elif expected is not None:
        want = f"(1, {math.prod(expected)}) or ({math.prod(expected)},)"
    else:
        want = "(1, D) or (D,)"
    squeezed = array[0] if array.ndim > 1 and array.shape[0] == 1 else array
    if array.size == 0 or not (squeezed.ndim == 1 or (space == "w+" and squeezed.shape == expected)):
        raise GanpriorError(f"{path}: a boundary must have shape {want}, got {shape_text(array.shape)}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise GanpriorError(f"{path}: the boundary has dtype {array.dtype}, expected float of shape {want}")
    flat = torch.from_numpy(array.astype(np.float64).reshape(-1))
    if not bool(torch.isfinite(flat).all()) or float(flat.norm()) == 0:
        raise GanpriorError(f"{path}: the boundary has NaN, infinite or only zero values")
    d = flat.numel()
    vector, vec_space = flat, "z"
    if prior is not None:
        if space in ("w", "w+") and d == expected[-1]:
            vec_space = "w"
        elif space == "w+" and d == math.prod(expected):
            vector, vec_space = flat.reshape(expected), "w+"
        elif space == "z" and d == math.prod(expected):
            vector = flat.reshape(expected)
        elif space != "z" and d == getattr(getattr(prior, "mapping", None), "z_dim", -1):
            vec_space = "z"  # a z boundary of this network; usable after use_latent_space("z")
        else:
            raise GanpriorError(f"{path}: a boundary for prior {prior.name!r} ({space} space) must have "
                                f"shape {want}, got {shape_text(array.shape)}")
    meta = {"file": path.name, "original_norm": float(flat.norm())}
    if prior is not None:
        meta.update(prior_info(prior))
    return Direction(name=path.stem, vector=vector / flat.norm(), space=vec_space, source="external",
                     meta=meta)


__all__ = ["holds_boundary", "load_boundary"]
