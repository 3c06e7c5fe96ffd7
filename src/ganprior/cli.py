"""The ``ganprior`` command.

    ganprior TASK INPUT... --out DIR [options]    restore images (TASK may be a chain: colorize+inpaint)
    ganprior priors                               list the named priors
    ganprior demo [--out DIR]                     restore the bundled demo inputs, write a summary sheet
    ganprior evaluate RESULTS_DIR GT_DIR [--json F] score results against same-named ground truth
    ganprior subspaces --prior P --layer L --num-subspaces R   discover and cache PmSFC channel subspaces
    ganprior interpolate A B --out DIR [--method multi|subspace]   feature-space interpolation
    ganprior jitter IMAGE --out DIR [--samples 8] [--std 0.5]      DGP, then random jittering of z
    ganprior morph A B --out DIR [--frames 9]                      DGP on both, then morph z and weights
    ganprior transfer IMAGE --class K[,K2,...] --out DIR           DGP, then re-render as other classes

Errors print one line (``ganprior: error: ...``) and exit with status 2; results already written stay.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from . import __version__
from .errors import GanpriorError

EXIT_ERROR = 2


def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ganprior", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Restore images with a pretrained GAN as the prior. TASK is one of reconstruct, colorize, "
                    "super-resolve, inpaint, denoise, or a chain joined by '+'. Also: 'ganprior priors', "
                    "'ganprior demo', 'ganprior evaluate'; editing: 'ganprior directions', 'ganprior edit', "
                    "'ganprior mix', 'ganprior roles', 'ganprior analyze'; the web app: 'ganprior app'.")
    p.add_argument("task", help="task or chain, e.g. colorize+inpaint+super-resolve")
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--prior", default=None, help="prior name (see 'ganprior priors') or checkpoint path "
                                                 "[default: utkface64]")
    p.add_argument("--preset", default="auto", choices=["auto", "faithful", "perceptual", "none"],
                   help="task recipe (method, codes, layer, loss, steps) chosen by benchmarks/restoration.py: "
                        "faithful favours PSNR, perceptual favours LPIPS, auto = the task's measured default, "
                        "none = method defaults only; options given here override it")
    p.add_argument("--method", default=None, choices=["single", "multi", "subspace", "dgp"],
                   help="inversion method: single code, multi-code (mGANprior), subspace (PmSFC), dgp (DGP: "
                        "fine-tunes the generator too, progressively; needs a prior with a discriminator "
                        "unless --dgp-loss mse) [default: the preset's, multi]")
    p.add_argument("--codes", type=int, default=None,
                   help="codes: N for multi [default: per task, 20]; K per subspace for subspace [5]")
    p.add_argument("--subspaces", type=int, default=None,
                   help="subspace: number of channel subspaces R [6]; discovered once and cached "
                        "(see 'ganprior subspaces')")
    p.add_argument("--layer", type=int, default=None, help="composition layer for multi [default: per task]")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps [default: 300]")
    p.add_argument("--lr", type=float, default=None, help="learning rate [default: 0.03 multi, 0.1 single]")
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"],
                   help="sgd with --lr 1.0 is the reference code's setting")
    p.add_argument("--latent-init", default=None, choices=["normal", "zero", "best"],
                   help="codes start as one seeded prior sample (normal), zero, or per image the prior "
                        "samples closest to the input (best, of --candidates) [default: normal; the colorization "
                        "presets use best]")
    p.add_argument("--candidates", type=int, default=None,
                   help="--latent-init best: how many prior samples are scored per image [256]")
    p.add_argument("--importance-init", default="inverse", choices=["inverse", "one"],
                   help="multi: channel importance starts at 1/N (inverse) or 1")
    p.add_argument("--normalize", action="store_true", help="multi: divide the composed feature by N (reference)")
    p.add_argument("--l1", type=float, default=0.0, help="weight of an L1 pixel term (MSE weight is 1)")
    p.add_argument("--dgp-loss", default="discriminator", choices=["discriminator", "mse", "perceptual"],
                   help="--method dgp: the loss (discriminator features need a prior with a discriminator)")
    p.add_argument("--perceptual", default=None,
                   help="weight of the VGG16 conv4_3 perceptual term; 'auto' = 1e-3 when its weights can be had, "
                        "0 = pixel loss only [default: the preset's]")
    p.add_argument("--perceptual-resize", type=int, default=None,
                   help="compare perceptual features at this size (the reference code uses 256)")
    p.add_argument("--niqe-params", default=None,
                   help="NIQE pristine-model .npz (default: $GANPRIOR_NIQE_PARAMS or fetched from the registry)")
    p.add_argument("--stop-mse", type=float, default=None,
                   help="stop each image once its observation MSE ([0, 1] scale) is below this; DGP's adversarial "
                        "defense uses 5e-3 (reconstruct an attacked image, not its perturbation)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latent-space", default=None, choices=["z", "w", "w+"],
                   help="code space to optimise (StyleGAN2 priors have z, w and w+; others z)")
    p.add_argument("--class", dest="class_index", type=int, default=None,
                   help="class of a class-conditional prior (BigGAN: ImageNet index)")
    p.add_argument("--truncation", type=float, default=None,
                   help="truncation of priors that have one (StyleGAN2 psi, BigGAN-deep truncation)")
    p.add_argument("--simulate", action="store_true",
                   help="inputs are clean: degrade them first and report PSNR/SSIM against them")
    p.add_argument("--mask", default=None,
                   help="inpaint: mask file (white = missing), center[:SIDE] or random[:MISSING_FRACTION]")
    p.add_argument("--mask-white-known", action="store_true", help="the mask file's white pixels are the known ones")
    p.add_argument("--factor", type=int, default=None, help="super-resolve factor, 2..16")
    p.add_argument("--noise-sigma", type=float, default=None, help="denoise: noise std for --simulate [0.1]")
    p.add_argument("--fit", default="crop", choices=["crop", "pad", "stretch"],
                   help="how inputs are brought to the prior's size: centre-crop, pad or stretch, then resize")
    p.add_argument("--no-paste", action="store_true", help="do not paste known pixels / luminance back")
    p.add_argument("--blend", type=float, default=None, metavar="W",
                   help="blend the prior's output into the classical restoration: C(y) + W (x - C(A x)), "
                        "W in [0, 1], 0 = off [the preset's]")
    p.add_argument("--guide", type=float, default=None, metavar="G",
                   help="denoising with BM3D: the prior's weight in the pilot of BM3D's Wiener stage, "
                        "G in [0, 1], 0 = plain BM3D [the preset's]")
    p.add_argument("--batch", default="4",
                   help="images inverted together, or 'auto': as many as fit in half the free memory "
                        "(measured per image for the method and codes; single, multi and subspace)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="bf16 autocasts the generator (fast on GPUs and AVX512-BF16/AMX CPUs, slow on others)")
    p.add_argument("--compile", action="store_true",
                   help="render through torch.compile (pays off over many steps, mainly on GPUs)")
    p.add_argument("--gif", action="store_true", help="also write an animation of the optimisation")
    p.add_argument("--device", default=None,
                   help="torch device [cpu; with --engine ray: cuda (one GPU per task) when the cluster has GPUs]")
    p.add_argument("--engine", default="local", choices=["local", "ray"],
                   help="where the images are restored: this process, or spread over a Ray cluster "
                        "(pip install 'ganprior[ray]'); both keep DIR/manifest.json and resume alike")
    p.add_argument("--address", default=None,
                   help="--engine ray: address of a running Ray cluster (e.g. ray://host:10001 or auto) "
                        "[a local one on this machine]")
    p.add_argument("--restart", action="store_true",
                   help="start the job in --out over: forget its manifest and redo every image "
                        "(without it a rerun skips finished, verified images and refuses other settings)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return p


def _fmt(v) -> str:
    if v is None:
        return "-"
    return (f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}") if isinstance(v, float) else str(v)


# restore() option -> `ganprior TASK` flag, for the options a preset sets
_PRESET_FLAGS = {"method": "method", "perceptual": "perceptual", "num_codes": "codes", "layer": "layer",
                 "steps": "steps", "lr": "lr", "num_subspaces": "subspaces", "blend": "blend",
                 "guide": "guide", "latent_init": "latent_init"}


def resolve_preset(args: argparse.Namespace) -> None:
    """Fill the flags the user left unset from ``--preset`` (in place), so the job manifest records
    the recipe that actually runs."""
    from .tasks import parse_task
    from .presets import apply_preset
    given = {name: getattr(args, flag) for name, flag in _PRESET_FLAGS.items()}
    chosen = apply_preset(parse_task(args.task), args.preset, given)
    unknown = sorted(set(chosen) - set(_PRESET_FLAGS))
    if unknown:  # a recipe key without a flag would silently not run
        raise GanpriorError(f"preset {args.preset} sets {', '.join(unknown)}, which the command line cannot pass")
    for name, flag in _PRESET_FLAGS.items():
        setattr(args, flag, chosen.get(name))
    if args.perceptual is None:
        args.perceptual = "auto"


def run(args: argparse.Namespace) -> int:
    """A resumable batch job (``ganprior.jobs``): DIR/manifest.json records every input's state; a
    rerun skips finished, verified outputs; a failed image is recorded and the others go on."""
    import tempfile

    import torch

    from .api import load_inputs
    from .jobs import Job, WorkItem, collect_inputs, load_item, mask_arg, run_local, settings_from_args
    from .tasks import parse_task
    from .priors import load_prior
    from .priors.zoo import configure_prior, default_prior

    resolve_preset(args)
    auto_batch = str(args.batch).strip().lower() == "auto"
    if not auto_batch:
        try:
            args.batch = int(args.batch)
        except ValueError:
            raise GanpriorError(f"--batch must be a whole number >= 1 or 'auto', got {args.batch!r}") from None
        if args.batch < 1:
            raise GanpriorError(f"--batch must be >= 1, got {args.batch}")
    elif args.method == "dgp":
        raise GanpriorError("--batch auto covers single, multi and subspace; give --method dgp a number")
    if args.address is not None and args.engine != "ray":
        raise GanpriorError("--address is for --engine ray")
    tasks = parse_task(args.task)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise GanpriorError(f"--out {out} exists and is not a folder")
    cluster = None
    if args.engine == "ray":
        from .ray_engine import require_ray
        require_ray()
    # the driver's copy of the prior validates the settings; with Ray the workers load their own
    prior = configure_prior(load_prior(args.prior or default_prior(args.method),
                                       args.device or "cpu" if args.engine == "local" else "cpu"),
                            latent_space=args.latent_space, class_index=args.class_index, truncation=args.truncation)
    settings = settings_from_args(args, device=args.device or "cpu")
    # validate factor, mask and noise before any work, on a stand-in image (an inpaint mask may also
    # come from each input's transparency: then each input is checked on its own)
    if "inpaint" not in tasks or args.mask is not None or args.simulate:
        load_inputs([torch.full((3, prior.resolution, prior.resolution), 0.5)], tasks, prior.resolution,
                    simulate=args.simulate, fit=args.fit, factor=args.factor, mask=args.mask,
                    mask_white_is_missing=not args.mask_white_known, noise_sigma=args.noise_sigma, seed=args.seed)
    inputs = collect_inputs(args.inputs)
    # a file named on the command line must be readable (fail fast, nothing written); a folder's
    # unreadable files are recorded as failed and the others go on
    with tempfile.TemporaryDirectory(prefix="ganprior-check-") as tmp:
        mask = mask_arg(settings, Path(tmp))
        for inp in inputs:
            if inp.explicit:
                try:
                    data = inp.path.read_bytes()
                except OSError as e:
                    raise GanpriorError(f"cannot read image {inp.path}: {e.strerror}") from None
                load_item(WorkItem(inp.name, str(inp.path), data), settings, prior.resolution, Path(tmp), mask)
    if args.engine == "ray":  # join (or start) the cluster before DIR is touched: its errors write nothing
        from .ray_engine import Cluster, run_ray
        cluster = Cluster(args.address, args.device, quiet=args.quiet)
    if auto_batch:
        from .batching import auto_batch_size
        args.batch = auto_batch_size(prior, len(inputs), args.method, precision=args.precision,
                                     num_codes=args.codes, layer=args.layer, num_subspaces=args.subspaces)
        if not args.quiet:
            print(f"--batch auto: {args.batch} images per batch", file=sys.stderr)
    try:
        with Job(out, settings, inputs, restart=args.restart, prior_name=prior.name) as job:
            todo = job.pending()
            job.save()
            if cluster is not None:
                run_ray(job, todo, args.batch, cluster=cluster, quiet=args.quiet)
            else:
                run_local(job, todo, args.batch, quiet=args.quiet)
            summary = job.finish()
    finally:
        if cluster is not None:
            cluster.close()
    if not args.quiet:
        if summary.records:
            print_table(summary.records, "input")
            known = [r["psnr"] for r in summary.records if r["psnr"] is not None]
            if known:
                print(f"mean PSNR {sum(known) / len(known):.2f} dB over {len(known)} images")
        for n in summary.notes:
            print(f"note: {n}")
        print(summary.line())
        for name, error in summary.failed:
            print(f"failed: {name}: {error}")
        print(f"wrote {len(summary.records)} results, summary.png, metrics.json and manifest.json to {out}")
    if summary.failed:
        name, error = summary.failed[0]
        more = f" (and {len(summary.failed) - 1} more)" if len(summary.failed) > 1 else ""
        raise GanpriorError(f"{len(summary.failed)} of {len(inputs)} images failed: {name}: {error}{more}; "
                            f"see {out / 'manifest.json'}")
    return 0


def print_table(records: list[dict], key: str) -> None:
    """Per-image metrics, and their mean over the images that have each one."""
    from .metrics import METRIC_KEYS
    cols = [k for k in METRIC_KEYS if any(r.get(k) is not None for r in records)] or ["psnr"]
    print(f"{key:28s} " + " ".join(f"{c:>7s}" for c in cols))
    for r in records:
        print(f"{Path(r[key]).name[:28]:28s} " + " ".join(f"{_fmt(r.get(c)):>7s}" for c in cols))
    means = []
    for c in cols:
        vals = [r[c] for r in records if r.get(c) is not None]
        means.append(_fmt(sum(vals) / len(vals)) if vals else "-")
    print(f"{'mean':28s} " + " ".join(f"{m:>7s}" for m in means))


def priors_cmd(argv: list[str]) -> int:
    from .priors.zoo import PRIORS
    from .registry_files import cache_dir
    argparse.ArgumentParser(prog="ganprior priors", description="List the named priors.").parse_args(argv)
    from .priors.zoo import DEFAULT_PRIOR
    for name, entry in sorted(PRIORS.items()):
        mark = " (default)" if name == DEFAULT_PRIOR else ""
        print(f"{name}{mark}\n    {entry.description}\n    licence: {entry.license}")
    print(f"(weights cache: {cache_dir()}; any checkpoint path also works as --prior)")
    return 0


def demo_cmd(argv: list[str]) -> int:
    from .demo import demo_dir, demo_jobs
    p = argparse.ArgumentParser(prog="ganprior demo", description="Restore the bundled demo inputs with the "
                                "default prior and write results, metrics and summary sheets.")
    p.add_argument("--out", default="results/demo")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    from .io import read_image, save_image, stack_rows
    summaries = []
    all_records = []
    for job_name, job_args in demo_jobs(demo_dir()):
        out = Path(a.out) / job_name
        argv_job = [*job_args, "--out", str(out)] + (["--steps", str(a.steps)] if a.steps else [])
        if a.quiet:
            argv_job.append("--quiet")
        else:
            print(f"== {job_name}: ganprior {' '.join(argv_job)}", file=sys.stderr)
        run(_run_parser().parse_args(argv_job))
        summaries.append(read_image(out / "summary.png")[0])
        all_records.extend(json.loads((out / "metrics.json").read_text()))
    save_image(stack_rows(summaries), Path(a.out) / "summary.png")
    from .io import write_json
    write_json(all_records, Path(a.out) / "metrics.json")
    if not a.quiet:
        print(f"demo summary sheet: {Path(a.out) / 'summary.png'}")
    return 0


def subspaces_cmd(argv: list[str]) -> int:
    import numpy as np
    from tqdm import tqdm

    from .priors import load_prior
    from .subspaces import discover_subspaces
    p = argparse.ArgumentParser(prog="ganprior subspaces", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="Discover channel subspaces of a prior layer (PmSFC): learn a "
                                            "self-expressive matrix, cluster its affinity, cache the result.")
    p.add_argument("--prior", default=None, help="prior name or checkpoint path [utkface64]")
    p.add_argument("--layer", type=int, default=2)
    p.add_argument("--num-subspaces", type=int, default=6, help="R")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=8, help="latents per step")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--lambda", dest="image_weight", type=float, default=10.0, help="image reconstruction weight")
    p.add_argument("--mu", dest="sparsity_weight", type=float, default=1.0, help="L1 weight on S")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    if a.steps < 1 or a.batch < 1 or not a.lr > 0:
        raise GanpriorError("--steps and --batch must be >= 1 and --lr > 0")
    prior = load_prior(a.prior, a.device)
    bar = None if a.quiet else tqdm(total=a.steps, desc="self-expression", unit="step", file=sys.stderr,
                                     mininterval=0.5)

    def progress(step, total, loss):
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.1f}")

    try:
        sub = discover_subspaces(prior, a.layer, a.num_subspaces, seed=a.seed, steps=a.steps, batch_size=a.batch,
                                 lr=a.lr, image_weight=a.image_weight, sparsity_weight=a.sparsity_weight,
                                 callback=progress)
    finally:
        if bar is not None:
            bar.close()
    sizes = ", ".join(str(int(n)) for n in np.bincount(sub.groups, minlength=sub.num_subspaces))
    print(f"layer {sub.layer}: {sub.num_subspaces} subspaces of {sizes} channels")
    print(f"cached: {sub.path} (affinity picture: {sub.path.with_suffix('.png')})")
    return 0


def inspect_cmd(argv: list[str]) -> int:
    from .priors.zoo import PRIORS, load_prior, sniff_checkpoint
    p = argparse.ArgumentParser(prog="ganprior inspect",
                                description="Show what a checkpoint (or named prior) holds, without running any "
                                            "code from it: family, resolution, latent spaces, composition layers, "
                                            "discriminator.")
    p.add_argument("checkpoint", help="checkpoint file, BigGAN folder, or a named prior")
    p.add_argument("--json", action="store_true", help="print JSON")
    a = p.parse_args(argv)
    fmt = "named prior" if a.checkpoint in PRIORS else sniff_checkpoint(a.checkpoint)
    prior = load_prior(a.checkpoint)
    d = prior.discriminator
    info = {
        "checkpoint": a.checkpoint, "format": fmt, "family": prior.family, "name": prior.name,
        "resolution": prior.resolution, "channels": prior.channels,
        "latent_spaces": list(prior.latent_spaces), "latent_shape": list(prior.latent_shape),
        "num_classes": prior.num_classes or 0,
        "composition_layers": {str(k): v for k, v in sorted(prior.composition_layers.items())},
        "blocks": len(prior.blocks),
        "generator_parameters": sum(p.numel() for n, p in prior.named_parameters() if not n.startswith("discriminator.")),
        "discriminator": None if d is None else {
            "type": type(d).__name__, "parameters": sum(p.numel() for p in d.parameters())},
    }
    if a.json:
        print(json.dumps(info, indent=2))
        return 0
    layers = ", ".join(f"{k}: {v}ch" for k, v in info["composition_layers"].items())
    print(f"{a.checkpoint}\n  format:             {fmt}\n  family:             {prior.family}\n"
          f"  resolution:         {prior.resolution}x{prior.resolution}, {prior.channels} channels\n"
          f"  latent spaces:      {', '.join(prior.latent_spaces)} (code shape {tuple(prior.latent_shape)})\n"
          f"  classes:            {info['num_classes'] or 'unconditional'}\n"
          f"  composition layers: {layers}\n"
          f"  generator:          {info['generator_parameters']:,} parameters, {info['blocks']} blocks\n"
          f"  discriminator:      "
          + ("none" if d is None else f"{type(d).__name__}, {info['discriminator']['parameters']:,} parameters"))
    return 0


def train_cmd(argv: list[str]) -> int:
    import signal

    import torch

    from tqdm import tqdm

    from .training import TrainConfig, Trainer, build_image_set, list_images, parse_labels, split_holdout
    from .training.trainer import read_run_config
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="ganprior train", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="Train a DCGAN prior and its spectral-norm discriminator on an image "
                                            "folder. Resumable: checkpoints are atomic, --resume continues.")
    p.add_argument("folder", help="folder of training images (searched recursively)")
    p.add_argument("--out", required=True, help="run folder (checkpoint, log.csv, samples/, prior.safetensors)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out (its recorded settings win over the command line)")
    p.add_argument("--steps", type=int, default=20000, help="total training steps (counting resumed ones)")
    p.add_argument("--init", default=None, metavar="PRIOR",
                   help="start from an exported prior instead of random weights: a prior.safetensors or a "
                        "shipped name (utkface64); its architecture and step count carry over, optimisers "
                        "start fresh")
    p.add_argument("--minutes", type=float, default=None, help="stop (with a checkpoint) after this much time")
    p.add_argument("--resolution", type=int, default=d.resolution)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--latent-dim", type=int, default=d.latent_dim)
    p.add_argument("--g-width", type=int, default=d.g_width, help="generator width (channels of its last hidden block)")
    p.add_argument("--d-width", type=int, default=d.d_width, help="discriminator width (channels of its first block)")
    p.add_argument("--lr", type=float, default=d.lr_g, help="Adam learning rate of G and D")
    p.add_argument("--loss", default=d.loss, choices=["hinge", "nonsat"])
    p.add_argument("--augment", default=d.augment, help="DiffAugment ops: color,translation,cutout or none")
    p.add_argument("--no-xflip", action="store_true")
    p.add_argument("--ema-decay", type=float, default=d.ema_decay)
    p.add_argument("--holdout", type=int, default=200,
                   help="hold out this many images (smallest SHA-256 of the file name); listed in holdout.txt; "
                        "a resumed run keeps its own")
    p.add_argument("--labels", default=None, metavar="REGEX",
                   help="class-conditional: one capture group on the file name, e.g. '^\\d+_(\\d)_' (UTKFace gender)")
    p.add_argument("--recon", type=float, default=d.recon, metavar="W",
                   help="weight of an encoder-reconstruction term that makes the generator cover the real images "
                        "(better inversions; 0 = plain GAN); the encoder trains alongside and is not exported")
    p.add_argument("--recon-warmup", type=int, default=d.recon_warmup,
                   help="--recon: encoder steps before the generator gets the reconstruction gradient")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    out = Path(a.out)
    if a.resume:
        config = read_run_config(out)  # data split and labels come from the run, not the command line
    else:
        init = arch = None
        if a.init:
            init, arch, step = _init_prior_file(a.init)
        config = TrainConfig(resolution=a.resolution, latent_dim=a.latent_dim, g_width=a.g_width,
                             d_width=a.d_width, batch=a.batch, lr_g=a.lr, lr_d=a.lr, loss=a.loss,
                             augment=a.augment, xflip=not a.no_xflip, ema_decay=a.ema_decay, seed=a.seed,
                             checkpoint_every=a.checkpoint_every, log_every=a.log_every,
                             holdout=a.holdout, labels=a.labels or "", recon=a.recon,
                             recon_warmup=a.recon_warmup)
        if arch:
            for key, value in arch.items():
                setattr(config, key, value)
            config.init = f"{init.name} (step {step})"
        config.validate()
        if (out / "checkpoint.pt").exists():
            raise GanpriorError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    files = list_images(a.folder)
    train_files, held = split_holdout(files, config.holdout) if config.holdout else (files, [])
    labels = classes = None
    if config.labels:
        train_files, labels, classes = parse_labels(train_files, config.labels)
        if a.resume and classes != config.classes:
            raise GanpriorError(f"the folder now gives classes {classes}; the run was trained on {config.classes}")
        config.num_classes, config.classes = len(classes), classes
    out.mkdir(parents=True, exist_ok=True)
    (out / "holdout.txt").write_text("".join(f"{f.name}\n" for f in held))
    bar = None if a.quiet else tqdm(total=len(train_files), desc="decoding images", unit="img", file=sys.stderr,
                                     mininterval=0.5)

    def decoded(i, n):
        if bar is not None:
            bar.update(1)

    data = build_image_set(train_files, config.resolution, labels, classes, cache=out, progress=decoded)
    if bar is not None:
        bar.close()
    if data.skipped:
        print(f"note: skipped {len(data.skipped)} unreadable images (e.g. {data.skipped[0]})", file=sys.stderr)
    if a.resume:
        trainer = Trainer.resume(out, data, a.device)
    else:
        trainer = Trainer.start(out, config, data, a.device, init=init)
    if trainer.step >= a.steps:
        print(f"run is at step {trainer.step} >= --steps {a.steps}; nothing to do")
        return 0
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    old = signal.signal(signal.SIGTERM, on_signal)
    bar = None if a.quiet else tqdm(total=a.steps, initial=trainer.step, desc="training", unit="step",
                                     file=sys.stderr, mininterval=1.0, dynamic_ncols=True)

    def on_step(step, stats):
        if bar is not None:
            bar.update(1)
            bar.set_postfix(D=f"{stats['loss_d']:.3f}", G=f"{stats['loss_g']:.3f}")

    try:
        reason = trainer.train(a.steps, a.minutes, on_step=on_step, should_stop=lambda: stop["flag"])
    except KeyboardInterrupt:
        trainer.save()
        reason = "interrupt"
    finally:
        signal.signal(signal.SIGTERM, old)
        if bar is not None:
            bar.close()
    print(f"stopped ({reason}) at step {trainer.step}; checkpoint {out / 'checkpoint.pt'}, "
          f"prior {out / 'prior.safetensors'}")
    return 0


def _init_prior_file(spec: str) -> tuple[Path, dict, int]:
    """The safetensors file behind ``--init`` (a path or a shipped name) and the run settings it fixes."""
    import json

    from safetensors import SafetensorError, safe_open

    from .priors.zoo import WEIGHTS_DIR
    path = Path(spec)
    if not path.is_file():
        shipped = WEIGHTS_DIR / f"{spec}.safetensors"
        if not shipped.is_file():
            raise GanpriorError(f"--init {spec}: no such file, and not a prior shipped with ganprior")
        path = shipped
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        g, d = json.loads(meta["generator"]), json.loads(meta["discriminator"])
    except (SafetensorError, OSError, ValueError, KeyError):
        raise GanpriorError(f"--init {spec}: not a prior exported by ganprior train "
                            "(needs a generator and a discriminator)") from None
    if g.get("num_classes"):
        raise GanpriorError(f"--init {spec}: class-conditional priors cannot seed a run yet")
    arch = {"resolution": g["resolution"], "latent_dim": g["latent_dim"], "g_width": g["width"],
            "d_width": d["width"]}
    return path, arch, int(meta.get("step", 0))


def interpolate_cmd(argv: list[str]) -> int:
    from .api import restore
    from .editing import feature_interpolation, max_jump
    from .io import make_sheet, save_gif, save_image, write_json
    p = argparse.ArgumentParser(prog="ganprior interpolate", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="Invert two images and blend their composed features at the "
                                            "composition layer (PmSFC Fig. 6); writes frames, a GIF and smoothness.")
    p.add_argument("first")
    p.add_argument("second")
    p.add_argument("--out", required=True)
    p.add_argument("--prior", default=None)
    p.add_argument("--method", default="multi", choices=["multi", "subspace"])
    p.add_argument("--frames", type=int, default=9)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--codes", type=int, default=None)
    p.add_argument("--layer", type=int, default=None)
    p.add_argument("--subspaces", type=int, default=None)
    p.add_argument("--perceptual", default="auto")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    r = restore([a.first, a.second], "reconstruct", a.prior, a.method, steps=a.steps, num_codes=a.codes,
                layer=a.layer, num_subspaces=a.subspaces, perceptual=a.perceptual, seed=a.seed)
    frames = feature_interpolation(r.parameterization, frames=a.frames)
    out = Path(a.out)
    for i, f in enumerate(frames):
        save_image(f, out / f"frame_{i:03d}.png")
    save_gif(list(frames) + list(frames.flip(0)), out / "interpolation.gif")
    save_image(make_sheet(list(frames), [f"t={i / (a.frames - 1):.2f}" for i in range(a.frames)], tile=96),
               out / "strip.png")
    stats = {"method": a.method, "frames": a.frames, "max_jump_rmse": max_jump(frames, "pixel"),
             "max_jump_lpips": max_jump(frames, "lpips")}
    write_json(stats, out / "smoothness.json")
    print(f"largest step between frames: RMSE {stats['max_jump_rmse']:.4f}, LPIPS {stats['max_jump_lpips']:.4f}")
    print(f"wrote {a.frames} frames, interpolation.gif, strip.png and smoothness.json to {out}")
    return 0


# -- editing after a DGP reconstruction: jitter, morph, transfer -------------------------------------


def _dgp_editing_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """Options shared by the DGP editing commands: the reconstruction that comes first."""
    p = argparse.ArgumentParser(prog=prog, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description=description)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--prior", default=None,
                   help="prior name or checkpoint path [utkface64, which ships its discriminator]; DGP's "
                        "discriminator loss needs a prior with a discriminator, else --dgp-loss mse")
    p.add_argument("--task", default="reconstruct",
                   help="what the input is, as for 'ganprior TASK': reconstruct (a clean image), or a degraded "
                        "observation to restore first (colorize, super-resolve, inpaint, denoise, a chain)")
    p.add_argument("--steps", type=int, default=None,
                   help="DGP steps; the task's schedule is rescaled to them [default: the schedule's own, 1000]")
    p.add_argument("--dgp-loss", default="discriminator", choices=["discriminator", "mse", "perceptual"],
                   help="DGP's loss (discriminator features need a prior with a discriminator)")
    p.add_argument("--candidates", type=int, default=None,
                   help="random latents the initial z is picked from [500, as DGP]")
    p.add_argument("--simulate", action="store_true",
                   help="the input is clean: degrade it by --task first and report PSNR against it")
    p.add_argument("--factor", type=int, default=None, help="super-resolve factor")
    p.add_argument("--mask", default=None, help="inpaint: mask file (white = missing), center[:SIDE] or random[:F]")
    p.add_argument("--fit", default="crop", choices=["crop", "pad", "stretch"],
                   help="how inputs are brought to the prior's size")
    p.add_argument("--seed", type=int, default=0, help="seeds the candidate latents (and the jitter noise)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return p


class _Progress:
    """A tqdm bar on stderr for ``restore``'s step callback, opened at the first step (so an early
    error stays one line); ``total`` covers every batch."""

    def __init__(self, desc: str, total: int | None, quiet: bool):
        self.desc, self.total, self.quiet, self.bar = desc, total, quiet, None

    def __call__(self, step, total, loss, x) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm
            self.bar = tqdm(total=self.total or total, desc=self.desc, unit="step", dynamic_ncols=True,
                            file=sys.stderr, mininterval=0.5)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{float(loss.mean()):.4f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _recon_psnr(result) -> list[float | None]:
    """PSNR of each reconstruction against its input (None when not finite)."""
    from .metrics import psnr
    return [float(v) if v.isfinite() else None for v in psnr(result.images, result.observed)]


def _dgp_reconstruct(a: argparse.Namespace, images: list[str], prior=None, class_index: int | None = None):
    """Load the prior and inputs, run DGP on all inputs in one batch with a progress bar.

    Returns (prior, inputs, result, per-image PSNR of the reconstruction or None): against the
    clean image with --simulate, else against the input for ``reconstruct``.
    """
    from .api import load_inputs, restore_batch
    from .tasks import parse_task
    from .priors import load_prior
    from .priors.zoo import configure_prior, default_prior

    if a.steps is not None and a.steps < 1:
        raise GanpriorError(f"--steps must be >= 1, got {a.steps}")
    if a.candidates is not None and a.candidates < 0:
        raise GanpriorError(f"--candidates must be >= 0, got {a.candidates}")
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise GanpriorError(f"--out {out} exists and is not a folder")
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


def _psnr_label(value) -> str:
    return "reconstruction" if value is None else f"recon {value:.2f}dB"


def _dgp_settings(a: argparse.Namespace, prior, result, command: str) -> dict:
    return {"command": command, "prior": prior.name, "task": a.task, "method": "dgp", "dgp_loss": a.dgp_loss,
            "steps": result.steps, "seed": a.seed, "seconds": result.seconds}


def jitter_cmd(argv: list[str]) -> int:
    from .editing import DEFAULT_JITTER_STD, dgp_jitter
    from .io import make_sheet, save_image, write_json
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
    from .editing import dgp_morph, max_jump
    from .io import make_sheet, save_gif, save_image, write_json
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
    from .editing import dgp_category_transfer, target_classes
    from .io import make_sheet, save_image, write_json
    from .priors import load_prior
    from .priors.zoo import default_prior
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


def evaluate_cmd(argv: list[str]) -> int:
    from .evaluate import evaluate_folders
    from .io import write_json
    p = argparse.ArgumentParser(prog="ganprior evaluate", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="PSNR, SSIM, LPIPS (AlexNet), NIQE and colorization AuC of the images "
                                            "in RESULTS_DIR against same-named images in GROUND_TRUTH_DIR.")
    p.add_argument("results_dir")
    p.add_argument("ground_truth_dir")
    p.add_argument("--json", default=None, help="also write the per-image records to this file")
    p.add_argument("--fit", default="crop", choices=["crop", "pad", "stretch"],
                   help="how ground truth of another size is brought to the result's size")
    p.add_argument("--niqe-params", default=None, help="NIQE pristine-model .npz")
    a = p.parse_args(argv)
    records, notes = evaluate_folders(a.results_dir, a.ground_truth_dir, fit=a.fit, niqe_params=a.niqe_params)
    print_table(records, "image")
    for n in notes:
        print(f"note: {n}")
    if a.json:
        write_json(records, a.json)
    return 0


def app_cmd(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ganprior app", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="Start the web app (Gradio): upload or pick an image, paint a mask, "
                                            "restore or edit it and download the result.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--out", default=None, help="folder for the runs' results [a temporary folder]")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch [torch's default]")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    if not 0 < a.port < 65536:
        raise GanpriorError(f"--port must be in 1..65535, got {a.port}")
    import importlib.util
    if importlib.util.find_spec("gradio") is None:
        raise GanpriorError("the web app needs Gradio: pip install 'ganprior[app]'")
    if a.threads:
        import torch
        torch.set_num_threads(a.threads)
    from .app import launch
    if not a.quiet:
        print(f"ganprior app on http://{a.host}:{a.port} (Ctrl+C stops it)", flush=True)
    launch(a.host, a.port, out_root=a.out, quiet=a.quiet)
    return 0


def _one_line(message: str) -> str:
    """A message as one line: line breaks (a file name may hold them) are shown escaped."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    warnings.filterwarnings("ignore", category=UserWarning)
    try:
        if not argv or argv[0] in ("-h", "--help"):
            _run_parser().print_help()
            return 0 if argv else EXIT_ERROR
        if argv[0] == "--version":
            print(f"ganprior {__version__}")
            return 0
        if argv[0] == "priors":
            return priors_cmd(argv[1:])
        if argv[0] == "demo":
            return demo_cmd(argv[1:])
        if argv[0] == "evaluate":
            return evaluate_cmd(argv[1:])
        if argv[0] == "subspaces":
            return subspaces_cmd(argv[1:])
        if argv[0] == "interpolate":
            return interpolate_cmd(argv[1:])
        if argv[0] == "jitter":
            return jitter_cmd(argv[1:])
        if argv[0] == "morph":
            return morph_cmd(argv[1:])
        if argv[0] == "transfer":
            return transfer_cmd(argv[1:])
        if argv[0] == "train":
            return train_cmd(argv[1:])
        if argv[0] == "app":
            return app_cmd(argv[1:])
        if argv[0] == "inspect":
            return inspect_cmd(argv[1:])
        if argv[0] == "directions":
            from .cli_editing import directions_cmd
            return directions_cmd(argv[1:])
        if argv[0] == "edit":
            from .cli_editing import edit_cmd
            return edit_cmd(argv[1:])
        if argv[0] == "mix":
            from .cli_editing import mix_cmd
            return mix_cmd(argv[1:])
        if argv[0] == "roles":
            from .cli_editing import roles_cmd
            return roles_cmd(argv[1:])
        if argv[0] == "analyze":
            from .cli_editing import analyze_cmd
            return analyze_cmd(argv[1:])
        return run(_run_parser().parse_args(argv))
    except GanpriorError as e:
        print(f"ganprior: error: {_one_line(str(e))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("ganprior: interrupted; results written so far are kept", file=sys.stderr)
        return 130
    except MemoryError:
        print("ganprior: error: out of memory; lower --batch or --codes", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:  # noqa: BLE001 - a user never sees a traceback
        if os.environ.get("GANPRIOR_DEBUG"):
            raise
        print(f"ganprior: internal error: {type(e).__name__}: {_one_line(str(e))} (set GANPRIOR_DEBUG=1 for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
