"""Reading pickle-based checkpoints without running code from them.

A pickle is a small program: its ``GLOBAL``/``STACK_GLOBAL`` opcodes import any callable by name
and ``REDUCE`` calls it, so ``pickle.load`` on an untrusted file can do anything (the classic
payload is ``__reduce__ -> (os.system, ("...",))``). Two safe paths are provided here:

* ``restricted_load``: a ``pickle.Unpickler`` whose ``find_class`` resolves only names on an
  explicit allow-list (``BASE_GLOBALS``: tensor/storage rebuild functions, ``OrderedDict``,
  numpy scalar/array reconstruction, plain builtin containers), plus what a caller adds for its
  format (e.g. inert stand-ins for NVlabs persistence classes). Any other global is refused with
  a ``GanpriorError`` naming it, before anything is called. Tensor storages inside plain pickles
  are nested legacy ``torch.save`` blobs (``torch.storage._load_from_bytes``); they are read with
  ``torch.load(weights_only=True)`` instead of the original's unrestricted ``torch.load``.
* ``safe_torch_load``: ``torch.load(weights_only=True)`` for files written by ``torch.save`` (zip
  or legacy format), with an optional short list of extra classes allowed for the duration of
  the call (e.g. ``argparse.Namespace`` in rosinality checkpoints). Never ``weights_only=False``.

``InertObject`` is what a format-specific allow-list can map a "rebuild an object of class X"
function to: it keeps the class name and the state as plain data and has no behaviour.

``scan_pickle`` walks a pickle's opcodes (no execution at all) and reports the globals and
short strings it names, for cheap format sniffing.
"""

from __future__ import annotations

import builtins
import codecs
import collections
import io
import os
import pickle
import pickletools
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch

from .errors import GanpriorError

# legacy (non-zip) torch.save files start with this pickled integer
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _load_storage_from_bytes(data: bytes):
    """Stand-in for ``torch.storage._load_from_bytes``: the same blob, read with weights_only."""
    if not isinstance(data, (bytes, bytearray)):
        raise GanpriorError("malformed tensor storage in pickle (expected bytes)")
    return torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode`` (how protocol-2 pickles store bytes): latin1 only."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise GanpriorError(f"refused _codecs.encode with encoding {encoding!r} in pickle")
    return codecs.encode(text, "latin1")


def _numpy_global(name: str):
    # numpy 2 moved numpy.core to numpy._core; pickles name either
    core = getattr(np, "_core", None) or np.core
    return getattr(core.multiarray, name)


BASE_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "scalar"): _numpy_global("scalar"),
    ("numpy._core.multiarray", "scalar"): _numpy_global("scalar"),
    ("numpy.core.multiarray", "_reconstruct"): _numpy_global("_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): _numpy_global("_reconstruct"),
    ("_codecs", "encode"): _latin1_encode,
}
for _name in ("set", "frozenset", "list", "dict", "tuple", "int", "float", "complex", "bool",
              "str", "bytes", "bytearray", "slice", "range"):
    BASE_GLOBALS[("builtins", _name)] = getattr(builtins, _name)
    BASE_GLOBALS[("__builtin__", _name)] = getattr(builtins, _name)  # protocol-2 files from Python 2


class InertObject:
    """A stand-in for an object the pickle asked to rebuild: its class name and state, as data.

    ``state`` is the object's ``__dict__`` as it was pickled (for an ``nn.Module``: ``_parameters``,
    ``_buffers``, ``_modules`` and plain attributes). Nothing from the file is ever executed.
    """

    def __init__(self, class_name: str, state: dict, kind: str = ""):
        self.class_name = class_name
        self.state = state
        self.kind = kind

    def __repr__(self) -> str:
        return f"InertObject({self.kind + ':' if self.kind else ''}{self.class_name})"


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, allowed: Mapping[tuple[str, str], Any], source: str):
        super().__init__(file)
        self._allowed = allowed
        self._source = source

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise GanpriorError(
                f"refused to load {self._source}: its pickle references the global "
                f"'{module}.{name}', which is not on ganprior's allow-list of tensor and container "
                "types (the file may be malicious or of an unsupported format)"
            ) from None

    def persistent_load(self, pid):
        raise GanpriorError(f"refused to load {self._source}: unexpected persistent id in a plain pickle")


