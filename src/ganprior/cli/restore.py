"""``ganprior TASK INPUT... --out DIR``: a resumable restoration job.

Its flags are generated from ``ganprior.config.RunConfig`` (every run option, with its default and
help) and from the task registry (each task's own options, such as ``--factor`` or
``--blur-sigma``), so the command line, the API and the web app cannot drift apart; only the
execution flags (``--batch``, ``--device``, ``--engine``, ...) are this module's own.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ..config import RunConfig, cli_fields, flag_of, known_task_options
from ..errors import GanpriorError
from .common import Parser

TASK_DEST = "task_option__"  # argparse dest prefix of the tasks' own options


def _perceptual_value(text: str):
    return "auto" if str(text).strip().lower() == "auto" else float(text)


def _run_parser() -> argparse.ArgumentParser:
    from ..tasks import TASKS
    p = Parser(
        prog="ganprior", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=f"Restore images with a pretrained GAN as the prior. TASK is one of {', '.join(TASKS)}, "
                    "or a chain joined by '+'. Also: 'ganprior priors', 'ganprior demo', 'ganprior evaluate'; "
                    "editing: 'ganprior directions', 'ganprior edit', 'ganprior mix', 'ganprior roles', "
                    "'ganprior analyze'; the web app: 'ganprior app'.")
    p.add_argument("task", help="task or chain, e.g. colorize+inpaint+super-resolve")
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True, help="output folder")
    run = p.add_argument_group("run options (ganprior.config.RunConfig)")
    for f in cli_fields():
        meta = f.metadata
        help_text = meta.get("help", "")
        if f.type in ("bool", bool) or isinstance(f.default, bool):
            action = "store_false" if meta.get("negate") else "store_true"
            run.add_argument(flag_of(f), dest=f.name, action=action, help=help_text)
            continue
        kind = _perceptual_value if f.name == "perceptual" else (meta.get("type") or str)
        metavar = None if meta.get("choices") else (meta.get("metavar") or flag_of(f)[2:].upper().replace("-", "_"))
        run.add_argument(flag_of(f), dest=f.name, type=kind, default=f.default, choices=meta.get("choices"),
                         metavar=metavar, help=help_text)
    tasks = p.add_argument_group("task options (declared by each task)")
    for name, option in sorted(known_task_options().items()):
        default = "" if option.default is None else f" [default: {option.default}]"
        tasks.add_argument(option.flag, dest=TASK_DEST + name, type=option.type, default=argparse.SUPPRESS,
                           metavar=option.name.split("_")[-1].upper(), help=f"{option.help}{default}")
    ex = p.add_argument_group("execution (not part of the job's settings)")
    ex.add_argument("--batch", default="4",
                    help="images inverted together, or 'auto': as many as fit in half the free memory "
                         "(measured per image for the method and codes; single, multi and subspace)")
    ex.add_argument("--device", default=None,
                    help="torch device [cpu; with --engine ray: cuda (one GPU per task) when the cluster has GPUs]")
    ex.add_argument("--engine", default="local", choices=["local", "ray"],
                    help="where the images are restored: this process, or spread over a Ray cluster "
                         "(pip install 'ganprior[ray]'); both keep DIR/manifest.json and resume alike")
    ex.add_argument("--address", default=None,
                    help="--engine ray: address of a running Ray cluster (e.g. ray://host:10001 or auto) "
                         "[a local one on this machine]")
    ex.add_argument("--restart", action="store_true",
                    help="start the job in --out over: forget its manifest and redo every image "
                         "(without it a rerun skips finished, verified images and refuses other settings)")
    ex.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return p


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig of a parsed command line: the task options the user gave, every run field."""
    fields = {f.name: getattr(args, f.name) for f in cli_fields()}
    task_options = {k[len(TASK_DEST):]: v for k, v in vars(args).items() if k.startswith(TASK_DEST) and v is not None}
    return RunConfig(task=args.task, task_options=task_options, **fields)


