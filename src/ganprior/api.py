"""The Python API: ``ganprior.restore(images, task=..., prior=..., method=..., **options) -> Result``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import torch

from .errors import GanpriorError
from .inversion import SOLVERS, Result, invert
from .io import expand_inputs, fit_image, read_image, read_mask, to_gray
from .losses import resolve_loss
from .metrics import evaluate_images
from .presets import apply_preset
from .physics.masks import BUILTIN_MASKS, builtin_mask
from .tasks import Degradation, build_degradation, custom_degradation, parse_task
from .tasks.super_resolve import check_factor
from .priors import Prior, load_prior
from .priors.zoo import default_prior

ImageLike = str | os.PathLike | torch.Tensor


@dataclass
class Inputs:
    """Validated inputs of a run, at the sizes the degradation needs.

    names: one label per image (file stem or ``image{i}``).
    observed: ``(B, c, s, s)`` observations (degraded images) in [0, 1] (noise may exceed it).
    ground_truth: ``(B, 3, R, R)`` clean images when simulated, else None.
    masks: ``(B, 1, s, s)`` known-pixel masks for inpainting, else None.
    """
    names: list[str]
    sources: list[str]
    observed: torch.Tensor
    ground_truth: torch.Tensor | None
    masks: torch.Tensor | None

    def __len__(self) -> int:
        return len(self.names)


def _as_items(images: ImageLike | Sequence[ImageLike]) -> list[tuple[str, str, ImageLike]]:
    """-> list of (unique name, source, path or (C, H, W) tensor); folders are expanded."""
    if isinstance(images, (str, os.PathLike, torch.Tensor)):
        images = [images]
    items: list[tuple[str, str, ImageLike]] = []
    for i, im in enumerate(images):
        if isinstance(im, torch.Tensor):
            t = im[None] if im.ndim == 3 else im
            if t.ndim != 4:
                raise GanpriorError(f"image tensors must be (C, H, W) or (B, C, H, W), got {tuple(im.shape)}")
            items.extend((f"image{i}_{j}" if t.shape[0] > 1 else f"image{i}", f"tensor[{i}]", t[j])
                         for j in range(t.shape[0]))
        else:
            items.extend((f.stem, str(f), f) for f in expand_inputs([im]))
    if not items:
        raise GanpriorError("no input given")
    seen: dict[str, int] = {}
    out = []
    for name, src, obj in items:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append((name if n == 0 else f"{name}_{n}", src, obj))
    return out


def _load(obj: ImageLike, channels: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().float().cpu()
        if not torch.isfinite(t).all():
            raise GanpriorError("input tensor holds NaN or infinite values")
        if t.shape[0] not in (1, 3):
            raise GanpriorError(f"input tensor must have 1 or 3 channels, got {t.shape[0]}")
        if channels == 3 and t.shape[0] == 1:
            t = t.expand(3, -1, -1)
        elif channels == 1 and t.shape[0] == 3:
            t = to_gray(t[None])[0]
        return t.clamp(0, 1), None
    return read_image(obj, channels)


def _inpaint_masks(mask, alphas: list[torch.Tensor | None], size: int, *, fit: str, simulate: bool, seed: int,
                   white_is_missing: bool) -> torch.Tensor:
    """Known-pixel masks ``(B, 1, size, size)`` for B images, from (in order): a mask tensor, a built-in
    spec, a mask file, the inputs' transparency, or (simulated inputs only) the default centre box."""
    n = len(alphas)
    if isinstance(mask, torch.Tensor):
        m = mask.float()
        while m.ndim < 4:
            m = m[None]
        if m.ndim != 4 or m.shape[1] != 1 or m.shape[0] not in (1, n):
            raise GanpriorError(f"mask tensor must be (H, W), (1, H, W) or (B, 1, H, W) with B = {n} images, "
                                f"got {tuple(mask.shape)}")
        m = torch.stack([fit_image(mi, size, fit, mode="nearest") for mi in m]).round()
    elif mask is not None and str(mask).split(":")[0] in BUILTIN_MASKS and not os.path.exists(str(mask)):
        m = builtin_mask(str(mask), size, seed)[None]
    elif mask is not None:
        m = read_mask(mask, size, fit, white_is_missing)[None]
    elif any(a is not None for a in alphas):
        m = torch.stack([(fit_image(a, size, fit, mode="nearest") >= 0.5).float() if a is not None
                         else torch.ones(1, size, size) for a in alphas])
    elif simulate:
        m = builtin_mask("center", size, seed)[None]
    else:
        raise GanpriorError("inpaint needs a mask: --mask FILE, center[:SIDE] or random[:FRACTION], "
                            "or an input with transparent pixels")
    return m.expand(n, -1, -1, -1).clone()


