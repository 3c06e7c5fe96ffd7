"""Applying a latent direction to an inverted image (mGANprior, Gu et al. CVPR 2020, Sec. 4.3).

An inverted image is re-rendered with its code(s) moved by ``s * d`` for a list of strengths s:

* single code: ``G(z* + s d)``;
* multi-code and subspace (mGANprior's manipulation): *every* code moves by the same ``s d``, the
  channel importances (or subspace weights) are kept, the features are re-composed and the tail
  renders the image;
* DGP: ``G(z* + s d; theta_i)`` through that image's own fine-tuned generator weights.

Strength 0 renders the reconstruction itself (``Result.raw``).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch.func import functional_call

from ..errors import GanpriorError
from ..inversion.base import Parameterization, Result
from ..inversion.dgp import DELTA_PREFIX, DGPGenerator
from ..inversion.single_code import SingleCode
from ..priors.base import Prior
from .jitter import as_dgp_generator, image_weights


def strengths_for(max_strength: float, steps: int) -> list[float]:
    """``steps`` strengths evenly spaced over ``[-max_strength, max_strength]`` (an odd count
    includes exactly 0, the reconstruction)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise GanpriorError(f"an edit needs at least 2 steps, got {steps!r}")
    if not (isinstance(max_strength, (int, float)) and math.isfinite(max_strength) and max_strength > 0):
        raise GanpriorError(f"the maximum edit strength must be a finite number > 0, got {max_strength!r}")
    s, k = float(max_strength), steps - 1
    # symmetric formula: the middle of an odd count is exactly 0.0
    return [s * (2 * i - k) / k for i in range(steps)]


def resolve_parameterization(source: Result | Parameterization, prior: Prior | None = None) -> Parameterization:
    """The parameterisation behind an inversion result.

    ``source`` is a ``Result`` or a parameterisation (``SingleCode``, ``MultiCode``, ``SubspaceCode``,
    ``DGPGenerator``). A result without one attached (``restore`` concatenates only ``params`` over
    batches) is rebuilt from its ``params`` with ``prior`` for single-code and DGP results.
    """
    if isinstance(source, Parameterization):
        return source
    if not isinstance(source, Result):
        raise GanpriorError(f"expected an inversion Result, got {type(source).__name__}")
    param = source.parameterization
    is_dgp = isinstance(param, DGPGenerator) or (param is None and any(k.startswith(DELTA_PREFIX)
                                                                        for k in source.params))
    if is_dgp:
        return as_dgp_generator(source, prior)
    if param is not None:
        return param
    if prior is None:
        raise GanpriorError("this result has no parameterization attached (several batches were concatenated); "
                            "pass prior= to rebuild a single-code or DGP result from its params")
    codes = source.params.get("codes")
    if set(source.params) != {"codes"} or tuple(codes.shape[1:]) != tuple(prior.latent_shape):
        raise GanpriorError("only single-code and DGP results can be rebuilt from their params; "
                            "multi-code and subspace results need their parameterization attached")
    single = SingleCode(prior, codes.shape[0])
    with torch.no_grad():
        single.codes.copy_(codes.to(single.codes))
    single.codes.requires_grad_(False)
    return single


def check_index(index, batch_size: int, what: str = "image") -> int:
    """``index`` as a non-negative index into a batch of ``batch_size`` (negative counts from the end)."""
    if isinstance(index, bool) or not isinstance(index, int) or not -batch_size <= index < batch_size:
        raise GanpriorError(f"{what} index {index!r} is out of range for a reconstruction of {batch_size} image(s)")
    return index % batch_size


