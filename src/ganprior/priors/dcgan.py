"""DCGAN generator (Radford et al. 2016), in the layout of the PyTorch DCGAN tutorial.

Each block is ConvTranspose2d -> BatchNorm2d -> ReLU; the first maps the 1x1 latent to 4x4,
each next one doubles the size and halves the channels, and the last block is
ConvTranspose2d -> Tanh producing the image. Composition layer k is the output of block k
(after its ReLU), k = 1 .. num_blocks - 1.

Checkpoints in the tutorial layout (``main.0.weight`` ...) load through ``from_state_dict``,
which infers latent size, width and resolution from the tensor shapes.

``DCGANDiscriminator`` is the matching critic (strided 4x4 convs, LeakyReLU, optional spectral
norm, optional projection head for class-conditional training). Its ``features(x)`` returns the
activation of every block, which is what DGP's discriminator-feature loss compares.

A class-conditional generator (``num_classes``) concatenates a learned class embedding to z. As a
prior it generates the class in ``class_index`` (settable), so inversion sees an ordinary latent.
"""

from __future__ import annotations

import copy
import math
import re

import torch
from torch import nn

from ..errors import GanpriorError
from .base import Prior


class DCGANPrior(Prior):
    """DCGAN generator split into blocks.

    Args:
        latent_dim: nz, length of z.
        width: ngf; the last hidden block has ``width`` channels, the first ``width * 2**(n-2)``.
        resolution: output size, a power of two >= 8.
        channels: image channels.
    """

    def __init__(self, latent_dim: int = 100, width: int = 64, resolution: int = 64,
                 channels: int = 3, name: str = "dcgan", num_classes: int | None = None,
                 embed_dim: int = 0):
        super().__init__()
        self.family = "dcgan"
        num_blocks = int(math.log2(resolution)) - 1
        if 2 ** (num_blocks + 1) != resolution or num_blocks < 2:
            raise GanpriorError(f"DCGAN resolution must be a power of two >= 8, got {resolution}")
        self.name = name
        self.resolution = resolution
        self.channels = channels
        self.latent_dim = latent_dim
        self.width = width
        self.latent_shape = (latent_dim, 1, 1)
        hidden = [width * 2 ** (num_blocks - 2 - i) for i in range(num_blocks - 1)]
        self.num_classes = num_classes
        self.class_index = 0
        if num_classes:
            embed_dim = embed_dim or latent_dim
            self.class_embed = nn.Embedding(num_classes, embed_dim)
        else:
            embed_dim = 0
        blocks = []
        cin = latent_dim + embed_dim
        for i, cout in enumerate(hidden):
            stride, pad = (1, 0) if i == 0 else (2, 1)
            blocks.append(nn.Sequential(
                nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=False),
            ))
            cin = cout
        blocks.append(nn.Sequential(nn.ConvTranspose2d(cin, channels, 4, 2, 1, bias=False), nn.Tanh()))
        self.net = nn.ModuleList(blocks)
        self._layers = {i + 1: c for i, c in enumerate(hidden)}

    @property
    def composition_layers(self) -> dict[int, int]:
        return dict(self._layers)

    @property
    def blocks(self) -> list[nn.Module]:
        return list(self.net)

    @property
    def config(self) -> dict:
        """Constructor arguments, stored beside exported weights."""
        return {"latent_dim": self.latent_dim, "width": self.width, "resolution": self.resolution,
                "channels": self.channels, "num_classes": self.num_classes or 0,
                "embed_dim": self.class_embed.embedding_dim if self.num_classes else 0}

    def _input(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        x = z.reshape(z.shape[0], *self.latent_shape)
        if not self.num_classes:
            return x
        if labels is None:
            labels = torch.full((z.shape[0],), int(self.class_index), dtype=torch.long, device=z.device)
        emb = self.class_embed(labels)[:, :, None, None]
        return torch.cat([x, emb], dim=1)

    def head(self, z: torch.Tensor, layer: int, labels: torch.Tensor | None = None) -> torch.Tensor:
        self.check_layer(layer)
        x = self._input(z, labels)
        for block in self.net[:layer]:
            x = block(x)
        return x

    def tail(self, features: torch.Tensor, layer: int) -> torch.Tensor:
        self.check_layer(layer)
        x = features
        for block in self.net[layer:]:
            x = block(x)
        return x

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.tail(self.head(z, 1, labels), 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generate(z, labels)

    # -- checkpoints -------------------------------------------------------------
    @staticmethod
    def is_tutorial_state_dict(state_dict: dict) -> bool:
        w = state_dict.get("main.0.weight")
        return isinstance(w, torch.Tensor) and w.ndim == 4 and w.shape[2:] == (4, 4)

    @classmethod
    def from_state_dict(cls, state_dict: dict, name: str = "dcgan") -> "DCGANPrior":
        """Build from a tutorial-layout state dict (``main.{i}.*``), inferring the shapes."""
        if not cls.is_tutorial_state_dict(state_dict):
            raise GanpriorError("not a DCGAN tutorial-layout generator state dict (no main.0.weight)")
        for key, value in state_dict.items():
            if not isinstance(key, str) or not isinstance(value, torch.Tensor):
                raise GanpriorError(f"entry {key!r} of a DCGAN checkpoint is a {type(value).__name__}, not a tensor")
        convs = sorted(
            (int(m.group(1)), v) for k, v in state_dict.items()
            if (m := re.fullmatch(r"main\.(\d+)\.weight", k)) and v.ndim == 4
        )
        latent_dim = convs[0][1].shape[0]
        channels = convs[-1][1].shape[1]
        width = convs[-1][1].shape[0]
        resolution = 2 ** (len(convs) + 1)
        prior = cls(latent_dim, width, resolution, channels, name=name)
        prior.load_state_dict(cls._map_tutorial_keys(state_dict, len(convs)))
        return prior.eval()

    @staticmethod
    def _map_tutorial_keys(state_dict: dict, num_blocks: int) -> dict:
        # tutorial: main.{3b} conv, main.{3b+1} batchnorm, main.{3b+2} relu for block b
        out = {}
        for key, value in state_dict.items():
            m = re.fullmatch(r"main\.(\d+)\.(.+)", key)
            if not m:
                raise GanpriorError(f"unexpected key {key!r} in DCGAN checkpoint")
            idx, rest = int(m.group(1)), m.group(2)
            block, pos = divmod(idx, 3)
            if block >= num_blocks or pos == 2:
                raise GanpriorError(f"unexpected key {key!r} in DCGAN checkpoint")
            out[f"net.{block}.{pos}.{rest}"] = value
        return out

    @classmethod
    def random(cls, latent_dim: int = 8, width: int = 4, resolution: int = 16, seed: int = 0,
               name: str = "dcgan-random") -> "DCGANPrior":
        """A randomly initialised prior (DCGAN init: N(0, 0.02) convs), for tests and demos of logic."""
        gen = torch.Generator().manual_seed(seed)
        prior = cls(latent_dim, width, resolution, name=name)
        with torch.no_grad():
            for m in prior.modules():
                if isinstance(m, nn.ConvTranspose2d):
                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.02)
                elif isinstance(m, nn.BatchNorm2d):
                    m.weight.copy_(1 + torch.randn(m.weight.shape, generator=gen) * 0.02)
                    m.bias.zero_()
            # calibrate BatchNorm running statistics so eval-mode activations are well scaled
            prior.train()
            for m in prior.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.momentum = None  # cumulative average
            z = torch.randn((256, latent_dim, 1, 1), generator=gen)
            prior.generate(z)
            for m in prior.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.momentum = 0.1
            prior.eval()
            # scale the output conv so images use the tanh range (pre-activation std 0.8)
            last = prior.net[-1][0]
            pre = last(prior.head(z, len(prior.net) - 1))
            last.weight.mul_(0.8 / pre.std())
        return prior.eval()


class DCGANDiscriminator(nn.Module):
    """DCGAN critic: 4x4 stride-2 convs from ``resolution`` down to 4x4, then a 4x4 conv to a logit.

    Args:
        width: channels of the first block (ndf); each next block doubles it.
        resolution: input size, a power of two >= 8.
        spectral: wrap every conv in spectral normalisation (Miyato et al. 2018) for training.
        num_classes: add a projection head (Miyato & Koyama 2018) for class-conditional training.

    Input images are in the native ``[-1, 1]`` range.
    """

    def __init__(self, width: int = 64, resolution: int = 64, channels: int = 3,
                 spectral: bool = True, num_classes: int | None = None):
        super().__init__()
        num_blocks = int(math.log2(resolution)) - 2
        if 2 ** (num_blocks + 2) != resolution or num_blocks < 1:
            raise GanpriorError(f"discriminator resolution must be a power of two >= 8, got {resolution}")
        self.width, self.resolution, self.channels = width, resolution, channels
        self.num_classes = num_classes or 0
        self.spectral = spectral
        wrap = nn.utils.parametrizations.spectral_norm if spectral else (lambda m: m)
        blocks, cin = [], channels
        for i in range(num_blocks):
            cout = width * 2 ** i
            blocks.append(nn.Sequential(wrap(nn.Conv2d(cin, cout, 4, 2, 1)), nn.LeakyReLU(0.2)))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.head = wrap(nn.Conv2d(cin, 1, 4, 1, 0))
        if self.num_classes:
            self.class_embed = wrap(nn.Embedding(self.num_classes, cin))

    @property
    def config(self) -> dict:
        return {"width": self.width, "resolution": self.resolution, "channels": self.channels,
                "num_classes": self.num_classes}

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations after every block, ``[(B, ndf * 2**i, res / 2**(i+1), ...)]``, shallow first."""
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B,)``: higher means real."""
        h = self.features(x)[-1]
        logit = self.head(h).flatten(1).sum(1)
        if self.num_classes and labels is not None:
            logit = logit + (self.class_embed(labels) * h.sum(dim=(2, 3))).sum(1)
        return logit

    def spectral_copy(self, power_iterations: int = 200) -> "DCGANDiscriminator":
        """A trainable copy with spectral norm wrapped around the current weights.

        For a discriminator exported by ``plain()`` (its weights already divided by their spectral
        norms) the wrapped copy computes the same function: every weight's norm is about 1, and the
        wrapping runs a fresh power iteration on it.
        """
        if self.spectral:
            return copy.deepcopy(self)
        out = copy.deepcopy(self).train()
        with torch.no_grad():
            for module in out.modules():
                if isinstance(module, (nn.Conv2d, nn.Embedding)):
                    nn.utils.parametrizations.spectral_norm(module)
            # the wrapping's 15 power iterations underestimate the norms by a few per cent; each
            # forward in train mode runs one more (200 bring the outputs within 0.5% of the export)
            x = torch.zeros(1, self.channels, self.resolution, self.resolution, device=self.head.weight.device)
            labels = torch.zeros(1, dtype=torch.long, device=x.device) if self.num_classes else None
            for _ in range(power_iterations):
                out(x, labels)
        out.spectral = True
        return out

    def plain(self) -> "DCGANDiscriminator":
        """A copy with spectral norm folded into plain weights (for export and feature losses)."""
        out = DCGANDiscriminator(self.width, self.resolution, self.channels, spectral=False,
                                 num_classes=self.num_classes)
        src = {}
        was_training = self.training
        self.eval()  # reading a weight in train mode would run (and advance) a power iteration
        with torch.no_grad():
            for name, module in self.named_modules():
                if isinstance(module, (nn.Conv2d, nn.Embedding)):
                    for pname in ("weight", "bias"):
                        if getattr(module, pname, None) is not None:
                            src[f"{name}.{pname}"] = getattr(module, pname).detach().clone()
        self.train(was_training)
        out.load_state_dict(src)
        return out.eval()
