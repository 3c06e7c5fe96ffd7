"""The closed-form kind (SeFa, Shen & Zhou CVPR 2021): the top eigenvectors of ``A^T A``, where ``A``
is the first linear map the generator applies to a code. They are the directions that change that
layer's output most, found from the weights alone (or, for a generator whose first map is not
known, from its Jacobian at the mean code).
"""

from __future__ import annotations

import math

import torch

from ...errors import GanpriorError
from ...priors.base import Prior, feature_map
from .base import Direction, active_space, device_of, eval_mode, fix_sign, prior_info

PROJECTION_METHODS = ("auto", "weights", "jacobian")


def latent_projection(prior: Prior, method: str = "auto") -> torch.Tensor:
    """The matrix ``A`` ``(out_features, latent_dim)`` of the first linear map applied to a code in
    the prior's active space (SeFa), float64 on the CPU.

    * DCGAN: the first ConvTranspose2d (1x1 -> 4x4) ``(C * 16, latent)`` (z columns only for a
      class-conditional generator);
    * PGGAN: the first (dense, 4x4) conv on the pixel-normalised z, with its equalised-LR scale;
    * StyleGAN2 in w / w+: the modulation affines ``(in_channels, w_dim)`` of every synthesis
      conv and to-RGB layer, stacked (SeFa's choice; the w+ directions are w vectors); z space is
      refused (the mapping network is nonlinear);
    * BigGAN: every spectrally normalised linear map that reads z: the stem (z, or its first
      chunk) and, with a hierarchical z, each stage's conditional batch-norm gain and bias
      projections restricted to its z chunk; BigGAN-deep: the stem and batch-norm projections
      restricted to the z part of ``[z, class embedding]``;
    * anything else (or ``method="jacobian"``): the Jacobian of the flattened first composition
      layer's feature map w.r.t. the code at the mean code (zeros, or the mean w).
    """
    return _projection(prior, method)[0]


def _projection(prior: Prior, method: str) -> tuple[torch.Tensor, str]:
    if method not in PROJECTION_METHODS:
        raise GanpriorError(f"unknown projection method {method!r}; choose one of {', '.join(PROJECTION_METHODS)}")
    if method == "auto" or method == "weights":
        with torch.no_grad():
            a = _weight_projection(prior)
        if a is not None:
            return a.detach().double().cpu(), "weights"
        if method == "weights":
            raise GanpriorError(f"no weight-based projection is known for prior {prior.name!r} "
                                f"(family {getattr(prior, 'family', 'custom')}); use method='jacobian'")
    return _jacobian_projection(prior).double().cpu(), "jacobian"


def _weight_projection(prior: Prior) -> torch.Tensor | None:
    from ...priors.biggan import BigGANPrior, SNLinear
    from ...priors.biggan_deep import BigGANDeepPrior
    from ...priors.dcgan import DCGANPrior
    from ...priors.pggan import PGGANPrior
    from ...priors.stylegan2 import StyleGAN2Prior

    if isinstance(prior, DCGANPrior):
        w = prior.net[0][0].weight[:prior.latent_dim]        # (latent [+ embed], C, 4, 4) -> z rows
        return w.reshape(prior.latent_dim, -1).t()
    if isinstance(prior, PGGANPrior):
        conv = prior.layers[0].conv                          # (C, z_dim, 4, 4) on a 1x1 input
        return (conv.weight * conv.scale).permute(0, 2, 3, 1).reshape(-1, prior.latent_dim)
    if isinstance(prior, StyleGAN2Prior):
        if prior.latent_space == "z":
            raise GanpriorError(f"closed-form (SeFa) directions need a linear first layer, but prior "
                                f"{prior.name!r} is in z space, where the mapping network is nonlinear; "
                                "call prior.use_latent_space('w') (or 'w+') first")
        rows = []
        for block in prior.generator.blocks:
            for layer in (block.conv_up, block.conv, block.to_rgb):
                if layer is not None:
                    rows.append(layer.affine.weight * layer.affine.weight_gain)
        return torch.cat(rows, dim=0)
    if isinstance(prior, BigGANPrior):
        arch = prior.arch
        stem = prior.stem.linear.normalized_weight()
        if not arch.hierarchical:
            return stem
        c, e = arch.chunk_dim, arch.embedding_dim
        rows = [torch.nn.functional.pad(stem, (0, arch.dim_z - c))]
        for k, stage in enumerate(prior.stages):
            for norm in (stage.block.norm1, stage.block.norm2):
                for proj in (norm.gain_proj, norm.bias_proj):
                    part = proj.normalized_weight()[:, e:]   # cond = [embedding, z chunk k+1]
                    rows.append(torch.nn.functional.pad(part, (c * (k + 1), arch.dim_z - c * (k + 2))))
        return torch.cat(rows, dim=0)
    if isinstance(prior, BigGANDeepPrior):
        z_dim, cond_dim = prior.arch.z_dim, prior.arch.cond_dim  # cond = [z, embedding]
        rows = [prior.stem.linear.normalized_weight()[:, :z_dim]]
        for stage in prior.stages:
            for module in stage.modules():
                if isinstance(module, SNLinear) and module.weight.shape[1] == cond_dim:
                    rows.append(module.normalized_weight()[:, :z_dim])
        return torch.cat(rows, dim=0)
    return None