def load_inputs(images: ImageLike | Sequence[ImageLike], task: str | list[str], resolution: int, *,
                simulate: bool = False, fit: str = "crop", factor: int | None = None,
                mask: str | os.PathLike | torch.Tensor | None = None, mask_white_is_missing: bool = True,
                noise_sigma: float | None = None, seed: int = 0) -> Inputs:
    """Read and validate every input before any optimisation starts (a bad file fails fast)."""
    tasks = parse_task(task)
    size = resolution // check_factor(factor, resolution) if "super-resolve" in tasks else resolution
    channels = 1 if "colorize" in tasks else 3
    items = _as_items(images)
    loaded = [_load(obj, 3 if simulate else channels) for _, _, obj in items]
    target = resolution if simulate else size
    pics = torch.stack([fit_image(t, target, fit) for t, _ in loaded])
    masks = _inpaint_masks(mask, [a for _, a in loaded], size, fit=fit, simulate=simulate, seed=seed,
                           white_is_missing=mask_white_is_missing) if "inpaint" in tasks else None
    # validates factor, mask size and noise level before any optimisation starts
    deg = build_degradation(tasks, resolution, factor=factor, mask=masks, noise_sigma=noise_sigma)
    if simulate:
        observed = deg.simulate(pics, seed)
        truth = pics
    else:
        observed = pics * masks if masks is not None else pics
        truth = None
    return Inputs(names=[n for n, _, _ in items], sources=[s for _, s, _ in items], observed=observed,
                  ground_truth=truth, masks=masks)


def _degradation(tasks, prior: Prior, inputs: Inputs, idx: slice, *, factor, noise_sigma, physics,
                 paste_known, blend=None, guide=None) -> Degradation:
    if physics is not None:
        return custom_degradation(physics, prior.resolution, prior.device)
    masks = inputs.masks[idx] if inputs.masks is not None else None
    return build_degradation(tasks, prior.resolution, factor=factor, mask=masks, noise_sigma=noise_sigma,
                             paste_known=paste_known, blend=blend, guide=guide, device=prior.device)


def restore_batch(inputs: Inputs, idx: slice, prior: Prior, task: str | list[str], *, factor: int | None = None,
                  noise_sigma: float | None = None, physics=None, paste_known: bool = True,
                  blend: float | None = None, guide: float | None = None, niqe_params=None,
                  **invert_options) -> Result:
    """Invert ``inputs[idx]`` in one batch and score it (reference metrics when ground truth is known).

    ``blend``: the prior's weight in the classical blend (``tasks.blend``; 0 or None = off);
    ``guide``: its weight in BM3D's pilot when denoising (same module).
    ``invert_options`` go to ``invert`` (``loss`` defaults to pixel MSE there)."""
    tasks = parse_task(task)
    deg = _degradation(tasks, prior, inputs, idx, factor=factor, noise_sigma=noise_sigma, physics=physics,
                       paste_known=paste_known, blend=blend, guide=guide)
    y = inputs.observed[idx]
    if y.shape[1:] != (deg.observed_channels, deg.observed_size, deg.observed_size):
        raise GanpriorError(f"observations are {tuple(y.shape[1:])}, the degradation expects "
                            f"{(deg.observed_channels, deg.observed_size, deg.observed_size)}")
    result = invert(y, deg, prior, **invert_options)
    result.ground_truth = inputs.ground_truth[idx] if inputs.ground_truth is not None else None
    result.metrics = evaluate_images(result.images, result.ground_truth, niqe_params=niqe_params, notes=result.notes)
    return result


def concat_results(results: list[Result]) -> Result:
    if len(results) == 1:
        return results[0]
    cat = lambda xs: torch.cat(xs) if xs[0] is not None else None  # noqa: E731
    params = {k: torch.cat([r.params[k] for r in results]) for k in results[0].params}
    # batches that stopped early (stop_mse) ran fewer steps: their histories end in NaN
    steps = max(r.history.shape[0] for r in results)
    history = torch.cat([torch.cat([r.history, r.history.new_full((steps - r.history.shape[0], r.history.shape[1]),
                                                                  float("nan"))]) for r in results], dim=1)
    return Result(images=cat([r.images for r in results]), raw=cat([r.raw for r in results]),
                  observed=cat([r.observed for r in results]), params=params,
                  history=history, seconds=sum(r.seconds for r in results),
                  steps=max(r.steps for r in results), ground_truth=cat([r.ground_truth for r in results]),
                  metrics=[m for r in results for m in r.metrics], notes=[n for r in results for n in r.notes],
                  stopped_at=cat([r.stopped_at for r in results]))


