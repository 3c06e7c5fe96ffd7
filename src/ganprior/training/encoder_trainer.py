"""Train an image encoder for a frozen prior, resumably: ``ganprior train-encoder``.

The encoder E gives an inversion its start (``latent_init="encoder"``). The recipe is IDInvert's
domain-guided one (Zhu et al. ECCV 2020) in a form a CPU can afford:

* the generator G is frozen: E learns to invert *this* prior, and the prior is not changed;
* on real training images x, E is trained so that G(E(x)) reproduces x: pixel MSE ([0, 1] scale)
  plus a perceptual term (``perceptual_net``: ``lpips``, LPIPS-AlexNet, the default because it costs
  about a quarter of a step on 2 CPU cores where VGG16 conv4_3 at 64 px costs four times the rest
  of the step; or ``vgg16``, the inversions' own conv4_3 term, for which a weight near 1e-3 is
  comparable). IDInvert trains in image space like this because codes that reproduce real images
  are what an inversion needs, and a code regression alone fits only G's own samples;
* on the prior's own samples G(z), the code regression ``|E(G(z)) - z|^2`` (mean per dimension):
  there the right code is known, which teaches E the generator's geometry from the first step;
* the moment penalty of ``training.encoder`` keeps the batch of real codes near N(0, I), where the
  prior samples from (a code far outside it renders badly under BatchNorm's statistics).

IDInvert also trains against a discriminator; that term is left out here (it needs a second
network trained alongside, which doubles the step).

Run folder layout::

    RUN/config.json           the recipe (fixed at the first start; a rerun continues it)
    RUN/checkpoint.pt         E, its optimiser, step, RNG and data-order state (atomic)
    RUN/encoder.safetensors   the exported encoder (``encoders.load_encoder``), with its metadata
    RUN/MODEL_CARD.md         data, licence, recipe and held-out numbers of that export
    RUN/log.csv               one row per ``log_every`` steps
    RUN/holdout.txt           the held-out file names (never trained on)

All randomness flows from one ``torch.Generator`` whose state is checkpointed, so a resumed run
continues exactly as an uninterrupted one would (tested).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..encoders import ImageEncoder, save_encoder
from ..errors import GanpriorError
from ..io import atomic_write, write_json
from ..losses import frozen_eval
from .data import ImageSet
from .encoder import moment_penalty
from .loop import TrainingLoop, next_indices, read_checkpoint, read_run_json

PERCEPTUAL_NETS = ("lpips", "vgg16")
CHECKPOINT_FORMAT = "ganprior-encoder-train-v1"


@dataclass
class EncoderTrainConfig:
    """The recipe of an encoder run (what ``config.json`` and the encoder's metadata record)."""
    prior: str = "utkface64"  # as given: a registry name or a checkpoint path
    prior_name: str = ""
    prior_sha256: str = ""  # the generator's weights the run trains against (``encoders.prior_digest``)
    width: int = 64  # channels of the encoder's first conv (doubling at each stride)
    batch: int = 32
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.999)
    pixel_weight: float = 1.0
    perceptual_net: str = "lpips"
    perceptual_weight: float = 0.1
    code_weight: float = 1.0
    moment_weight: float = 1.0
    xflip: bool = True
    holdout: int = 200
    seed: int = 0
    checkpoint_every: int = 250
    log_every: int = 25
    data: str = ""  # the training folder, as given
    license: str = ""  # what the model card says of the licence (the data's and the prior's)

    def validate(self) -> "EncoderTrainConfig":
        for name in ("width", "batch", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise GanpriorError(f"{name.replace('_', ' ')} must be >= 1, got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise GanpriorError(f"learning rate must be > 0, got {self.lr}")
        for name in ("pixel_weight", "perceptual_weight", "code_weight", "moment_weight"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise GanpriorError(f"{name.replace('_', ' ')} must be a finite number >= 0, got {value}")
        if self.perceptual_net not in PERCEPTUAL_NETS:
            raise GanpriorError(f"perceptual net must be one of {', '.join(PERCEPTUAL_NETS)}, got {self.perceptual_net!r}")
        if self.holdout < 0:
            raise GanpriorError(f"holdout must be >= 0, got {self.holdout}")
        self.betas = tuple(self.betas)
        return self

    @classmethod
    def from_dict(cls, d: dict) -> "EncoderTrainConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__}).validate()

    def recipe(self) -> dict:
        """What the exported encoder records of how it was trained (not the bookkeeping)."""
        skip = {"checkpoint_every", "log_every", "license", "prior_sha256"}
        return {k: v for k, v in asdict(self).items() if k not in skip}


class EncoderTrainer(TrainingLoop):
    """One encoder run for a frozen ``prior`` in ``run_dir``. Build with ``start`` or ``resume``;
    ``train`` (``TrainingLoop``) runs it.

    ``data``: the training images at the prior's resolution; ``eval_images``: held-out images
    ``(N, C, R, R)`` uint8 on which every export measures the PSNR of G(E(x)) (None: not measured).
    """

    log_fields = ["step", "seconds", "images_per_s", "loss", "pixel", "perceptual", "code", "moment"]

    def __init__(self, run_dir: str | os.PathLike, config: EncoderTrainConfig, prior, data: ImageSet,
                 eval_images: torch.Tensor | None = None):
        self.run_dir = Path(run_dir)
        self.config = c = config.validate()
        self.prior, self.data = prior, data
        if prior.channels != 3:
            raise GanpriorError(f"train-encoder takes RGB priors; {prior.name!r} makes {prior.channels}-channel images")
        if len(data) < c.batch:
            raise GanpriorError(f"{len(data)} training images are fewer than one batch ({c.batch}); lower --batch-size")
        self.device = prior.device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)  # the encoder's initialisation only; training draws from self.rng
            self.E = ImageEncoder.for_prior(prior, c.width, recipe=c.recipe()).train()
        if c.prior_sha256 and c.prior_sha256 != self.E.prior_sha256:
            raise GanpriorError(f"{self.run_dir} trains an encoder for other weights of {c.prior!r} than those "
                                "loaded now; use another --out")
        c.prior_sha256, c.prior_name = self.E.prior_sha256, prior.name
        self.E.recipe = c.recipe()
        self.opt = torch.optim.Adam(self.E.parameters(), c.lr, betas=c.betas)
        self.perceptual = _perceptual(c).to(self.device) if c.perceptual_weight > 0 else None
        self.eval_images = eval_images
        self.rng = torch.Generator().manual_seed(c.seed)
        self.step, self.seconds = 0, 0.0
        self.perm = torch.randperm(len(data), generator=self.rng)
        self.cursor = 0
        self.last_eval: dict = {}

    # -- data ----------------------------------------------------------------------
    def _next_batch(self) -> torch.Tensor:
        b = self.config.batch
        self.perm, self.cursor, idx = next_indices(self.perm, self.cursor, b, self.rng)
        x = self.data.images[idx].float().div_(255)
        if self.config.xflip:
            flip = torch.rand(x.shape[0], generator=self.rng) < 0.5
            x[flip] = x[flip].flip(-1)
        return x.to(self.device)

    # -- one iteration -----------------------------------------------------------
    def train_step(self) -> dict:
        c, prior = self.config, self.prior
        real = self._next_batch()
        b = real.shape[0]
        z = torch.randn((b, *prior.latent_shape), generator=self.rng).to(self.device)
        with frozen_eval(prior):
            with torch.no_grad():
                sample = prior.to_unit(prior.generate(z)).float().clamp(0, 1)
            codes = self.E(torch.cat([real, sample]))  # one pass: BatchNorm sees both domains alike
            real_codes, sample_codes = codes[:b], codes[b:]
            rebuilt = prior.to_unit(prior.generate(real_codes)).float()
        terms = {"pixel": F.mse_loss(rebuilt, real),
                 "code": F.mse_loss(sample_codes, z),
                 "moment": moment_penalty(real_codes)}
        if self.perceptual is not None:
            terms["perceptual"] = self.perceptual(rebuilt, real).mean()
        weights = {"pixel": c.pixel_weight, "code": c.code_weight, "moment": c.moment_weight,
                   "perceptual": c.perceptual_weight}
        loss = sum(weights[k] * v for k, v in terms.items())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        stats = {"loss": loss.item(), **{k: v.item() for k, v in terms.items()}}
        if not all(math.isfinite(v) for v in stats.values()):
            raise GanpriorError(f"training diverged at step {self.step} (non-finite loss); the last "
                                "checkpoint is intact: rerun with a lower --lr in a new --out")
        return stats

    @torch.no_grad()
    def evaluate(self, chunk: int = 50) -> dict:
        """Mean PSNR of G(E(x)) over ``eval_images`` (``{}`` without them)."""
        if self.eval_images is None or not len(self.eval_images):
            return {}
        from ..metrics import psnr
        values = []
        for start in range(0, len(self.eval_images), chunk):
            x = self.eval_images[start:start + chunk].float().div(255).to(self.device)
            with frozen_eval(self.prior):
                rebuilt = self.prior.to_unit(self.prior.generate(self.E.encode(x))).float()
            values.append(psnr(rebuilt, x))
        return {"holdout_psnr": round(float(torch.cat(values).mean()), 2), "holdout_images": len(self.eval_images)}

    # -- persistence -------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "config": json.dumps(asdict(self.config)), "step": self.step,
                "seconds": self.seconds, "E": self.E.encoder.state_dict(), "opt": self.opt.state_dict(),
                "rng": self.rng.get_state(), "perm": self.perm, "cursor": self.cursor}

    def load_state_dict(self, state: dict) -> None:
        self.E.encoder.load_state_dict(state["E"])
        self.opt.load_state_dict(state["opt"])
        self.rng.set_state(state["rng"])
        self.perm, self.cursor = state["perm"], int(state["cursor"])
        self.step, self.seconds = int(state["step"]), float(state["seconds"])

    def save(self) -> None:
        """Checkpoint (atomic), then the exported encoder and its model card."""
        state = self.state_dict()
        atomic_write(self.run_dir / "checkpoint.pt", lambda f: torch.save(state, f))
        self.export(self.run_dir / "encoder.safetensors")

    def export(self, path: str | os.PathLike) -> Path:
        """The encoder file (``encoders.save_encoder``) with this run's step, time and held-out
        numbers, and ``MODEL_CARD.md`` beside it."""
        self.last_eval = self.evaluate()
        info = {"step": self.step, "train_seconds": f"{self.seconds:.0f}", "train_images": len(self.data),
                **self.last_eval}
        out = save_encoder(self.E, path, extra=info)
        card = model_card(self.config, info, out.name)
        atomic_write(Path(path).parent / "MODEL_CARD.md", lambda f: f.write(card.encode()))
        return out

    # -- construction --------------------------------------------------------------
    @classmethod
    def start(cls, run_dir: str | os.PathLike, config: EncoderTrainConfig, prior, data: ImageSet,
              eval_images: torch.Tensor | None = None) -> "EncoderTrainer":
        run_dir = Path(run_dir)
        if (run_dir / "checkpoint.pt").exists():
            raise GanpriorError(f"{run_dir} already holds an encoder run; rerun it to continue, or choose another --out")
        run_dir.mkdir(parents=True, exist_ok=True)
        trainer = cls(run_dir, config, prior, data, eval_images)
        write_json(asdict(trainer.config), run_dir / "config.json")
        return trainer

    @classmethod
    def resume(cls, run_dir: str | os.PathLike, prior, data: ImageSet,
               eval_images: torch.Tensor | None = None) -> "EncoderTrainer":
        run_dir = Path(run_dir)
        state = read_checkpoint(run_dir / "checkpoint.pt", CHECKPOINT_FORMAT, "encoder-training")
        trainer = cls(run_dir, EncoderTrainConfig.from_dict(json.loads(state["config"])), prior, data, eval_images)
        trainer.load_state_dict(state)
        trainer._truncate_log()
        return trainer


def read_encoder_run_config(run_dir: str | os.PathLike) -> EncoderTrainConfig:
    """The recipe recorded in an encoder run's ``config.json``."""
    recorded = read_run_json(run_dir, "an encoder run")
    try:
        return EncoderTrainConfig.from_dict(recorded)
    except (ValueError, TypeError) as e:
        raise GanpriorError(f"{Path(run_dir) / 'config.json'} is not an encoder run's configuration "
                            f"({type(e).__name__})") from None


def _perceptual(config: EncoderTrainConfig) -> torch.nn.Module:
    """The perceptual term's network (frozen): LPIPS-AlexNet or VGG16 conv4_3 L1, ``(B,)`` out."""
    from ..perceptual import LPIPS, PerceptualLoss
    net = LPIPS("alexnet") if config.perceptual_net == "lpips" else PerceptualLoss()
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


def model_card(config: EncoderTrainConfig, info: dict, file_name: str) -> str:
    """The Markdown model card of an exported encoder: data, licence, recipe, numbers."""
    c = config
    from ..priors.zoo import PRIORS
    licence = c.license or ("not stated: an encoder is bound by the licences of its training images and of "
                            "its prior; state them with --license")
    if c.prior in PRIORS:
        licence += f"\n\nThe prior `{c.prior}`'s weights: {PRIORS[c.prior].license}."
    numbers = (f"- PSNR of G(E(x)) on {info['holdout_images']} held-out images (the first of the hold-out "
               f"set, never trained on): **{info['holdout_psnr']:.2f} dB**" if "holdout_psnr" in info
               else "- not measured (no held-out images)")
    net = "LPIPS-AlexNet" if c.perceptual_net == "lpips" else "VGG16 conv4_3 L1"
    perceptual = f" + {c.perceptual_weight:g} * {net}(G(E(x)), x)" if c.perceptual_weight else ""
    return f"""# Model card: encoder for `{c.prior_name or c.prior}`

An image encoder E for the prior `{c.prior}` (generator weights sha256 `{c.prior_sha256[:16]}...`),
trained by `ganprior train-encoder`. It maps an image in [0, 1] at the prior's resolution to a latent
code whose rendering G(E(x)) resembles it; inversions start there with `--latent-init encoder`.
File: `{file_name}` (safetensors; metadata: format `ganprior-encoder`, prior, its weights' digest,
latent shape, resolution, width, recipe, step and the numbers below).

## Licence
{licence}

## Data
- Training images: `{c.data}`, {info['train_images']} images (unreadable files skipped).
- Held out, never trained on: the {c.holdout} files with the smallest SHA-256 of the file name
  (`ganprior.training.holdout_files(folder, {c.holdout})`; listed in `holdout.txt`), the same rule
  as `ganprior train`, so an encoder for a prior trained on the same folder holds out the same faces.
- Preprocessing: centre crop, Lanczos resize to the prior's resolution{', random x-flips' if c.xflip else ''}.

## Recipe
IDInvert's domain-guided encoder (Zhu et al. 2020) without its discriminator term; the generator is
frozen. Per step, on a batch of {c.batch} real images x and {c.batch} of the prior's samples G(z):

    {c.pixel_weight:g} * MSE(G(E(x)), x){perceptual}
      + {c.code_weight:g} * |E(G(z)) - z|^2 + {c.moment_weight:g} * moment penalty of E(x) (batch mean 0, variance 1)

- Encoder: `LatentEncoder` (strided 4x4 convs, width {c.width}, BatchNorm + LeakyReLU, a 4x4 conv to the code).
- Adam lr {c.lr:g}, betas {tuple(c.betas)}, seed {c.seed}.
- Steps: {info['step']:,} ({int(info['train_seconds']):,} s of training time).

## Numbers
{numbers}
"""


__all__ = ["EncoderTrainConfig", "EncoderTrainer", "PERCEPTUAL_NETS", "model_card", "read_encoder_run_config"]
