"""Size checks that run before a checkpoint's data is allocated (issue #26).

A checkpoint is untrusted input, and a small one must not be able to make ganprior allocate far
more memory than the file holds. Every size a file *declares* is checked against the bytes it
*has* before anything of that size is built:

* torch zip files (``check_torch_zip``): each entry's declared uncompressed size against its
  compressed size and the file, and the total against ``MAX_INFLATION`` times the file size
  (``torch.save`` stores entries uncompressed; float weights deflate by a few percent, so a
  deflated archive that inflates 20-fold is a zip bomb, not weights);
* safetensors files (``check_safetensors``): the header length, its JSON, each tensor's dtype,
  shape and byte range against the file size;
* every checkpoint: at most ``max_checkpoint_bytes()`` of data (``$GANPRIOR_MAX_CHECKPOINT_GB``,
  default 16);
* tensors loaded from a file (``check_tensors_backed``) must be plain CPU tensors whose storages
  add up to no more than the data the file holds (a pickle can ask for an uninitialised or meta
  tensor of any shape without storing it);
* building a prior from a loaded checkpoint (``allocation_budget``): the architecture is inferred
  from tensor shapes and metadata, so a few small tensors could describe a model of many
  gigabytes; tensor factories (``torch.empty`` ...) are counted while the prior is built and the
  build is refused before the allocation that would pass ``BUILD_FACTOR`` times the checkpoint's
  data plus ``BUILD_ALLOWANCE``.

The restricted unpickler's own caps (operations per pickle, items built by allowed callables) are
in ``safe_pickle``. Every refusal is a one-line ``GanpriorError`` naming the file and what was
refused.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from torch.overrides import TorchFunctionMode

from .errors import GanpriorError

MiB = 2 ** 20
GiB = 2 ** 30
DEFAULT_MAX_CHECKPOINT_GB = 16.0
MAX_INFLATION = 20  # declared uncompressed bytes of a torch zip per byte of file (beyond the allowance)
INFLATION_ALLOWANCE = 64 * MiB
DEFLATE_MAX_RATIO = 1032  # deflate cannot expand one byte to more than ~1032
MAX_ZIP_ENTRIES = 1_000_000
MAX_SAFETENSORS_HEADER = 100 * MiB  # the safetensors library's own limit
BUILD_FACTOR = 4
BUILD_ALLOWANCE = 256 * MiB  # builds of the test fixtures allocate 0.5 to 1.6 times their files

# safetensors dtype -> bytes per element
SAFETENSORS_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
                      "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8}


def _size(n: float) -> str:
    """Bytes for a message: 1.0 GB, 12.3 MB, 512 bytes."""
    if n >= GiB:
        return f"{n / GiB:.1f} GB"
    if n >= MiB:
        return f"{n / MiB:.1f} MB"
    return f"{int(n):,} bytes"


def max_checkpoint_bytes() -> int:
    """The most checkpoint data ganprior reads: ``$GANPRIOR_MAX_CHECKPOINT_GB`` (default 16) GiB."""
    text = os.environ.get("GANPRIOR_MAX_CHECKPOINT_GB", "").strip()
    if not text:
        return int(DEFAULT_MAX_CHECKPOINT_GB * GiB)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise GanpriorError(f"GANPRIOR_MAX_CHECKPOINT_GB must be a positive number of GB, got {text!r}")
    return int(value * GiB)


def _check_total(path: Path, what: str, declared: int) -> None:
    cap = max_checkpoint_bytes()
    if declared > cap:
        raise GanpriorError(f"refused to load {what} {path}: it holds {_size(declared)} of data, over the "
                            f"{_size(cap)} limit (raise it with GANPRIOR_MAX_CHECKPOINT_GB)")


def check_file_size(path: str | os.PathLike, what: str = "checkpoint") -> int:
    """The size of ``path`` (a file, or the files of a folder), refused when over the limit."""
    path = Path(path)
    if path.is_dir():
        size = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    else:
        size = path.stat().st_size
    _check_total(path, what, size)
    return size


def check_torch_zip(path: str | os.PathLike, what: str = "checkpoint") -> tuple[int, dict[str, int]]:
    """Check a ``torch.save`` zip's declared entry sizes before any entry is read.

    Returns ``(total declared uncompressed bytes, {entry name: declared size})`` in archive order.
    Refused: two entries of one name, an entry
    that extends past the end of the file, a stored entry whose two sizes differ, a deflated entry
    that claims more than deflate can produce, a compression torch cannot read, and a total over
    ``MAX_INFLATION`` times the file size (beyond ``INFLATION_ALLOWANCE``) or over the limit.
    """
    path = Path(path)
    file_size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise GanpriorError(f"cannot read {what} {path}: corrupt zip archive "
                            f"({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''})") from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise GanpriorError(f"refused to load {what} {path}: its zip archive has {len(infos):,} entries "
                            f"(at most {MAX_ZIP_ENTRIES:,})")
    total, sizes = 0, {}
    for info in infos:
        name = info.filename
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise GanpriorError(f"refused to load {what} {path}: zip entry {name!r} uses compression method "
                                f"{info.compress_type}, which torch checkpoints never use")
        if info.header_offset + info.compress_size > file_size:
            raise GanpriorError(f"refused to load {what} {path}: zip entry {name!r} declares "
                                f"{_size(info.compress_size)} of data past the end of the file ({_size(file_size)})")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise GanpriorError(f"refused to load {what} {path}: stored zip entry {name!r} declares "
                                f"{_size(info.file_size)} but holds {_size(info.compress_size)}")
        if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > DEFLATE_MAX_RATIO * info.compress_size + 1024:
            raise GanpriorError(f"refused to load {what} {path}: zip entry {name!r} declares {_size(info.file_size)} "
                                f"from {_size(info.compress_size)} of deflated data, more than deflate can produce")
        if name in sizes:  # which of the two a reader takes is not defined
            raise GanpriorError(f"refused to load {what} {path}: its zip archive has two entries named {name!r}")
        total += info.file_size
        sizes[name] = info.file_size
    limit = max(MAX_INFLATION * file_size, file_size + INFLATION_ALLOWANCE)
    if total > limit:
        raise GanpriorError(f"refused to load {what} {path}: its zip entries inflate to {_size(total)} from a "
                            f"file of {_size(file_size)} (more than {MAX_INFLATION}x; weights do not compress "
                            "like that, so this is a zip bomb or a damaged file)")
    _check_total(path, what, total)
    return total, sizes


def read_safetensors(path: str | os.PathLike, what: str = "safetensors file") -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file (check its header with ``check_safetensors`` first); an
    unreadable file is a one-line error naming ``what`` it should have been."""
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise GanpriorError(f"cannot read {what} {path}: {str(e).splitlines()[0][:200]}") from None


