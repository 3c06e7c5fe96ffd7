"""PmSFC multi-subspace feature composition (Yu et al. AAAI 2021) as a deepinv reconstructor."""

from __future__ import annotations

from .base import GANReconstructor


class Subspace(GANReconstructor):
    """``x_hat = Subspace(prior, num_subspaces=6, num_codes=5)(y, physics)``.

    Args:
        layer: composition layer (index, or a ``GeneratorPrior`` split point's name).
        num_subspaces: R channel subspaces, found once per prior and layer and cached on disk
            (``ganprior.subspaces``) unless ``subspaces`` gives them.
        num_codes: K codes per subspace.
        subspaces: a ``ganprior.subspaces.Subspaces`` for ``layer``.
        latent_init, num_candidates, encoder, code_steps: as ``MultiCode``; weight_init: initial w (tanh(w) weights).
        common settings: see ``GANReconstructor``.
    """

    method = "subspace"

    def __init__(self, prior=None, *, layer: int | str | None = None, num_subspaces: int | None = None,
                 num_codes: int | None = None, subspaces=None, latent_init: str | None = None,
                 weight_init: float | None = None, num_candidates: int | None = None, encoder=None,
                 code_steps: int | None = None, **settings):
        super().__init__(prior, options={"layer": layer, "num_subspaces": num_subspaces, "num_codes": num_codes,
                                         "subspaces": subspaces, "latent_init": latent_init,
                                         "weight_init": weight_init, "num_candidates": num_candidates,
                                         "encoder": encoder, "code_steps": code_steps}, **settings)
