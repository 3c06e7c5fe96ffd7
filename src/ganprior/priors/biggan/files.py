"""Reading BigGAN checkpoint files: plain tensor state dicts and JSON configs."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ...errors import GanpriorError
from ...safe_pickle import load_checkpoint


def read_state_dict(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    """A checkpoint of plain tensors (``safe_pickle.load_checkpoint``); a DataParallel ``module.``
    prefix is removed. Every failure is a one-line ``GanpriorError``."""
    obj = load_checkpoint(path, what)
    if not obj:
        raise GanpriorError(f"{what} {path} is an empty state dict")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise GanpriorError(f"{what} {path} is not a plain state dict of tensors (entry {bad[0]!r})")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def read_json(path: Path, what: str) -> dict:
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GanpriorError(f"cannot read {what} {path}: {str(e).splitlines()[0][:160]}") from None
    if not isinstance(obj, dict):
        raise GanpriorError(f"{what} {path} is not a JSON object")
    return obj
