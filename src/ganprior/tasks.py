"""TEMPORARY shim until the task registry lands (deleted at merge)."""
import math
from dataclasses import dataclass
from .errors import GanpriorError
from .physics.tasks import parse_task, TASKS, build_degradation  # noqa


@dataclass
class _Opt:
    name: str
    def check(self, v):
        if self.name == "factor":
            if isinstance(v, bool) or not float(v).is_integer(): raise GanpriorError(f"factor must be a whole number, got {v!r}")
            return int(v)
        v = float(v)
        if not math.isfinite(v) or v < 0: raise GanpriorError(f"noise sigma must be finite and >= 0, got {v}")
        return v


def all_task_options():
    return {"factor": _Opt("factor"), "noise_sigma": _Opt("noise_sigma")}


def task_options(tasks):
    out = []
    if "super-resolve" in tasks: out.append(_Opt("factor"))
    if "denoise" in tasks: out.append(_Opt("noise_sigma"))
    return out
