"""ganprior's inversion methods as deepinv reconstructors: ``x_hat = Method(prior, ...)(y, physics)``.

``SingleCode`` (one latent), ``MultiCode`` (mGANprior), ``Subspace`` (PmSFC) and ``DGP`` (Deep
Generative Prior) are ``deepinv.models.Reconstructor`` subclasses; see ``models.base``.
"""

from .base import GANReconstructor
from .dgp import DGP
from .multi_code import MultiCode
from .single_code import SingleCode
from .subspace import Subspace

__all__ = ["GANReconstructor", "SingleCode", "MultiCode", "Subspace", "DGP"]