def restricted_load(file, extra_globals: Mapping[tuple[str, str], Any] | None = None, *,
                    source: str = "pickle") -> Any:
    """Unpickle one object from ``file`` (path or binary file object) with the allow-list.

    ``extra_globals`` adds format-specific ``{(module, name): replacement}`` entries; the
    replacement is what the pickle gets instead of the real global (a safe function or class).
    Raises ``GanpriorError`` for refused globals and for truncated or corrupt data.
    """
    allowed = dict(BASE_GLOBALS)
    allowed.update(extra_globals or {})
    if isinstance(file, (str, os.PathLike)):
        path = Path(file)
        if not path.is_file():
            raise GanpriorError(f"checkpoint not found: {path}")
        with open(path, "rb") as f:
            return restricted_load(f, extra_globals, source=source)
    try:
        return _RestrictedUnpickler(file, allowed, source).load()
    except GanpriorError:
        raise
    except EOFError:
        raise GanpriorError(f"cannot read {source}: the file is truncated or empty") from None
    except Exception as e:  # noqa: BLE001 - any failure while parsing is a corrupt file
        msg = str(e).splitlines()[0][:200] if str(e) else ""
        raise GanpriorError(f"cannot read {source}: corrupt pickle ({type(e).__name__}: {msg})") from None


def safe_torch_load(path: str | os.PathLike, allowed_classes: Iterable[type] = (), what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` with ``allowed_classes`` allowed for this call only.

    Works for zip and legacy ``torch.save`` files. A pickle that references anything but tensors
    and plain containers is refused before any of it runs. Every failure is a one-line
    ``GanpriorError`` that names ``what`` and the path (a refusal also names the global).
    """
    path = Path(path)
    if not path.is_file():
        raise GanpriorError(f"{what} not found: {path}")
    try:
        with torch.serialization.safe_globals(list(allowed_classes)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a refused or bad file
        text = str(e)
        # torch's own message suggests weights_only=False, which is exactly what must not be done
        m = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"Unsupported global: (\S+)", text)
        if m:
            raise GanpriorError(
                f"cannot read {what} {path}: refused to unpickle {m.group(1)} (only tensors and plain "
                "containers are loaded, nothing in the file is executed; it may be malicious or of an "
                "unsupported format)") from None
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        # torch's weights-only errors start with a generic paragraph; the cause is a later line
        detail = next((line for line in lines if not line.startswith(("Weights only load failed", "Check the doc"))),
                      lines[0] if lines else "")[:200]
        raise GanpriorError(f"cannot read {what} {path}: truncated, corrupt or unsupported file "
                            f"({type(e).__name__}: {detail})") from None


def load_checkpoint(path: str | os.PathLike, what: str = "prior checkpoint",
                    allowed_classes: Iterable[type] = ()) -> dict:
    """``safe_torch_load`` of a file that must hold a dict (a state dict or a dict of them)."""
    obj = safe_torch_load(path, allowed_classes, what)
    if not isinstance(obj, dict):
        raise GanpriorError(f"{what} {path} does not hold a state dict (found {type(obj).__name__})")
    return obj


def is_torch_save_file(path: str | os.PathLike) -> bool:
    """True for files written by ``torch.save`` (zip format, or the legacy magic-number format)."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        return True
    with open(path, "rb") as f:
        head = f.read(32)
    try:
        return _RestrictedUnpickler(io.BytesIO(head), {}, str(path)).load() == TORCH_LEGACY_MAGIC
    except Exception:  # noqa: BLE001 - anything else is simply not the magic number
        return False


@dataclass
class PickleScan:
    """What ``scan_pickle`` saw: globals ``{"module.name"}`` and short strings, in order."""
    globals: set[str] = field(default_factory=set)
    strings: list[str] = field(default_factory=list)
    complete: bool = True


def scan_pickle(file, max_opcodes: int = 200_000,
                stop: Callable[[PickleScan], bool] | None = None) -> PickleScan:
    """Walk the opcodes of the first pickle in ``file`` without executing anything.

    Strings under 64 characters are collected (dict keys, class names); ``STACK_GLOBAL`` names
    are taken from the two strings pushed before it (their first occurrence is always a literal).
    ``stop(scan)`` may end the walk early. Corrupt data ends the walk with ``complete=False``.
    """
    scan = PickleScan()
    recent: list[str] = []
    try:
        for i, (op, arg, _) in enumerate(pickletools.genops(file)):
            if i >= max_opcodes:
                scan.complete = False
                break
            if op.name == "GLOBAL":
                scan.globals.add(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(recent) >= 2:
                scan.globals.add(f"{recent[-2]}.{recent[-1]}")
            elif isinstance(arg, str) and ("UNICODE" in op.name or "STRING" in op.name):
                if len(arg) < 64:
                    scan.strings.append(arg)
                recent = (recent + [arg])[-2:]
                continue
            elif op.name in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
                continue
            recent = []
            if stop is not None and stop(scan):
                break
    except Exception:  # noqa: BLE001 - garbage or truncation: report what was seen
        scan.complete = False
    return scan


__all__ = ["BASE_GLOBALS", "InertObject", "PickleScan", "TORCH_LEGACY_MAGIC", "is_torch_save_file",
           "load_checkpoint", "restricted_load", "safe_torch_load", "scan_pickle"]
