"""Training data: an image folder, decoded once into a uint8 tensor, with a recorded hold-out split.

Hold-out rule (fixed and independent of file order, OS or folder location): the ``holdout``
files whose SHA-256 of the *file name* is smallest are held out. ``holdout_files`` lists them so
benchmarks evaluate on exactly the images training never saw.

Labels (optional) come from a regular expression with one capture group applied to each file
name; the distinct captured strings, sorted, become classes ``0 .. K-1``.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import GanpriorError
from ..io import IMAGE_EXTS, atomic_write


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted by relative path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GanpriorError(f"training folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise GanpriorError(f"folder {folder} holds no image files")
    return files


def _name_key(path: Path) -> str:
    return hashlib.sha256(path.name.encode()).hexdigest()


def split_holdout(files: list[Path], holdout: int) -> tuple[list[Path], list[Path]]:
    """``(train, held_out)``: the ``holdout`` files with the smallest SHA-256(file name) are held out."""
    if holdout < 0 or holdout >= len(files):
        raise GanpriorError(f"cannot hold out {holdout} of {len(files)} images")
    ranked = sorted(files, key=_name_key)
    held = set(ranked[:holdout])
    return [f for f in files if f not in held], sorted(ranked[:holdout])


def holdout_files(folder: str | os.PathLike, holdout: int = 200) -> list[Path]:
    """The held-out images of ``folder`` under the rule above."""
    return split_holdout(list_images(folder), holdout)[1]


def parse_labels(files: list[Path], pattern: str) -> tuple[list[Path], list[int], list[str]]:
    """Keep the files whose name matches ``pattern``; return them, their class indices and class names."""
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise GanpriorError(f"bad --labels regular expression {pattern!r}: {e}") from None
    if rx.groups != 1:
        raise GanpriorError(f"--labels needs exactly one capture group, {pattern!r} has {rx.groups}")
    kept, raw = [], []
    for f in files:
        m = rx.search(f.name)
        if m and m.group(1) is not None:
            kept.append(f)
            raw.append(m.group(1))
    if not kept:
        raise GanpriorError(f"--labels {pattern!r} matches no file name (e.g. {files[0].name})")
    classes = sorted(set(raw), key=lambda s: (len(s), s) if s.isdigit() else (1 << 30, s))
    index = {c: i for i, c in enumerate(classes)}
    return kept, [index[r] for r in raw], classes


def load_image_uint8(path: Path, resolution: int) -> np.ndarray:
    """Decode, composite alpha on white, centre-crop to square, resize (Lanczos): ``(3, R, R)`` uint8."""
    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        im = im.convert("RGB")
        w, h = im.size
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        if s != resolution:
            im = im.resize((resolution, resolution), Image.LANCZOS)
        return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy()


@dataclass
class ImageSet:
    images: torch.Tensor            # (N, 3, R, R) uint8
    labels: torch.Tensor | None     # (N,) long
    classes: list[str]
    files: list[str]                # names, in the order of ``images``
    skipped: list[str]              # unreadable files

    def __len__(self) -> int:
        return self.images.shape[0]


def build_image_set(files: list[Path], resolution: int, labels: list[int] | None = None,
                    classes: list[str] | None = None, cache: Path | None = None,
                    progress=None) -> ImageSet:
    """Decode ``files`` once (cached in ``cache`` as .npz keyed by the file list and resolution)."""
    key = hashlib.sha256(("\n".join(f.name for f in files) + f"|{resolution}").encode()).hexdigest()[:16]
    if cache is not None:
        path = cache / f"images-{resolution}-{key}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                return _image_set(z["images"], z["ok"], files, labels, classes)
    arrays, ok = [], np.zeros(len(files), dtype=bool)
    for i, f in enumerate(files):
        try:
            arrays.append(load_image_uint8(f, resolution))
            ok[i] = True
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
            pass
        if progress is not None:
            progress(i + 1, len(files))
    if not arrays:
        raise GanpriorError("no training image could be read")
    images = np.stack(arrays)
    if cache is not None:
        def write(fh):
            np.savez(fh, images=images, ok=ok)
        atomic_write(cache / f"images-{resolution}-{key}.npz", write)
    return _image_set(images, ok, files, labels, classes)


def _image_set(images: np.ndarray, ok: np.ndarray, files: list[Path], labels: list[int] | None,
               classes: list[str] | None) -> ImageSet:
    """The decoded images with the labels and names of the files that could be read (``ok``)."""
    return ImageSet(torch.from_numpy(images),
                    None if labels is None else torch.tensor(labels)[torch.from_numpy(ok)],
                    classes or [], [f.name for f, k in zip(files, ok) if k],
                    [f.name for f, k in zip(files, ok) if not k])
