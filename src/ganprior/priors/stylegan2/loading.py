"""Loading a StyleGAN2 checkpoint of either supported format (rosinality ``.pt``, NVlabs pickle); both
formats register as checkpoint families."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Mapping

from ...errors import GanpriorError
from ...safe_pickle import is_torch_save_file, safe_torch_load
from ..families import Check, CheckpointFamily, register_family
from .nvlabs import is_stylegan2_nvlabs_pickle, load_nvlabs_prior
from .prior import StyleGAN2Prior
from .rosinality import is_stylegan2_rosinality, prior_from_rosinality


def load_stylegan2(path: str | os.PathLike, name: str | None = None) -> StyleGAN2Prior:
    """Load a StyleGAN2 checkpoint of any supported layout as a prior (discriminator attached if present).

    NVlabs ``.pkl`` snapshots go through the restricted unpickler; ``torch.save`` files (rosinality
    ``.pt``) through ``torch.load(weights_only=True)`` with ``argparse.Namespace`` allowed.
    """
    path = Path(path)
    if not path.is_file():
        raise GanpriorError(f"StyleGAN2 checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise GanpriorError(f"cannot read {path}: the file is empty")
    if is_torch_save_file(path):
        ckpt = safe_torch_load(path, [argparse.Namespace], "StyleGAN2 checkpoint")
        if not is_stylegan2_rosinality(ckpt):
            keys = ", ".join(map(str, list(ckpt)[:5])) if isinstance(ckpt, Mapping) else type(ckpt).__name__
            raise GanpriorError(f"{path} is not a StyleGAN2 checkpoint: no rosinality generator keys "
                                f"(style.1.weight, input.input, ...) found (top level: {keys})")
        return prior_from_rosinality(ckpt, path, name)
    return load_nvlabs_prior(path, name)


def _build(path, checkpoint, name: str) -> StyleGAN2Prior:
    return load_stylegan2(path, name)


register_family(CheckpointFamily("stylegan2-rosinality", _build, state_check=Check(40, is_stylegan2_rosinality)))
register_family(CheckpointFamily("stylegan2-nvlabs", _build, file_check=Check(40, is_stylegan2_nvlabs_pickle)))
