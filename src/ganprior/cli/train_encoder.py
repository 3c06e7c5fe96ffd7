"""``ganprior train-encoder``: train an image encoder for a frozen prior on an image folder (resumable).

The encoder gives inversions their start (``--latent-init encoder --encoder RUN/encoder.safetensors``).
A rerun with the same ``--out`` continues the run from its checkpoint with the recipe it started
with; ``--steps`` is the total to reach, counting the steps already run.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import GanpriorError
from .common import HELP, Parser, decode_training_images, out_parent, prior_parent, run_parent, train_with_progress

# flag -> (EncoderTrainConfig field, type, help); left out (None), the field's default applies, and
# on a rerun a flag that is given must agree with the recorded recipe
_RECIPE_FLAGS = {
    "--batch-size": ("batch", int, "images per step (and as many prior samples)"),
    "--lr": ("lr", float, "Adam learning rate"),
    "--width": ("width", int, "channels of the encoder's first conv (doubling at each stride)"),
    "--perceptual": ("perceptual_weight", float, "weight of the perceptual term between G(E(x)) and x; 0 = off"),
    "--perceptual-net": ("perceptual_net", str, "the perceptual term: lpips (LPIPS-AlexNet, cheap on a CPU) or "
                                                "vgg16 (conv4_3 L1 as the inversions use; a weight near 1e-3)"),
    "--code-weight": ("code_weight", float, "weight of the code regression |E(G(z)) - z|^2 on the prior's samples"),
    "--moment-weight": ("moment_weight", float, "weight of the penalty keeping real codes' batch moments at N(0, 1)"),
    "--holdout": ("holdout", int, "hold out this many images (smallest SHA-256 of the file name, the rule of "
                                  "'ganprior train'); listed in holdout.txt"),
    "--checkpoint-every": ("checkpoint_every", int, "checkpoint (and export) every this many steps"),
    "--log-every": ("log_every", int, "a log.csv row every this many steps"),
    "--license": ("license", str, "the licence line of the model card (the training images' and the prior's)"),
}


def train_encoder_cmd(argv: list[str]) -> int:
    import torch

    from ..priors import load_prior
    from ..priors.zoo import default_prior
    from ..training import (EncoderTrainConfig, EncoderTrainer, build_image_set, list_images,
                            read_encoder_run_config, split_holdout)
    d = EncoderTrainConfig()
    p = Parser(prog="ganprior train-encoder", formatter_class=HELP,
               parents=[out_parent("run folder (checkpoint.pt, log.csv, encoder.safetensors, MODEL_CARD.md)"),
                        prior_parent("the prior to invert: a name or a checkpoint path [utkface64]"),
                        run_parent(seed_default=d.seed, quiet_help=None)],
               description="Train an image encoder for a frozen prior (IDInvert's domain-guided recipe: pixel + "
                           "perceptual reconstruction through the generator, code regression on its samples). "
                           "Resumable: checkpoints are atomic and a rerun with the same --out continues.")
    p.add_argument("folder", help="folder of training images (searched recursively)")
    p.add_argument("--steps", type=int, default=5000, help="total training steps (counting those already run)")
    p.add_argument("--minutes", type=float, default=None, help="stop (with a checkpoint) after this much time")
    p.add_argument("--eval-images", type=int, default=20,
                   help="held-out images on which each export measures the PSNR of G(E(x))")
    p.add_argument("--no-xflip", action="store_true", help="no random x-flips of the training images")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    for flag, (field, kind, text) in _RECIPE_FLAGS.items():
        default = getattr(d, field)
        p.add_argument(flag, type=kind, default=None,
                       help=f"{text} [{default if default != '' else 'not stated'}]")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.steps < 0 or a.eval_images < 0:
        raise GanpriorError("--steps and --eval-images must be >= 0")
    out = Path(a.out)
    given = {field: getattr(a, flag[2:].replace("-", "_")) for flag, (field, _, _) in _RECIPE_FLAGS.items()}
    resuming = (out / "checkpoint.pt").exists()
    if resuming:
        config = read_encoder_run_config(out)
        if a.prior is not None and a.prior != config.prior:
            raise GanpriorError(f"{out} trains an encoder for prior {config.prior!r}, not {a.prior!r}; "
                                "choose another --out")
        changed = [f"{flag} {given[field]!r} (the run has {getattr(config, field)!r})"
                   for flag, (field, _, _) in _RECIPE_FLAGS.items()
                   if given[field] is not None and given[field] != getattr(config, field)]
        if changed:
            raise GanpriorError(f"{out} holds a run with another recipe: {'; '.join(changed)}; a rerun continues "
                                "its recipe: drop the flag or choose another --out")
    else:
        config = EncoderTrainConfig(prior=a.prior or default_prior(), seed=a.seed, xflip=not a.no_xflip,
                                    data=str(a.folder), **{k: v for k, v in given.items() if v is not None})
        config.validate()
    prior = load_prior(config.prior, a.device)
    files = list_images(a.folder)
    train_files, held = split_holdout(files, config.holdout) if config.holdout else (files, [])
    out.mkdir(parents=True, exist_ok=True)
    (out / "holdout.txt").write_text("".join(f"{f.name}\n" for f in held))
    data = decode_training_images(train_files, prior.resolution, out, quiet=a.quiet)
    eval_images = build_image_set(held[:a.eval_images], prior.resolution).images if held and a.eval_images else None
    if resuming:
        trainer = EncoderTrainer.resume(out, prior, data, eval_images)
    else:
        trainer = EncoderTrainer.start(out, config, prior, data, eval_images)
    if trainer.step >= a.steps:
        print(f"run is at step {trainer.step} >= --steps {a.steps}; nothing to do")
        return 0
    reason = train_with_progress(trainer, a.steps, a.minutes, quiet=a.quiet,
                                 postfix=lambda stats: {"loss": f"{stats['loss']:.4f}", "pixel": f"{stats['pixel']:.4f}"})
    numbers = trainer.last_eval
    measured = f"; held-out PSNR of G(E(x)) {numbers['holdout_psnr']:.2f} dB" if numbers else ""
    print(f"stopped ({reason}) at step {trainer.step}; encoder {out / 'encoder.safetensors'}{measured}")
    return 0
