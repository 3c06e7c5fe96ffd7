"""mGANprior multi-code inversion (Gu et al. CVPR 2020) as a deepinv reconstructor."""

from __future__ import annotations

from .base import GANReconstructor


class MultiCode(GANReconstructor):
    """``x_hat = MultiCode(prior, num_codes=20, layer=2)(y, physics)``: N codes composed at a layer.

    Args:
        num_codes: N, codes per image (default 20).
        layer: composition layer, an index of ``prior.composition_layers`` or, for a
            ``GeneratorPrior``, a split point's module name (default 2, clipped to the prior's deepest).
        latent_init: ``normal``, ``zero``, ``best`` (with ``num_candidates``) or ``encoder`` (the
            encoder's code first at importance 1, the best N - 1 of 256 samples at 0,
            ``inversion.encoder_start``; ``encoder``: its file or an ``ImageEncoder``, default the
            prior's shipped one).
        importance_init: ``inverse`` (alpha = 1/N) or ``one``; normalize: divide the sum by N.
        code_steps: the codes move for this many steps, then only the importances (0 with the
            encoder start: a step then costs a tenth at layer 2); None = every step.
        common settings: see ``GANReconstructor``.
    """

    method = "multi"

    def __init__(self, prior=None, *, num_codes: int | None = None, layer: int | str | None = None,
                 latent_init: str | None = None, importance_init: str | None = None, normalize: bool | None = None,
                 num_candidates: int | None = None, encoder=None, code_steps: int | None = None, **settings):
        super().__init__(prior, options={"num_codes": num_codes, "layer": layer, "latent_init": latent_init,
                                         "importance_init": importance_init, "normalize": normalize,
                                         "num_candidates": num_candidates, "encoder": encoder,
                                         "code_steps": code_steps}, **settings)
