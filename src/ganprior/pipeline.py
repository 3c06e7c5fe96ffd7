"""The one restoration path: a ``RunConfig`` in, restored images and their output files out.

``ganprior.restore`` (the API), ``ganprior TASK ...`` (the CLI's jobs, on both engines) and the web
app's Restore tab all build a ``Pipeline`` and call the same three steps::

    pipe = Pipeline(config)                # prior, resolved recipe (preset + method defaults), loss
    inputs = pipe.load(images)             # validated observations at the task's geometry
    result = pipe.run(inputs, callback=..) # inversion, post-processing and metrics
    files = output_files(result, 0, ...)   # the encoded result / input / sheet images

so the same settings and seed give byte-identical outputs wherever they come from.
"""

from __future__ import annotations

import copy

from typing import Sequence

import torch

from .config import RunConfig
from .errors import GanpriorError
from .inputs import ImageLike, Inputs, load_custom_inputs, load_inputs
from .inversion import Result, invert
from .losses import method_loss
from .metrics import evaluate_images
from .physics.operator import as_operator
from .presets import lead_task
from .tasks import build_degradation, parse_task
from .priors import Prior, load_prior
from .priors.zoo import configure_prior, default_prior


def restore_batch(inputs: Inputs, idx: slice, prior: Prior, task: str | list[str], *, physics=None,
                  paste_known: bool = True, blend: float | None = None, guide: float | None = None,
                  chroma_fence: int | None = None, niqe_params=None, task_options: dict | None = None,
                  factor: int | None = None, noise_sigma: float | None = None, **invert_options) -> Result:
    """Invert ``inputs[idx]`` in one batch and score it (reference metrics when ground truth is known).

    ``task_options``: the tasks' own options (``factor`` and ``noise_sigma`` may also be given as
    keywords). ``blend``: the prior's weight in the classical blend (0 or None = off); ``guide``: its
    weight in BM3D's pilot when denoising. ``chroma_fence``: colorization's chroma band from that many
    of the prior's nearest samples (``ganprior.chroma``; 0 or None = off). ``invert_options`` go to
    ``invert``."""
    options = dict(task_options or {})
    options.update({k: v for k, v in (("factor", factor), ("noise_sigma", noise_sigma)) if v is not None})
    if physics is not None:
        deg = as_operator(physics, prior.resolution, device=prior.device)
    else:
        masks = inputs.masks[idx] if inputs.masks is not None else None
        deg = build_degradation(parse_task(task), prior.resolution, mask=masks, paste_known=paste_known,
                                blend=blend, guide=guide, chroma_fence=chroma_fence, device=prior.device,
                                **options)
    y = inputs.observed[idx]
    expected = (deg.observed_channels, deg.observed_size, deg.observed_size)
    if tuple(y.shape[1:]) != expected:
        raise GanpriorError(f"observations are {tuple(y.shape[1:])}, the degradation expects {expected}")
    result = invert(y, deg, prior, **invert_options)
    result.ground_truth = inputs.ground_truth[idx] if inputs.ground_truth is not None else None
    result.metrics = evaluate_images(result.images, result.ground_truth, niqe_params=niqe_params, notes=result.notes)
    return result


def concat_results(results: list[Result]) -> Result:
    """One Result of several batches' (their images, parameters and histories in order)."""
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


