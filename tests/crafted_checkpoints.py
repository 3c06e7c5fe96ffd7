"""Crafted checkpoints for issue #26: files that declare far more than they hold, or that are
malformed in ways a loader must report in one line. Built byte by byte here (nothing downloaded);
the same call always gives the same bytes. Used by test_checkpoint_formats.py and the
reliability corpus (fuzz/test_fuzz_checkpoints.py).
"""

from __future__ import annotations

import collections
import functools
import io
import json
import pickle
import struct
import zipfile
from pathlib import Path

import torch

MiB = 2 ** 20
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _StorageRef:
    """Stands for storage ``key`` of ``numel`` float32 elements in a pickle written by ``_TorchPickler``."""

    def __init__(self, key: str, numel: int):
        self.key, self.numel = key, numel


class _TensorRef:
    """Pickles as torch.save pickles a 1-D float32 tensor of ``numel`` elements on ``storage``."""

    def __init__(self, storage: _StorageRef, numel: int):
        self.storage, self.numel = storage, numel

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, 0, (self.numel,), (1,), False, collections.OrderedDict()))


class _TorchPickler(pickle.Pickler):
    def __init__(self, file, legacy: bool = False):
        super().__init__(file, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj):
        if isinstance(obj, _StorageRef):
            pid = ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
            return pid + (None,) if self.legacy else pid
        return None


def torch_pickle(obj, legacy: bool = False) -> bytes:
    buf = io.BytesIO()
    _TorchPickler(buf, legacy).dump(obj)
    return buf.getvalue()


