"""Former home of the NVlabs pickle reader, now ``priors.stylegan2.nvlabs``; kept so old imports work."""

from .stylegan2.nvlabs import (NVLABS_GLOBALS, EasyDictData, discriminator_from_nvlabs, generator_from_nvlabs,
                               load_nvlabs_prior, read_nvlabs_pickle)

__all__ = ["NVLABS_GLOBALS", "discriminator_from_nvlabs", "generator_from_nvlabs", "load_nvlabs_prior",
           "read_nvlabs_pickle"]
