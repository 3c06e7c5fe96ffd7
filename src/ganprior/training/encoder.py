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
This encoder is training machinery: it is checkpointed with the run but not exported. An encoder
meant to ship (``ganprior train-encoder``, ``training.encoder_trainer``) uses the same architecture.
"""

from __future__ import annotations

import torch

from ..encoders import LatentEncoder  # noqa: F401  (the architecture; re-exported for the trainer)


def moment_penalty(z: torch.Tensor) -> torch.Tensor:
    """How far the batch's per-dimension mean and variance are from a standard normal's."""
    z = z.flatten(1)
    return z.mean(0).pow(2).mean() + (z.var(0) - 1).pow(2).mean()
