"""Editing real images through the prior: feature interpolation (PmSFC) and, after a DGP
reconstruction, random jittering, morphing and category transfer."""

from .interpolate import feature_interpolation, max_jump
from .jitter import DEFAULT_JITTER_STD, as_dgp_generator, dgp_jitter
from .morph import dgp_morph
from .transfer import dgp_category_transfer, target_classes

__all__ = ["feature_interpolation", "max_jump", "DEFAULT_JITTER_STD", "as_dgp_generator", "dgp_jitter",
           "dgp_morph", "dgp_category_transfer", "target_classes"]
