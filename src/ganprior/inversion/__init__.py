"""Inversion methods and the solver that runs them."""

from __future__ import annotations

import time

import torch

from ..errors import GanpriorError
from ..losses import PixelLoss
from ..physics.tasks import Degradation
from ..presets import defaults_for
from ..priors.base import Prior
from .base import Parameterization, ProgressCallback, Result, optimize
from .multi_code import MultiCode
from .single_code import SingleCode
from .subspace import SubspaceCode

METHODS: dict[str, type[Parameterization]] = {"single": SingleCode, "multi": MultiCode, "subspace": SubspaceCode}


def invert(y: torch.Tensor, degradation: Degradation, prior: Prior, *, method: str = "multi",
           steps: int | None = None, lr: float | None = None, optimizer: str = "adam", loss=None,
           seed: int = 0, callback: ProgressCallback | None = None, **method_options) -> Result:
    """Solve ``min loss(A(G(params)), y)`` for a batch of observations ``y``.

    Args:
        y: observations ``(B, c, s, s)`` as produced by ``degradation.A``.
        method: a key of ``METHODS`` (``single`` or ``multi``).
        steps, lr: optimisation length and step size (defaults per method and task, see presets).
        optimizer: ``adam`` (default) or ``sgd`` (the reference code's plain gradient descent).
        loss: per-image loss ``(pred, target) -> (B,)``; default pixel MSE.
        method_options: passed to the method (``num_codes``, ``layer``, ``latent_init``,
            ``importance_init``, ``normalize``).
    """
    if method not in METHODS:
        raise GanpriorError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    settings = defaults_for(method, degradation.tasks, max(prior.composition_layers))
    settings.update({k: v for k, v in method_options.items() if v is not None})
    steps = int(steps if steps is not None else settings.pop("steps"))
    lr = float(lr if lr is not None else settings.pop("lr"))
    settings.pop("steps", None)
    settings.pop("lr", None)
    y = y.to(prior.device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        param = METHODS[method](prior, y.shape[0], seed=seed, **settings)
    loss_fn = loss if loss is not None else PixelLoss()
    t0 = time.perf_counter()
    raw, history = optimize(param, y, degradation.A, loss_fn, steps=steps, lr=lr, optimizer=optimizer,
                            callback=callback)
    seconds = time.perf_counter() - t0
    images = degradation.postprocess(raw, y).clamp(0, 1)
    for p in param.parameters():
        p.requires_grad_(False)
    return Result(images=images.cpu(), raw=raw.cpu(), observed=y.cpu(), params=param.state(),
                  history=history, seconds=seconds, steps=steps, parameterization=param)


__all__ = ["METHODS", "Parameterization", "Result", "invert", "optimize", "MultiCode", "SingleCode", "SubspaceCode"]
