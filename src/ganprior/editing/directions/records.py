"""The on-disk form shared by every kind of direction: a NumPy file, and for ``.npz`` archives a
JSON record in their ``meta`` entry.

Kept apart from the kinds so that each kind's reader and writer, and the loader registry that picks
a reader for a file, agree on one way to open a file, parse its record and word the errors, without
importing each other.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import GanpriorError

READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile)  # what a damaged NumPy file raises


def json_default(obj: Any):
    """``json.dumps`` fallback for the values a record holds: scalars, arrays, tensors, paths."""
    if isinstance(obj, (np.generic, torch.Tensor)) and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    if isinstance(obj, (np.ndarray, torch.Tensor)):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def record_text(name: str, record: dict) -> str:
    """``record`` as the JSON text of a ``meta`` entry; a ``GanpriorError`` naming the direction if
    something in it cannot be written."""
    try:
        return json.dumps(record, default=json_default)
    except (TypeError, ValueError) as e:
        raise GanpriorError(f"direction {name!r}: meta cannot be saved as JSON ({e})") from None


def read_error(path: Path, error: BaseException) -> GanpriorError:
    """The one-line error for an entry of ``path`` that cannot be read."""
    return GanpriorError(f"cannot read direction file {path}: {str(error).splitlines()[0][:120]}")


def read_record(npz, path: Path) -> Any:
    """The parsed JSON of the archive's ``meta`` entry (any JSON value; callers check its form)."""
    try:
        return json.loads(str(npz["meta"]))
    except READ_ERRORS as e:
        raise read_error(path, e) from None


@dataclass
class StoredFile:
    """What a direction file holds, opened once: a plain array (``.npy``) or an archive (``.npz``).

    Loaders' detectors look at it to claim the file; ``record()`` parses the archive's ``meta`` at
    most once, however many detectors ask.
    """

    path: Path
    content: Any  # np.ndarray or np.lib.npyio.NpzFile
    _record: Any = field(default=None, init=False, repr=False)
    _parsed: bool = field(default=False, init=False, repr=False)

    @property
    def is_archive(self) -> bool:
        return isinstance(self.content, np.lib.npyio.NpzFile)

    @property
    def files(self) -> list[str]:
        """The archive's entry names ([] for a plain array)."""
        return list(self.content.files) if self.is_archive else []

    def record(self) -> Any:
        """The archive's parsed ``meta`` entry, or None without one."""
        if not self._parsed:
            self._record = read_record(self.content, self.path) if "meta" in self.files else None
            self._parsed = True
        return self._record

    def format(self) -> str | None:
        """The record's ``format`` field (which kind wrote the archive), or None."""
        record = self.record()
        return record.get("format") if isinstance(record, dict) else None


__all__ = ["StoredFile", "json_default", "read_error", "read_record", "record_text"]
