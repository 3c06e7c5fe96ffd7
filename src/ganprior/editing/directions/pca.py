"""The principal-component kind (GANSpace, Haerkoenen et al. NeurIPS 2020): principal components of
sampled w codes, or, for z-space priors, of the first composition layer's features mapped back to z
by regression, as GANSpace does for BigGAN.
"""

from __future__ import annotations

import torch

from ...errors import GanpriorError
from ...priors.base import Prior, feature_map
from .base import Direction, active_space, eval_mode, fix_sign, prior_info

_MAX_FEATURE_BYTES = 2 << 30  # PCA keeps the sampled features (float32) in memory


def _top_components(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """PCA of the rows of ``x`` (N, P) float32, centred in place.

    Returns (scores ``(N, k)`` float64: the samples' coordinates on the top-k components,
    variances ``(k,)`` descending, total variance). Uses the P x P covariance or, when P > N, the
    N x N Gram matrix (same non-zero spectrum), accumulated in float64 in chunks.
    """
    n, p = x.shape
    x -= x.double().mean(dim=0).float()
    chunk = max(1, (64 << 20) // (8 * max(n, p)))
    if p <= n:
        cov = torch.zeros(p, p, dtype=torch.float64)
        for s in range(0, n, chunk):
            rows = x[s:s + chunk].double()
            cov += rows.t() @ rows
        values, vectors = torch.linalg.eigh(cov)
        values, vectors = values.flip(0)[:k], vectors.flip(1)[:, :k]
        scores = torch.cat([x[s:s + chunk].double() @ vectors for s in range(0, n, chunk)])
    else:
        gram = torch.zeros(n, n, dtype=torch.float64)
        for s in range(0, p, chunk):
            cols = x[:, s:s + chunk].double()
            gram += cols @ cols.t()
        values, vectors = torch.linalg.eigh(gram)
        values, vectors = values.flip(0)[:k], vectors.flip(1)[:, :k]
        cov = gram
        scores = vectors * values.clamp(min=0).sqrt()
    total = float(torch.diagonal(cov).sum())
    return scores, values.clamp(min=0) / (n - 1), total / (n - 1)


def pca_directions(prior: Prior, k: int = 5, num_samples: int = 2000, seed: int = 0,
                   batch: int = 250) -> list[Direction]:
    """The top-``k`` principal directions of the latent distribution (GANSpace, Haerkoenen et al. 2020).

    * w / w+ space: PCA of ``num_samples`` sampled w (from the mapping, as ``sample_latent``
      draws them); the directions are w vectors (space ``"w"``, usable on w+ via ``as_latent``).
    * z space: PCA of the flattened feature map at the first composition layer, ``head(z, layer)``;
      each component is mapped back to z by least-squares regression of the (centred) codes on
      the samples' component coordinates, as GANSpace does for BigGAN; the direction is the
      normalised regression coefficient.

    Names ``pca-{i}``; ``meta["explained_variance_ratio"]`` (of the sampled w or features,
    descending). Deterministic for a seed; runs without gradients, in eval mode.
    """
    k, num_samples, batch = int(k), int(num_samples), int(batch)
    if k < 1:
        raise GanpriorError(f"k must be at least 1, got {k}")
    if num_samples <= k:
        raise GanpriorError(f"num_samples must exceed k: got {num_samples} samples for {k} components")
    if batch < 1:
        raise GanpriorError(f"batch must be at least 1, got {batch}")
    space = active_space(prior)
    gen = torch.Generator().manual_seed(int(seed))
    codes, feats = [], []
    layer = min(prior.composition_layers)
    with torch.no_grad(), eval_mode(prior):
        for start in range(0, num_samples, batch):
            z = prior.sample_latent(min(batch, num_samples - start), gen)
            if space in ("w", "w+"):
                feats.append((z[:, 0] if space == "w+" else z).float().cpu())
                continue
            f = feature_map(prior.head(z, layer)).reshape(z.shape[0], -1).float().cpu()
            if start == 0 and num_samples * f.shape[1] * 4 > _MAX_FEATURE_BYTES:
                raise GanpriorError(f"PCA of {num_samples} samples of layer-{layer} features "
                                    f"({f.shape[1]} values each) needs more than "
                                    f"{_MAX_FEATURE_BYTES >> 30} GiB; use fewer samples")
            codes.append(z.reshape(z.shape[0], -1).double().cpu())
            feats.append(f)
    x = torch.cat(feats)
    if k > x.shape[1]:
        raise GanpriorError(f"k must be at most {x.shape[1]} (the size of the sampled vectors), got {k}")
    scores, variances, total = _top_components(x, k)
    ratios = (variances / total).tolist() if total > 0 else [0.0] * k
    if space in ("w", "w+"):
        # the principal axes themselves: x_centred^T scores is proportional to them
        directions = (x.double().t() @ scores).t()                            # (k, w_dim)
        out_space, shape = "w", (x.shape[1],)
        what = "w"
    else:
        z = torch.cat(codes)
        z = z - z.mean(dim=0)
        directions = torch.linalg.lstsq(scores, z).solution                   # (k, z_dim)
        out_space, shape = "z", tuple(prior.latent_shape)
        what = f"layer-{layer} features"
    out = []
    for i in range(k):
        v = directions[i]
        if float(v.norm()) == 0 or float(variances[i]) == 0:
            raise GanpriorError(f"component {i} of the sampled {what} has no variance; lower k")
        v = fix_sign(v / v.norm()).reshape(shape)
        meta = {**prior_info(prior), "method": "ganspace", "pca_of": what,
                "explained_variance_ratio": float(ratios[i]), "explained_variance": float(variances[i]),
                "component": i, "num_samples": num_samples, "seed": int(seed)}
        out.append(Direction(name=f"pca-{i}", vector=v, space=out_space, source="pca", meta=meta))
    return out


__all__ = ["pca_directions"]
