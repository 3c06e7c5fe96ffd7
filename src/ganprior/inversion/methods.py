"""The inversion methods by name, the options each one takes, and the check that refuses the rest.

A mistyped option must fail, not run the default silently (``num_code=3`` used to run 20 codes).
Callers such as the CLI pass every method's options to whichever method runs, set to None when the
user did not give them; so an option of *another* method is ignored when it is None, and refused
otherwise, like an option no method has.
"""

from __future__ import annotations

import inspect

from ..errors import GanpriorError
from .base import Parameterization
from .dgp import invert_dgp
from .multi_code import MultiCode
from .single_code import SingleCode
from .subspace import SubspaceCode

METHODS: dict[str, type[Parameterization]] = {"single": SingleCode, "multi": MultiCode, "subspace": SubspaceCode}
# methods with their own loop (multi-stage schedules, their own loss): name -> solver
SOLVERS = {"dgp": invert_dgp}
METHOD_NAMES = (*METHODS, *SOLVERS)

# arguments ``invert`` passes to every method itself: not method options
_SOLVER_ARGUMENTS = {"y", "degradation", "prior", "steps", "lr", "loss", "seed", "callback", "stop_mse"}
# ``invert`` picks the starting codes of a parameterisation itself: with latent_init="best" from this
# many samples, with latent_init="encoder" from this encoder
_START_OPTIONS = ("num_candidates", "encoder")


def method_options(method: str) -> tuple[str, ...]:
    """The options ``method`` takes besides ``invert``'s own arguments, in signature order."""
    if method in METHODS:
        params = inspect.signature(METHODS[method].__init__).parameters.values()
        names = [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name != "seed"]
        return (*names, *_START_OPTIONS)
    if method in SOLVERS:
        params = inspect.signature(SOLVERS[method]).parameters.values()
        return tuple(p.name for p in params if p.name not in _SOLVER_ARGUMENTS)
    raise GanpriorError(f"unknown method {method!r}; choose from {', '.join(METHOD_NAMES)}")


def check_options(method: str, options: dict) -> dict:
    """``options`` that apply to ``method`` and are set (not None); raises a ``GanpriorError`` naming
    every option that ``method`` does not take, unless it is another method's option left at None."""
    valid = method_options(method)
    known = {name for m in METHOD_NAMES for name in method_options(m)}
    bad = sorted(k for k, v in options.items() if k not in valid and (k not in known or v is not None))
    if bad:
        owners = {k: [m for m in METHOD_NAMES if k in method_options(m)] for k in bad}
        named = ", ".join(f"{k} (an option of {'/'.join(owners[k])})" if owners[k] else k for k in bad)
        raise GanpriorError(f"method {method} has no option {named}; its options are {', '.join(valid)}")
    return {k: v for k, v in options.items() if k in valid and v is not None}


__all__ = ["METHODS", "SOLVERS", "METHOD_NAMES", "method_options", "check_options"]
