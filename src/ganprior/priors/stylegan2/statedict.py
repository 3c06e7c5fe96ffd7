"""Key renaming and exact state-dict loading, shared by the rosinality and NVlabs loaders."""

from __future__ import annotations

import re
from typing import Mapping

import torch
from torch import nn

from ...errors import GanpriorError


def rename_keys(state: Mapping[str, torch.Tensor], rules: list[tuple[str, str]], what: str) -> dict:
    """Rename keys by the first matching ``(regex, replacement)``; a replacement of '' drops the key."""
    out = {}
    for key, value in state.items():
        for pattern, repl in rules:
            if re.fullmatch(pattern, key):
                if repl:
                    out[re.sub(pattern, repl, key)] = value
                break
        else:
            raise GanpriorError(f"unexpected key {key!r} in {what}")
    return out


def load_exact(module: nn.Module, state: dict, what: str) -> None:
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise GanpriorError(f"{what} does not match the StyleGAN2 architecture inferred from its shapes "
                            f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
