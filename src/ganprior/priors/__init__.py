from .base import Prior
from .dcgan import DCGANPrior
from .zoo import DEFAULT_PRIOR, PRIORS, PriorEntry, infer_model_type, load_prior, register_prior

__all__ = ["Prior", "DCGANPrior", "DEFAULT_PRIOR", "PRIORS", "PriorEntry", "infer_model_type",
           "load_prior", "register_prior"]
