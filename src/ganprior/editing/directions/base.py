"""What every kind of direction shares: the latent spaces, the check that codes of a space and shape
fit a prior, and ``Direction``, the unit vector that the linear kinds (InterFaceGAN boundaries, SeFa,
GANSpace, external boundaries) all produce, with its ``.npz`` reader and writer.

A w-space direction is also valid for a prior in w+ space (the same step on every layer's w):
``Direction.as_latent(prior)`` returns it in the prior's ``latent_shape``. Non-linear kinds (the
flow of ``flow.py``) are not ``Direction`` objects; they share its duck interface (``name``,
``space``, ``shape``, ``source``, ``accuracy``, ``meta``, ``check(prior)``, ``save(path)``), and
``check_fits`` accepts both.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from ...errors import GanpriorError
from ...io import atomic_write
from ...priors.base import Prior
from .records import READ_ERRORS, StoredFile, read_error, record_text

SPACES = ("z", "w", "w+")
SOURCES = ("supervised", "closed-form", "pca", "external")
FORMAT = "ganprior-direction"
FORMAT_VERSION = 1


# -- latent spaces and shapes -----------------------------------------------------------------

def active_space(prior: Prior) -> str:
    """The latent space the prior's codes are in now: StyleGAN2's ``latent_space``, else the
    prior's only space (``"z"`` for DCGAN, PGGAN and BigGAN)."""
    space = getattr(prior, "latent_space", None)
    if isinstance(space, str) and space in SPACES:
        return space
    spaces = getattr(prior, "latent_spaces", None) or ("z",)
    return spaces[0]


def check_code_space(name: str, kind: str, space: str, shape: tuple[int, ...], prior: Prior, *,
                     broadcast_hint: bool = False) -> None:
    """Raise ``GanpriorError`` unless codes of ``space`` and ``shape`` are what ``prior`` takes now
    (its active latent space and ``latent_shape``); ``kind`` names the thing in the message."""
    active, expected = active_space(prior), tuple(prior.latent_shape)
    if space != active:
        hint = (" (use direction.as_latent(prior) to broadcast it over the w+ layers)"
                if broadcast_hint and space == "w" and active == "w+" else
                f"; switch with prior.use_latent_space({space!r})"
                if space in getattr(prior, "latent_spaces", ()) else "")
        raise GanpriorError(f"direction {name!r} is a {space}-space {kind} but prior {prior.name!r} uses "
                            f"{active} codes{hint}")
    if tuple(shape) != expected:
        raise GanpriorError(f"direction {name!r} has shape {shape_text(shape)} but prior {prior.name!r} takes "
                            f"{active} codes of shape {shape_text(expected)}")


def shape_text(shape: Sequence[int]) -> str:
    """A shape as Python writes a tuple, for messages: ``(8,)``, ``(1, 512)``."""
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


# -- small helpers the kinds share --------------------------------------------------------------

def fix_sign(v: torch.Tensor) -> torch.Tensor:
    """``v`` or ``-v``, whichever has its largest-magnitude component positive (a deterministic
    choice for eigen- and singular vectors, whose sign is arbitrary)."""
    flat = v.reshape(-1)
    return -v if flat[flat.abs().argmax()] < 0 else v


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """Run with ``module`` in eval mode (stored batch-norm statistics), restoring its mode after."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def prior_info(prior: Prior) -> dict:
    """The prior's name and family, recorded in a direction's ``meta``."""
    return {"prior": str(getattr(prior, "name", type(prior).__name__)),
            "family": str(getattr(prior, "family", "custom"))}


def device_of(prior: Prior) -> torch.device:
    """The prior's device (the CPU for a prior without parameters)."""
    try:
        return prior.device
    except StopIteration:
        return torch.device("cpu")


# -- the Direction --------------------------------------------------------------------------

