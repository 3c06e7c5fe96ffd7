"""StyleGAN2 (Karras et al. 2020, configs E/F) as a ganprior prior, in plain PyTorch.

Modules, each importing only those before it: ``ops`` (resampling, modulated conv), ``layers``
(equalised-LR layers, mapping network), ``generator``, ``discriminator``, ``prior``
(``StyleGAN2Prior``), ``statedict`` (key renaming), the checkpoint formats ``rosinality`` (``.pt``)
and ``nvlabs`` (network pickles), and ``loading`` (``load_stylegan2``, the registry's families).
Tensor shapes decide every size on load.
"""

from .discriminator import DiscriminatorBlock, StyleGAN2Discriminator
from .generator import StyledConv, StyleGAN2Generator, SynthesisBlock, ToRGB, w_index
from .layers import EqualizedConv, EqualizedLinear, MappingNetwork
from .loading import load_stylegan2
from .nvlabs import (NVLABS_GLOBALS, EasyDictData, discriminator_from_nvlabs, generator_from_nvlabs,
                     is_stylegan2_nvlabs_pickle, load_nvlabs_prior, read_nvlabs_pickle)
from .ops import (ACTIVATION_GAINS, bias_activate, make_resample_filter, minibatch_stddev, modulated_conv,
                  normalize_rms, upfirdn2d, upsample2x)
from .prior import LATENT_SPACES, NOISE_MODES, StyleGAN2Prior
from .rosinality import discriminator_from_rosinality, generator_from_rosinality, is_stylegan2_rosinality

__all__ = ["ACTIVATION_GAINS", "LATENT_SPACES", "NOISE_MODES", "NVLABS_GLOBALS", "DiscriminatorBlock", "EasyDictData",
           "EqualizedConv", "EqualizedLinear", "MappingNetwork", "StyleGAN2Discriminator", "StyleGAN2Generator",
           "StyleGAN2Prior", "StyledConv", "SynthesisBlock", "ToRGB", "bias_activate", "discriminator_from_nvlabs",
           "discriminator_from_rosinality", "generator_from_nvlabs", "generator_from_rosinality",
           "is_stylegan2_nvlabs_pickle", "is_stylegan2_rosinality", "load_nvlabs_prior", "load_stylegan2",
           "make_resample_filter", "minibatch_stddev", "modulated_conv", "normalize_rms", "read_nvlabs_pickle",
           "upfirdn2d", "upsample2x", "w_index"]
