"""``ganprior train``: train a DCGAN prior and its discriminator on an image folder (resumable)."""

from __future__ import annotations

from pathlib import Path

from ..errors import GanpriorError
from .common import HELP, Parser, decode_training_images, out_parent, run_parent, train_with_progress


def train_cmd(argv: list[str]) -> int:
    import torch


    from ..training import TrainConfig, Trainer, list_images, parse_labels, split_holdout
    from ..training.trainer import read_run_config
    d = TrainConfig()
    p = Parser(prog="ganprior train", formatter_class=HELP,
               parents=[out_parent("run folder (checkpoint, log.csv, samples/, prior.safetensors)"),
                        run_parent(seed_default=d.seed, quiet_help=None)],
               description="Train a DCGAN prior and its spectral-norm discriminator on an image "
                           "folder. Resumable: checkpoints are atomic, --resume continues.")
    p.add_argument("folder", help="folder of training images (searched recursively)")
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
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
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
    data = decode_training_images(train_files, config.resolution, out, quiet=a.quiet, labels=labels, classes=classes)
    if a.resume:
        trainer = Trainer.resume(out, data, a.device)
    else:
        trainer = Trainer.start(out, config, data, a.device, init=init)
    if trainer.step >= a.steps:
        print(f"run is at step {trainer.step} >= --steps {a.steps}; nothing to do")
        return 0
    reason = train_with_progress(trainer, a.steps, a.minutes, quiet=a.quiet,
                                 postfix=lambda stats: {"D": f"{stats['loss_d']:.3f}", "G": f"{stats['loss_g']:.3f}"})
    print(f"stopped ({reason}) at step {trainer.step}; checkpoint {out / 'checkpoint.pt'}, "
          f"prior {out / 'prior.safetensors'}")
    return 0


def _init_prior_file(spec: str) -> tuple[Path, dict, int]:
    """The safetensors file behind ``--init`` (a path or a shipped name) and the run settings it fixes."""
    from ..priors.dcgan_checkpoints import read_prior_metadata
    from ..priors.zoo import WEIGHTS_DIR
    path = Path(spec)
    if not path.is_file():
        shipped = WEIGHTS_DIR / f"{spec}.safetensors"
        if not shipped.is_file():
            raise GanpriorError(f"--init {spec}: no such file, and not a prior shipped with ganprior")
        path = shipped
    try:
        meta, g, d, _ = read_prior_metadata(path)
    except GanpriorError as e:
        raise GanpriorError(f"--init {spec}: not a prior exported by ganprior train ({e})") from None
    if d is None:
        raise GanpriorError(f"--init {spec}: not a prior exported by ganprior train "
                            "(needs a generator and a discriminator)")
    if g.get("num_classes"):
        raise GanpriorError(f"--init {spec}: class-conditional priors cannot seed a run yet")
    arch = {"resolution": g["resolution"], "latent_dim": g["latent_dim"], "g_width": g["width"],
            "d_width": d["width"]}
    try:
        step = int(meta.get("step", 0))
    except ValueError:
        raise GanpriorError(f"--init {spec}: metadata entry 'step' is {meta['step']!r}, not a number") from None
    return path, arch, step
