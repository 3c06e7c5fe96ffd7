"""ganprior: pretrained GANs as priors for real image restoration and editing."""

from .api import Inputs, load_inputs, restore, restore_batch
from .errors import GanpriorError
from .inversion import METHODS, Result, invert
from .tasks import TASKS, build_degradation, parse_task
from .physics.operator import as_operator
from .priors import PRIORS, DCGANPrior, GeneratorPrior, Prior, load_prior
from . import models  # the deepinv reconstructors: ganprior.models.MultiCode(prior)(y, physics)

__version__ = "0.1.0"

__all__ = ["restore", "restore_batch", "load_inputs", "Inputs", "invert", "Result", "METHODS", "TASKS",
           "build_degradation", "parse_task", "PRIORS", "Prior", "DCGANPrior", "load_prior", "GanpriorError",
           "list_priors", "as_operator", "GeneratorPrior", "models"]


def list_priors() -> list[str]:
    return sorted(PRIORS)
