"""Train a DCGAN prior and its discriminator on an image folder, resumably.

Recipe (chosen to train stably at 64x64 on tens of thousands of images on modest hardware, CPU
included):

* generator: the DCGAN architecture of ``priors.dcgan`` (BatchNorm + ReLU, tanh output), so the
  result is a ``Prior`` with composition layers, head and tail like every other DCGAN prior;
* discriminator: strided convs with spectral normalisation on every layer (Miyato et al. 2018),
  which bounds its Lipschitz constant and keeps the game stable without gradient penalties;
* loss: hinge (Lim & Ye 2017; used by SNGAN and BigGAN), or the non-saturating logistic loss;
* optimiser: Adam lr 2e-4, betas (0.5, 0.999), one D step per G step;
* a generator EMA (decay 0.999, warmed up) whose weights are what ships, because averaged
  weights give visibly cleaner samples than the last iterate;
* x-flips of the real data, and DiffAugment (colour + translation by default) on everything the
  discriminator sees, which keeps D from memorising a small set;
* optionally (``recon > 0``, ``--recon``) an encoder-reconstruction term that makes the generator
  cover the real images, not only look real (``training.encoder``).

Run folder layout::

    RUN_DIR/config.json        the configuration (fixed at the first start)
    RUN_DIR/checkpoint.pt      G, D, G-EMA, optimisers, step, RNG and data-order state (atomic),
                               and the encoder of ``--recon`` (not exported)
    RUN_DIR/prior.safetensors  exported prior: G-EMA (BatchNorm recalibrated) + plain D
    RUN_DIR/log.csv            one row per ``log_every`` steps
    RUN_DIR/samples/step-XXXXXXX.png   8x8 EMA samples from fixed codes at every checkpoint
    RUN_DIR/holdout.txt        the held-out file names (never trained on)

All randomness flows from one ``torch.Generator`` whose state is checkpointed, so a resumed run
continues exactly as an uninterrupted one would (tested).
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save as safetensors_save
from torchvision.utils import make_grid

from ..errors import GanpriorError
from ..io import atomic_write, save_image, write_json
from ..priors.dcgan import DCGANDiscriminator, DCGANPrior
from .augment import diff_augment, parse_policy
from .data import ImageSet
from .encoder import LatentEncoder, moment_penalty
from .loop import TrainingLoop, next_indices, read_checkpoint, read_run_json

LOSSES = ("hinge", "nonsat")
LOG_FIELDS = ["step", "seconds", "images_per_s", "loss_d", "loss_g", "d_real", "d_fake", "loss_rec"]


@dataclass
class TrainConfig:
    resolution: int = 64
    latent_dim: int = 100
    g_width: int = 64
    d_width: int = 64
    batch: int = 32
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    loss: str = "hinge"
    augment: str = "color,translation"
    xflip: bool = True
    ema_decay: float = 0.999
    holdout: int = 200
    init: str = ""  # the exported prior the run started from ("" = random DCGAN initialisation)
    labels: str = ""  # regular expression giving the class from the file name ("" = unconditional)
    num_classes: int = 0
    classes: list[str] = field(default_factory=list)
    seed: int = 0
    checkpoint_every: int = 250
    log_every: int = 25
    recon: float = 0.0  # weight of the encoder-reconstruction term (0 = plain GAN; see training.encoder)
    recon_warmup: int = 500  # encoder steps before the generator gets the reconstruction gradient

    def validate(self) -> "TrainConfig":
        if self.loss not in LOSSES:
            raise GanpriorError(f"unknown loss {self.loss!r}; choose from {', '.join(LOSSES)}")
        parse_policy(self.augment)
        if self.resolution < 8 or 2 ** int(math.log2(self.resolution)) != self.resolution:
            raise GanpriorError(f"--resolution must be a power of two >= 8, got {self.resolution}")
        for name in ("batch", "latent_dim", "g_width", "d_width", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise GanpriorError(f"{name} must be >= 1")
        if not (math.isfinite(self.recon) and self.recon >= 0) or self.recon_warmup < 0:
            raise GanpriorError("--recon must be a finite weight >= 0 and recon_warmup >= 0")
        if not 0 <= self.ema_decay < 1:
            raise GanpriorError("ema_decay must be in [0, 1)")
        self.betas = tuple(self.betas)
        return self

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known).validate()


def _loss_d(real: torch.Tensor, fake: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def _loss_g(fake: torch.Tensor, kind: str) -> torch.Tensor:
    return -fake.mean() if kind == "hinge" else F.softplus(-fake).mean()


class Trainer(TrainingLoop):
    """One GAN training run living in ``run_dir``. Build with ``start`` or ``resume``; ``train``
    (``TrainingLoop``) runs it."""

    def __init__(self, run_dir: Path, config: TrainConfig, data: ImageSet, device: str = "cpu"):
        self.run_dir = Path(run_dir)
        self.config = config.validate()
        self.data = data
        self.device = torch.device(device)
        c = config
        nc = c.num_classes or None
        if nc and data.labels is None:
            raise GanpriorError("a class-conditional run needs labels (--labels REGEX)")
        torch.manual_seed(c.seed)  # module initialisation only; training draws from self.rng
        self.G = DCGANPrior(c.latent_dim, c.g_width, c.resolution, num_classes=nc, name="trained")
        _dcgan_init(self.G, c.seed)
        self.D = DCGANDiscriminator(c.d_width, c.resolution, spectral=True, num_classes=nc)
        self.G_ema = copy.deepcopy(self.G).eval()
        for p in self.G_ema.parameters():
            p.requires_grad_(False)
        self.G.to(self.device).train()
        self.D.to(self.device).train()
        self.G_ema.to(self.device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), c.lr_g, betas=c.betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), c.lr_d, betas=c.betas)
        self.E = self.opt_e = None
        self.encoder_steps = 0
        if c.recon > 0:
            self.E = LatentEncoder(c.latent_dim, c.d_width, c.resolution).to(self.device).train()
            self.opt_e = torch.optim.Adam(self.E.parameters(), c.lr_g, betas=c.betas)
        self.ops = parse_policy(c.augment)
        self.rng = torch.Generator().manual_seed(c.seed)
        self.step = 0
        self.perm = torch.randperm(len(data), generator=self.rng)
        self.cursor = 0
        self.seconds = 0.0  # training time accumulated over all sessions
        # a plain run has no reconstruction column
        self.log_fields = LOG_FIELDS if self.E is not None else LOG_FIELDS[:-1]

    # -- data ----------------------------------------------------------------------
    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        b = self.config.batch
        self.perm, self.cursor, idx = next_indices(self.perm, self.cursor, b, self.rng)
        x = self.data.images[idx].float().div_(127.5).sub_(1)
        if self.config.xflip:
            flip = torch.rand(x.shape[0], generator=self.rng) < 0.5
            x[flip] = x[flip].flip(-1)
        labels = None if self.data.labels is None or not self.config.num_classes else self.data.labels[idx]
        return x.to(self.device), None if labels is None else labels.to(self.device)

    def _latent(self, n: int) -> torch.Tensor:
        return torch.randn((n, *self.G.latent_shape), generator=self.rng).to(self.device)

    # -- one iteration -----------------------------------------------------------
    def train_step(self) -> dict:
        c = self.config
        real, labels = self._next_batch()
        b = real.shape[0]
        # discriminator
        with torch.no_grad():
            fake = self.G(self._latent(b), labels)
        self.D.requires_grad_(True)
        d_real = self.D(diff_augment(real, self.ops, self.rng), labels)
        d_fake = self.D(diff_augment(fake, self.ops, self.rng), labels)
        loss_d = _loss_d(d_real, d_fake, c.loss)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        # generator
        self.D.requires_grad_(False)
        z = self._latent(b)
        fake = self.G(z, labels)
        loss_g = _loss_g(self.D(diff_augment(fake, self.ops, self.rng), labels), c.loss)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        stats = {"loss_d": loss_d.item(), "loss_g": loss_g.item(),
                 "d_real": d_real.mean().item(), "d_fake": d_fake.mean().item()}
        if self.E is not None:
            stats["loss_rec"] = self._reconstruction_step(real, fake.detach(), z, labels)
        self.opt_g.step()
        self._update_ema()
        self.step += 1
        if not all(math.isfinite(v) for v in stats.values()):
            raise GanpriorError(f"training diverged at step {self.step} (non-finite loss); the last "
                                "checkpoint is intact: resume with a lower --lr")
        return stats

    def _reconstruction_step(self, real: torch.Tensor, fake: torch.Tensor, z_fake: torch.Tensor,
                             labels: torch.Tensor | None) -> float:
        """Encoder update, and (after the warm-up) the reconstruction gradient added to G's."""
        c = self.config
        self.opt_e.zero_grad(set_to_none=True)
        train_g = self.encoder_steps >= c.recon_warmup
        self.G.requires_grad_(train_g)
        z = self.E(real)
        loss_rec = F.mse_loss(self.G(z, labels), real)
        loss_e = c.recon * loss_rec + F.mse_loss(self.E(fake), z_fake) + moment_penalty(z)
        loss_e.backward()  # G's grads (adversarial, already there) gain recon * d(loss_rec)/dG
        self.G.requires_grad_(True)
        self.opt_e.step()
        self.encoder_steps += 1
        return loss_rec.item()

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
            pe.lerp_(p, 1 - decay)
        for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
            be.copy_(b)

    # -- persistence -------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "format": "ganprior-train-v1",
            "config": json.dumps(asdict(self.config)),
            "step": self.step,
            "seconds": self.seconds,
            "G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(), "perm": self.perm, "cursor": self.cursor,
            **({} if self.E is None else {"E": self.E.state_dict(), "opt_e": self.opt_e.state_dict(),
                                          "encoder_steps": self.encoder_steps}),
        }

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.rng.set_state(state["rng"])
        self.perm, self.cursor = state["perm"], int(state["cursor"])
        self.step, self.seconds = int(state["step"]), float(state["seconds"])
        if self.E is not None and "E" in state:
            self.E.load_state_dict(state["E"])
            self.opt_e.load_state_dict(state["opt_e"])
            self.encoder_steps = int(state["encoder_steps"])

    def warm_start(self, path: str | os.PathLike) -> None:
        """Continue from an exported prior instead of random weights (``ganprior train --init``).

        The file's generator becomes both G and its EMA, its discriminator is wrapped in spectral
        norm again, and the step count and training time continue from its metadata. The
        optimisers start fresh: an export keeps no Adam moments. This is how training continues on
        a machine that has only the shipped prior (``utkface64``) and not the run folder.
        """
        from safetensors import safe_open

        from ..priors.dcgan_checkpoints import load_safetensors_prior

        prior = load_safetensors_prior(path)
        if getattr(prior, "discriminator", None) is None:
            raise GanpriorError(f"{path} holds no discriminator; --init needs a generator and its discriminator")
        if prior.config != self.G.config:
            raise GanpriorError(f"{path} has generator {prior.config}; this run builds {self.G.config}")
        if prior.discriminator.config != self.D.config:
            raise GanpriorError(f"{path} has discriminator {prior.discriminator.config}; "
                                f"this run builds {self.D.config}")
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state = {k: v for k, v in prior.state_dict().items() if not k.startswith("discriminator.")}
        self.G.load_state_dict(state)
        self.G_ema.load_state_dict(state)
        self.D.load_state_dict(prior.discriminator.spectral_copy().to(self.device).state_dict())
        self.step = int(meta.get("step", 0))
        self.seconds = float(meta.get("train_seconds", 0))

    def save(self) -> None:
        """Checkpoint (atomic), sample grid, and exported prior."""
        state = self.state_dict()
        atomic_write(self.run_dir / "checkpoint.pt", lambda f: torch.save(state, f))
        self.save_samples()
        self.export(self.run_dir / "prior.safetensors")

    @torch.no_grad()
    def save_samples(self, n: int = 64) -> Path:
        z = torch.randn((n, *self.G.latent_shape), generator=torch.Generator().manual_seed(1234))
        labels = None
        if self.config.num_classes:
            labels = torch.arange(n) % self.config.num_classes
        imgs = self.G_ema.eval()(z.to(self.device), None if labels is None else labels.to(self.device))
        grid = make_grid(DCGANPrior.to_unit(imgs).clamp(0, 1).cpu(), nrow=8, padding=2, pad_value=1)
        return save_image(grid, self.run_dir / "samples" / f"step-{self.step:07d}.png")

    def export(self, path: Path) -> Path:
        """Safetensors prior: G-EMA with BatchNorm statistics recomputed for its own weights, plus D."""
        G = calibrated_copy(self.G_ema, seed=self.config.seed)
        D = self.D.plain()
        return export_prior(G, D, path, classes=self.config.classes,
                            extra={"step": str(self.step), "train_seconds": f"{self.seconds:.0f}"})

    # -- construction --------------------------------------------------------------
    @classmethod
    def start(cls, run_dir: str | os.PathLike, config: TrainConfig, data: ImageSet,
              device: str = "cpu", init: str | os.PathLike | None = None) -> "Trainer":
        run_dir = Path(run_dir)
        if (run_dir / "checkpoint.pt").exists():
            raise GanpriorError(f"{run_dir} already holds a run; pass --resume to continue it "
                                "or choose another --out")
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(asdict(config.validate()), run_dir / "config.json")
        trainer = cls(run_dir, config, data, device)
        if init is not None:
            trainer.warm_start(init)
        return trainer

    @classmethod
    def resume(cls, run_dir: str | os.PathLike, data: ImageSet, device: str = "cpu") -> "Trainer":
        run_dir = Path(run_dir)
        state = read_checkpoint(run_dir / "checkpoint.pt", "ganprior-train-v1", "training")
        trainer = cls(run_dir, TrainConfig.from_dict(json.loads(state["config"])), data, device)
        trainer.load_state_dict(state)
        trainer._truncate_log()
        return trainer


