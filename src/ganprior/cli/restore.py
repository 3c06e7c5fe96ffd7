"""``ganprior TASK INPUT... --out DIR``: restore images as a resumable batch job (TASK may be a
chain, e.g. colorize+inpaint); its parser also gives ``ganprior --help``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import GanpriorError
from .common import FIT_CHOICES, HELP, out_parent, prior_parent, print_table


def _run_parser() -> argparse.ArgumentParser:
    """The parser of ``ganprior TASK INPUT...``."""
    # the positionals come first, as a parent of their own, so that the usage line and the
    # "arguments are required" error list them before --out
    targets = argparse.ArgumentParser(add_help=False)
    targets.add_argument("task", help="task or chain, e.g. colorize+inpaint+super-resolve")
    targets.add_argument("inputs", nargs="+", help="image files or folders")
    prior_help = "prior name (see 'ganprior priors') or checkpoint path [default: utkface64]"
    p = argparse.ArgumentParser(
        prog="ganprior", formatter_class=HELP, parents=[targets, out_parent(), prior_parent(prior_help)],
        description="Restore images with a pretrained GAN as the prior. TASK is one of reconstruct, colorize, "
                    "super-resolve, inpaint, denoise, or a chain joined by '+'. Also: 'ganprior priors', "
                    "'ganprior demo', 'ganprior evaluate'; editing: 'ganprior directions', 'ganprior edit', "
                    "'ganprior mix', 'ganprior roles', 'ganprior analyze'; the web app: 'ganprior app'.")
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
    p.add_argument("--fit", default="crop", choices=FIT_CHOICES,
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


# restore() option -> `ganprior TASK` flag, for the options a preset sets
_PRESET_FLAGS = {"method": "method", "perceptual": "perceptual", "num_codes": "codes", "layer": "layer",
                 "steps": "steps", "lr": "lr", "num_subspaces": "subspaces", "blend": "blend",
                 "guide": "guide", "latent_init": "latent_init"}


def resolve_preset(args: argparse.Namespace) -> None:
    """Fill the flags the user left unset from ``--preset`` (in place), so the job manifest records
    the recipe that actually runs."""
    from ..physics.tasks import parse_task
    from ..presets import apply_preset
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

    from ..api import load_inputs
    from ..jobs import Job, WorkItem, collect_inputs, load_item, mask_arg, run_local, settings_from_args
    from ..physics.tasks import parse_task
    from ..priors import load_prior
    from ..priors.zoo import configure_prior, default_prior

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
        from ..ray_engine import require_ray
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
        from ..ray_engine import Cluster, run_ray
        cluster = Cluster(args.address, args.device, quiet=args.quiet)
    if auto_batch:
        from ..batching import auto_batch_size
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

