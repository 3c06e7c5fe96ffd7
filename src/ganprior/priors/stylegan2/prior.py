"""StyleGAN2 as a ganprior ``Prior``.

The prior (``StyleGAN2Prior``):

* latent spaces ``z`` (default), ``w`` and ``w+`` (``prior.use_latent_space("w+")``): the code
  ``latent_shape`` is ``(z_dim,)``, ``(w_dim,)`` or ``(num_ws, w_dim)``; z goes through the mapping
  and truncation, w is broadcast to every layer, w+ is used as is.
* ``truncation_psi`` (default 1: none) and ``truncation_cutoff`` (layers truncated; None: all)
  apply to z codes and to w / w+ samples from ``sample_latent``.
* ``noise_mode``: ``"const"`` (default: the stored noise maps, so the generator is deterministic,
  which inversion needs), ``"none"`` (no noise) or ``"random"`` (fresh noise on every call).
* composition layer L (1 .. num_blocks-1) is the output of synthesis block L (resolution
  ``4 * 2**(L-1)``). Features there are the tuple ``(feature_map (B, C, h, h), skip_rgb (B, 3, h, h),
  remaining_ws (B, num_ws - 2L + 1, w_dim))``: the tail needs the running RGB image and the w's of
  the layers still to run. Multi-code composition weights the feature map per channel and averages
  the other two over the codes; the tail accepts any such values.
* ``blocks`` are the synthesis blocks, shallow to deep (``blocks[:L]`` is the head at layer L);
  the mapping network is not among them (``prior.mapping``; unused for w / w+ codes).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import GanpriorError
from ..base import Prior
from .generator import StyleGAN2Generator, StyledConv, w_index
from .layers import MappingNetwork

LATENT_SPACES = ("z", "w", "w+")
NOISE_MODES = ("const", "none", "random")


class StyleGAN2Prior(Prior):
    """A StyleGAN2 generator behind the ``Prior`` interface (see the module docstring).

    Args:
        generator: the network. name: display name. latent_space: ``z``, ``w`` or ``w+``.
        truncation_psi, truncation_cutoff: truncation towards ``w_avg`` (1.0 = none).
        noise_mode: ``const`` (default), ``none`` or ``random``.
    """

    family = "stylegan2"
    latent_spaces = LATENT_SPACES

    def __init__(self, generator: StyleGAN2Generator, name: str = "stylegan2", *, latent_space: str = "z",
                 truncation_psi: float = 1.0, truncation_cutoff: int | None = None, noise_mode: str = "const"):
        super().__init__()
        self.generator = generator
        self.name = name
        self.resolution = generator.resolution
        self.channels = generator.img_channels
        self.num_classes = generator.c_dim or None
        self.class_index = 0
        self.truncation_psi = float(truncation_psi)
        self.truncation_cutoff = truncation_cutoff
        self.source_format = "ganprior"
        self.w_avg_source = "checkpoint"
        self._latent_space = "z"
        self._noise_mode = "const"
        self.use_latent_space(latent_space)
        self.noise_mode = noise_mode

    # -- settings ---------------------------------------------------------------
    @property
    def latent_space(self) -> str:
        return self._latent_space

    @latent_space.setter
    def latent_space(self, name: str) -> None:
        self.use_latent_space(name)

    def use_latent_space(self, name: str) -> "StyleGAN2Prior":
        """Choose what a code means: ``z`` (mapping input), ``w`` (one style vector) or ``w+`` (one per layer)."""
        if name not in LATENT_SPACES:
            raise GanpriorError(f"unknown latent space {name!r} for {self.name}; "
                                f"choose one of {', '.join(LATENT_SPACES)}")
        self._latent_space = name
        return self

    @property
    def noise_mode(self) -> str:
        return self._noise_mode

    @noise_mode.setter
    def noise_mode(self, mode: str) -> None:
        if mode not in NOISE_MODES:
            raise GanpriorError(f"unknown noise mode {mode!r}; choose one of {', '.join(NOISE_MODES)}")
        self._noise_mode = mode

    @property
    def latent_shape(self) -> tuple[int, ...]:
        g = self.generator
        return {"z": (g.z_dim,), "w": (g.w_dim,), "w+": (g.num_ws, g.w_dim)}[self._latent_space]

    @property
    def mapping(self) -> MappingNetwork:
        return self.generator.mapping

    @property
    def num_ws(self) -> int:
        return self.generator.num_ws

    @property
    def w_avg(self) -> torch.Tensor | None:
        return self.generator.mapping.w_avg

    # -- Prior interface ----------------------------------------------------------
    @property
    def composition_layers(self) -> dict[int, int]:
        return {k + 1: block.out_channels for k, block in enumerate(self.generator.blocks[:-1])}

    @property
    def blocks(self) -> list[nn.Module]:
        return list(self.generator.blocks)

    def _labels(self, n: int, device) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        index = torch.full((n,), int(self.class_index), dtype=torch.long, device=device)
        return F.one_hot(index, self.num_classes).float()

    def codes_to_ws(self, code: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, *latent_shape)`` in the current space -> ws ``(B, num_ws, w_dim)``."""
        shape = tuple(code.shape[1:])
        if shape != self.latent_shape:
            dims = ", ".join(map(str, self.latent_shape))
            raise GanpriorError(f"{self.name}: a {self._latent_space} code must be (B, {dims}), "
                                f"got {tuple(code.shape)}")
        g = self.generator
        if self._latent_space == "z":
            return g.map(code, self._labels(code.shape[0], code.device), self.truncation_psi, self.truncation_cutoff)
        if self._latent_space == "w":
            return code[:, None].expand(-1, g.num_ws, -1)
        return code

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` codes of the current space: z ~ N(0, I); w / w+ = truncated ``mapping(z)``."""
        z = torch.randn((n, self.generator.z_dim), generator=generator).to(self.device)
        if self._latent_space == "z":
            return z
        with torch.no_grad():
            w = self.generator.mapping(z, self._labels(n, z.device))
            if self._latent_space == "w":
                return self.generator.truncate(w, self.truncation_psi)
            ws = w[:, None].repeat(1, self.generator.num_ws, 1)
            return self.generator.truncate(ws, self.truncation_psi, self.truncation_cutoff)

    def head(self, code: torch.Tensor, layer: int):
        """Codes ``(B, *latent_shape)`` -> ``(feature_map, skip_rgb, remaining_ws)`` after block ``layer``."""
        self.check_layer(layer)
        ws = self.codes_to_ws(code)
        x, skip_rgb = self.generator.run_blocks(ws, None, None, 0, layer, self._noise_mode)
        return x, skip_rgb, ws[:, w_index(layer):]

    def tail(self, features, layer: int) -> torch.Tensor:
        """``(feature_map, skip_rgb, remaining_ws)`` at ``layer`` -> image ``(B, C, R, R)``, native range."""
        self.check_layer(layer)
        if not isinstance(features, (tuple, list)) or len(features) != 3:
            raise GanpriorError(f"{self.name}: StyleGAN2 features are (feature_map, skip_rgb, remaining_ws)")
        x, skip_rgb, ws = features
        g = self.generator
        expected = g.num_ws - w_index(layer)
        if ws.ndim != 3 or ws.shape[1] != expected:
            raise GanpriorError(f"{self.name}: remaining ws at layer {layer} must be (B, {expected}, {g.w_dim}), "
                                f"got {tuple(ws.shape)}")
        return g.run_blocks(ws, x, skip_rgb, layer, len(g.blocks), self._noise_mode)[1]

    def generate(self, code: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, *latent_shape)`` -> images ``(B, C, R, R)`` (nominally [-1, 1], unclamped)."""
        return self.generator.synthesize(self.codes_to_ws(code), self._noise_mode)

    def describe(self) -> str:
        return (f"{super().describe()}, latent space {self._latent_space}, psi {self.truncation_psi:g}, "
                f"noise {self._noise_mode}")

    @classmethod
    def random(cls, resolution: int = 16, z_dim: int = 16, w_dim: int = 16, channels: int = 16,
               mapping_layers: int = 2, seed: int = 0, name: str = "stylegan2-random") -> "StyleGAN2Prior":
        """A small randomly initialised prior (originals' init; noise strengths 0.1), for tests."""
        table = {2 ** i: channels for i in range(2, int(math.log2(resolution)) + 1)}
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the global RNG
            torch.manual_seed(seed)
            g = StyleGAN2Generator(z_dim=z_dim, w_dim=w_dim, resolution=resolution, channels=table,
                                   mapping_layers=mapping_layers)
        with torch.no_grad():
            for m in g.modules():
                if isinstance(m, StyledConv):
                    m.noise_strength.fill_(0.1)
            g.mapping.w_avg.copy_(g.estimate_w_avg(1024, seed))
        return cls(g.eval(), name=name)