def read_run_config(run_dir: str | os.PathLike) -> TrainConfig:
    return TrainConfig.from_dict(read_run_json(run_dir, "a training run"))


def _dcgan_init(G: DCGANPrior, seed: int) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), BatchNorm gamma N(1, 0.02), beta 0."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, torch.nn.ConvTranspose2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.02)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + torch.randn(m.weight.shape, generator=gen) * 0.02)
                m.bias.zero_()


@torch.no_grad()
def calibrated_copy(G: DCGANPrior, seed: int = 0, samples: int = 4096, batch: int = 256) -> DCGANPrior:
    """A copy of ``G`` whose BatchNorm running statistics are the exact averages over fresh samples.

    EMA weights and the live generator's running statistics do not quite match; recomputing
    the statistics for the EMA weights removes that mismatch from the shipped prior.
    """
    G = copy.deepcopy(G).train()
    gen = torch.Generator().manual_seed(seed + 1)
    bns = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    for start in range(0, samples, batch):
        z = torch.randn((min(batch, samples - start), *G.latent_shape), generator=gen).to(G.device)
        labels = None
        if G.num_classes:
            labels = torch.randint(0, G.num_classes, (z.shape[0],), generator=gen).to(G.device)
        G(z, labels)
    for m in bns:
        m.momentum = 0.1
    return G.eval()


def export_prior(G: DCGANPrior, D: DCGANDiscriminator | None, path: str | os.PathLike,
                 classes: list[str] | None = None, extra: dict | None = None) -> Path:
    """Write a generator (+ discriminator) as one safetensors file that ``load_prior`` reads."""
    tensors = {f"generator.{k}": v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
    meta = {"format": "ganprior-dcgan", "generator": json.dumps(G.config),
            "classes": json.dumps(list(classes or []))}
    if D is not None:
        if D.spectral:
            D = D.plain()
        tensors.update({f"discriminator.{k}": v.detach().cpu().contiguous() for k, v in D.state_dict().items()})
        meta["discriminator"] = json.dumps(D.config)
    meta.update(extra or {})
    data = safetensors_save(tensors, metadata=meta)
    return atomic_write(path, lambda f: f.write(data))
