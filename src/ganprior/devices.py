"""The torch device a run asks for, checked before any work: a name torch knows, present here."""

from __future__ import annotations

import torch

from .errors import GanpriorError


def check_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a ``torch.device`` (None: the CPU); a one-line ``GanpriorError`` when torch does
    not know the name or the machine has no such device (``cuda`` without a GPU, ``cuda:3`` on a
    two-GPU machine, ``mps`` off Apple silicon)."""
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise GanpriorError(f"unknown device {str(device)!r}; use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise GanpriorError(f"device {str(device)!r}: this machine has no CUDA GPU that torch can use; "
                                "use --device cpu")
        if dev.index is not None and dev.index >= count:
            raise GanpriorError(f"device {str(device)!r}: this machine has {count} CUDA GPU(s) "
                                f"(cuda:0..cuda:{count - 1})")
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise GanpriorError(f"device {str(device)!r}: MPS is not available on this machine; use --device cpu")
    elif dev.type != "cpu":
        raise GanpriorError(f"device {str(device)!r} is not supported; use cpu, cuda, cuda:N or mps")
    return dev
