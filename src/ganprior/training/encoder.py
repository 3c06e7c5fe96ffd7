"""Encoder-reconstruction term of ``ganprior train --recon W``: make the generator cover real images.

An adversarial loss only asks that samples look real; it does not ask that every real image has a
code. A prior used for inversion needs the second property, so with ``--recon W`` the trainer
also learns an encoder ``E`` (image -> latent) and adds to the generator's loss

    W * mean((G(E(x)) - x)^2)          over the real batch (no augmentation)

as in VAE-GAN / adversarially-trained autoencoders (Larsen et al. 2016; Pidhorskyi et al. 2020).
The encoder minimises the same error plus two terms that keep its codes usable:

* a code-regression loss on the generator's own samples, ``|E(G(z)) - z|^2``, which teaches E to
  invert G long before the reconstruction of real images is good;
* a moment penalty pulling the batch mean and variance of ``E(x)`` to 0 and 1, so real images are
  mapped where the prior samples from (and where the shipped BatchNorm statistics hold).

The generator gets no reconstruction gradient during the encoder's first ``recon_warmup`` steps,
so a freshly initialised encoder does not drag a pretrained generator towards arbitrary codes.
The encoder is training machinery: it is checkpointed with the run but not exported.
"""

from __future__ import annotations

import math

import torch
from torch import nn


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


def moment_penalty(z: torch.Tensor) -> torch.Tensor:
    """How far the batch's per-dimension mean and variance are from a standard normal's."""
    z = z.flatten(1)
    return z.mean(0).pow(2).mean() + (z.var(0) - 1).pow(2).mean()
