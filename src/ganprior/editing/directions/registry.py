"""Loading directions through registered (detector, loader) entries.

Two tables, tried in order: ``FILE_KINDS`` claims a file by what it holds (a flow archive, a
``Direction`` archive, an external boundary array), and ``SPEC_FORMS`` claims a command-line spec
by its form (``sefa:I`` / ``pca:I`` computed on the fly from ``COMPUTED_FORMS``, a path, a name
shipped with the prior). A new kind of direction is one new module plus one entry here (or a call
to ``register_file_kind`` / ``register_computed_form`` from outside the package). The registry
imports the kinds and they import only the base, so no two modules import each other.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...errors import GanpriorError
from ...priors.base import Prior
from . import external, flow, pca, sefa
from .base import Direction, check_fits, holds_direction, load_vector_direction
from .records import StoredFile


@dataclass(frozen=True)
class Entry:
    """One registered form: ``detect(...)`` says whether it applies, ``load(...)`` reads it."""

    name: str
    detect: Callable[..., bool]
    load: Callable[..., Any]


# detect(stored) -> bool; load(stored, prior or None) -> a direction, checked against the prior if given
FILE_KINDS: list[Entry] = [
    Entry("flow", flow.holds_flow, flow.load_flow),
    Entry("direction", holds_direction, load_vector_direction),
    Entry("boundary", external.holds_boundary, external.load_boundary),
]

# "PREFIX:I" specs: compute(prior, k) -> the top-k directions of that kind, of which the I-th is taken
COMPUTED_FORMS: dict[str, Callable[[Prior, int], list[Direction]]] = {
    "sefa": sefa.closed_form_directions,
    "pca": pca.pca_directions,
}


def register_file_kind(name: str, detect: Callable[[StoredFile], bool],
                       load: Callable[[StoredFile, Prior | None], Any], *, first: bool = False) -> None:
    """Add a kind of direction file; ``first`` tries it before the built-in kinds (needed for a new
    kind of plain ``.npy`` array, which the external-boundary kind otherwise claims)."""
    entry = Entry(str(name), detect, load)
    if first:
        FILE_KINDS.insert(0, entry)
    else:
        FILE_KINDS.append(entry)


def register_computed_form(prefix: str, compute: Callable[[Prior, int], list[Direction]]) -> None:
    """Make ``PREFIX:I`` specs name the I-th direction ``compute(prior, I + 1)`` returns."""
    COMPUTED_FORMS[str(prefix)] = compute


# -- files --------------------------------------------------------------------------------------

def load_direction(path: str | os.PathLike, prior: Prior | None = None):
    """Read a direction file with the first ``FILE_KINDS`` entry that claims it: our ``.npz``
    (``Direction.save``, or ``FlowDirection.save``: an MLP attribute model, returned as a
    ``FlowDirection``) or an external boundary ``.npy`` (see ``external``).

    With ``prior``, the direction is checked against it (a w direction is accepted for a w+ prior);
    an external boundary is read for the prior's space. Errors name the file; pickled data is never
    loaded.
    """
    path = Path(path)
    if not path.is_file():
        raise GanpriorError(f"direction file not found: {path}")
    try:
        content = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        if "pickle" in reason.lower():
            reason = "pickled data is never loaded"
        raise GanpriorError(f"cannot read direction file {path}: not a NumPy .npy or .npz array ({reason})") from None
    stored = StoredFile(path, content)
    try:
        with content if stored.is_archive else contextlib.nullcontext():
            for kind in FILE_KINDS:
                if kind.detect(stored):
                    return kind.load(stored, prior)
        raise GanpriorError(f"{path} is not a ganprior direction file: it needs 'vector' and 'meta' "
                            f"entries, found {', '.join(stored.files) or 'none'}")
    except GanpriorError as e:
        message = str(e)
        raise GanpriorError(message if str(path) in message else f"{path}: {message}") from None


# -- command-line specs -------------------------------------------------------------------------

def named_directions(prior_name: str) -> dict[str, Path]:
    """The directions shipped for a named prior: ``{name: path}`` of the ``.npz`` files in
    ``WEIGHTS_DIR / "directions" / prior_name`` (sorted by name; empty when there is no folder)."""
    from ...priors.zoo import WEIGHTS_DIR
    name = str(prior_name)
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        return {}
    folder = WEIGHTS_DIR / "directions" / name
    if not folder.is_dir():
        return {}
    return {f.stem: f for f in sorted(folder.glob("*.npz")) if f.is_file()}


def _is_computed(text: str, prior: Prior) -> bool:
    return ":" in text and text.partition(":")[0] in COMPUTED_FORMS and not Path(text).exists()


def _computed(text: str, prior: Prior) -> Direction:
    kind, _, index_text = text.partition(":")
    try:
        index = int(index_text)
    except ValueError:
        index = -1
    if index < 0:
        raise GanpriorError(f"direction {text!r}: {kind}:I takes a component index I = 0, 1, 2, ...")
    try:
        found = COMPUTED_FORMS[kind](prior, index + 1)
    except GanpriorError as e:
        raise GanpriorError(f"direction {text!r}: {e}") from None
    return found[index]


def _is_path(text: str, prior: Prior) -> bool:
    path = Path(text)
    return path.suffix.lower() in (".npz", ".npy") or path.is_file() or os.sep in text or "/" in text


def _load_checked(path: Path, prior: Prior):
    direction = load_direction(path, prior)
    check_fits(direction, prior)  # shape and space against the prior, also for external boundaries
    return direction


def _file(text: str, prior: Prior):
    return _load_checked(Path(text), prior)


def _is_shipped(text: str, prior: Prior) -> bool:
    return text in named_directions(getattr(prior, "name", ""))


def _shipped(text: str, prior: Prior):
    return _load_checked(named_directions(getattr(prior, "name", ""))[text], prior)


# detect(text, prior) -> bool; load(text, prior) -> a direction that fits the prior
SPEC_FORMS: list[Entry] = [
    Entry("computed", _is_computed, _computed),
    Entry("file", _is_path, _file),
    Entry("shipped", _is_shipped, _shipped),
]


def resolve_direction(spec: str | os.PathLike, prior: Prior):
    """A direction for ``prior`` from a command-line spec, checked against the prior (a ``Direction``,
    or a ``FlowDirection`` for a non-linear direction file), by the first ``SPEC_FORMS`` entry that
    claims it:

    * ``sefa:I`` / ``pca:I``: the I-th closed-form (SeFa) or PCA (GANSpace) direction, computed
      on the fly (the top I+1 are computed);
    * a path to a ``.npz`` (``Direction.save``) or ``.npy`` (InterFaceGAN boundary) file;
    * a NAME shipped with the prior (``named_directions(prior.name)``).

    An unknown name is an error that lists the available names and the ``sefa:I`` / ``pca:I`` forms.
    """
    text = str(spec).strip()
    if not text:
        raise GanpriorError("empty direction; give a .npz/.npy file, sefa:I, pca:I or a direction name")
    for form in SPEC_FORMS:
        if form.detect(text, prior):
            return form.load(text, prior)
    names = named_directions(getattr(prior, "name", ""))
    shipped = (f"directions shipped for prior {prior.name!r}: {', '.join(names)}" if names
               else f"no directions are shipped for prior {prior.name!r}")
    raise GanpriorError(f"unknown direction {text!r} ({shipped}); give a .npz/.npy file, sefa:I "
                        "(closed-form, SeFa) or pca:I (GANSpace), I = 0, 1, 2, ...")


__all__ = ["COMPUTED_FORMS", "FILE_KINDS", "SPEC_FORMS", "Entry", "load_direction", "named_directions",
           "register_computed_form", "register_file_kind", "resolve_direction"]
