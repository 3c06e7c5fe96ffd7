"""Which edit directions the web app accepts: never a server path.

The command line's ``--direction`` takes any file path; the page must not, or it would tell a
visitor whether a server file exists and what arrays a ``.npz`` holds. The app accepts

* a name shipped with the prior (``editing.directions.named_directions``),
* ``sefa:I`` / ``pca:I`` with I = 0..MAX_COMPONENT (computed on the fly),
* a direction file the user uploaded in the same browser session: ``read_direction_upload`` checks
  it and adds it to that session's ``uploaded`` mapping (``"upload:NAME"`` -> the server's copy),
  which the page keeps in the session's state and hands to the edit run.

``check_spec`` is the cheap, syntactic check a run makes before it waits for a slot; ``load``
reads the direction for the prior. Messages name the user's file, never the server path.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Mapping

from ..errors import GanpriorError
from . import limits
from .messages import public_text

MAX_COMPONENT = 19            # sefa:I / pca:I take I = 0..19 (the top I+1 are computed)
UPLOAD_PREFIX = "upload:"
_COMPUTED = re.compile(r"^(sefa|pca):(\d+)$")
NOT_A_PATH = ("directions are picked by name, not by path: choose one from the list, sefa:I or pca:I, "
              "or upload a .npz/.npy direction file")


def _shipped(prior_name: str) -> dict[str, Path]:
    from ..editing.directions import named_directions
    return named_directions(prior_name) if isinstance(prior_name, str) and prior_name else {}


def direction_choices(prior_name: str, uploaded: Mapping[str, str] | None = None) -> list[str]:
    """The directions offered for a prior: its shipped names, SeFa and PCA components, then the
    session's uploads."""
    return sorted(_shipped(prior_name)) + [f"sefa:{i}" for i in range(5)] + [f"pca:{i}" for i in range(5)] \
        + list(uploaded or {})


def check_spec(spec, prior_name: str, uploaded: Mapping[str, str] | None = None) -> str:
    """The direction text if the app accepts it for this prior and session, else a one-line error."""
    text = str(spec if spec is not None else "").strip()
    if not text:
        raise GanpriorError("pick a direction")
    if text in (uploaded or {}):
        return text
    found = _COMPUTED.match(text)
    if found:
        if int(found.group(2)) > MAX_COMPONENT:
            raise GanpriorError(f"direction {text}: the app computes components 0..{MAX_COMPONENT}")
        return text
    if text in _shipped(prior_name):
        return text
    if text.startswith(UPLOAD_PREFIX):
        raise GanpriorError(f"no direction file {text[len(UPLOAD_PREFIX):]!r} was uploaded in this session; "
                            "upload it here")
    if "/" in text or "\\" in text or text.startswith(".") or text.lower().endswith((".npz", ".npy")):
        raise GanpriorError(NOT_A_PATH)
    names = ", ".join(sorted(_shipped(prior_name))) or "none"
    raise GanpriorError(f"unknown direction {text!r} (shipped for this prior: {names}); choose sefa:I or pca:I "
                        f"(I = 0..{MAX_COMPONENT}), or upload a .npz/.npy direction file")


def load(spec, prior, uploaded: Mapping[str, str] | None = None):
    """The direction ``spec`` names (after ``check_spec``) for the loaded ``prior``, checked against it."""
    from ..editing.directions import check_fits, load_direction
    from ..editing.directions.registry import COMPUTED_FORMS
    uploaded = uploaded or {}
    text = check_spec(spec, getattr(prior, "name", ""), uploaded)
    if text in uploaded:
        path, name = Path(uploaded[text]), text[len(UPLOAD_PREFIX):]
        if not path.is_file():
            raise GanpriorError(f"the uploaded direction {name} is gone; upload it again")
        try:
            direction = load_direction(path, prior)
            check_fits(direction, prior)
        except GanpriorError as e:
            raise GanpriorError(public_text(str(e), {str(path): name})) from None
        return direction
    found = _COMPUTED.match(text)
    if found:
        kind, index = found.group(1), int(found.group(2))
        try:
            return COMPUTED_FORMS[kind](prior, index + 1)[index]
        except GanpriorError as e:
            raise GanpriorError(f"direction {text!r}: {e}") from None
    path = _shipped(getattr(prior, "name", ""))[text]
    direction = load_direction(path, prior)
    check_fits(direction, prior)
    return direction


def _check_file_size(path: Path, name: str) -> None:
    limit = limits.MAX_DIRECTION_MB * 2 ** 20
    if path.stat().st_size > limit:
        raise GanpriorError(f"{name} is {path.stat().st_size / 2 ** 20:.1f} MB; direction files are limited to "
                            f"{limits.MAX_DIRECTION_MB:g} MB")
    if zipfile.is_zipfile(path):  # an .npz: its arrays are unpacked when read, so their sizes count
        try:
            with zipfile.ZipFile(path) as z:
                unpacked = sum(i.file_size for i in z.infolist())
        except (zipfile.BadZipFile, OSError, ValueError):
            raise GanpriorError(f"{name} is not a NumPy .npy or .npz array") from None
        if unpacked > limit:
            raise GanpriorError(f"{name} unpacks to {unpacked / 2 ** 20:.1f} MB; direction files are limited to "
                                f"{limits.MAX_DIRECTION_MB:g} MB")


def read_direction_upload(path: str | os.PathLike | None,
                          uploaded: Mapping[str, str] | None = None) -> tuple[dict[str, str], str]:
    """Check an uploaded direction file and add it to the session's uploads: (new mapping, its key).

    The file must be a ganprior direction ``.npz`` or an external boundary ``.npy`` (read without
    pickles); a second upload of the same name gets its own key, so neither replaces the other."""
    from ..editing.directions import load_direction
    if path is None or str(path) == "":
        raise GanpriorError("upload a .npz or .npy direction file")
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise GanpriorError(f"the upload {name} is gone; upload it again")
    if path.suffix.lower() not in (".npz", ".npy"):
        raise GanpriorError(f"{name} is not a direction file (.npz or .npy)")
    _check_file_size(path, name)
    try:
        load_direction(path)  # claims the file by what it holds; checked against the prior when used
    except GanpriorError as e:
        raise GanpriorError(public_text(str(e), {str(path): name})) from None
    mapping = dict(uploaded or {})
    key, n = f"{UPLOAD_PREFIX}{name}", 1
    while key in mapping and mapping[key] != str(path):
        n += 1
        key = f"{UPLOAD_PREFIX}{name} ({n})"
    mapping[key] = str(path)
    return mapping, key
