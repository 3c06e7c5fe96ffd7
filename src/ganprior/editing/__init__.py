"""Editing real images through the prior: latent directions (InterFaceGAN, SeFa, GANSpace) and
edits along them, style and feature mixing, per-code role maps, layer analysis, feature
interpolation (PmSFC) and, after a DGP reconstruction, random jittering, morphing and category
transfer."""

from .analysis import layer_sweep, plot_layer_sweep
from .directions import (AttributeMLP, Direction, FlowDirection, closed_form_directions, conditional_direction,
                         conditional_flow, fit_direction, fit_flow_direction, latent_projection, load_direction,
                         pca_directions)
from .edit import edit_frames, strengths_for
from .interpolate import feature_interpolation, max_jump
from .jitter import DEFAULT_JITTER_STD, as_dgp_generator, dgp_jitter
from .mixing import feature_mix, style_mix, style_mix_grid
from .morph import dgp_morph
from .roles import code_role_maps, role_sheet
from .transfer import dgp_category_transfer, target_classes

__all__ = ["Direction", "closed_form_directions", "conditional_direction", "fit_direction", "latent_projection", "load_direction",
           "pca_directions", "edit_frames", "strengths_for", "style_mix", "style_mix_grid", "feature_mix",
           "code_role_maps", "role_sheet", "layer_sweep", "plot_layer_sweep", "feature_interpolation", "max_jump",
           "DEFAULT_JITTER_STD", "as_dgp_generator", "dgp_jitter", "dgp_morph", "dgp_category_transfer",
           "target_classes", "AttributeMLP", "FlowDirection", "conditional_flow", "fit_flow_direction"]
