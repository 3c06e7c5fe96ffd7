from .base import Prior
from .dcgan import DCGANDiscriminator, DCGANPrior
from .generic import GeneratorPrior
from .zoo import (DEFAULT_PRIOR, PRIORS, PriorEntry, configure_prior, infer_model_type, load_prior, register_prior,
                  sniff_checkpoint)

__all__ = ["Prior", "GeneratorPrior", "DCGANPrior", "DCGANDiscriminator", "DEFAULT_PRIOR", "PRIORS", "PriorEntry", "configure_prior",
           "infer_model_type", "load_prior", "register_prior", "sniff_checkpoint"]
