"""The Prior interface: a pretrained generator that can be split at a composition layer.

Every inversion method talks to a generator only through this interface:

* ``latent_shape``: shape of one latent code z (without the batch dimension);
* ``resolution`` and ``channels``: the generated image size;
* ``composition_layers``: ``{layer index: channel count}`` where features may be composed;
* ``head(z, layer)`` (paper G1) and ``tail(features, layer)`` (paper G2), with
  ``generate(z) == tail(head(z, layer), layer)`` for every layer;
* ``blocks``: the generator's blocks in order, shallow to deep, for progressive fine-tuning;
* ``discriminator``: optional, with ``features(x) -> list[Tensor]``.

Features at a composition layer are either a tensor ``(B, C, H, W)`` or, for generators whose tail
needs more than one feature map (StyleGAN2's skip-RGB image and remaining styles, BigGAN's
conditioning vectors), a tuple whose first element is the channel feature map and whose other
elements are side inputs with a leading batch dimension. Composition methods weight the feature map
per channel and average the side inputs; the helpers below handle both forms.

Images leave a prior in its native range (``[-1, 1]`` for tanh generators); ``to_unit`` and
``from_unit`` convert to and from the public ``[0, 1]`` range.
"""

from __future__ import annotations

from typing import Callable, Union

import torch
from torch import nn

from ..errors import GanpriorError

Features = Union[torch.Tensor, tuple]


def feature_map(features: Features) -> torch.Tensor:
    """The channel feature map ``(..., C, H, W)`` of a features value."""
    return features if isinstance(features, torch.Tensor) else features[0]


def replace_feature_map(features: Features, new_map: torch.Tensor) -> Features:
    """``features`` with its channel feature map replaced (side inputs kept)."""
    return new_map if isinstance(features, torch.Tensor) else (new_map, *features[1:])


def map_features(fn: Callable[..., torch.Tensor], *features: Features) -> Features:
    """Apply ``fn`` element-wise to one or more features values of the same structure."""
    if isinstance(features[0], torch.Tensor):
        return fn(*features)
    return tuple(fn(*parts) for parts in zip(*features))


def select_subspace_channels(features: Features, channel_masks: torch.Tensor) -> Features:
    """PmSFC re-ordering (Eq. 7): features ``(B, R, K, ...)`` -> ``(B, K, ...)``.

    Each channel of the map takes the value from its own subspace (``channel_masks`` ``(R, C)``,
    one-hot per channel); side inputs are averaged over the R subspaces.
    """
    selected = (feature_map(features) * channel_masks[None, :, None, :, None, None]).sum(dim=1)
    return _with_averaged_sides(features, selected)


def _with_averaged_sides(features: Features, new_map: torch.Tensor) -> Features:
    """``new_map`` plus the side inputs of ``features`` averaged over dim 1 (codes or subspaces)."""
    if isinstance(features, torch.Tensor):
        return new_map
    return (new_map, *(t.mean(dim=1) for t in features[1:]))


def freeze(model: nn.Module) -> nn.Module:
    """``model`` in eval mode with every parameter out of autograd, in place, and returned: a prior's
    weights are never trained by inversion (DGP tunes copies), so no gradient may pile up in them."""
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


class Prior(nn.Module):
    """Base class of all priors. Subclasses implement ``head``, ``tail`` and ``blocks``."""

    name: str = "prior"
    family: str = "custom"              # generator family, e.g. dcgan, pggan, stylegan2, biggan
    latent_spaces: tuple[str, ...] = ("z",)
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
    @property
    def class_index(self) -> int:
        """The class generated when no labels are given (class-conditional priors; else 0)."""
        return getattr(self, "_class_index", 0)

    @class_index.setter
    def class_index(self, value: int) -> None:
        value = int(value)
        n = self.num_classes or 0
        if n and not 0 <= value < n:
            raise GanpriorError(f"class index {value} is out of range for {self.name!r} "
                                f"({n} classes: 0..{n - 1})")
        if not n and value != 0:
            raise GanpriorError(f"prior {self.name!r} is not class-conditional")
        self._class_index = value

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

    def compose_features(self, features: Features, importance: torch.Tensor) -> Features:
        """Weighted sum of per-code features (mGANprior Eq. 2).

        features: map ``(B, N, C, H, W)`` (or a tuple led by it); importance: ``(B, N, C)``
        (paper alpha_n). Returns the map ``(B, C, H, W)``; side inputs are averaged over the N codes.
        Priors that need another rule for their side inputs override this.
        """
        composed = (feature_map(features) * importance[..., None, None]).sum(dim=1)
        return _with_averaged_sides(features, composed)

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
