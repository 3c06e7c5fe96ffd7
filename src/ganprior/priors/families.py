"""Checkpoint families: how each checkpoint format is recognised, and the loader that builds its prior.

Each family's own module registers one ``CheckpointFamily`` (``register_family``); ``zoo`` imports
those modules and loads through ``sniff`` and the family's ``build``. This module imports no family.

Recognition has two stages, each tried in ``rank`` order (lowest first, the first match wins):
``file_check`` sees only the path (nothing is unpickled); ``state_check`` sees the loaded
checkpoint, first its unwrapped state dict, then the whole object.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import GanpriorError
from ..safe_pickle import load_checkpoint
from .base import Prior


@dataclass(frozen=True)
class Check:
    """A recognition test and its place in its stage (lower ``rank`` runs first)."""

    rank: int
    test: Callable[[Any], bool]


@dataclass(frozen=True)
class CheckpointFamily:
    """One checkpoint format. ``build(path, checkpoint, name)`` returns its prior; ``checkpoint`` is
    the object the sniff loaded (None when a ``file_check`` matched)."""

    name: str
    build: Callable[[str | os.PathLike, Any, str], Prior]
    file_check: Check | None = None
    state_check: Check | None = None


FAMILIES: dict[str, CheckpointFamily] = {}


def register_family(family: CheckpointFamily) -> None:
    """Add a family; two checks of one stage may not share a rank (their order would be undefined)."""
    if family.name in FAMILIES:
        raise ValueError(f"checkpoint family {family.name!r} is already registered")
    for stage in ("file_check", "state_check"):
        check = getattr(family, stage)
        taken = {getattr(f, stage).rank: f.name for f in FAMILIES.values() if getattr(f, stage)}
        if check is not None and check.rank in taken:
            raise ValueError(f"{family.name!r}: {stage} rank {check.rank} is taken by {taken[check.rank]!r}")
    FAMILIES[family.name] = family


def checks(stage: str) -> list[tuple[str, Callable[[Any], bool]]]:
    """``(family, test)`` of ``stage`` (``"file_check"`` or ``"state_check"``) in the order they run."""
    found = [(getattr(f, stage), f.name) for f in FAMILIES.values() if getattr(f, stage) is not None]
    return [(name, check.test) for check, name in sorted(found, key=lambda item: item[0].rank)]


def unwrap_state_dict(obj: dict) -> dict:
    """The generator state dict inside a training checkpoint (or ``obj`` itself)."""
    for key in ("netG_state_dict", "state_dict", "generator", "g_ema", "G"):
        if key in obj and isinstance(obj[key], dict):
            return obj[key]
    return obj


def infer_model_type(state_dict: dict) -> str:
    """Guess the generator family from a loaded checkpoint's keys and shapes (as diffusers does)."""
    for name, test in checks("state_check"):
        if test(state_dict):
            return name
    raise GanpriorError("unrecognised checkpoint layout: no known generator keys "
                        f"(first keys: {', '.join(map(str, list(state_dict)[:4]))})")


def sniff(path: str | os.PathLike) -> tuple[str, dict | None]:
    """``(family, loaded dict or None)`` of the checkpoint file or folder at ``path``, read without
    executing anything; the dict, when the sniff had to load the file, goes to the family's
    ``build`` so a checkpoint is read once."""
    path = Path(path)
    if not path.exists():
        raise GanpriorError(f"prior checkpoint not found: {path}")
    for name, test in checks("file_check"):
        if test(path):
            return name, None
    if path.is_dir():
        raise GanpriorError(f"{path} is a folder without a known checkpoint (G_ema.pth, or config.json + "
                            "pytorch_model.bin)")
    obj = load_checkpoint(path, allowed_classes=[argparse.Namespace])
    try:
        return infer_model_type(unwrap_state_dict(obj)), obj
    except GanpriorError:
        return infer_model_type(obj), obj
