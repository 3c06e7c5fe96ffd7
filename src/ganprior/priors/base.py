"""The Prior interface: a pretrained generator that can be split at a composition layer.

Every inversion method talks to a generator only through this interface:

* ``latent_shape``: shape of one latent code z (without the batch dimension);
* ``resolution`` and ``channels``: the generated image size;
* ``composition_layers``: ``{layer index: channel count}`` where features may be composed;
* ``head(z, layer)`` (paper G1) and ``tail(features, layer)`` (paper G2), with
  ``generate(z) == tail(head(z, layer), layer)`` for every layer;
* ``blocks``: the generator's blocks in order, shallow to deep, for progressive fine-tuning;
* ``discriminator``: optional, with ``features(x) -> list[Tensor]``.

Images leave a prior in its native range (``[-1, 1]`` for tanh generators); ``to_unit`` and
``from_unit`` convert to and from the public ``[0, 1]`` range.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import GanpriorError


class Prior(nn.Module):
    """Base class of all priors. Subclasses implement ``head``, ``tail`` and ``blocks``."""

    name: str = "prior"
    resolution: int
    channels: int = 3
    latent_shape: tuple[int, ...]
    num_classes: int | None = None

    def __init__(self):
        super().__init__()
        # an instance attribute (not a class default): nn.Module registers a module assigned
        # later, and a class-level None would shadow it
        self.discriminator: nn.Module | None = None

    # -- to implement -------------------------------------------------------------
    @property
    def composition_layers(self) -> dict[int, int]:
        """``{layer: channels}`` of the feature maps that multi-code composition may use."""
        raise NotImplementedError

    @property
    def blocks(self) -> list[nn.Module]:
        """The generator blocks in order, shallow to deep."""
        raise NotImplementedError

    def head(self, z: torch.Tensor, layer: int):
        """G1: latent ``(B, *latent_shape)`` -> features at ``layer``."""
        raise NotImplementedError

    def tail(self, features, layer: int) -> torch.Tensor:
        """G2: features at ``layer`` -> image ``(B, C, H, W)`` in the native range."""
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Full generator: ``(B, *latent_shape)`` -> native-range image."""
        layer = min(self.composition_layers)
        return self.tail(self.head(z, layer), layer)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generate(z)

    def check_layer(self, layer: int) -> int:
        if layer not in self.composition_layers:
            raise GanpriorError(
                f"layer {layer} is not a composition layer of prior {self.name!r}; "
                f"choose one of {sorted(self.composition_layers)}"
            )
        return layer

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` codes from the latent distribution N(0, I)."""
        return torch.randn((n, *self.latent_shape), generator=generator).to(self.device)

    def compose_features(self, features: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
        """Weighted sum of per-code features (mGANprior Eq. 2).

        features: ``(B, N, C, H, W)``; importance: ``(B, N, C)`` (paper alpha_n).
        Returns ``(B, C, H, W)``. Priors whose features are structures override this.
        """
        return (features * importance[..., None, None]).sum(dim=1)

    @staticmethod
    def to_unit(x: torch.Tensor) -> torch.Tensor:
        """Native ``[-1, 1]`` -> ``[0, 1]``."""
        return (x + 1) / 2

    @staticmethod
    def from_unit(x: torch.Tensor) -> torch.Tensor:
        """``[0, 1]`` -> native ``[-1, 1]``."""
        return x * 2 - 1

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def describe(self) -> str:
        layers = ", ".join(f"{k}:{v}ch" for k, v in sorted(self.composition_layers.items()))
        return (
            f"{self.name}: {self.resolution}x{self.resolution}, latent {tuple(self.latent_shape)}, "
            f"layers [{layers}]"
        )
