"""Single-code inversion: one latent z per image, optimised directly (the classic GAN inversion)."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import GanpriorError
from ..priors.base import Prior
from .base import Parameterization


def initial_codes(prior: Prior, batch_size: int, num_codes: int, init: str, seed: int) -> torch.Tensor:
    """``(batch_size, num_codes, *latent_shape)``; every image gets the same seeded start,
    so an image's result does not depend on which batch it is in."""
    if init == "zero":
        z = torch.zeros(num_codes, *prior.latent_shape)
    elif init == "normal":
        z = prior.sample_latent(num_codes, torch.Generator().manual_seed(seed)).cpu()
    else:
        raise GanpriorError(f"unknown latent init {init!r}; choose normal or zero (best and encoder start "
                            "each image from its own codes: ganprior.invert picks them)")
    return z[None].repeat(batch_size, *([1] * z.ndim)).to(prior.device)


class SingleCode(Parameterization):
    """x = G(z). Parameters: ``codes`` ``(B, *latent_shape)``."""

    def __init__(self, prior: Prior, batch_size: int, *, latent_init: str = "normal", seed: int = 0):
        super().__init__(prior, batch_size)
        self.codes = nn.Parameter(initial_codes(prior, batch_size, 1, latent_init, seed)[:, 0])

    def forward(self) -> torch.Tensor:
        return self.prior.generate(self.codes)