def torch_zip(entries: dict[str, bytes], deflated: tuple[str, ...] = ()) -> bytes:
    """A zip in torch.save's layout (``archive/NAME``), entries stored unless named in ``deflated``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in {"data.pkl": b"", "byteorder": b"little", "version": b"3\n", **entries}.items():
            info = zipfile.ZipInfo(f"archive/{name}", date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if name in deflated else zipfile.ZIP_STORED
            zf.writestr(info, data, compresslevel=1)
    return buf.getvalue()


@functools.lru_cache(maxsize=None)
def deflated_zip_bomb(nbytes: int = 128 * MiB) -> bytes:
    """A torch zip whose one storage (a float32 tensor named main.0.weight) is ``nbytes`` of zeros,
    deflated: about 1/220 of that on disk. Everything it declares is consistent; only the inflation
    gives it away."""
    numel = nbytes // 4
    pkl = torch_pickle({"main.0.weight": _TensorRef(_StorageRef("0", numel), numel)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in {"data.pkl": pkl, "byteorder": b"little", "version": b"3\n"}.items():
            zf.writestr(zipfile.ZipInfo(f"archive/{name}", date_time=(2024, 1, 1, 0, 0, 0)), data)
        info = zipfile.ZipInfo("archive/data/0", date_time=(2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        # level 1 is fast, and zeros still deflate ~220-fold (the attribute was renamed in Python 3.13)
        setattr(info, "compress_level" if hasattr(info, "compress_level") else "_compresslevel", 1)
        chunk = bytes(4 * MiB)
        with zf.open(info, "w", force_zip64=True) as f:
            for _ in range(nbytes // len(chunk)):
                f.write(chunk)
    return buf.getvalue()


def range_pickle(n: int = 50_000_000) -> bytes:
    """An NVlabs-looking network pickle (it names the persistence rebuild function, a Generator class
    and G_ema, so it is sniffed as one) whose value is ``list(range(n))``, from allowed globals only."""
    return (b"\x80\x04(" b"\x8c\x17torch_utils.persistence\x8c\x1b_reconstruct_persistent_obj\x93"
            b"\x8c\x05G_ema\x8c\tGenerator"
            b"\x8c\x08builtins\x8c\x04list\x93\x8c\x08builtins\x8c\x05range\x93J" + struct.pack("<i", n)
            + b"\x85R\x85R" b"\x8c\x01G\x8c\x01x" b"d.")


def nvlabs_pickle_with_ops(n_ops: int) -> bytes:
    """An NVlabs-looking pickle that is ``n_ops`` opcodes long (empty lists appended to one list)."""
    head = range_pickle(0)[:-2]  # up to the dict's items, before DICT and STOP
    return head + b"\x8c\x01y]" + b"]a" * (n_ops // 2) + b"d."


def sized_tensor_zip(shape=(64, 1_000_000, 4, 4)) -> bytes:
    """A torch zip whose main.0.weight is ``torch.Tensor(*shape)``: a 4 GB tensor from 400 bytes."""
    args = b"".join(b"J" + struct.pack("<i", d) for d in shape)
    pkl = (b"\x80\x02}X\r\x00\x00\x00main.0.weightctorch\nTensor\n(" + args + b"tRs.")
    return torch_zip({"data.pkl": pkl})


def bytearray_zip(n: int = 2 ** 30, module: bytes = b"builtins") -> bytes:
    """A torch zip whose pickle asks torch's own allowed ``bytearray`` for ``n`` bytes (torch reads the
    Python 2 name ``__builtin__.bytearray`` as that too)."""
    pkl = b"\x80\x02}X\x01\x00\x00\x00ac" + module + b"\nbytearray\nJ" + struct.pack("<i", n) + b"\x85Rs."
    return torch_zip({"data.pkl": pkl})


def short_record_zip(numel: int = 100_000_000) -> bytes:
    """A torch zip whose storage declares ``numel`` float32 elements over a 16-byte record."""
    pkl = torch_pickle({"main.0.weight": _TensorRef(_StorageRef("0", numel), numel)})
    return torch_zip({"data.pkl": pkl, "data/0": bytes(16)})


def legacy_oversized(numel: int = 1_000_000_000) -> bytes:
    """A legacy (non-zip) torch.save file whose one storage declares ``numel`` float32 elements."""
    parts = [pickle.dumps(LEGACY_MAGIC, 2), pickle.dumps(1001, 2),
             pickle.dumps({"protocol_version": 1001, "little_endian": True,
                           "type_sizes": {"short": 2, "int": 4, "long": 4}}, 2),
             torch_pickle({"main.0.weight": _TensorRef(_StorageRef("0", numel), 4)}, legacy=True),
             pickle.dumps(["0"], 2), struct.pack("<q", numel), bytes(16)]
    return b"".join(parts)


def meta_tensor_zip() -> bytes:
    """torch.save of a meta tensor (shape only, no data): a 4 GB main.0.weight in a tiny file."""
    buf = io.BytesIO()
    torch.save({"main.0.weight": torch.empty(64, 1_000_000, 4, 4, device="meta")}, buf)
    return buf.getvalue()


@functools.lru_cache(maxsize=None)
def tiny_dcgan():
    """The 16x16 test DCGAN of conftest.py (built once; callers only read it)."""
    from ganprior.priors import DCGANPrior
    return DCGANPrior.random(latent_dim=8, width=4, resolution=16, seed=0)


def ganprior_layout(extra: dict[str, torch.Tensor]) -> bytes:
    """The tiny DCGAN's own ``net.*`` state dict plus ``extra`` entries, as torch.save writes it."""
    buf = io.BytesIO()
    torch.save({**tiny_dcgan().state_dict(), **extra}, buf)
    return buf.getvalue()


def tutorial_layout_huge(blocks: int = 24) -> bytes:
    """A tutorial-layout DCGAN state dict of ``blocks`` tiny 4x4 convs: shapes that describe a
    2**(blocks + 1)-pixel generator whose first layer alone is gigabytes."""
    buf = io.BytesIO()
    torch.save({f"main.{3 * i}.weight": torch.zeros(2, 2, 4, 4) for i in range(blocks)}, buf)
    return buf.getvalue()


def prior_safetensors(**metadata: str) -> bytes:
    """The tiny DCGAN as ``ganprior train`` exports it, with metadata entries replaced by ``metadata``."""
    from safetensors.torch import save
    prior = tiny_dcgan()
    meta = {"format": "ganprior-dcgan", "generator": json.dumps(prior.config), "classes": "[]", **metadata}
    return save({f"generator.{k}": v.contiguous() for k, v in prior.state_dict().items()}, metadata=meta)


