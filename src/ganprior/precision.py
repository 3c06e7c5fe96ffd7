"""Mixed precision of the generator's forward pass: ``"fp32"`` (default) or ``"bf16"``.

bf16 autocasts the generator's forward (and so its backward) while codes, importances and the
optimiser stay fp32 and the loss is computed in fp32. It pays off on GPUs with bf16 tensor cores and
CPUs with AVX512-BF16/AMX; on plain AVX2 CPUs it is slower (BENCHMARKS.md, throughput). No loss
scaling is needed for bf16 (fp32's range).

Its own module, depending on nothing of ``inversion``, because the optimisation loop
(``inversion.base``) and the batch-size probe (``batching``, which builds inversion methods) both
use it: the imports run ``batching -> inversion -> precision``.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from .errors import GanpriorError

PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> str:
    """``precision`` if it is one of ``PRECISIONS``, else a ``GanpriorError`` naming the choices."""
    if precision not in PRECISIONS:
        raise GanpriorError(f"unknown precision {precision!r}; choose {' or '.join(PRECISIONS)}")
    return precision


@contextlib.contextmanager
def autocast(precision: str, device: torch.device | str) -> Iterator[None]:
    """Autocast the enclosed forward pass to ``precision`` (no-op for fp32)."""
    check_precision(precision)
    if precision == "fp32":
        yield
        return
    kind = torch.device(device).type
    with torch.autocast(device_type=kind if kind in ("cuda", "cpu") else "cpu", dtype=torch.bfloat16):
        yield