def restore(images: ImageLike | Sequence[ImageLike], task: str = "reconstruct", prior: str | Prior | None = None,
            method: str | None = None, *, simulate: bool = False, mask=None, factor: int | None = None,
            noise_sigma: float | None = None, physics=None, fit: str = "crop", paste_known: bool = True,
            mask_white_is_missing: bool = True, batch_size: int | None = None, seed: int = 0,
            device: str = "cpu", perceptual: float | str | None = None, perceptual_resize: int | None = None,
            mse_weight: float = 1.0, l1_weight: float = 0.0, niqe_params=None, preset: str = "auto",
            blend: float | None = None, guide: float | None = None, **options) -> Result:
    """Restore images with a GAN prior.

    Args:
        images: file paths / folders, or tensors ``(C, H, W)`` / ``(B, C, H, W)`` in [0, 1]. Without
            ``simulate`` they are the degraded observations (gray for colorize, low-res for
            super-resolve); with it they are clean images, degraded first so metrics can be computed.
        task: ``reconstruct``, ``colorize``, ``super-resolve``, ``inpaint``, ``denoise`` or a ``+`` chain.
        prior: registry name, checkpoint path or a ``Prior`` (default ``utkface64``).
        method: ``multi`` (mGANprior), ``single``, ``subspace`` (PmSFC) or ``dgp`` (its loss: ``loss=``
            ``"discriminator"`` (default), ``"mse"`` or ``"perceptual"``). Default: the preset's.
        physics: a deepinv Physics to use instead of the task's (images are then clean if
            ``simulate``, else observations of that physics).
        perceptual: weight of the VGG16 perceptual term, or ``'auto'``: on at its default weight when the
            VGG16 weights can be had, else pixel loss only (the reason is in ``notes``). Default: the
            preset's (``'auto'`` without one).
        blend: the prior's weight ``w`` in the classical blend ``C(y) + w (x - C(A x))`` of its output
            ``x`` with the classical restoration ``C`` (``ganprior.tasks.blend``); 0 = the prior's
            output with paste-back. Default: the preset's (0 without one).
        guide: denoising with BM3D only: the prior's weight in the pilot estimate of BM3D's Wiener
            stage, which then filters the noisy input with gains that keep the prior's detail
            (``ganprior.tasks.blend``). Default: the preset's (0 without one).
        preset: ``auto`` (default: the task's measured default style), ``faithful`` (favours PSNR),
            ``perceptual`` (favours LPIPS) or ``none`` (method defaults only); see ``ganprior.presets``.
            Options given here always override the preset's.
        options: ``steps``, ``lr``, ``optimizer``, ``num_codes``, ``layer``, ``latent_init``,
            ``importance_init``, ``normalize``, ``loss`` (overrides the pixel/perceptual terms), ``callback``.

    Returns: a ``Result`` with ``images`` ``(B, 3, R, R)`` in [0, 1] and ``metrics`` when simulated.
    """
    if physics is None:
        chosen = apply_preset(parse_task(task), preset, {"method": method, "perceptual": perceptual,
                                                        "blend": blend, "guide": guide, **options})
        method, perceptual = chosen.pop("method"), chosen.pop("perceptual", None)
        blend, guide = chosen.pop("blend", None), chosen.pop("guide", None)
        options = chosen
    method = method or "multi"
    perceptual = "auto" if perceptual is None else perceptual
    model = load_prior(prior if prior is not None else default_prior(method), device)
    if physics is not None:
        inputs = _custom_inputs(images, physics, model, simulate, fit, seed)
        tasks: list[str] = []
    else:
        tasks = parse_task(task)
        inputs = load_inputs(images, tasks, model.resolution, simulate=simulate, fit=fit, factor=factor, mask=mask,
                             mask_white_is_missing=mask_white_is_missing, noise_sigma=noise_sigma, seed=seed)
    notes: list[str] = []
    if options.get("loss") is None and method not in SOLVERS:  # DGP brings its own (discriminator) loss
        options["loss"], note = resolve_loss(perceptual, mse_weight=mse_weight, l1_weight=l1_weight,
                                             perceptual_resize=perceptual_resize)
        notes += [note] if note else []
    bs = batch_size or len(inputs)
    results = [restore_batch(inputs, slice(i, i + bs), model, tasks, factor=factor, noise_sigma=noise_sigma,
                             physics=physics, paste_known=paste_known, blend=blend, guide=guide, method=method,
                             seed=seed,
                             niqe_params=niqe_params, **options)
               for i in range(0, len(inputs), bs)]
    result = concat_results(results)
    result.notes = list(dict.fromkeys(notes + result.notes))
    return result


def _custom_inputs(images, physics, prior: Prior, simulate: bool, fit: str, seed: int) -> Inputs:
    deg = custom_degradation(physics, prior.resolution, prior.device)
    items = _as_items(images)
    size = prior.resolution if simulate else deg.observed_size
    channels = 3 if simulate else deg.observed_channels
    pics = torch.stack([fit_image(_load(obj, channels)[0], size, fit) for _, _, obj in items])
    if simulate:
        with torch.no_grad():
            observed = deg.simulate(pics.to(prior.device), seed).cpu()
        truth = pics
    else:
        observed, truth = pics, None
    return Inputs([n for n, _, _ in items], [s for _, s, _ in items], observed, truth, None)
