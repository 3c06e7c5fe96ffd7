"""The Python API: ``ganprior.restore(images, task=..., prior=..., method=..., **options) -> Result``.

A thin front of ``ganprior.pipeline``: the options become a ``RunConfig`` (an unknown name is an
error), and the same ``Pipeline`` the CLI and the web app use runs it.
"""

from __future__ import annotations

import os
from typing import Sequence

from .config import RunConfig
from .errors import GanpriorError
from .inputs import ImageLike, Inputs, load_inputs
from .inversion import Result
from .pipeline import Pipeline, concat_results, restore_batch
from .priors import Prior

# keyword options of ``invert`` that are not run settings: passed through to the method as given
_PASS_THROUGH = ("schedule", "progressive", "candidate_std", "latent_weight")


def restore(images: ImageLike | Sequence[ImageLike], task: str = "reconstruct", prior: str | Prior | None = None,
            method: str | None = None, *, physics=None, batch_size: int | None = None, device: str = "cpu",
            callback=None, loss=None, l1_weight: float | None = None, mask_white_is_missing: bool | None = None,
            **options) -> Result:
    """Restore images with a GAN prior.

    Args:
        images: file paths / folders, or tensors ``(C, H, W)`` / ``(B, C, H, W)`` in [0, 1]. Without
            ``simulate`` they are the degraded observations (gray for colorize, low-res for
            super-resolve); with it they are clean images, degraded first so metrics can be computed.
        task: a registered task (``ganprior.tasks.TASKS``) or a ``+`` chain. With ``physics`` it
            only chooses the preset.
        prior: registry name, checkpoint path or a ``Prior`` (default ``utkface64``).
        method: ``multi`` (mGANprior), ``single``, ``subspace`` (PmSFC) or ``dgp``. Default: the preset's.
        physics: a deepinv Physics (or a callable ``x -> y``) to use instead of the task's forward
            model; images are then clean with ``simulate``, else observations of that physics.
        callback: ``callback(step, total, loss (B,), images)`` at every optimisation step.
        loss: a per-image loss ``(pred, target) -> (B,)`` replacing the preset's pixel/perceptual one.
        options: any ``RunConfig`` field (``preset``, ``steps``, ``lr``, ``num_codes``, ``layer``,
            ``perceptual``, ``blend``, ``guide``, ``simulate``, ``mask``, ``seed``, ...) and the tasks'
            own options (``factor``, ``noise_sigma``, ``blur_sigma``, ...); see ``ganprior.config``.
            Inpainting: ``mask`` is one mask for all (a file, ``center[:SIDE]``, ``random[:F]``, a
            tensor), a folder of per-image masks matched by name, or a list of one mask (file or
            tensor) per image; left out, an input's ``NAME_mask.*`` beside it is its mask, else its
            transparency. ``mask_paint="white"`` (``COLOR[:TOLERANCE]``) takes the missing pixels
            from damage painted on the images themselves (``ganprior.physics.paint``).
            ``latent_init="encoder"`` starts from an image encoder: ``encoder`` is its file or an
            ``encoders.ImageEncoder`` (default: the one shipped for the prior).

    Returns: a ``Result`` with ``images`` ``(B, 3, R, R)`` in [0, 1] and ``metrics`` when simulated;
    with ``faces="detect"`` (whole photos, ``ganprior.faces``) a list of ``PhotoResult``, one per
    photo, each at the photo's own size times the task's factor.
    """
    extras = {k: options.pop(k) for k in _PASS_THROUGH if k in options}
    if l1_weight is not None:
        options["l1"] = l1_weight
    if mask_white_is_missing is not None:
        options["mask_white_known"] = not mask_white_is_missing
    if isinstance(prior, Prior):
        given_prior, options["prior"] = prior, None
    else:
        given_prior, options["prior"] = None, (str(prior) if prior is not None else None)
    # a mask given as text is a run setting (a file or a built-in spec); a tensor or path object goes to
    # load() as it is
    mask = options.pop("mask", None)
    if isinstance(mask, str):
        options["mask"], mask = mask, None
    elif mask is not None and options.get("mask_paint") is not None:
        raise GanpriorError("mask and mask_paint are exclusive: the mask is either given or painted on the images")
    given_encoder = options.get("encoder")
    if isinstance(given_encoder, os.PathLike):
        options["encoder"], given_encoder = os.fspath(given_encoder), None
    elif given_encoder is not None and not isinstance(given_encoder, str):  # an ImageEncoder object
        options["encoder"] = None
    else:
        given_encoder = None
    config = RunConfig.from_options(task, method=method, **options)
    pipe = Pipeline(config, prior=given_prior, physics=physics, encoder=given_encoder, device=device)
    if loss is not None:
        pipe.loss = loss
    if extras:
        pipe.extra_options.update(extras)
    if config.faces != "aligned":
        return restore_photos(pipe, images, mask=mask, batch_size=batch_size, callback=callback)
    return pipe.restore(images, mask=mask, batch_size=batch_size, callback=callback)


def restore_photos(pipe: Pipeline, images: ImageLike | Sequence[ImageLike], *, mask=None,
                   batch_size: int | None = None, callback=None) -> list:
    """Each photo's faces restored with ``pipe``'s recipe and pasted back (``ganprior.faces.photo``);
    with ``faces="auto"`` an input no larger than an aligned crop is restored as one, its result a
    ``PhotoResult`` of the crop."""
    from .faces.photo import PhotoResult, fills_frame, is_aligned_crop, load_photo, restore_photo
    from .inputs import _as_items
    from .io import image_size
    from .tasks import needs_mask
    items = _as_items(images, drop_masks=needs_mask(pipe.tasks))
    if isinstance(mask, (list, tuple)) and len(mask) != len(items):
        raise GanpriorError(f"got {len(mask)} masks for {len(items)} photos: give one mask per photo")
    out = []
    for i, (name, source, obj) in enumerate(items):
        own = mask[i] if isinstance(mask, (list, tuple)) else mask
        size = tuple(obj.shape[-2:])[::-1] if hasattr(obj, "shape") else image_size(obj)
        auto = pipe.config.faces == "auto"
        photo = None if auto and is_aligned_crop(size, pipe.prior.resolution) else \
            load_photo(pipe, obj, name=name, source=source, mask=own)
        if photo is None or (auto and fills_frame(photo)):  # an aligned crop after all: restored whole
            r = pipe.restore([obj], mask=[own] if isinstance(mask, (list, tuple)) else mask, callback=callback)
            out.append(PhotoResult(image=r.images[0], background=r.images[0], observed=r.observed[0],
                                   faces=[f.to_json() for f in photo.faces] if photo else [], seconds=r.seconds,
                                   steps=r.steps, notes=list(r.notes)))
        else:
            out.append(restore_photo(pipe, photo, callback=callback, batch_size=batch_size))
    return out


__all__ = ["restore", "restore_photos", "restore_batch", "concat_results", "load_inputs", "Inputs", "Pipeline",
           "RunConfig",
           "Result", "GanpriorError"]