def run(args: argparse.Namespace) -> int:
    """A resumable batch job (``ganprior.jobs``): DIR/manifest.json records every input's state; a
    rerun skips finished, verified outputs; a failed image is recorded and the others go on."""
    import tempfile

    import torch

    from ..jobs import (Job, WorkItem, attach_masks, check_no_input_overwritten, collect_inputs, job_settings, load_item,
                        mask_arg, remember, run_local)
    from ..mask_files import is_mask_folder
    from ..io import check_out_folder
    from ..pipeline import Pipeline
    from ..tasks import needs_mask

    config = config_from_args(args).validate()
    auto_batch = str(args.batch).strip().lower() == "auto"
    if not auto_batch:
        try:
            args.batch = int(args.batch)
        except ValueError:
            raise GanpriorError(f"--batch must be a whole number >= 1 or 'auto', got {args.batch!r}") from None
        if args.batch < 1:
            raise GanpriorError(f"--batch must be >= 1, got {args.batch}")
    if args.address is not None and args.engine != "ray":
        raise GanpriorError("--address is for --engine ray")
    out = check_out_folder(Path(args.out))
    cluster = None
    if args.engine == "ray":
        from ..ray_engine import require_ray
        require_ray()
    settings = job_settings(config, device=args.device or "cpu")
    # the driver's pipeline validates the settings and resolves the recipe the manifest records;
    # with Ray the workers prepare their own from it
    pipe = Pipeline(settings.config, device=(args.device or "cpu") if args.engine == "local" else "cpu")
    settings = dataclasses.replace(settings, config=pipe.config)
    if args.engine == "local":
        remember(settings, pipe)
    if auto_batch and pipe.config.method == "dgp":
        raise GanpriorError("--batch auto covers single, multi and subspace; give --method dgp a number")
    res = pipe.prior.resolution
    # validate the task options, mask and noise before any work, on a stand-in image (an inpaint mask
    # may also come from each input's own mask file, its paint or its transparency: then each input
    # is checked on its own)
    inpaint = needs_mask(pipe.tasks)
    one_mask = config.mask is not None and not is_mask_folder(config.mask)
    with tempfile.TemporaryDirectory(prefix="ganprior-check-") as tmp:
        mask = mask_arg(settings, Path(tmp))
        if not inpaint or one_mask or (config.simulate and config.mask is None):
            pipe.load([torch.full((3, res, res), 0.5)], mask=mask if inpaint else None)
        inputs = attach_masks(collect_inputs(args.inputs, drop_masks=inpaint), settings.config)
        check_no_input_overwritten(out, inputs, [p for p in (config.mask, settings.config.prior) if p],
                                   gif=config.gif)
        # a file named on the command line must be readable (fail fast, nothing written); a folder's
        # unreadable files are recorded as failed and the others go on
        for inp in inputs:
            if inp.explicit:
                try:
                    data = inp.path.read_bytes()
                except OSError as e:
                    raise GanpriorError(f"cannot read image {inp.path}: {e.strerror}") from None
                try:
                    own = inp.mask.read_bytes() if inp.mask is not None else None
                except OSError as e:
                    raise GanpriorError(f"cannot read mask {inp.mask}: {e.strerror}") from None
                load_item(WorkItem(inp.name, str(inp.path), data, own, str(inp.mask) if own is not None else None),
                          pipe, Path(tmp), mask)
    if args.engine == "ray":  # join (or start) the cluster before DIR is touched: its errors write nothing
        from ..ray_engine import Cluster, run_ray
        cluster = Cluster(args.address, args.device, quiet=args.quiet)
    c = pipe.config
    method_options = dict(precision=c.precision, num_codes=c.num_codes, layer=c.layer, num_subspaces=c.num_subspaces)
    if auto_batch:
        from ..batching import auto_batch_size
        args.batch = auto_batch_size(pipe.prior, len(inputs), c.method, **method_options)
        if not args.quiet:
            print(f"--batch auto: {args.batch} images per batch", file=sys.stderr)
    elif c.method != "dgp" and args.engine == "local":  # the memory a batch's step takes, measured on this prior
        from ..batching import check_batch_memory
        check_batch_memory(pipe.prior, min(args.batch, len(inputs)), c.method, **method_options)
    try:
        with Job(out, settings, inputs, restart=args.restart, prior_name=pipe.prior.name) as job:
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
        from .common import print_table
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
