"""Inversion methods and the solver that runs them."""

from __future__ import annotations

import time

import torch

from ..errors import GanpriorError
from ..losses import PixelLoss, frozen_eval
from ..physics.operator import as_operator
from ..presets import defaults_for
from ..encoders import resolve_encoder
from ..priors.base import Prior
from .base import PLATEAU_MIN_IMPROVEMENT, EarlyStop, check_patience, Parameterization, ProgressCallback, Result, optimize
from .candidates import DEFAULT_NUM_CANDIDATES, best_codes, render_codes
from .encoder_start import encoder_code, encoder_codes
from .dgp import DGPGenerator, DGPSchedule, DGPStage, invert_dgp
from .methods import METHOD_NAMES, METHODS, SOLVERS, check_options, method_options
from .multi_code import MultiCode
from .single_code import SingleCode
from .subspace import SubspaceCode


def invert(y: torch.Tensor, degradation, prior: Prior, *, method: str = "multi",
           steps: int | None = None, lr: float | None = None, optimizer: str = "adam", loss=None,
           seed: int = 0, callback: ProgressCallback | None = None, stop_mse: float | None = None,
           patience: int | None = None, min_improvement: float = PLATEAU_MIN_IMPROVEMENT,
           precision: str = "fp32", compile: bool = False, **options) -> Result:
    """Solve ``min loss(A(G(params)), y)`` for a batch of observations ``y``.

    Args:
        y: observations ``(B, c, s, s)`` as produced by ``degradation.A``.
        degradation: a ``Degradation`` (``physics.build_degradation``), or any deepinv Physics or
            callable ``x -> y``, wrapped by ``physics.operator.as_operator`` (no task presets, no
            paste-back).
        prior: the generator. Its parameters are kept out of autograd while it runs (its ``.grad``
            stays None) and it renders in eval mode; both flags are restored afterwards.
        method: ``single``, ``multi``, ``subspace`` (``METHODS``) or ``dgp`` (``SOLVERS``).
        steps, lr: optimisation length and step size (defaults per method and task, see presets).
            For ``dgp``: ``steps`` rescales the schedule's stages to that total, ``lr`` is the first
            stage's generator learning rate (every rate of the schedule scaled alike). ``steps=0``
            runs none: the result is the start's image (with ``latent_init="encoder"``, the
            encoder's), post-processed like any other.
        optimizer: ``adam`` (default) or ``sgd`` (the reference code's plain gradient descent);
            ``dgp`` uses Adam only.
        loss: per-image loss ``(pred, target) -> (B,)``; default pixel MSE. For ``dgp``: a loss name
            (``discriminator``, the default; ``mse``; ``perceptual``) or a callable that replaces the
            discriminator-feature term.
        stop_mse: stop each image once the MSE between its observation and ``A(x)`` ([0, 1] scale)
            falls below this (DGP's adversarial defense uses 5e-3); ``Result.stopped_at`` says when.
        patience, min_improvement: stop each image once its loss has stopped improving: its best
            improved by less than ``min_improvement`` (relative, default 1%) over its last
            ``patience`` steps. The run ends when every image has stopped (either rule), so
            ``steps`` becomes a ceiling. None (default): every step runs.
        precision: ``fp32`` (default) or ``bf16`` autocast of the generator (``ganprior.precision``);
            ``compile``: render through ``torch.compile``. Both for single, multi and subspace.
        options: passed to the method (``num_codes``, ``layer``, ``latent_init``,
            ``importance_init``, ``normalize``; ``latent_init="best"`` starts each image from the
            ``num_candidates`` (default 256) prior samples closest to it, see ``candidates``;
            ``latent_init="encoder"`` from the codes an image encoder gives the observation mapped
            back to an image, ``encoder`` (an ``encoders.ImageEncoder`` or a file; default: the one
            shipped for the prior), see ``encoder_start``; for ``dgp``: ``schedule``,
            ``progressive``, ``num_candidates``, ``candidate_std``, ``latent_weight``,
            ``candidate_chunk``, and ``latent_init`` ``best`` (its candidates, the default) or
            ``encoder``). ``methods.method_options(method)`` lists them.
            An option the method does not take raises a ``GanpriorError``, except another method's
            option passed as None (callers pass every option, None when not given).
    """
    options = check_options(method, options)
    patience, min_improvement = check_patience(patience, min_improvement)  # refused before any work
    stopping = {"stop_mse": stop_mse, "patience": patience, "min_improvement": min_improvement}
    degradation = as_operator(degradation, prior.resolution, channels=prior.channels, device=prior.device)
    with frozen_eval(prior):
        if method in SOLVERS:
            return _run_solver(y, degradation, prior, method, steps=steps, lr=lr, optimizer=optimizer, loss=loss,
                               seed=seed, callback=callback, stopping=stopping, precision=precision,
                               compile=compile, options=options)
        return _run_parameterization(y, degradation, prior, method, steps=steps, lr=lr, optimizer=optimizer,
                                     loss=loss, seed=seed, callback=callback, stopping=stopping,
                                     precision=precision, compile=compile, options=options)


