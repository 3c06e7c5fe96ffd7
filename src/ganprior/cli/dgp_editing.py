"""``ganprior jitter``, ``morph`` and ``transfer``: a DGP reconstruction, then DGP's random
jittering, morphing or category transfer through the fine-tuned generator."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import GanpriorError
from .common import (HELP, Parser, _Progress, _check_steps, _out_folder, _psnr_label, _recon_psnr, dgp_parent,
                     out_parent, prior_parent, run_parent)


def _dgp_editing_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A DGP editing command's parser, with the options of the reconstruction that comes first."""
    prior_help = ("prior name or checkpoint path [utkface64, which ships its discriminator]; DGP's "
                  "discriminator loss needs a prior with a discriminator, else --dgp-loss mse")
    return Parser(prog=prog, formatter_class=HELP, description=description,
                  parents=[out_parent(), prior_parent(prior_help), dgp_parent(),
                           run_parent(seed_help="seeds the candidate latents (and the jitter noise)")])


def _dgp_reconstruct(a: argparse.Namespace, images: list[str], prior=None, class_index: int | None = None):
    """Load the prior and inputs, run DGP on all inputs in one batch with a progress bar.

    Returns (prior, inputs, result, per-image PSNR of the reconstruction or None): against the
    clean image with --simulate, else against the input for ``reconstruct``.
    """
    from ..api import load_inputs, restore_batch
    from ..tasks import parse_task
    from ..priors import load_prior
    from ..priors.zoo import configure_prior, default_prior

    _check_steps(a.steps)
    if a.candidates is not None and a.candidates < 0:
        raise GanpriorError(f"--candidates must be >= 0, got {a.candidates}")
    _out_folder(a.out)
    tasks = parse_task(a.task)
    if prior is None:
        prior = load_prior(a.prior or default_prior("dgp"), a.device)
    prior = configure_prior(prior, class_index=class_index)
    inputs = load_inputs(images, tasks, prior.resolution, simulate=a.simulate, fit=a.fit, factor=a.factor,
                         mask=a.mask, seed=a.seed)
    progress = _Progress("DGP reconstruction", None, a.quiet)
    try:
        result = restore_batch(inputs, slice(None), prior, tasks, factor=a.factor, method="dgp", steps=a.steps,
                               loss=a.dgp_loss, seed=a.seed, callback=progress, num_candidates=a.candidates)
    finally:
        progress.close()
    if result.ground_truth is not None:
        scores = [m["psnr"] for m in result.metrics]
    elif tasks == ["reconstruct"]:
        scores = _recon_psnr(result)
    else:
        scores = [None] * len(inputs)
    return prior, inputs, result, scores


def _dgp_settings(a: argparse.Namespace, prior, result, command: str) -> dict:
    return {"command": command, "prior": prior.name, "task": a.task, "method": "dgp", "dgp_loss": a.dgp_loss,
            "steps": result.steps, "seed": a.seed, "seconds": result.seconds}