def check_safetensors(path: str | os.PathLike, what: str = "safetensors file") -> tuple[dict, dict[str, str]]:
    """Read and check a safetensors header without reading any tensor data.

    Returns ``(tensor entries, metadata)``. Checked: the 8-byte header length against the file
    size, the header's JSON, ``__metadata__`` (strings to strings), and for every tensor a known
    dtype, a shape of non-negative integers and a byte range inside the file whose length is the
    shape's size in that dtype.
    """
    path = Path(path)
    file_size = path.stat().st_size
    _check_total(path, what, file_size)
    prefix = f"cannot read {what} {path}"
    if file_size < 8:
        raise GanpriorError(f"{prefix}: {file_size} bytes is too short for a safetensors file")
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if n > file_size - 8 or n > MAX_SAFETENSORS_HEADER:
            raise GanpriorError(f"{prefix}: its header declares {_size(n)}, but the file has "
                                f"{_size(file_size - 8)} after the length field")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise GanpriorError(f"{prefix}: its header is not valid JSON ({str(e).splitlines()[0][:120]})") from None
    if not isinstance(header, dict):
        raise GanpriorError(f"{prefix}: its header is a JSON {type(header).__name__}, not an object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise GanpriorError(f"{prefix}: its __metadata__ is not a map of strings to strings")
    data_size = file_size - 8 - n
    for name, entry in header.items():
        bad = f"{prefix}: tensor {name!r}"
        if not isinstance(entry, dict):
            raise GanpriorError(f"{bad} is not described by a JSON object")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in SAFETENSORS_DTYPES:
            raise GanpriorError(f"{bad} has unknown dtype {dtype!r}")
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
            raise GanpriorError(f"{bad} has shape {shape!r}, not a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_size):
            raise GanpriorError(f"{bad} has data_offsets {offsets!r} outside the {_size(data_size)} of data")
        expected = math.prod(shape) * SAFETENSORS_DTYPES[dtype]
        if offsets[1] - offsets[0] != expected:
            raise GanpriorError(f"{bad} declares shape {shape} of {dtype} ({_size(expected)}) but "
                                f"{_size(offsets[1] - offsets[0])} of data")
    return header, meta


def iter_tensors(obj: Any, limit: int = 10_000_000) -> Iterator[torch.Tensor]:
    """Every tensor inside a loaded checkpoint: dicts, lists, tuples, sets, and the state of
    ``safe_pickle.InertObject`` records and ``argparse.Namespace`` objects; each object once."""
    stack, seen = [obj], set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if len(seen) > limit:
            raise GanpriorError(f"a checkpoint holds more than {limit:,} objects")
        if isinstance(item, torch.Tensor):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif hasattr(item, "state") and type(item).__name__ == "InertObject":
            stack.append(item.state)
        elif type(item).__name__ == "Namespace":
            stack.append(vars(item))


def check_tensors_backed(obj: Any, data_bytes: int, path: str | os.PathLike, what: str = "checkpoint") -> None:
    """Refuse tensors that no stored data backs: other than plain (strided) CPU tensors, or whose
    storages add up to more than the ``data_bytes`` the file holds."""
    total, storages = 0, set()
    for t in iter_tensors(obj):
        plain = (type(t) in (torch.Tensor, torch.nn.Parameter) and t.layout == torch.strided and not t.is_nested
                 and t.device.type == "cpu")
        if not plain:
            kind = "nested" if t.is_nested else t.device.type if t.device.type != "cpu" else \
                str(t.layout).replace("torch.", "") if t.layout != torch.strided else type(t).__name__
            raise GanpriorError(f"refused to load {what} {path}: it holds a {kind} tensor of shape "
                                f"{tuple(t.shape)}; prior checkpoints hold plain CPU tensors with their data")
        storage = t.untyped_storage()
        key = storage.data_ptr(), storage.nbytes()
        if key not in storages:
            storages.add(key)
            total += storage.nbytes()
        if t.numel() and (t.storage_offset() + sum((s - 1) * st for s, st in zip(t.shape, t.stride())) + 1) \
                * t.element_size() > storage.nbytes():
            raise GanpriorError(f"refused to load {what} {path}: a tensor of shape {tuple(t.shape)} reaches past "
                                "the end of its stored data")
    if total > data_bytes:
        raise GanpriorError(f"refused to load {what} {path}: its tensors take {_size(total)} but the file holds "
                            f"{_size(data_bytes)} of data (sizes it declares without storing them)")


# tensor factories whose first arguments (or ``size=``) are the shape they allocate
_FACTORIES = {"empty", "zeros", "ones", "full", "rand", "randn", "randint", "empty_strided", "new_empty",
              "new_zeros", "new_ones", "new_full", "new_empty_strided"}


def _shape_of(name: str, args: tuple, kwargs: dict) -> tuple[int, ...] | None:
    """The shape a factory call allocates, or None when it cannot be read from the arguments."""
    if name.startswith("new_"):
        args = args[1:]  # the tensor the method is called on
    if "size" in kwargs:
        size = kwargs["size"]
    elif name in ("full", "new_full", "empty_strided", "new_empty_strided"):
        size = args[0] if args else None
    elif name == "randint":  # randint(high, size) or randint(low, high, size)
        size = next((a for a in args if isinstance(a, (tuple, list, torch.Size))), None)
    elif len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)):
        size = args[0]
    else:
        size = args  # empty(2, 3)
    try:
        return tuple(int(d) for d in size)
    except (TypeError, ValueError):
        return None