@dataclass(eq=False)
class Direction:
    """A unit latent direction.

    Args:
        name: display / file name (e.g. ``"smile"``, ``"sefa-0"``).
        vector: unit-norm tensor of the prior's ``latent_shape`` in ``space`` (stored float32, CPU).
        space: ``"z"``, ``"w"`` or ``"w+"``: where it was found.
        source: ``"supervised"``, ``"closed-form"``, ``"pca"`` or ``"external"``.
        accuracy: held-out accuracy of the boundary (supervised directions), else None.
        offset: the boundary's intercept on the same scale as ``vector``: a code x lies at signed
            distance ``<vector, x> + offset`` from it (supervised directions).
        meta: JSON-able details (prior name, attribute, thresholds, eigenvalue, ...).

    A vector that is not unit-norm is normalised on construction (and ``offset`` divided by the
    same norm, so the boundary stays the same).
    """

    name: str
    vector: torch.Tensor
    space: str = "z"
    source: str = "external"
    accuracy: float | None = None
    offset: float = 0.0
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise GanpriorError(f"direction {self.name!r}: unknown latent space {self.space!r}; "
                                f"choose one of {', '.join(SPACES)}")
        if self.source not in SOURCES:
            raise GanpriorError(f"direction {self.name!r}: unknown source {self.source!r}; "
                                f"choose one of {', '.join(SOURCES)}")
        v = torch.as_tensor(self.vector).detach().to("cpu", torch.float32).contiguous()
        if v.ndim == 0 or v.numel() == 0:
            raise GanpriorError(f"direction {self.name!r}: the vector is empty")
        if not bool(torch.isfinite(v).all()):
            raise GanpriorError(f"direction {self.name!r}: the vector has NaN or infinite values")
        norm = float(v.double().norm())
        if norm == 0:
            raise GanpriorError(f"direction {self.name!r}: the vector is zero")
        if abs(norm - 1) > 1e-5:
            v = (v.double() / norm).float()
            self.offset = float(self.offset) / norm
        self.vector = v
        self.offset = float(self.offset)
        self.accuracy = None if self.accuracy is None else float(self.accuracy)
        self.meta = dict(self.meta or {})

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.vector.shape)

    def check(self, prior: Prior) -> "Direction":
        """Raise ``GanpriorError`` unless the direction fits the prior exactly: same latent space
        as the prior's active one and ``vector.shape == prior.latent_shape``. Returns self."""
        check_code_space(self.name, "direction", self.space, self.shape, prior, broadcast_hint=True)
        return self

    def as_latent(self, prior: Prior) -> torch.Tensor:
        """The direction as a tensor of ``prior.latent_shape`` on the prior's device.

        A flat vector with the right number of values is reshaped; a w direction on a prior in
        w+ space is repeated for every layer (not renormalised: a step ``alpha`` along the result
        moves each layer's w by ``alpha``, the same edit as in w space).
        """
        space = active_space(prior)
        expected = tuple(prior.latent_shape)
        v = self.vector
        if self.space == space and v.numel() == math.prod(expected):
            out = v.reshape(expected)
        elif self.space == "w" and space == "w+" and len(expected) == 2 and v.numel() == expected[1]:
            out = v.reshape(1, expected[1]).expand(expected).clone()
        else:
            self.check(prior)  # raises the specific error
            out = v
        return out.to(device_of(prior), copy=True)

    def to_dict(self) -> dict:
        """Everything but the vector, JSON-able."""
        return {"format": FORMAT, "version": FORMAT_VERSION, "name": self.name,
                "space": self.space, "source": self.source, "accuracy": self.accuracy,
                "offset": self.offset, "shape": list(self.shape), "meta": self.meta}

    def save(self, path: str | os.PathLike) -> Path:
        """Write a ``.npz`` with ``vector`` (float32) and ``meta`` (a JSON string), atomically."""
        text = record_text(self.name, self.to_dict())
        vector = self.vector.numpy()
        return atomic_write(path, lambda f: np.savez(f, vector=vector, meta=np.array(text)))


def check_fits(direction, prior: Prior) -> None:
    """Raise ``GanpriorError`` unless ``direction`` can edit the prior's codes: a ``Direction`` by
    ``as_latent`` (a w direction fits a w+ prior), a non-linear one (``flow.FlowDirection``) by its
    ``check``."""
    if isinstance(direction, Direction):
        direction.as_latent(prior)
    else:
        direction.check(prior)


# -- reading a Direction's file -------------------------------------------------------------

def holds_direction(stored: StoredFile) -> bool:
    """Whether the file is an archive with a ``vector`` and a ``meta`` entry (``Direction.save``)."""
    return "vector" in stored.files and "meta" in stored.files


def load_vector_direction(stored: StoredFile, prior: Prior | None = None) -> Direction:
    """The ``Direction`` in an archive ``Direction.save`` wrote, checked against ``prior`` if given."""
    path = stored.path
    try:
        vector = np.asarray(stored.content["vector"])
    except READ_ERRORS as e:
        raise read_error(path, e) from None
    info = stored.record()
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise GanpriorError(f"{path} is not a ganprior direction file (its meta is not a direction record)")
    if not np.issubdtype(vector.dtype, np.floating):
        raise GanpriorError(f"{path}: the direction vector has dtype {vector.dtype}, expected float")
    shape = tuple(info.get("shape", vector.shape))
    if tuple(vector.shape) != shape:
        raise GanpriorError(f"{path}: the vector has shape {shape_text(vector.shape)}, "
                            f"expected {shape_text(shape)} (from its metadata)")
    direction = Direction(name=str(info.get("name", path.stem)), vector=torch.from_numpy(vector.copy()),
                          space=str(info.get("space", "z")), source=str(info.get("source", "external")),
                          accuracy=info.get("accuracy"), offset=float(info.get("offset", 0.0)),
                          meta=dict(info.get("meta") or {}))
    if prior is not None:
        check_fits(direction, prior)
    return direction


__all__ = ["Direction", "FORMAT", "FORMAT_VERSION", "SOURCES", "SPACES", "active_space", "check_code_space",
           "check_fits", "holds_direction", "load_vector_direction"]
