"""Starting codes chosen per image: render a seeded pool of candidate latents, push each through the
image's forward model, and start from those whose observation is closest to ``y``.

DGP starts this way (its ``--select_num`` candidates ranked by discriminator features); single-,
multi- and subspace-code inversion do with ``latent_init="best"`` (ranked by pixel MSE), which
matters most where one seeded start is far from the face: on 50 held-out faces, single-code
reconstruction after 300 steps gained 0.3 dB with ``utkface64`` and 1.0 dB with
``dcgan-digiface64`` (BENCHMARKS.md).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

import torch

from ..errors import GanpriorError
from ..losses import frozen_eval
from ..tasks import Degradation
from ..priors.base import Prior

# distance(observed, y, paired) -> (B, C): observed is (C, ...) when the forward model is shared by
# the batch, else (C * B, ...) with row c * B + b = candidate c through image b's forward model
Distance = Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor]

DEFAULT_NUM_CANDIDATES = 256
# a seeded pool's renders are kept for later batches and runs of the session (the web app loads the
# prior again for every request) when they take at most this much memory (256 renders at 64 px:
# 12.6 MB); rendering them is most of a one-face run's start (0.65 of 0.77 s for an encoder start at
# 64 px on 2 cores). Keyed by the generator's weights (their SHA-256: DGP fine-tunes them in place).
POOL_CACHE_BYTES = 64 * 2 ** 20
POOL_CACHE_ENTRIES = 2
_POOL_RENDERS: OrderedDict = OrderedDict()
_POOL_LOCK = threading.Lock()  # the web app's runs may overlap


def pixel_distance(observed: torch.Tensor, y: torch.Tensor, paired: bool) -> torch.Tensor:
    """Mean squared error of every candidate's observation to every image's, ``(B, C)``."""
    b = y.shape[0]
    if paired:
        return (observed.unflatten(0, (-1, b)) - y[None]).pow(2).flatten(2).mean(2).T
    return torch.cdist(y.flatten(1).double(), observed.flatten(1).double()).pow(2).float() / y[0].numel()


def score_candidates(prior: Prior, pool: torch.Tensor, y: torch.Tensor, degradation: Degradation,
                     distance: Distance, chunk_size: int = 50, renders: torch.Tensor | None = None) -> torch.Tensor:
    """``(B, C)`` distance of each image's observation ``y`` to each candidate of ``pool`` seen
    through that image's forward model, rendering ``chunk_size`` candidates at a time (or taking
    them from ``renders``, the pool's images in [0, 1] rendered before)."""
    b = y.shape[0]
    # per-image masks, or a user's physics that may hold per-image parameters: each candidate must
    # be seen through every image's own forward model
    per_image_mask = degradation.mask is not None and degradation.mask.shape[0] > 1
    paired = b > 1 and (per_image_mask or not degradation.tasks)
    distances = []
    with torch.no_grad(), frozen_eval(prior):
        for start in range(0, pool.shape[0], chunk_size):
            x = renders[start:start + chunk_size] if renders is not None else \
                prior.to_unit(prior.generate(pool[start:start + chunk_size])).float()
            if paired:
                observed = torch.cat([degradation.A(xi[None].expand(b, *xi.shape)) for xi in x])
            else:
                observed = degradation.A(x)
            distances.append(distance(observed, y, paired))
    return torch.cat(distances, dim=1)


def _nearest(prior: Prior, y: torch.Tensor, degradation: Degradation, count: int, num_candidates: int,
             seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The seeded pool of ``num_candidates`` latents and the ``(B, count)`` indices of each image's
    closest ones in pixel MSE of the observation, closest first."""
    pool = prior.sample_latent(num_candidates, torch.Generator().manual_seed(seed)).to(prior.device)
    # 50 renders at a time at 64 px, fewer for larger priors (a 1024 px StyleGAN2 renders one at a time)
    chunk = max(1, int(50 * (64 / prior.resolution) ** 2))
    renders = pool_renders(prior, pool, seed, chunk)
    dist = score_candidates(prior, pool, y.to(prior.device).float(), degradation, pixel_distance, chunk, renders)
    return pool, dist.topk(count, dim=1, largest=False).indices


def pool_renders(prior: Prior, pool: torch.Tensor, seed: int, chunk: int) -> torch.Tensor | None:
    """The renders in [0, 1] of the seeded ``pool``, kept for the session (``POOL_CACHE_BYTES``);
    None when they would not fit, so the caller renders them chunk by chunk."""
    size = pool.shape[0] * prior.channels * prior.resolution ** 2 * 4
    if size > POOL_CACHE_BYTES:
        return None
    from ..encoders import prior_digest
    # the weights, and the prior's plain settings outside them (a BigGAN's truncation, say)
    settings = tuple(sorted((k, v) for k, v in vars(prior).items() if isinstance(v, (bool, int, float, str))))
    key = (prior_digest(prior), type(prior).__name__, settings, seed, pool.shape[0], str(prior.device))
    with _POOL_LOCK:
        if key in _POOL_RENDERS:
            _POOL_RENDERS.move_to_end(key)
            return _POOL_RENDERS[key]
    with torch.no_grad(), frozen_eval(prior):
        renders = torch.cat([prior.to_unit(prior.generate(pool[i:i + chunk])).float()
                             for i in range(0, pool.shape[0], chunk)])
    with _POOL_LOCK:
        _POOL_RENDERS[key] = renders
        while len(_POOL_RENDERS) > POOL_CACHE_ENTRIES:
            _POOL_RENDERS.popitem(last=False)
    return renders


def best_codes(prior: Prior, y: torch.Tensor, degradation: Degradation, num_codes: int, *,
               num_candidates: int = DEFAULT_NUM_CANDIDATES, seed: int = 0) -> torch.Tensor:
    """``(B, num_codes, *latent_shape)``: per image, the ``num_codes`` prior samples (of a seeded
    pool of ``num_candidates``, the same for every image) whose observation is closest in pixel MSE."""
    if num_candidates < num_codes:
        raise GanpriorError(f"need at least as many candidates ({num_candidates}) as codes ({num_codes})")
    pool, order = _nearest(prior, y, degradation, num_codes, num_candidates, seed)  # (B, N), best first
    return pool[order].clone()


def render_codes(prior: Prior, codes: torch.Tensor) -> torch.Tensor:
    """``(B, K, C, R, R)`` renders in [0, 1] of ``codes`` ``(B, K, *latent_shape)`` (e.g. ``best_codes``)."""
    with torch.no_grad(), frozen_eval(prior):
        images = torch.cat([prior.to_unit(prior.generate(c)).float().clamp(0, 1) for c in codes])
    return images.unflatten(0, tuple(codes.shape[:2]))


def fence_samples(prior: Prior, y: torch.Tensor, degradation, *, num_candidates: int | None = None,
                  seed: int = 0) -> torch.Tensor | None:
    """The renders of the prior's samples closest to ``y`` that the degradation's post-processing
    wants (``fence_samples`` of them, e.g. colorization's chroma band), or None when it wants none."""
    count = getattr(degradation, "fence_samples", 0)
    if not count:
        return None
    codes = best_codes(prior, y, degradation, count, seed=seed,
                       num_candidates=max(count, int(num_candidates or DEFAULT_NUM_CANDIDATES)))
    return render_codes(prior, codes)
