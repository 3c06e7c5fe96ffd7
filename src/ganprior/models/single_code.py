"""Single-code GAN inversion as a deepinv reconstructor: x = G(z), z fitted to y."""

from __future__ import annotations

from .base import GANReconstructor


class SingleCode(GANReconstructor):
    """``x_hat = SingleCode(prior, steps=300)(y, physics)``; one latent code per image.

    Args:
        latent_init: ``normal`` (a seeded sample), ``zero``, ``best`` (the prior sample whose
            observation is closest to ``y``, of ``num_candidates``, default 256) or ``encoder`` (the
            code an image encoder gives ``y`` mapped back to an image; ``encoder``: its file or an
            ``ImageEncoder``, default the prior's shipped one).
        common settings: see ``GANReconstructor``.
    """

    method = "single"

    def __init__(self, prior=None, *, latent_init: str | None = None, num_candidates: int | None = None,
                 encoder=None, **settings):
        super().__init__(prior, options={"latent_init": latent_init, "num_candidates": num_candidates,
                                         "encoder": encoder}, **settings)
