"""Image morphing between two DGP reconstructions (DGP, Pan et al. ECCV 2020: image manipulation).

Each DGP reconstruction is a latent z and a generator fine-tuned to its image. Morphing blends
both: frame t renders ``(1 - t) z_a + t z_b`` through the weights ``(1 - t) theta_a + t theta_b``,
so the in-between frames stay on a generator's output manifold and the endpoints are the two
reconstructions themselves. (Blending only z through the untuned generator would not reproduce
the endpoints; blending only images would cross-fade.)
"""

from __future__ import annotations

import torch

from ..errors import GanpriorError
from ..inversion.base import Result
from ..inversion.dgp import DGPGenerator
from ..priors.base import Prior
from .jitter import as_dgp_generator, check_image

# frames rendered per batched forward: each frame carries its own copy of the tuned weights
MORPH_CHUNK = 8


def _same_weights(a: Prior, b: Prior) -> bool:
    """Two prior objects with identical weights and buffers (e.g. one checkpoint loaded twice)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(sa[k].shape == sb[k].shape and torch.equal(sa[k], sb[k].to(sa[k]))
                                          for k in sa)


def _pair(first: DGPGenerator, i: int, second: DGPGenerator, j: int) -> DGPGenerator:
    """One generator holding image ``i`` of ``first`` and image ``j`` of ``second`` (batch of 2).

    A parameter tuned in one reconstruction only keeps the prior's value (a zero delta) in the other.
    """
    a, b = first.state(), second.state()
    merged = {}
    for key in dict.fromkeys([*a, *b]):
        ka = a[key][i:i + 1] if key in a else torch.zeros_like(b[key][j:j + 1])
        kb = b[key][j:j + 1] if key in b else torch.zeros_like(a[key][i:i + 1])
        merged[key] = torch.cat([ka, kb.to(ka)])
    return DGPGenerator.from_params(first.prior, merged)


def dgp_morph(first: Result | DGPGenerator, second: Result | DGPGenerator | None = None, frames: int = 9, *,
              first_image: int = 0, second_image: int | None = None, prior: Prior | None = None) -> torch.Tensor:
    """DGP's morphing: frames blending both the latents and the fine-tuned weights of two reconstructions.

    Args:
        first, second: DGP ``Result``s or ``DGPGenerator``s. With ``second`` None, both images come
            from ``first`` (a reconstruction of at least two images). Two separate reconstructions
            must use the same prior (the same object, or one with the same weights).
        frames: T >= 2, including both endpoints; frame k is at t = k / (T - 1).
        first_image, second_image: which image of each batch (default: 0 and, from ``first``
            alone, 1; from ``second``, 0).
        prior: needed only for results that carry no generator (see ``as_dgp_generator``).

    Returns: ``(T, C, R, R)`` in [0, 1], on the CPU; frame 0 is the first reconstruction, frame
    T - 1 the second (up to float rounding when the two come from separate runs).
    """
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise GanpriorError(f"morphing needs at least 2 frames, got {frames!r}")
    gen_a = as_dgp_generator(first, prior)
    i = check_image(gen_a, first_image)
    if second is None or second is first:
        if gen_a.batch_size < 2 and second_image is None:
            raise GanpriorError("morphing needs two reconstructions: pass a second result, or a result of two images")
        gen, a, b = gen_a, i, check_image(gen_a, 1 if second_image is None else second_image)
    else:
        detached = isinstance(second, Result) and second.parameterization is None
        # a second result without a generator is read with the first one's prior
        gen_b = as_dgp_generator(second, gen_a.prior if prior is None and detached else prior)
        j = check_image(gen_b, 0 if second_image is None else second_image)
        if not _same_weights(gen_a.prior, gen_b.prior):
            raise GanpriorError("the two reconstructions come from different priors; morphing needs one prior")
        gen, a, b = _pair(gen_a, i, gen_b, j), 0, 1
    t = torch.linspace(0, 1, frames)
    chunks = [gen.morph(a, b, t[s:s + MORPH_CHUNK]) for s in range(0, frames, MORPH_CHUNK)]
    return torch.cat(chunks).cpu()
