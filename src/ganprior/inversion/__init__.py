"""Inversion methods and the solver that runs them."""

from __future__ import annotations

import inspect
import time

import torch

from ..errors import GanpriorError
from ..losses import PixelLoss
from ..tasks import Degradation
from ..presets import defaults_for
from ..priors.base import Prior
from .base import EarlyStop, Parameterization, ProgressCallback, Result, optimize
from .candidates import DEFAULT_NUM_CANDIDATES, best_codes
from .dgp import DGPGenerator, DGPSchedule, DGPStage, invert_dgp
from .multi_code import MultiCode
from .single_code import SingleCode
from .subspace import SubspaceCode

METHODS: dict[str, type[Parameterization]] = {"single": SingleCode, "multi": MultiCode, "subspace": SubspaceCode}
# methods with their own loop (multi-stage schedules, their own loss): name -> solver
SOLVERS = {"dgp": invert_dgp}
METHOD_NAMES = (*METHODS, *SOLVERS)

# options of the composition methods that the CLI and API pass to every method; a solver ignores them
_COMPOSITION_OPTIONS = ("num_codes", "layer", "latent_init", "importance_init", "normalize",
                        "num_subspaces", "subspaces", "weight_init")


def invert(y: torch.Tensor, degradation: Degradation, prior: Prior, *, method: str = "multi",
           steps: int | None = None, lr: float | None = None, optimizer: str = "adam", loss=None,
           seed: int = 0, callback: ProgressCallback | None = None, stop_mse: float | None = None,
           precision: str = "fp32", compile: bool = False, **method_options) -> Result:
    """Solve ``min loss(A(G(params)), y)`` for a batch of observations ``y``.

    Args:
        y: observations ``(B, c, s, s)`` as produced by ``degradation.A``.
        method: ``single``, ``multi``, ``subspace`` (``METHODS``) or ``dgp`` (``SOLVERS``).
        steps, lr: optimisation length and step size (defaults per method and task, see presets).
            For ``dgp``: ``steps`` rescales the schedule's stages to that total, ``lr`` is the first
            stage's generator learning rate (every rate of the schedule scaled alike).
        optimizer: ``adam`` (default) or ``sgd`` (the reference code's plain gradient descent);
            ``dgp`` uses Adam only.
        loss: per-image loss ``(pred, target) -> (B,)``; default pixel MSE. For ``dgp``: a loss name
            (``discriminator``, the default; ``mse``; ``perceptual``) or a callable that replaces the
            discriminator-feature term.
        stop_mse: stop each image once the MSE between its observation and ``A(x)`` ([0, 1] scale)
            falls below this (DGP's adversarial defense uses 5e-3); ``Result.stopped_at`` says when.
        precision: ``fp32`` (default) or ``bf16`` autocast of the generator (``ganprior.batching``);
            ``compile``: render through ``torch.compile``. Both for single, multi and subspace.
        method_options: passed to the method (``num_codes``, ``layer``, ``latent_init``,
            ``importance_init``, ``normalize``; ``latent_init="best"`` starts each image from the
            ``num_candidates`` (default 256) prior samples closest to it, see ``candidates``; for
            ``dgp`` those are ignored, and ``schedule``,
            ``progressive``, ``num_candidates``, ``candidate_std``, ``latent_weight`` apply).
    """
    if method in SOLVERS:
        if precision != "fp32" or compile:
            raise GanpriorError(f"method {method} runs in fp32 without torch.compile; drop --precision/--compile")
        if optimizer != "adam":
            raise GanpriorError(f"method {method} optimises with Adam; --optimizer {optimizer} is not supported")
        if loss is None:
            loss = "discriminator"
        options = {k: v for k, v in method_options.items() if v is not None and k not in _COMPOSITION_OPTIONS}
        solver = SOLVERS[method]
        accepted = inspect.signature(solver).parameters
        unknown = sorted(k for k in options if k not in accepted)
        if unknown:
            raise GanpriorError(f"method {method} has no option(s) {', '.join(unknown)}")
        return solver(y, degradation, prior, steps=steps, lr=lr, loss=loss, seed=seed, callback=callback,
                      stop_mse=stop_mse, **options)
    if method not in METHODS:
        raise GanpriorError(f"unknown method {method!r}; choose from {', '.join(METHOD_NAMES)}")
    settings = defaults_for(method, degradation.tasks, max(prior.composition_layers))
    settings.update({k: v for k, v in method_options.items() if v is not None})
    steps = int(steps if steps is not None else settings.pop("steps"))
    lr = float(lr if lr is not None else settings.pop("lr"))
    settings.pop("steps", None)
    settings.pop("lr", None)
    y = y.to(prior.device)
    num_candidates = settings.pop("num_candidates", None)
    best = settings.get("latent_init") == "best"
    if num_candidates is not None and not best:
        raise GanpriorError("num_candidates applies with latent_init='best' (or method dgp)")
    if best:
        settings["latent_init"] = "normal"  # the constructor's start, replaced below
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        param = METHODS[method](prior, y.shape[0], seed=seed, **settings)
    if best:
        param.start_from(best_codes(prior, y, degradation, param.codes_per_image, seed=seed,
                                    num_candidates=int(num_candidates or DEFAULT_NUM_CANDIDATES)))
    loss_fn = loss if loss is not None else PixelLoss()
    stop = EarlyStop(stop_mse, y, degradation.A)
    t0 = time.perf_counter()
    raw, history = optimize(param, y, degradation.A, loss_fn, steps=steps, lr=lr, optimizer=optimizer,
                            callback=callback, stop=stop, precision=precision, compile=compile)
    seconds = time.perf_counter() - t0
    images = degradation.postprocess(raw, y).clamp(0, 1)
    for p in param.parameters():
        p.requires_grad_(False)
    return Result(images=images.cpu(), raw=raw.cpu(), observed=y.cpu(), params=param.state(),
                  history=history, seconds=seconds, steps=history.shape[0], parameterization=param,
                  stopped_at=stop.result_field)


__all__ = ["METHODS", "SOLVERS", "METHOD_NAMES", "EarlyStop", "Parameterization", "Result", "invert", "optimize", "MultiCode",
           "SingleCode", "SubspaceCode", "DGPGenerator", "DGPSchedule", "DGPStage", "invert_dgp"]