def _mean_code(prior: Prior) -> torch.Tensor:
    """The centre of the latent distribution in the active space: the mean w for w / w+, else 0."""
    shape = tuple(prior.latent_shape)
    w_avg = getattr(prior, "w_avg", None)
    if active_space(prior) in ("w", "w+") and isinstance(w_avg, torch.Tensor) and w_avg.numel() == shape[-1]:
        return w_avg.detach().float().reshape(-1).expand(shape).clone()
    return torch.zeros(shape)


def _jacobian_projection(prior: Prior) -> torch.Tensor:
    layer = min(prior.composition_layers)
    code = _mean_code(prior).to(device_of(prior))
    shape = tuple(prior.latent_shape)

    def head(flat: torch.Tensor) -> torch.Tensor:
        return feature_map(prior.head(flat.reshape(1, *shape), layer)).reshape(-1)

    with eval_mode(prior):
        try:
            jac = torch.func.jacrev(head)(code.reshape(-1))
        except (RuntimeError, NotImplementedError, TypeError):
            # models whose ops torch.func cannot vectorise: one backward pass per output
            jac = torch.autograd.functional.jacobian(head, code.reshape(-1))
    return jac.detach().reshape(-1, code.numel())


def closed_form_directions(prior: Prior, k: int = 5, *, method: str = "auto") -> list[Direction]:
    """The top-``k`` closed-form directions (SeFa, Shen & Zhou CVPR 2021).

    SeFa finds the unit codes ``n`` that change the first layer's output most, i.e. maximise
    ``|A n|^2``: the eigenvectors of ``A^T A`` with the largest eigenvalues (``latent_projection``
    gives ``A``). Directions are named ``sefa-{i}`` in descending eigenvalue order, with
    ``meta["eigenvalue"]``; each sign is fixed so the largest-magnitude component is positive.
    For StyleGAN2 in w+ space the directions are w vectors (space ``"w"``; see ``as_latent``).
    ``method="jacobian"`` forces the Jacobian fallback (``meta["method"]`` says which was used).
    """
    a, used = _projection(prior, method)
    dim = a.shape[1]
    if not 1 <= int(k) <= dim:
        raise GanpriorError(f"k must be between 1 and the latent size {dim}, got {k}")
    if not bool(torch.isfinite(a).all()):
        raise GanpriorError(f"the first-layer weights of prior {prior.name!r} contain NaN or infinite values")
    eigenvalues, eigenvectors = torch.linalg.eigh(a.t() @ a)    # ascending
    order = torch.argsort(eigenvalues, descending=True)[:int(k)]
    total = float(eigenvalues.clamp(min=0).sum()) or 1.0
    space, shape = active_space(prior), tuple(prior.latent_shape)
    if space == "w+" and dim != math.prod(shape):   # StyleGAN2's affines read one w
        space, shape = "w", (dim,)
    out = []
    for rank, i in enumerate(order.tolist()):
        value = max(float(eigenvalues[i]), 0.0)
        vector = fix_sign(eigenvectors[:, i]).reshape(shape)
        meta = {**prior_info(prior), "method": "sefa" if used == "weights" else "jacobian",
                "eigenvalue": value, "eigenvalue_ratio": value / total, "rank": rank,
                "projection_shape": list(a.shape)}
        out.append(Direction(name=f"sefa-{rank}", vector=vector, space=space, source="closed-form", meta=meta))
    return out


__all__ = ["PROJECTION_METHODS", "closed_form_directions", "latent_projection"]