def _run_solver(y, degradation, prior, method, *, steps, lr, optimizer, loss, seed, callback, stopping,
                precision, compile, options) -> Result:
    if precision != "fp32" or compile:
        raise GanpriorError(f"method {method} runs in fp32 without torch.compile; drop --precision/--compile")
    if optimizer != "adam":
        raise GanpriorError(f"method {method} optimises with Adam; --optimizer {optimizer} is not supported")
    if loss is None:
        loss = "discriminator"
    return SOLVERS[method](y, degradation, prior, steps=steps, lr=lr, loss=loss, seed=seed, callback=callback,
                           **stopping, **options)


def _run_parameterization(y, degradation, prior, method, *, steps, lr, optimizer, loss, seed, callback, stopping,
                          precision, compile, options) -> Result:
    layers = prior.composition_layers
    if not layers and method != "single":
        raise GanpriorError(f"method {method} composes features at a layer of the generator, and prior "
                            f"{prior.name!r} has none (a GeneratorPrior names them with split_points=[...])")
    settings = defaults_for(method, degradation.tasks, max(layers) if layers else None)
    settings.update(options)
    steps = int(steps if steps is not None else settings.pop("steps"))
    lr = float(lr if lr is not None else settings.pop("lr"))
    settings.pop("steps", None)
    settings.pop("lr", None)
    y = y.to(prior.device)
    num_candidates = settings.pop("num_candidates", None)
    encoder = settings.pop("encoder", None)
    best = settings.get("latent_init") == "best"
    from_encoder = settings.get("latent_init") == "encoder"
    if num_candidates is not None and not best:
        raise GanpriorError("num_candidates applies with latent_init='best' (or method dgp)")
    if encoder is not None and not from_encoder:
        raise GanpriorError("an encoder applies with latent_init='encoder'")
    if from_encoder:  # found (or refused) before any work
        encoder = resolve_encoder(encoder, prior)
    if best or from_encoder:
        settings["latent_init"] = "normal"  # the constructor's start, replaced below
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        param = METHODS[method](prior, y.shape[0], seed=seed, **settings)
    # the starts and the samples post-processing fences the output with (colorization's chroma band)
    # are the closest of one seeded pool: it is rendered and scored once for both
    fence = getattr(degradation, "fence_samples", 0)
    nearest = None
    # multi-code's encoder start takes its other codes from the pool (MultiCode.start_at)
    joiners = param.codes_per_image - 1 if from_encoder and hasattr(param, "start_at") else 0
    if best or fence or joiners:
        count = max(param.codes_per_image if best else joiners, fence)
        pool_size = int(num_candidates or DEFAULT_NUM_CANDIDATES)
        if best and pool_size < param.codes_per_image:
            raise GanpriorError(f"need at least as many candidates ({pool_size}) as codes ({param.codes_per_image})")
        nearest = best_codes(prior, y, degradation, count, seed=seed, num_candidates=max(pool_size, count))
    if best:
        param.start_from(nearest[:, :param.codes_per_image].clone())
    if from_encoder and hasattr(param, "start_at"):
        param.start_at(encoder_code(encoder, y, degradation, prior),
                       nearest[:, :joiners] if joiners else None)
    elif from_encoder:
        param.start_from(encoder_codes(encoder, y, degradation, prior, param.codes_per_image,
                                       groups=param.code_groups, seed=seed))
    loss_fn = loss if loss is not None else PixelLoss()
    stop = EarlyStop(stopping["stop_mse"], y, degradation.A, stopping["patience"], stopping["min_improvement"])
    t0 = time.perf_counter()
    raw, history = optimize(param, y, degradation.A, loss_fn, steps=steps, lr=lr, optimizer=optimizer,
                            callback=callback, stop=stop, precision=precision, compile=compile)
    seconds = time.perf_counter() - t0
    samples = render_codes(prior, nearest[:, :fence]) if fence else None
    images = degradation.postprocess(raw, y, samples=samples).clamp(0, 1)
    for p in param.parameters():
        p.requires_grad_(False)
    return Result(images=images.cpu(), raw=raw.cpu(), observed=y.cpu(), params=param.state(),
                  history=history, seconds=seconds, steps=history.shape[0], parameterization=param,
                  stopped_at=stop.result_field)


__all__ = ["METHODS", "SOLVERS", "METHOD_NAMES", "method_options", "check_options", "EarlyStop",
           "Parameterization", "Result", "invert", "optimize", "MultiCode", "SingleCode", "SubspaceCode", "DGPGenerator", "DGPSchedule", "DGPStage", "invert_dgp"]
