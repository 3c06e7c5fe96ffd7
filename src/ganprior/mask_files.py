"""Per-image mask files, matched to their inputs by name (issue #27).

For an input ``NAME.EXT`` (any image extension, in any letter case):

* ``--mask DIR`` (a folder): ``DIR/NAME_mask.*``, else ``DIR/NAME.*`` (never the input itself, so DIR
  may be the inputs' own folder);
* no ``--mask``: ``NAME_mask.*`` lying beside the input, when there is one.

Two candidates of the same kind (``NAME_mask.png`` and ``NAME_mask.jpg``) are an error: which one the
user meant cannot be guessed. A mask file beside its input is never an input of an inpaint run
itself (``drop_paired_masks``): ``ganprior inpaint photos/`` restores ``a.jpg`` with ``a_mask.png``,
not ``a_mask.png`` too.

A per-image mask must have its input's size: a mask drawn for another size of the picture would
mark the wrong pixels after any resize, so a different size is a one-line error naming both files
(``check_mask_size``) rather than a guess. (The one ``--mask FILE`` of a whole run is still resized,
nearest, as before: it is not drawn for any one picture.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from .errors import GanpriorError
from .io import IMAGE_EXTS

MASK_SUFFIX = "_mask"


def is_mask_folder(mask) -> bool:
    """Whether a ``--mask`` setting names a folder of per-image masks."""
    if not isinstance(mask, (str, os.PathLike)):
        return False
    try:
        return os.path.isdir(mask)
    except (OSError, ValueError):
        return False


class _Listings:
    """Image files per folder, by stem (each folder listed once per lookup batch)."""

    def __init__(self):
        self._seen: dict[str, dict[str, list[Path]]] = {}

    def of(self, folder: Path) -> dict[str, list[Path]]:
        key = os.path.abspath(folder)
        if key not in self._seen:
            stems: dict[str, list[Path]] = {}
            try:
                entries = sorted(os.listdir(folder))
            except OSError as e:
                raise GanpriorError(f"cannot read mask folder {folder}: {e.strerror or type(e).__name__}") from None
            for entry in entries:
                p = Path(folder) / entry
                if p.suffix.lower() in IMAGE_EXTS and os.path.isfile(p):
                    stems.setdefault(p.stem, []).append(p)
            self._seen[key] = stems
        return self._seen[key]


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _pick(image: Path, candidates: list[Path]) -> Path | None:
    found = [c for c in candidates if not _same(c, image)]
    if len(found) > 1:
        raise GanpriorError(f"{len(found)} masks match input {image}: {', '.join(str(f) for f in found)}; "
                            f"keep one")
    return found[0] if found else None


def find_mask(image: str | os.PathLike, folder: str | os.PathLike | None = None,
              listings: _Listings | None = None) -> Path | None:
    """The mask file of input ``image``: in ``folder`` (``NAME_mask.*``, else ``NAME.*``), or with no
    folder ``NAME_mask.*`` beside it; None when there is none."""
    image = Path(image)
    listings = listings or _Listings()
    stem = image.stem
    if folder is None:
        try:
            beside = listings.of(image.parent)
        except GanpriorError:
            return None  # an unreadable inputs' folder: no mask beside, the input's own error says why
        return _pick(image, beside.get(stem + MASK_SUFFIX, []))
    stems = listings.of(Path(folder))
    return _pick(image, stems.get(stem + MASK_SUFFIX, [])) or _pick(image, stems.get(stem, []))


def find_masks(images: Sequence[str | os.PathLike], folder: str | os.PathLike | None = None) -> list[Path | None]:
    """``find_mask`` of each input (each folder listed once)."""
    listings = _Listings()
    return [find_mask(i, folder, listings) for i in images]


def missing_mask_error(missing: Sequence[str | os.PathLike], folder: str | os.PathLike | None,
                       total: int) -> GanpriorError:
    """The one-line error for inputs an inpaint run has no mask for (``missing``: their paths)."""
    first = Path(missing[0])
    more = f" (and {len(missing) - 1} more of the {total} inputs)" if len(missing) > 1 else ""
    if folder is not None:
        return GanpriorError(f"inpaint needs a mask for input {first}: no {first.stem}{MASK_SUFFIX}.* or "
                             f"{first.stem}.* in the mask folder {folder}{more}; nothing was written")
    return GanpriorError(f"inpaint needs a mask for input {first}{more}: put {first.stem}{MASK_SUFFIX}.png beside "
                         f"it, or give --mask (a file, a folder of masks, center[:SIDE] or random[:FRACTION]) or "
                         f"--mask-paint COLOR, or use an image with transparent pixels; nothing was written")


def drop_paired_masks(files: Sequence[Path]) -> list[Path]:
    """``files`` without those that are the ``NAME_mask.*`` of another file ``NAME.*`` among them
    (in the same folder): in an inpaint run those are masks, not inputs."""
    stems = {(os.path.abspath(f.parent), f.stem) for f in files}
    return [f for f in files if not (f.stem.endswith(MASK_SUFFIX) and len(f.stem) > len(MASK_SUFFIX)
                                     and (os.path.abspath(f.parent), f.stem[:-len(MASK_SUFFIX)]) in stems)]


def check_mask_size(mask_size: tuple[int, int], image_size: tuple[int, int], mask_name, image_name) -> None:
    """A per-image mask must have its input's (width, height); (0, 0) is unknown (the reader says why)."""
    if (0, 0) in (tuple(mask_size), tuple(image_size)) or tuple(mask_size) == tuple(image_size):
        return
    raise GanpriorError(f"mask {mask_name} is {mask_size[0]}x{mask_size[1]}, its input {image_name} "
                        f"{image_size[0]}x{image_size[1]}: a per-image mask must have its input's size")


def has_transparency(path: str | os.PathLike) -> bool | None:
    """Whether an image file has an alpha channel or a transparent colour, from its header only;
    None when it cannot be read (its own error comes later)."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            return im.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in im.info
    except Exception:  # noqa: BLE001 - any unreadable file: the reader names it later
        return None