class Pipeline:
    """A restoration run prepared from a ``RunConfig``: the configured prior, the resolved recipe
    (``self.config``: the preset and the method's defaults filled in) and the loss.

    ``prior``: a ``Prior`` to use instead of ``config.prior``; ``physics``: a user-supplied deepinv
    physics (or callable) instead of the task chain's forward model; the task still chooses the
    preset, so ``restore(y, task="super-resolve", physics=my_operator)`` runs the SR recipe;
    ``encoder``: an ``encoders.ImageEncoder`` for ``latent_init="encoder"`` instead of ``config.encoder``
    (a file) or the prior's shipped one."""

    def __init__(self, config: RunConfig, *, prior: Prior | None = None, physics=None, encoder=None,
                 device: str | torch.device = "cpu"):
        config.validate()
        if prior is None:
            prior = load_prior(config.prior or default_prior(config.method), device)
        elif not isinstance(prior, Prior):
            prior = load_prior(prior, device)
        self.prior = configure_prior(prior, latent_space=config.latent_space, class_index=config.class_index,
                                     truncation=config.truncation)
        layers = getattr(self.prior, "composition_layers", None)
        from .encoders import encoder_for, resolve_encoder
        # the prior's shipped encoder, looked up once: the faithful presets of some tasks start from it
        shipped = encoder_for(self.prior) if encoder is None and config.encoder is None else None
        self.given = config  # as the user gave it: a task's preset may depend on its options (for_options)
        self._num_layers = max(layers) if layers else None
        self._chosen_encoder = encoder is not None or config.encoder is not None
        self._shipped = shipped
        self.config = self._resolve(config)
        self.physics = physics
        c = self.config
        self.loss, note = method_loss(c.method, c.perceptual, dgp_loss=c.dgp_loss, l1_weight=c.l1,
                                      perceptual_resize=c.perceptual_resize)
        self.notes = [note] if note else []
        self.extra_options: dict = {}  # method options that are not run settings (DGP's schedule, ...)
        if encoder is not None and c.latent_init != "encoder":
            raise GanpriorError("an encoder applies with latent_init='encoder'")
        if c.latent_init == "encoder":  # loaded (or refused) once, before any input is read
            given = encoder if encoder is not None else c.encoder
            self.extra_options["encoder"] = shipped if given is None and shipped is not None else \
                resolve_encoder(given, self.prior)

    def for_options(self, task_options: dict, **changes) -> Pipeline:
        """This pipeline for other task options (a photo's face observed at a smaller factor): the
        recipe is resolved again from the options the user gave (``Task.recipe`` may depend on
        them), then ``changes`` (RunConfig fields) apply. Shares the prior and the encoder."""
        run = copy.copy(self)
        given = self.given.replace(task_options={**self.given.task_options, **task_options})
        run.config = self._resolve(given).replace(**changes)
        return run

    def _resolve(self, config: RunConfig) -> RunConfig:
        # the encoder recipes apply with an encoder the user chose, or with the shipped one where the
        # user asks for its start (--latent-init encoder) or its file says it serves the task by
        # default (``ImageEncoder.serves``)
        shipped = self._shipped is not None and (
            config.latent_init == "encoder" or self._shipped.serves(lead_task(config.tasks), config.task_options))
        return config.resolved(self._num_layers, has_encoder=self._chosen_encoder or shipped)

    @property
    def tasks(self) -> list[str]:
        return [] if self.physics is not None else self.config.tasks

    @property
    def task_name(self) -> str:
        return "+".join(self.tasks) if self.tasks else ("custom" if self.physics is not None else "reconstruct")

    def load(self, images: ImageLike | Sequence[ImageLike], *, mask=None) -> Inputs:
        """Read and validate ``images`` (files, folders or tensors); ``mask`` overrides ``config.mask``
        (a tensor, a file, a built-in spec, a folder of per-image masks or a list of one per image)."""
        c = self.config
        if self.physics is not None:
            return load_custom_inputs(images, self.physics, self.prior.resolution, simulate=c.simulate, fit=c.fit,
                                      seed=c.seed, device=self.prior.device)
        return load_inputs(images, c.tasks, self.prior.resolution, simulate=c.simulate, fit=c.fit,
                           mask=c.mask if mask is None else mask, mask_white_is_missing=not c.mask_white_known,
                           mask_paint=c.mask_paint, seed=c.seed, **c.task_options)

    def run(self, inputs: Inputs, idx: slice = slice(None), *, callback=None) -> Result:
        """Invert ``inputs[idx]`` as one batch with the resolved recipe; ``callback(step, total,
        loss (B,), images (B, 3, R, R))`` is called at every step."""
        c = self.config
        options = {**c.invert_options(), **self.extra_options, "loss": self.loss}
        result = restore_batch(inputs, idx, self.prior, self.tasks, physics=self.physics, paste_known=c.paste_known,
                               blend=c.blend, guide=c.guide, chroma_fence=c.chroma_fence, niqe_params=c.niqe_params,
                               task_options=c.task_options, callback=callback, **options)
        result.notes = list(dict.fromkeys(self.notes + result.notes))
        return result

    def restore(self, images: ImageLike | Sequence[ImageLike], *, mask=None, batch_size: int | None = None,
                callback=None) -> Result:
        """``load`` then ``run`` in batches of ``batch_size`` (default: all at once)."""
        inputs = self.load(images, mask=mask)
        bs = batch_size or len(inputs)
        if bs < 1:
            raise GanpriorError(f"batch size must be >= 1, got {bs}")
        result = concat_results([self.run(inputs, slice(i, i + bs), callback=callback)
                                 for i in range(0, len(inputs), bs)])
        return result


def sheet_label(method: str, metrics: dict) -> str:
    return f"{method} {metrics['psnr']:.2f}dB" if metrics.get("psnr") is not None else method


def output_files(result: Result, i: int, *, result_name: str, input_name: str, sheet_name: str, method: str,
                 frames: list | None = None, gif_name: str | None = None) -> dict[str, bytes]:
    """The encoded output files of image ``i`` of ``result`` (file name -> bytes): the restored
    image, the observation, and a sheet (input | ground truth | result); a GIF of ``frames`` when
    given. The CLI's jobs and the web app write exactly these bytes."""
    from .io import encode_gif, encode_image, make_sheet
    files = {result_name: encode_image(result.images[i]),
             input_name: encode_image(result.observed[i].clamp(0, 1))}
    tiles, labels = [result.observed[i]], ["input"]
    if result.ground_truth is not None:
        tiles.append(result.ground_truth[i])
        labels.append("ground truth")
    tiles.append(result.images[i])
    labels.append(sheet_label(method, result.metrics[i] if result.metrics else {}))
    files[sheet_name] = encode_image(make_sheet(tiles, labels))
    if frames and gif_name:
        files[gif_name] = encode_gif([f[i] for f in frames])
    return files


def job_file_names(name: str) -> dict[str, str]:
    """The output file names of input ``name`` in a job folder."""
    return {"result_name": f"{name}.png", "input_name": f"{name}_input.png", "sheet_name": f"{name}_sheet.png",
            "gif_name": f"{name}.gif"}


__all__ = ["Pipeline", "RunConfig", "restore_batch", "concat_results", "output_files", "job_file_names",
           "Inputs", "load_inputs"]
