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

Size caps (issue #26): a pickle is a program, and a few bytes of it can ask an allowed callable
for gigabytes (``list(range(50_000_000))``, ``bytearray(2**31)``, ``torch.Tensor(64, 10**6, 4, 4)``).
Every pickle is walked first without executing anything and refused above ``MAX_PICKLE_OPS``
opcodes. ``restricted_load`` gives the pickle size-checking stand-ins for the allowed callables
that build sequences or arrays; together they may build ``MAX_BUILT_ITEMS`` items, and a call that
would pass that is refused before it runs. ``torch.save`` files are read by torch's own
weights-only unpickler, so their pickles are first replayed with inert stand-ins for every global
(``_TorchPickleScan``), which refuses the same oversized calls, tensors and storages constructed
from a size rather than from stored data, and storages that declare more bytes than the file
holds for them; zip archives have their entry sizes checked first (``checkpoint_limits``). After
loading, every tensor must be a plain CPU tensor backed by data in the file.
"""

from __future__ import annotations

import builtins
import codecs
import collections
import io
import math
import os
import pickle
import pickletools
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch

from .checkpoint_limits import check_file_size, check_tensors_backed, check_torch_zip
from .errors import GanpriorError

# legacy (non-zip) torch.save files start with this pickled integer
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

# a network pickle has some thousands of opcodes per network (tensor data comes in a few large ones);
# each opcode can build at most one small object, so this bounds what a pickle's opcodes alone build
MAX_PICKLE_OPS = 2_000_000
# items (elements, bytes, array entries) that allowed callables may build in one pickle; real
# checkpoints build a handful (a set, an empty array that its stored bytes then fill)
MAX_BUILT_ITEMS = 1_000_000


def _first_line(e: BaseException) -> str:
    text = str(e)
    return text.splitlines()[0][:200] if text.strip() else ""


def count_pickle_ops(file, source: str, limit: int | None = None) -> int:
    """Walk the first pickle in the binary ``file`` from its current position without executing it,
    then go back there. More than ``limit`` (default ``MAX_PICKLE_OPS``) opcodes is refused; a
    corrupt pickle stops the count (the real load reports it)."""
    limit = MAX_PICKLE_OPS if limit is None else limit
    start = file.tell()
    n = 0
    try:
        for n, _ in enumerate(pickletools.genops(file), 1):
            if n > limit:
                raise GanpriorError(f"refused to load {source}: its pickle has more than {limit:,} operations "
                                    "(network pickles have far fewer; it may be malicious)")
    except GanpriorError:
        raise
    except Exception:  # noqa: BLE001 - garbage or truncation: the real load gives the error
        pass
    finally:
        file.seek(start)
    return n


def _refuse_build(source: str, what: str, n: float, limit: int) -> GanpriorError:
    count = "an unbounded number of" if n == math.inf else f"{int(n):,}"
    return GanpriorError(f"refused to load {source}: its pickle asks {what} to build {count} items, beyond the "
                         f"{limit:,} a checkpoint's pickle may build (it may be malicious)")


def _length(value) -> float:
    """The size a sequence built from ``value`` would have: an int is a count (``bytes(n)``), a sized
    object its length; anything else 0 (the call itself decides)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    try:
        return len(value)
    except OverflowError:  # range(10**30)
        return math.inf
    except Exception:  # noqa: BLE001 - unsized: nothing is built from it in advance
        return 0


def _built_length(builder, args: tuple) -> float:
    """Items ``builder(*args)`` would build; a bytes copy of bytes (data the file holds) counts none."""
    if not args:
        return 0
    if builder in (builtins.bytes, builtins.bytearray, "builtins.bytes", "builtins.bytearray") \
            and isinstance(args[0], (bytes, bytearray)):
        return 0
    return _length(args[0])


class _Budget:
    """Items that allowed callables may still build in one load."""

    def __init__(self, source: str, limit: int | None = None):
        self.source = source
        self.limit = self.left = MAX_BUILT_ITEMS if limit is None else limit

    def take(self, n: float, what: str) -> None:
        if n > self.left:
            raise _refuse_build(self.source, what, n, self.limit)
        self.left -= n


def _load_storage_from_bytes(data: bytes, source: str = "pickle"):
    """Stand-in for ``torch.storage._load_from_bytes``: the same blob, scanned, then read with weights_only."""
    if not isinstance(data, (bytes, bytearray)):
        raise GanpriorError("malformed tensor storage in pickle (expected bytes)")
    blob = io.BytesIO(bytes(data))
    scan_torch_legacy(blob, len(data), f"{source} (a tensor storage in it)")  # pickles write the legacy format
    return torch.load(blob, map_location="cpu", weights_only=True)


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


# allowed callables that build a sequence or container from their first argument
_SEQUENCE_BUILDERS = {builtins.list, builtins.tuple, builtins.set, builtins.frozenset, builtins.dict, builtins.bytes,
                      builtins.bytearray, builtins.str, collections.OrderedDict}


def _shape_items(shape) -> float:
    """Entries of an array of ``shape`` (an int or a tuple of ints); 0 when it is neither."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        return max(shape, 0)
    if isinstance(shape, tuple) and all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        return math.prod(max(d, 0) for d in shape)
    return 0


def _capped_globals(allowed: Mapping[tuple[str, str], Any], budget: _Budget) -> dict[tuple[str, str], Any]:
    """``allowed`` with size-checking stand-ins for the callables that can build large objects (and
    the nested storage loader told which file it reads, for its messages)."""
    real_ndarray = np.ndarray

    def sequence_builder(func, name):
        def build(*args, **kwargs):
            budget.take(_built_length(func, args), name)
            return func(*args, **kwargs)
        return build

    def ndarray(shape, *args, **kwargs):
        budget.take(_shape_items(shape), "numpy.ndarray")
        return real_ndarray(shape, *args, **kwargs)

    def reconstruct_with(func):
        def reconstruct(subtype, shape, dtype):
            budget.take(_shape_items(shape), "numpy's array reconstruction")
            return func(real_ndarray if subtype is ndarray else subtype, shape, dtype)
        return reconstruct

    out = {}
    for key, value in allowed.items():
        if value in _SEQUENCE_BUILDERS:
            value = sequence_builder(value, f"{key[0]}.{key[1]}")
        elif value is real_ndarray:
            value = ndarray
        elif key[1] == "_reconstruct" and key[0].startswith("numpy"):
            value = reconstruct_with(value)
        elif value is _load_storage_from_bytes:
            def value(data, _source=budget.source):
                return _load_storage_from_bytes(data, _source)
        out[key] = value
    return out


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, allowed: Mapping[tuple[str, str], Any], source: str):
        super().__init__(file)
        self._allowed = _capped_globals(allowed, _Budget(source))
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
    Raises ``GanpriorError`` for refused globals, for truncated or corrupt data, and for pickles
    over the size caps (``MAX_PICKLE_OPS`` opcodes, ``MAX_BUILT_ITEMS`` items built by callables,
    tensors beyond the data the file holds).
    """
    allowed = dict(BASE_GLOBALS)
    allowed.update(extra_globals or {})
    if isinstance(file, (str, os.PathLike)):
        path = Path(file)
        if not path.is_file():
            raise GanpriorError(f"checkpoint not found: {path}")
        size = check_file_size(path)
        with open(path, "rb") as f:
            obj = restricted_load(f, extra_globals, source=source)
        check_tensors_backed(obj, size, source, "pickle")
        return obj
    count_pickle_ops(file, source)
    try:
        return _RestrictedUnpickler(file, allowed, source).load()
    except GanpriorError:
        raise
    except EOFError:
        raise GanpriorError(f"cannot read {source}: the file is truncated or empty") from None
    except MemoryError:
        raise GanpriorError(f"cannot read {source}: it asks for more memory than there is") from None
    except Exception as e:  # noqa: BLE001 - any failure while parsing is a corrupt file
        raise GanpriorError(f"cannot read {source}: corrupt pickle ({type(e).__name__}: {_first_line(e)})") from None


# -- torch.save files: a replay of their pickles before torch's weights-only unpickler reads them --

_TENSOR_CLASS_NAMES = {f"{t.__module__}.{t.__name__}" for t in torch._tensor_classes} | {
    "torch.Tensor", "torch.nn.parameter.Parameter", "torch.nn.Parameter"}
_STORAGE_CLASS_NAMES = {f"{t.__module__}.{t.__name__}" for t in torch._storage_classes} | {
    "torch.storage.UntypedStorage", "torch.storage.TypedStorage", "torch.UntypedStorage", "torch.TypedStorage"}


class _Inert:
    """A stand-in object in a replay: accepts what the unpickler does to objects, builds nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def append(self, item):
        pass

    def extend(self, items):
        pass

    def __setitem__(self, key, value):
        pass


class _TorchPickleScan(pickle.Unpickler):
    """Replays a torch.save pickle with every global an inert stand-in type (nothing of the file runs,
    nothing it describes is allocated) to refuse, before torch reads it:

    * calls that would build more than ``MAX_BUILT_ITEMS`` items (``bytearray(n)``, ``set(...)``);
    * tensors or storages constructed from a size (``torch.Tensor(64, 10**6, 4, 4)``,
      ``torch.UntypedStorage(n)``): torch.save never writes those, and they have no stored data;
    * storages whose declared size is more than the file holds for them: ``record_sizes`` (a zip's
      data entries by key) or, for the legacy format, ``data_bytes`` for all of them together.
    """

    def __init__(self, file, source: str, record_sizes: dict[str, int] | None = None, data_bytes: int = 0):
        super().__init__(file)
        self.source, self.budget = source, _Budget(source)
        self.record_sizes, self.data_bytes = record_sizes, data_bytes
        self.declared: dict[str, int] = {}  # legacy format: bytes per storage key (a key recurs per reference)
        self._types: dict[str, type] = {}

    def _refuse(self, what: str) -> GanpriorError:
        return GanpriorError(f"refused to load {self.source}: {what} (the file may be malicious or damaged)")

    def _short(self, what: str) -> GanpriorError:
        return GanpriorError(f"cannot read {self.source}: {what} (the file is truncated, damaged or crafted)")

    def find_class(self, module: str, name: str):
        # the renames torch's unpickler applies (``__builtin__.bytearray`` is ``builtins.bytearray``)
        if (module, name) in torch._utils.NAME_MAPPING:
            module, name = torch._utils.NAME_MAPPING[(module, name)]
        elif module in torch._utils.IMPORT_MAPPING:
            module = torch._utils.IMPORT_MAPPING[module]
        qualname = f"{module}.{name}"
        if qualname not in self._types:
            scan = self

            def new(cls, *args, **kwargs):
                scan._check_call(qualname, args)
                return object.__new__(cls)
            self._types[qualname] = type(name, (_Inert,), {"__new__": new, "qualname": qualname})
        return self._types[qualname]

    def _check_call(self, qualname: str, args: tuple) -> None:
        if qualname in _TENSOR_CLASS_NAMES or qualname in _STORAGE_CLASS_NAMES:
            sizes = [a for a in args if (isinstance(a, int) and not isinstance(a, bool))
                     or getattr(type(a), "qualname", "") == "torch.Size"]
            if sizes:
                raise self._refuse(f"its pickle constructs a {qualname} from a size instead of stored data")
        elif qualname == "torch.Size":
            return
        elif qualname in ("builtins.bytearray", "builtins.bytes", "builtins.list", "builtins.tuple",
                          "builtins.set", "builtins.frozenset", "builtins.dict", "builtins.str",
                          "collections.OrderedDict", "collections.Counter"):
            self.budget.take(_built_length(qualname, args), qualname)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] in ("storage", b"storage")):
            # a legacy whole-module reference stands for its class (a stand-in here); torch refuses the class
            return pid[1] if len(pid) > 1 and isinstance(pid[1], type) else _Inert()
        if len(pid) < 5:
            raise self._refuse("its pickle has a malformed storage reference")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(numel, int) or numel < 0:
            raise self._refuse(f"storage {key!r} declares {numel!r} elements")
        type_name = getattr(storage_type, "qualname", "").rsplit(".", 1)[-1]
        try:
            itemsize = 1 if type_name == "UntypedStorage" else \
                torch.storage._get_dtype_from_pickle_storage_type(type_name).itemsize
        except (KeyError, AttributeError):
            raise self._refuse(f"storage {key!r} has the unknown type {type_name or storage_type!r}") from None
        nbytes = numel * itemsize
        if self.record_sizes is not None:  # zip: one record per storage, read by its key
            have = self.record_sizes.get(key)
            if have is None:
                raise self._short(f"storage {key!r} has no data record in the archive")
            if nbytes != have:
                raise self._short(f"storage {key!r} declares {nbytes:,} bytes but its record holds {have:,}")
        else:
            self.declared[key] = max(nbytes, self.declared.get(key, 0))
            total = sum(self.declared.values())
            if total > self.data_bytes:
                raise self._short(f"its storages declare {total:,} bytes but the file holds {self.data_bytes:,}")
        return _Inert()


def _replay(file, source: str, **kwargs) -> Any:
    """One pickle of a torch.save file through ``_TorchPickleScan`` (after the opcode count); what it
    returns is made of inert stand-ins, or plain data."""
    count_pickle_ops(file, source)
    try:
        return _TorchPickleScan(file, source, **kwargs).load()
    except GanpriorError:
        raise
    except EOFError:
        raise GanpriorError(f"cannot read {source}: the file is truncated or empty") from None
    except Exception as e:  # noqa: BLE001 - what the replay cannot follow is not left for torch to try
        raise GanpriorError(f"cannot read {source}: corrupt pickle ({type(e).__name__}: {_first_line(e)})") from None


def scan_torch_zip(path: Path, what: str) -> int:
    """Entry sizes (``check_torch_zip``) and a replay of ``data.pkl``; returns the bytes of tensor data.

    torch reads the records of the folder that the archive's first entry is in (``archive/`` when
    ``torch.save`` wrote it): its ``data.pkl`` and its ``data/KEY`` storages."""
    _, sizes = check_torch_zip(path, what)
    names = list(sizes)
    prefix = names[0].split("/", 1)[0] + "/" if names else ""
    if prefix + "data.pkl" not in sizes:
        raise GanpriorError(f"cannot read {what} {path}: a zip archive without {prefix}data.pkl is not a "
                            "torch.save checkpoint")
    records = {name[len(prefix + "data/"):]: size for name, size in sizes.items() if name.startswith(prefix + "data/")}
    try:
        with zipfile.ZipFile(path) as zf:
            data = zf.read(prefix + "data.pkl")  # its declared size was checked
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as e:
        raise GanpriorError(f"cannot read {what} {path}: corrupt zip archive ({type(e).__name__}: "
                            f"{_first_line(e)})") from None
    _replay(io.BytesIO(data), f"{what} {path}", record_sizes=records)
    return sum(records.values())


def scan_torch_legacy(file, data_bytes: int, source: str) -> None:
    """Replay the pickles a legacy torch.save file holds, as torch reads them from the binary ``file``'s
    start (magic number, protocol, system info, the object, its storage keys), then go back there."""
    start = file.tell()
    try:
        if _replay(file, source) != TORCH_LEGACY_MAGIC:
            raise GanpriorError(f"cannot read {source}: not a torch.save file (no zip archive, no legacy magic "
                                "number)")
        for _ in range(2):  # protocol version, system info
            _replay(file, source)
        _replay(file, source, data_bytes=data_bytes)
        _replay(file, source)  # the storage keys
    finally:
        file.seek(start)


def is_torch_zip(path: str | os.PathLike) -> bool:
    """A zip archive as torch.load decides it: the file starts with a zip entry header."""
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def safe_torch_load(path: str | os.PathLike, allowed_classes: Iterable[type] = (), what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` with ``allowed_classes`` allowed for this call only.

    Works for zip and legacy ``torch.save`` files. A pickle that references anything but tensors
    and plain containers is refused before any of it runs, and so is a file whose declared sizes
    exceed what it holds (zip entries, storages, tensors built from sizes: see the module
    docstring). Every failure is a one-line ``GanpriorError`` that names ``what`` and the path (a
    refusal also names the global or the size).
    """
    path = Path(path)
    if not path.is_file():
        raise GanpriorError(f"{what} not found: {path}")
    if is_torch_zip(path):
        data_bytes = scan_torch_zip(path, what)
    else:
        data_bytes = check_file_size(path, what)
        with open(path, "rb") as f:
            scan_torch_legacy(f, data_bytes, f"{what} {path}")
    try:
        with torch.serialization.safe_globals(list(allowed_classes)):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise GanpriorError(f"cannot read {what} {path}: it asks for more memory than there is") from None
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
    check_tensors_backed(obj, data_bytes, path, what)
    return obj


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


__all__ = ["BASE_GLOBALS", "InertObject", "MAX_BUILT_ITEMS", "MAX_PICKLE_OPS", "PickleScan", "TORCH_LEGACY_MAGIC",
           "count_pickle_ops", "is_torch_save_file", "is_torch_zip", "load_checkpoint", "restricted_load",
           "safe_torch_load", "scan_pickle", "scan_torch_legacy", "scan_torch_zip"]
