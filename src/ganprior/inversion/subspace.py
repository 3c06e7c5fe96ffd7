"""Multi-subspace feature composition (PmSFC, Yu et al. AAAI 2021).

The layer's channels are split into R subspaces (``ganprior.subspaces``). Subspace r has K codes
z_k^r and weight vectors w_k^r; its channels are composed as (paper Eq. 6)

    f^r = sum_k (m^r * G1(z_k^r)) * tanh(w_k^r) / sum_k tanh(w_k^r)

and the image is G2 of all subspaces' channels put back in place (Eq. 7). Since each channel belongs
to one subspace, the weights are stored as ``(B, K, C)``: channel c uses row k of its own subspace.
All B*R*K codes go through the head in one batched call.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import GanpriorError
from ..priors.base import Prior, select_subspace_channels
from .base import Parameterization, check_code_steps
from .single_code import initial_codes


class SubspaceCode(Parameterization):
    """Parameters: ``codes`` ``(B, R, K, *latent_shape)`` and ``weights`` ``(B, K, C)``.

    Args:
        subspaces: a ``ganprior.subspaces.Subspaces`` for ``layer``, or None to discover (and cache) it.
        num_subspaces: R, used when ``subspaces`` is None.
        num_codes: K, codes per subspace.
        weight_init: initial w (tanh(1) = 0.76: every code starts with the same positive share).
        code_steps: the codes move for this many steps, then only the weights (None: every step;
            ``Parameterization.on_step``).
    """

    def __init__(self, prior: Prior, batch_size: int, *, layer: int = 2, num_subspaces: int = 6,
                 num_codes: int = 5, subspaces=None, latent_init: str = "normal", weight_init: float = 1.0,
                 code_steps: int | None = None, seed: int = 0):
        super().__init__(prior, batch_size)
        if num_codes < 1:
            raise GanpriorError(f"number of codes per subspace must be >= 1, got {num_codes}")
        self.layer = prior.check_layer(int(layer))
        if subspaces is None:
            from ..subspaces import discover_subspaces
            subspaces = discover_subspaces(prior, self.layer, num_subspaces, seed=seed)
        if subspaces.layer != self.layer or len(subspaces.groups) != prior.composition_layers[self.layer]:
            raise GanpriorError(f"subspaces were found for layer {subspaces.layer}, not layer {self.layer}")
        self.num_subspaces = subspaces.num_subspaces
        self.num_codes = num_codes
        self.code_steps = check_code_steps(code_steps)
        self.register_buffer("channel_masks", subspaces.masks().to(prior.device))  # (R, C)
        codes = initial_codes(prior, batch_size, self.num_subspaces * num_codes, latent_init, seed)
        self.codes = nn.Parameter(codes.unflatten(1, (self.num_subspaces, num_codes)))
        channels = prior.composition_layers[self.layer]
        self.weights = nn.Parameter(torch.full((batch_size, num_codes, channels), float(weight_init),
                                               device=prior.device))

    @property
    def code_groups(self) -> int:
        return self.num_subspaces

    def compose(self):
        feats = self.head_features(3)  # (B, R, K, C, H, W)
        # each channel takes the features of its own subspace's codes (re-order, Eq. 7)
        feats = select_subspace_channels(feats, self.channel_masks)  # (B, K, C, H, W)
        w = torch.tanh(self.weights)
        den = w.sum(dim=1, keepdim=True)  # (B, 1, C)
        # keep the paper's normalisation away from division by zero, preserving its sign
        den = torch.where(den >= 0, den.clamp_min(1e-3), den.clamp_max(-1e-3))
        return self.prior.compose_features(feats, w / den)

    def forward(self) -> torch.Tensor:
        return self.prior.tail(self.compose(), self.layer)
