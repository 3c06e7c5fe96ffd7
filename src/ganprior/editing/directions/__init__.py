"""Latent directions, one module per kind, on one shared base, read through one loader registry.

A direction moves a code in one latent space of a prior (``z``, ``w`` or ``w+``) so that one factor
of the generated image changes:

* ``linear``: InterFaceGAN (Shen et al. CVPR 2020), the normal of a linear boundary that separates
  labelled codes by an attribute (``fit_direction``, ``conditional_direction``);
* ``sefa``: closed-form SeFa (Shen & Zhou CVPR 2021), the top eigenvectors of ``A^T A`` for the
  generator's first linear map ``A`` (``closed_form_directions``, ``latent_projection``);
* ``pca``: GANSpace (Haerkoenen et al. NeurIPS 2020), principal components of sampled w codes or
  first-layer features (``pca_directions``);
* ``external``: the ``boundaries/*.npy`` arrays of the InterFaceGAN and mGANprior repositories;
* ``flow``: an MLP attribute model whose gradient flow is the edit (``FlowDirection``,
  ``fit_flow_direction``), for attributes that are not linearly separable.

``base`` holds what they share (``Direction``, the latent spaces and the checks against a prior),
``labels`` the label rules of the supervised kinds and ``records`` the on-disk form; ``registry``
picks the reader for a file (``load_direction``) or a command-line spec (``resolve_direction``).
Imports run one way: registry -> kinds -> labels / base -> records. This package re-exports the
public names, so ``ganprior.editing.directions.X`` works for all of them.
"""

from .base import (FORMAT_VERSION, SOURCES, SPACES, Direction, active_space, check_code_space, check_fits)
from .flow import AttributeMLP, FlowDirection, conditional_flow, fit_flow_direction, flow_from_npz
from .labels import ATTRIBUTE_KINDS, MIN_PER_CLASS, label_targets, labelled_codes
from .linear import CLASSIFIERS, conditional_direction, fit_direction
from .pca import pca_directions
from .registry import (load_direction, named_directions, register_computed_form, register_file_kind,
                       resolve_direction)
from .sefa import PROJECTION_METHODS, closed_form_directions, latent_projection

__all__ = ["Direction", "active_space", "closed_form_directions", "conditional_direction", "fit_direction",
           "latent_projection", "load_direction", "pca_directions", "check_fits", "named_directions",
           "resolve_direction", "check_code_space", "label_targets", "labelled_codes", "AttributeMLP",
           "FlowDirection", "conditional_flow", "fit_flow_direction", "flow_from_npz", "register_computed_form",
           "register_file_kind", "SPACES", "SOURCES", "ATTRIBUTE_KINDS", "CLASSIFIERS", "PROJECTION_METHODS",
           "MIN_PER_CLASS", "FORMAT_VERSION"]