def safetensors_with_header(header: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + data


def _tiny_config(**changes) -> str:
    return json.dumps({**tiny_dcgan().config, **changes})


# file name -> (a function that gives its bytes, a piece of the one-line error loading it must give)
CRAFTED = {
    "zip_bomb.pth": (deflated_zip_bomb, "its zip entries inflate to 128.0 MB from a file of"),
    "range.pkl": (range_pickle, "its pickle asks builtins.list to build 50,000,000 items"),
    "sized_tensor.pth": (sized_tensor_zip, "its pickle constructs a torch.Tensor from a size instead of stored data"),
    "bytearray.pth": (bytearray_zip, "its pickle asks builtins.bytearray to build 1,073,741,824 items"),
    "bytearray_py2_name.pth": (lambda: bytearray_zip(module=b"__builtin__"),
                               "its pickle asks builtins.bytearray to build 1,073,741,824 items"),
    "short_record.pth": (short_record_zip, "storage '0' declares 400,000,000 bytes but its record holds 16"),
    "legacy_oversized.pth": (legacy_oversized, "its storages declare 4,000,000,000 bytes but the file holds 354"),
    "meta_tensor.pth": (meta_tensor_zip, "it holds a meta tensor of shape (64, 1000000, 4, 4)"),
    "net_depth_short.pth": (lambda: ganprior_layout({"net.1": torch.zeros(2)}), "unexpected key 'net.1'"),
    "net_depth_name.pth": (lambda: ganprior_layout({"net.x.0.weight": torch.zeros(2)}),
                           "unexpected key 'net.x.0.weight'"),
    "net_depth_pos.pth": (lambda: ganprior_layout({"net.0.2.weight": torch.zeros(2)}),
                          "unexpected key 'net.0.2.weight'"),
    "huge_shapes.pth": (tutorial_layout_huge, "refused to build a prior from checkpoint"),
    "classes_json.safetensors": (lambda: prior_safetensors(classes="[not json"),
                                 "metadata entry 'classes' is not valid JSON"),
    "classes_type.safetensors": (lambda: prior_safetensors(classes='{"a": 1}'),
                                 "metadata entry 'classes' is a JSON dict, not a list"),
    "generator_json.safetensors": (lambda: prior_safetensors(generator="{"),
                                   "metadata entry 'generator' is not valid JSON"),
    "generator_field.safetensors": (lambda: prior_safetensors(generator=_tiny_config(width="4")),
                                    "metadata entry 'generator' has width '4', not an integer >= 1"),
    "huge_latent.safetensors": (lambda: prior_safetensors(generator=_tiny_config(latent_dim=10 ** 8)),
                                "refused to build a prior from prior file"),
    "header_length.safetensors": (lambda: struct.pack("<Q", 10 ** 9) + b"{}",
                                  "its header declares 953.7 MB, but the file has 2 bytes after the length field"),
    "header_json.safetensors": (lambda: safetensors_with_header(b"{not json"), "its header is not valid JSON"),
    "header_offsets.safetensors": (lambda: safetensors_with_header(
        b'{"generator.x": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4000000]}}', bytes(16)),
        "tensor 'generator.x' has data_offsets [0, 4000000] outside the 16 bytes of data"),
    "header_dtype.safetensors": (lambda: safetensors_with_header(
        b'{"generator.x": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}', bytes(16)),
        "tensor 'generator.x' has unknown dtype 'F128'"),
}


def write_crafted(folder: Path, name: str) -> Path:
    """Write crafted case ``name`` into ``folder``; its path."""
    path = folder / name
    path.write_bytes(CRAFTED[name][0]())
    return path


__all__ = ["CRAFTED", "deflated_zip_bomb", "nvlabs_pickle_with_ops", "range_pickle", "write_crafted"]
