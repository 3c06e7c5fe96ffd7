"""Image encoders: a network E that maps images to a prior's codes, so an inversion can start near
its answer instead of at a random or best-of-K code (IDInvert's encoder start; issue #29).

An encoder belongs to one generator: it is trained by ``ganprior train-encoder`` against that
generator's frozen weights, and its codes mean nothing to another. The file says which one::

    FILE.safetensors      tensors: the LatentEncoder's ``net.*`` weights
      __metadata__        format       "ganprior-encoder"
                          prior        the prior's name (for messages)
                          prior_sha256 digest of the prior's generator weights (``prior_digest``)
                          latent_shape, resolution, channels, width   (JSON; the architecture)
                          recipe       JSON: how it was trained (data, steps, loss weights, ...)
                          default_tasks (optional) JSON list of the tasks whose default recipe
                                       starts from this encoder when it ships with its prior:
                                       "TASK" or "TASK xF" (super-resolution at factor F);
                                       absent: every task
                          + free-form entries (step, train_seconds, numbers)

``load_encoder(path, prior)`` refuses a file made for another prior (another latent shape,
resolution or generator weights) in one line. ``encoder_for(prior)`` finds the encoder shipped with
a named prior (``weights/<name>_encoder.safetensors``), or None.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import torch
from torch import nn

from .errors import GanpriorError

ENCODER_FORMAT = "ganprior-encoder"
_ARCH_FIELDS = ("latent_shape", "resolution", "channels", "width")


class LatentEncoder(nn.Module):
    """Strided 4x4 convs (BatchNorm + LeakyReLU) from ``resolution`` down to 4x4, then a 4x4 conv to the code."""

    def __init__(self, latent_dim: int = 100, width: int = 64, resolution: int = 64, channels: int = 3):
        super().__init__()
        layers, cin = [], channels
        for i in range(int(math.log2(resolution)) - 2):
            cout = width * 2 ** i
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=i == 0)]
            if i:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2))
            cin = cout
        layers.append(nn.Conv2d(cin, latent_dim, 4, 1, 0))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, latent_dim, 1, 1)`` for images in ``[-1, 1]``."""
        return self.net(x)