class _AllocationBudget(TorchFunctionMode):
    def __init__(self, budget: int, path, what: str):
        super().__init__()
        self.budget, self.used, self.path, self.what = budget, 0, path, what

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in _FACTORIES and str(kwargs.get("device", "")) != "meta":
            shape = _shape_of(name, args, kwargs)
            if shape is not None:
                dtype = kwargs.get("dtype") or (args[0].dtype if name.startswith("new_") and args
                                                and isinstance(args[0], torch.Tensor) else torch.get_default_dtype())
                nbytes = math.prod(max(d, 0) for d in shape) * dtype.itemsize
                self.used += nbytes
                if self.used > self.budget:
                    raise GanpriorError(
                        f"refused to build a prior from {self.what} {self.path}: the architecture its shapes and "
                        f"settings describe needs more than {_size(self.budget)} (a {tuple(shape)} tensor "
                        f"reached it), far more than the file's weights; the file is damaged or crafted")
        return func(*args, **kwargs)


@contextmanager
def allocation_budget(path: str | os.PathLike, data_bytes: int | None = None, what: str = "checkpoint"):
    """Refuse, before allocating, tensor factory calls in this block that together pass
    ``BUILD_FACTOR * data_bytes + BUILD_ALLOWANCE`` (``data_bytes``: the file's, or folder's, size)."""
    if data_bytes is None:
        data_bytes = check_file_size(path, what)
    with _AllocationBudget(BUILD_FACTOR * data_bytes + BUILD_ALLOWANCE, path, what):
        yield


__all__ = ["BUILD_ALLOWANCE", "BUILD_FACTOR", "DEFAULT_MAX_CHECKPOINT_GB", "INFLATION_ALLOWANCE", "MAX_INFLATION",
           "allocation_budget", "check_file_size", "check_safetensors", "check_tensors_backed", "check_torch_zip",
           "iter_tensors", "max_checkpoint_bytes"]