def direction_vector(direction, prior: Prior) -> torch.Tensor:
    """A direction as a tensor of ``prior.latent_shape`` on the prior's device.

    Accepts a tensor (or array / list), an object with ``as_latent(prior)`` (``directions.Direction``:
    it also checks the latent space), or any object with a ``.vector`` attribute. Size-1 axes are
    ignored when matching the shape (``(8,)`` fits a DCGAN's ``(8, 1, 1)`` codes), and a w vector
    ``(w_dim,)`` is broadcast over the layers of a prior in the w+ space.
    """
    as_latent = getattr(direction, "as_latent", None)
    vec = as_latent(prior) if callable(as_latent) else getattr(direction, "vector", direction)
    try:
        vec = torch.as_tensor(vec, dtype=torch.float32).detach()
    except (TypeError, ValueError, RuntimeError):
        raise GanpriorError(f"a direction must be a tensor or have a .vector tensor, "
                            f"got {type(direction).__name__}") from None
    shape = tuple(prior.latent_shape)
    if not torch.isfinite(vec).all():
        raise GanpriorError("the direction holds NaN or infinite values")
    got = tuple(vec.shape)
    if got != shape:
        if [d for d in got if d != 1] == [d for d in shape if d != 1]:
            vec = vec.reshape(shape)
        elif getattr(prior, "latent_space", None) == "w+" and got == shape[1:]:
            vec = vec[None].expand(shape)
        else:
            raise GanpriorError(f"a direction of shape {got} does not fit the codes of prior {prior.name!r} "
                                f"(latent shape {shape})")
    return vec.to(prior.device)


def _strength_tensor(strengths: Sequence[float] | torch.Tensor) -> torch.Tensor:
    try:
        s = torch.as_tensor(strengths, dtype=torch.float32).flatten()
    except (TypeError, ValueError, RuntimeError):
        raise GanpriorError(f"strengths must be a list of numbers, got {strengths!r}") from None
    if s.numel() == 0 or not torch.isfinite(s).all():
        raise GanpriorError(f"strengths must be a non-empty list of finite numbers, got {strengths!r}")
    return s


def edit_frames(result: Result | Parameterization, direction, strengths: Sequence[float] | torch.Tensor, *,
                image: int = 0, prior: Prior | None = None) -> torch.Tensor:
    """Render one inverted image with its code(s) moved by ``s * direction`` for each strength s.

    Args:
        result: an inversion ``Result`` (single, multi, subspace or dgp) or its parameterisation.
        direction: a tensor of the prior's ``latent_shape`` (or an object with ``.vector``), used as
            given (directions are normally unit norm, so s is a distance in latent space); a w vector
            is broadcast over layers for a w+ prior (see ``direction_vector``). Or a non-linear
            direction: an object with ``move(codes, strengths) -> (K, *codes.shape)`` (and
            ``check(prior)``), e.g. ``directions.FlowDirection``, which moves each code along the
            gradient flow of an attribute model, ``|s|`` being the path length.
        strengths: K strengths (``strengths_for`` gives a symmetric range).
        image: which image of the result's batch.
        prior: only needed for a result without a parameterization attached (see
            ``resolve_parameterization``).

    Returns: ``(K, C, R, R)`` in [0, 1] on the CPU; strength 0 reproduces ``result.raw[image]``.
    Multi-code and subspace results move all N codes by the same vector (a non-linear direction:
    each code along its own path) and keep their channel importances, as in mGANprior's
    manipulation experiments.
    """
    param = resolve_parameterization(result, prior)
    render_prior = param.prior
    codes = param.codes.detach()
    i = check_index(image, codes.shape[0])
    s = _strength_tensor(strengths).to(codes)
    k = s.numel()
    base = codes[i]  # (*extra, *latent_shape): extra = () single/DGP, (N,) multi, (R, K) subspace
    move = getattr(direction, "move", None)
    if callable(move):  # a non-linear direction: every code along its own path
        check = getattr(direction, "check", None)
        if callable(check):
            check(render_prior)
        moved = move(base, s.tolist()).to(codes)
    else:
        d = direction_vector(direction, render_prior).to(codes)
        moved = base[None] + s.view(k, *([1] * base.ndim)) * d  # d broadcasts over the extra axes
    with torch.no_grad():
        if isinstance(param, DGPGenerator):
            x = param.render(moved[None], image_weights(param, i))[0]
        else:
            # the same parameterisation with image i's parameters repeated K times and its codes moved
            own = {}
            for name, p in param.named_parameters():
                if p.shape[:1] != codes.shape[:1]:
                    raise GanpriorError(f"cannot edit a {type(param).__name__}: parameter {name} is not per image")
                own[name] = p.detach()[i:i + 1].expand(k, *p.shape[1:])
            own["codes"] = moved
            x = functional_call(param, own, ())
    return render_prior.to_unit(x).clamp(0, 1).cpu()


__all__ = ["edit_frames", "strengths_for", "direction_vector", "resolve_parameterization", "check_index"]
