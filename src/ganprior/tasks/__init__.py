"""The task registry: one file per task declares everything about it (``base.Task``); the chain,
its classical restoration and the blend are built from those declarations.

Importing this package registers the built-in tasks (one import line each, below).
"""

from . import base
from . import reconstruct, super_resolve, colorize, inpaint, denoise  # noqa: F401  (registers them)
from . import deblur  # noqa: F401
from .base import (Geometry, Step, Task, TaskOption, get_task, leading_task, parse_task, register, task_names,
                   task_options)
from .blend import blend_applies, check_weight, classical_blend
from .chain import Degradation, build_degradation, needs_mask, observed_geometry
from .classical import baseline_variants, classical_restore

TASKS = base.TASKS  # the registered names in canonical order (task_names() stays current after a late register)

__all__ = ["TASKS", "Degradation", "Geometry", "Step", "Task", "TaskOption", "baseline_variants", "blend_applies",
           "build_degradation", "needs_mask", "observed_geometry", "check_weight", "classical_blend", "classical_restore",
           "get_task", "leading_task", "parse_task", "register", "task_names", "task_options"]
