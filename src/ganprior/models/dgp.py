"""Deep Generative Prior (Pan et al. ECCV 2020) as a deepinv reconstructor: z and G's weights fitted."""

from __future__ import annotations

from .base import GANReconstructor


class DGP(GANReconstructor):
    """``x_hat = DGP(prior, steps=200)(y, physics)``: per-image latent and generator weights.

    Args:
        loss: ``discriminator`` (DGP's feature loss; needs ``prior.discriminator``), ``mse``,
            ``perceptual`` or a callable. Default: ``discriminator`` when the prior has one, else
            ``mse``, so a generator without its critic still works.
        schedule: progressive stages (None: the reconstruct preset, rescaled to ``steps``).
        progressive, num_candidates, candidate_std, latent_weight, candidate_chunk, latent_init,
            encoder: as ``ganprior.inversion.dgp.invert_dgp``.
        common settings: see ``GANReconstructor`` (``lr`` scales every rate of the schedule; Adam, fp32).
    """

    method = "dgp"

    def __init__(self, prior=None, *, schedule=None, progressive: bool | None = None,
                 num_candidates: int | None = None, candidate_std: float | None = None,
                 latent_weight: float | None = None, candidate_chunk: int | None = None,
                 latent_init: str | None = None, encoder=None, **settings):
        super().__init__(prior, options={"schedule": schedule, "progressive": progressive,
                                         "num_candidates": num_candidates, "candidate_std": candidate_std,
                                         "latent_weight": latent_weight, "candidate_chunk": candidate_chunk,
                                         "latent_init": latent_init, "encoder": encoder},
                         **settings)

    def _loss(self):
        if self.loss is not None:
            return self.loss
        return "discriminator" if getattr(self.prior, "discriminator", None) is not None else "mse"
