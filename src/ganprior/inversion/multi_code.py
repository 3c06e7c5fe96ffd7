"""Multi-code inversion (mGANprior, Gu et al. CVPR 2020).

x = G2( sum_n G1(z_n) * alpha_n ), paper Eq. 2: N codes ``z_n`` go through the generator head up to
``layer``; their feature maps are weighted per channel by ``channel_importance`` alpha_n and summed,
then the generator tail renders the image. All B*N codes go through the head in one batched call.

Options that reproduce the reference code: ``importance_init="inverse"`` (alpha = 1/N) and
``normalize=True`` (the composed sum is also divided by N). See ``DEFAULTS`` for ours.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import GanpriorError
from ..priors.base import Prior
from .base import Parameterization, check_code_steps
from .single_code import initial_codes


class MultiCode(Parameterization):
    """Parameters: ``codes`` ``(B, N, *latent_shape)`` and ``importance`` ``(B, N, C)``.

    ``code_steps``: the codes move for this many steps, then only the importances, with the head's
    features of the codes rendered once (``Parameterization.on_step``); None = every step."""

    def __init__(self, prior: Prior, batch_size: int, *, num_codes: int = 20, layer: int = 2,
                 latent_init: str = "normal", importance_init: str = "inverse", normalize: bool = False,
                 code_steps: int | None = None, seed: int = 0):
        super().__init__(prior, batch_size)
        if num_codes < 1:
            raise GanpriorError(f"number of codes must be >= 1, got {num_codes}")
        self.layer = prior.check_layer(int(layer))
        self.num_codes = num_codes
        self.normalize = normalize
        self.code_steps = check_code_steps(code_steps)
        channels = prior.composition_layers[self.layer]
        self.codes = nn.Parameter(initial_codes(prior, batch_size, num_codes, latent_init, seed))
        if importance_init == "inverse":
            value = 1.0 / num_codes
        elif importance_init == "one":
            value = 1.0
        else:
            raise GanpriorError(f"unknown importance init {importance_init!r}; choose inverse or one")
        self.importance = nn.Parameter(torch.full((batch_size, num_codes, channels), value, device=prior.device))

    def start_at(self, code: torch.Tensor, others: torch.Tensor) -> None:
        """Start at the image ``G(code)`` exactly (``code`` ``(B, *latent_shape)``, an encoder's):
        ``code`` is the first code with importance 1 (N with ``normalize``), the ``N - 1`` codes of
        ``others`` ``(B, N - 1, *latent_shape)`` (diverse prior samples near the face) start at
        importance 0 and join as their importances grow (``encoder_start``'s docstring)."""
        with torch.no_grad():
            self.codes[:, 0].copy_(code)
            if self.num_codes > 1:
                self.codes[:, 1:].copy_(others.reshape(self.codes[:, 1:].shape))
            self.importance.zero_()
            self.importance[:, 0] = float(self.num_codes) if self.normalize else 1.0

    def compose(self) -> torch.Tensor:
        feats = self.head_features(2)
        # the reference's division of the sum by N, folded into the importance
        importance = self.importance / self.num_codes if self.normalize else self.importance
        return self.prior.compose_features(feats, importance)

    def forward(self) -> torch.Tensor:
        return self.prior.tail(self.compose(), self.layer)