def prior_digest(prior: nn.Module) -> str:
    """SHA-256 of a prior's generator weights (every state entry but the discriminator's, by name).

    It identifies the generator an encoder was trained against: a prior's name is not enough (a
    checkpoint is named after its file, and a retrained prior keeps its name)."""
    h = hashlib.sha256()
    for name, value in sorted(prior.state_dict().items()):
        if name.startswith("discriminator."):
            continue
        h.update(name.encode())
        h.update(str(tuple(value.shape)).encode())
        h.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class ImageEncoder(nn.Module):
    """E: images ``(B, C, R, R)`` in [0, 1] at the prior's resolution -> codes ``(B, *latent_shape)``.

    The architecture is ``LatentEncoder`` (the encoder ``ganprior train --recon`` trains alongside a
    prior), fed images in [-1, 1]. ``prior_name``, ``prior_sha256`` and ``recipe`` are what its
    file records about the generator it was trained for and how (see the module docstring);
    ``info``, its other metadata entries (training step, measured numbers).
    """

    def __init__(self, latent_shape: tuple[int, ...], resolution: int, channels: int = 3, width: int = 64, *,
                 prior_name: str = "", prior_sha256: str = "", recipe: dict | None = None,
                 info: dict[str, str] | None = None):
        super().__init__()
        if resolution < 8 or 2 ** int(math.log2(resolution)) != resolution:
            raise GanpriorError(f"an encoder needs a power-of-two resolution >= 8, got {resolution}")
        self.latent_shape = tuple(int(d) for d in latent_shape)
        self.resolution, self.channels, self.width = int(resolution), int(channels), int(width)
        self.prior_name, self.prior_sha256 = prior_name, prior_sha256
        self.recipe = dict(recipe or {})
        self.info = dict(info or {})  # the file's other metadata entries (step, numbers)
        self.encoder = LatentEncoder(math.prod(self.latent_shape), self.width, self.resolution, self.channels)

    @classmethod
    def for_prior(cls, prior, width: int = 64, recipe: dict | None = None) -> "ImageEncoder":
        """A freshly initialised encoder for ``prior`` (on its device)."""
        return cls(tuple(prior.latent_shape), prior.resolution, prior.channels, width, prior_name=prior.name,
                   prior_sha256=prior_digest(prior), recipe=recipe).to(prior.device)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        expected = (self.channels, self.resolution, self.resolution)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise GanpriorError(f"the encoder takes (B, {', '.join(map(str, expected))}) images, "
                                f"got {tuple(images.shape)}")
        codes = self.encoder(images * 2 - 1)
        return codes.reshape(images.shape[0], *self.latent_shape)

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Codes of ``images`` in eval mode (BatchNorm on its running statistics), without autograd;
        the encoder's train/eval flag is restored."""
        was_training = self.training
        self.eval()
        try:
            return self(images.to(self.device, torch.float32))
        finally:
            self.train(was_training)

    def check_prior(self, prior, source: str = "the encoder") -> None:
        """Refuse a prior this encoder was not trained for, in one line naming ``source``."""
        mine = (self.latent_shape, self.resolution, self.channels)
        theirs = (tuple(prior.latent_shape), prior.resolution, prior.channels)
        if mine != theirs:
            raise GanpriorError(f"{source} was trained for prior {self.prior_name!r} (latent {self.latent_shape}, "
                                f"{self.channels}x{self.resolution}x{self.resolution}), not {prior.name!r} (latent "
                                f"{tuple(prior.latent_shape)}, {prior.channels}x{prior.resolution}x{prior.resolution})")
        if self.prior_sha256 and self.prior_sha256 != prior_digest(prior):
            raise GanpriorError(f"{source} was trained for other generator weights ({self.prior_name!r}) than "
                                f"prior {prior.name!r}'s; train one for it with 'ganprior train-encoder'")

    def serves(self, task: str, options: dict | None = None) -> bool:
        """Whether a run of ``task`` (a chain's leading task) with the task ``options`` takes this
        encoder's start by default: its ``default_tasks`` entry (see the module docstring) names the
        task, or the task at its ``factor``; no entry: every task. Where it measured worse than the
        recipe without it, the file leaves that task out and its old recipe stays the default."""
        entries = default_tasks(self.info)
        if entries is None:
            return True
        factor = (options or {}).get("factor")
        return task in entries or (factor is not None and f"{task} x{int(factor)}" in entries)

    def metadata(self, extra: dict | None = None) -> dict[str, str]:
        """The safetensors metadata of this encoder (all values strings): ``info`` and ``extra``,
        under the entries that describe the encoder (which they cannot override)."""
        meta = {k: str(v) for k, v in {**self.info, **(extra or {})}.items()}
        meta |= {"format": ENCODER_FORMAT, "prior": self.prior_name, "prior_sha256": self.prior_sha256,
                "latent_shape": json.dumps(list(self.latent_shape)), "resolution": str(self.resolution),
                "channels": str(self.channels), "width": str(self.width), "recipe": json.dumps(self.recipe)}
        return meta


def default_tasks(meta: dict[str, str]) -> list[str] | None:
    """The ``default_tasks`` entry of an encoder's metadata (see the module docstring), or None when
    it has none (every task); a malformed entry is a one-line error."""
    listed = meta.get("default_tasks")
    if listed is None:
        return None
    try:
        entries = json.loads(listed)
    except ValueError:
        entries = None
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise GanpriorError(f"encoder default_tasks must be a JSON list of task names, got {listed[:80]!r}")
    return entries


def save_encoder(encoder: ImageEncoder, path: str | os.PathLike, extra: dict | None = None) -> Path:
    """Write ``encoder`` as one safetensors file (atomically); ``extra``: more metadata entries."""
    from safetensors.torch import save as safetensors_save

    from .io import atomic_write
    tensors = {k: v.detach().cpu().contiguous() for k, v in encoder.encoder.state_dict().items()}
    data = safetensors_save(tensors, metadata=encoder.metadata(extra))
    return atomic_write(path, lambda f: f.write(data))