def jitter_cmd(argv: list[str]) -> int:
    from ..editing import DEFAULT_JITTER_STD, dgp_jitter
    from ..io import make_sheet, save_image, write_json
    p = _dgp_editing_parser("ganprior jitter", "Reconstruct an image with DGP, then render random jitters of its "
                            "latent through the fine-tuned generator (DGP's random jittering).")
    p.add_argument("image")
    p.add_argument("--samples", type=int, default=8, help="jittered samples")
    p.add_argument("--std", type=float, default=DEFAULT_JITTER_STD,
                   help="std of the Gaussian noise added to z (DGP's examples use 0.3, 0.5, 0.7)")
    p.add_argument("--class", dest="class_index", type=int, default=None,
                   help="class the input is reconstructed as (class-conditional priors)")
    a = p.parse_args(argv)
    if a.samples < 1 or not 0 <= a.std < float("inf"):
        raise GanpriorError(f"--samples must be >= 1 and --std a number >= 0, got {a.samples} and {a.std}")
    prior, inputs, result, scores = _dgp_reconstruct(a, [a.image], class_index=a.class_index)
    samples = dgp_jitter(result, a.samples, a.std, seed=a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    save_image(result.observed[0].clamp(0, 1), out / "input.png")
    save_image(result.images[0], out / "reconstruction.png")
    for k, x in enumerate(samples):
        save_image(x, out / f"jitter_{k:03d}.png")
    save_image(make_sheet([result.observed[0], result.images[0], *samples],
                          ["input", _psnr_label(scores[0]), *[f"std {a.std:g} #{k}" for k in range(a.samples)]]),
               out / "sheet.png")
    write_json({**_dgp_settings(a, prior, result, "jitter"), "input": inputs.sources[0], "psnr": scores[0],
                "samples": a.samples, "std": a.std, "class": a.class_index}, out / "jitter.json")
    if not a.quiet:
        print(f"wrote input.png, reconstruction.png, {a.samples} jitter_*.png, sheet.png and jitter.json to {out}")
    return 0


def morph_cmd(argv: list[str]) -> int:
    from ..editing import dgp_morph, max_jump
    from ..io import make_sheet, save_gif, save_image, write_json
    p = _dgp_editing_parser("ganprior morph", "Reconstruct two images with DGP, then morph between them by "
                            "blending both their latents and their fine-tuned generator weights (DGP's morphing).")
    p.add_argument("first")
    p.add_argument("second")
    p.add_argument("--frames", type=int, default=9, help="frames, both reconstructions included")
    p.add_argument("--class", dest="class_index", type=int, default=None,
                   help="class both inputs are reconstructed as (class-conditional priors)")
    a = p.parse_args(argv)
    if a.frames < 2:
        raise GanpriorError(f"--frames must be >= 2, got {a.frames}")
    # one batch: DGP treats every image on its own, so this equals two separate runs
    prior, inputs, result, scores = _dgp_reconstruct(a, [a.first, a.second], class_index=a.class_index)
    frames = dgp_morph(result, frames=a.frames)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(2):
        save_image(result.observed[i].clamp(0, 1), out / f"input_{i + 1}.png")
        save_image(result.images[i], out / f"reconstruction_{i + 1}.png")
    for k, x in enumerate(frames):
        save_image(x, out / f"frame_{k:03d}.png")
    save_gif(list(frames) + list(frames.flip(0)[1:-1]), out / "morph.gif")  # there and back, ends not doubled
    ts = [f"t={k / (a.frames - 1):.2f}" for k in range(a.frames)]
    save_image(make_sheet([result.observed[0], result.images[0], *frames, result.images[1], result.observed[1]],
                          ["input 1", _psnr_label(scores[0]), *ts, _psnr_label(scores[1]), "input 2"]),
               out / "sheet.png")
    endpoints = float((frames[0] - frames[-1]).pow(2).mean().sqrt())
    write_json({**_dgp_settings(a, prior, result, "morph"), "inputs": inputs.sources, "psnr": scores,
                "frames": a.frames, "class": a.class_index, "max_jump_rmse": max_jump(frames, "pixel"),
                "endpoint_rmse": endpoints}, out / "morph.json")
    if not a.quiet:
        print(f"wrote the inputs, reconstructions, {a.frames} frame_*.png, morph.gif, sheet.png and morph.json "
              f"to {out}")
    return 0


def _parse_classes(text: str) -> list[int]:
    try:
        classes = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        classes = []
    if not classes:
        raise GanpriorError(f"--class takes class indices separated by commas (e.g. 1 or 1,4,7), got {text!r}")
    return classes


def transfer_cmd(argv: list[str]) -> int:
    from ..editing import dgp_category_transfer, target_classes
    from ..io import make_sheet, save_image, write_json
    from ..priors import load_prior
    from ..priors.zoo import default_prior
    p = _dgp_editing_parser("ganprior transfer", "Reconstruct an image with DGP under a class-conditional prior, "
                            "then re-render it as other classes, keeping z and the fine-tuned weights "
                            "(DGP's category transfer).")
    p.add_argument("image")
    p.add_argument("--class", dest="classes", required=True, metavar="K[,K2,...]", help="target class(es)")
    p.add_argument("--source-class", type=int, default=0, help="class the input is reconstructed as")
    a = p.parse_args(argv)
    requested = _parse_classes(a.classes)
    prior = load_prior(a.prior or default_prior("dgp"), a.device)
    classes = target_classes(prior, requested)  # before the reconstruction: a bad class fails fast
    target_classes(prior, [a.source_class])
    prior, inputs, result, scores = _dgp_reconstruct(a, [a.image], prior=prior, class_index=a.source_class)
    images = dgp_category_transfer(result, classes)
    names = list(getattr(prior, "classes", None) or [])

    def label(k: int) -> str:
        return f"class {k} ({names[k]})" if k < len(names) else f"class {k}"

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    save_image(result.observed[0].clamp(0, 1), out / "input.png")
    save_image(result.images[0], out / "reconstruction.png")
    for k, x in zip(classes, images):
        save_image(x, out / f"class_{k:04d}.png")
    save_image(make_sheet([result.observed[0], result.images[0], *images],
                          ["input", _psnr_label(scores[0]), *[label(k) for k in classes]]), out / "sheet.png")
    write_json({**_dgp_settings(a, prior, result, "transfer"), "input": inputs.sources[0], "psnr": scores[0],
                "source_class": a.source_class, "classes": classes,
                "class_names": [names[k] if k < len(names) else None for k in classes]}, out / "transfer.json")
    if not a.quiet:
        print(f"wrote input.png, reconstruction.png, {len(classes)} class_*.png, sheet.png and transfer.json to {out}")
    return 0