def read_encoder_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The checked metadata of an encoder file, without reading its tensors."""
    from .checkpoint_limits import check_safetensors
    path = Path(path)
    if not path.is_file():
        raise GanpriorError(f"encoder file not found: {path}")
    _, meta = check_safetensors(path, "encoder file")
    if meta.get("format") != ENCODER_FORMAT:
        raise GanpriorError(f"{path} is not a ganprior encoder file (metadata format {meta.get('format')!r})")
    missing = [k for k in _ARCH_FIELDS if k not in meta]
    if missing:
        raise GanpriorError(f"{path}: encoder metadata lacks {', '.join(missing)}")
    return meta


def _architecture(meta: dict[str, str], path: Path) -> dict:
    try:
        shape = json.loads(meta["latent_shape"])
        sizes = {k: int(meta[k]) for k in ("resolution", "channels", "width")}
        recipe = json.loads(meta.get("recipe") or "{}")
    except ValueError:
        raise GanpriorError(f"{path}: encoder metadata has a malformed latent_shape, size or recipe entry") from None
    if not (isinstance(shape, list) and shape and all(type(d) is int and d > 0 for d in shape)):
        raise GanpriorError(f"{path}: encoder latent_shape {meta['latent_shape']!r} is not a list of positive sizes")
    if min(sizes.values()) < 1 or not isinstance(recipe, dict):
        raise GanpriorError(f"{path}: encoder sizes must be >= 1 and its recipe a JSON object")
    return {"latent_shape": tuple(shape), **sizes, "recipe": recipe}


def _info(meta: dict[str, str]) -> dict[str, str]:
    described = {"format", "prior", "prior_sha256", "recipe", *_ARCH_FIELDS}
    return {k: v for k, v in meta.items() if k not in described}


def load_encoder(path: str | os.PathLike, prior=None, device: str | torch.device | None = None) -> ImageEncoder:
    """The encoder in ``path`` (eval mode; on ``prior``'s device, else ``device`` or the CPU),
    checked against ``prior`` when one is given (``ImageEncoder.check_prior``)."""
    from .checkpoint_limits import allocation_budget, read_safetensors
    path = Path(path)
    meta = read_encoder_metadata(path)
    arch = _architecture(meta, path)
    tensors = read_safetensors(path, "encoder file")
    try:
        with allocation_budget(path, what="encoder file"):
            encoder = ImageEncoder(arch["latent_shape"], arch["resolution"], arch["channels"], arch["width"],
                                   prior_name=meta.get("prior", ""), prior_sha256=meta.get("prior_sha256", ""),
                                   recipe=arch["recipe"], info=_info(meta))
            encoder.encoder.load_state_dict(tensors)
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        raise GanpriorError(f"{path}: weights do not match their recorded architecture: "
                            f"{str(e).splitlines()[0][:200]}") from None
    if prior is not None:
        encoder.check_prior(prior, source=f"encoder {path}")
        device = prior.device
    return encoder.to(device or "cpu").eval()


def shipped_encoder_file(prior_name: str) -> Path | None:
    """``weights/<name>_encoder.safetensors`` of a named prior of the registry, or None."""
    from .priors.zoo import PRIORS, WEIGHTS_DIR
    if str(prior_name) not in PRIORS:
        return None
    path = WEIGHTS_DIR / f"{prior_name}_encoder.safetensors"
    return path if path.is_file() else None


def encoder_for(prior) -> ImageEncoder | None:
    """The encoder shipped for ``prior`` (a named prior of the registry), or None: none ships for
    it, or the prior's weights are not those the shipped encoder was trained for (a checkpoint that
    only shares a registry name)."""
    path = shipped_encoder_file(prior.name)
    if path is None:
        return None
    encoder = load_encoder(path)
    try:
        encoder.check_prior(prior)
    except GanpriorError:
        return None
    return encoder.to(prior.device)


def no_encoder_message(prior) -> str:
    """Why ``latent_init='encoder'`` cannot run for ``prior``, and how to get one."""
    return (f"prior {prior.name!r} has no encoder for --latent-init encoder; train one with 'ganprior "
            f"train-encoder IMAGE_FOLDER --prior PRIOR --out RUN' and pass --encoder RUN/encoder.safetensors")


def resolve_encoder(encoder, prior) -> ImageEncoder:
    """The encoder an inversion of ``prior`` starts from: ``encoder`` (an ``ImageEncoder``, checked
    against the prior, or a file path), else the one shipped for the prior; a one-line error when
    there is none."""
    if encoder is None:
        found = encoder_for(prior)
        if found is None:
            raise GanpriorError(no_encoder_message(prior))
        return found
    if isinstance(encoder, ImageEncoder):
        encoder.check_prior(prior)
        return encoder.to(prior.device)
    if isinstance(encoder, (str, os.PathLike)):
        return load_encoder(encoder, prior)
    raise GanpriorError(f"encoder must be an ImageEncoder or a file path, got {type(encoder).__name__}")


__all__ = ["ENCODER_FORMAT", "ImageEncoder", "LatentEncoder", "default_tasks", "encoder_for", "load_encoder", "no_encoder_message",
           "prior_digest", "read_encoder_metadata", "resolve_encoder", "save_encoder", "shipped_encoder_file"]
