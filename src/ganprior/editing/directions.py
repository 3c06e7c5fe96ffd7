"""Semantic and unsupervised latent directions: supervised (InterFaceGAN), closed-form (SeFa) and
PCA (GANSpace), plus loading, saving and checking them against a prior.

A ``Direction`` is a unit vector in one latent space of a prior (``z``, ``w`` or ``w+``), with the
shape of the prior's ``latent_shape`` in that space. Moving a code along it changes one factor of
the generated image:

* ``fit_direction`` (InterFaceGAN, Shen et al. CVPR 2020): the normal of a linear boundary that
  separates codes by an attribute (a linear SVM or logistic regression on labelled samples);
* ``closed_form_directions`` (SeFa, Shen & Zhou CVPR 2021): the top eigenvectors of ``A^T A``,
  where ``A`` is the first linear map the generator applies to the code: the directions that map
  to the largest changes in that layer's output, found from the weights alone;
* ``pca_directions`` (GANSpace, Haerkoenen et al. NeurIPS 2020): principal components of sampled
  w codes, or of the first-layer features for z-space priors, mapped back to z by regression;
* ``load_direction``: our ``.npz`` files and the ``boundaries/*.npy`` arrays of the InterFaceGAN
  and mGANprior repositories.

A w-space direction is also valid for a prior in w+ space (the same step on every layer's w):
``Direction.as_latent(prior)`` returns it in the prior's ``latent_shape``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from ..errors import GanpriorError
from ..io import atomic_write
from ..priors.base import Prior, feature_map

SPACES = ("z", "w", "w+")
SOURCES = ("supervised", "closed-form", "pca", "external")
ATTRIBUTE_KINDS = ("binary", "ordinal")
CLASSIFIERS = ("svm", "logistic")
PROJECTION_METHODS = ("auto", "weights", "jacobian")
MIN_PER_CLASS = 10          # fewer labelled codes per class than this give no usable boundary
FORMAT_VERSION = 1
_MAX_FEATURE_BYTES = 2 << 30  # PCA keeps the sampled features (float32) in memory


# -- helpers ----------------------------------------------------------------------------------

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
        raise GanpriorError(f"direction {name!r} has shape {_shape_text(shape)} but prior {prior.name!r} takes "
                            f"{active} codes of shape {_shape_text(expected)}")


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _fix_sign(v: torch.Tensor) -> torch.Tensor:
    """``v`` or ``-v``, whichever has its largest-magnitude component positive (a deterministic
    choice for eigen- and singular vectors, whose sign is arbitrary)."""
    flat = v.reshape(-1)
    return -v if flat[flat.abs().argmax()] < 0 else v


def _json_default(obj: Any):
    if isinstance(obj, (np.generic, torch.Tensor)) and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    if isinstance(obj, (np.ndarray, torch.Tensor)):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


@contextlib.contextmanager
def _eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """Run with ``module`` in eval mode (stored batch-norm statistics), restoring its mode after."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def _prior_info(prior: Prior) -> dict:
    return {"prior": str(getattr(prior, "name", type(prior).__name__)),
            "family": str(getattr(prior, "family", "custom"))}


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
        return out.to(_device(prior), copy=True)

    def to_dict(self) -> dict:
        """Everything but the vector, JSON-able."""
        return {"format": "ganprior-direction", "version": FORMAT_VERSION, "name": self.name,
                "space": self.space, "source": self.source, "accuracy": self.accuracy,
                "offset": self.offset, "shape": list(self.shape), "meta": self.meta}

    def save(self, path: str | os.PathLike) -> Path:
        """Write a ``.npz`` with ``vector`` (float32) and ``meta`` (a JSON string), atomically."""
        try:
            text = json.dumps(self.to_dict(), default=_json_default)
        except (TypeError, ValueError) as e:
            raise GanpriorError(f"direction {self.name!r}: meta cannot be saved as JSON ({e})") from None
        vector = self.vector.numpy()
        return atomic_write(path, lambda f: np.savez(f, vector=vector, meta=np.array(text)))


def _device(prior: Prior) -> torch.device:
    try:
        return prior.device
    except StopIteration:  # a prior without parameters
        return torch.device("cpu")


# -- loading ----------------------------------------------------------------------------------

def load_direction(path: str | os.PathLike, prior: Prior | None = None):
    """Read a direction: our ``.npz`` (``Direction.save``, or ``FlowDirection.save`` of
    ``editing.nonlinear``: an MLP attribute model, returned as a ``FlowDirection``) or an external
    boundary ``.npy``.

    External arrays (InterFaceGAN / mGANprior ``boundaries/*.npy``) have shape ``(1, D)`` or
    ``(D,)``; they are normalised to unit norm and named after the file stem. Their space is
    ``"z"`` unless ``prior`` is in w or w+ space and D is its w size (then ``"w"``; a flattened
    ``num_ws * w_dim`` array on a w+ prior is ``"w+"``). With ``prior``, the direction is checked
    against it (a w direction is accepted for a w+ prior). Errors name the file.
    """
    path = Path(path)
    if not path.is_file():
        raise GanpriorError(f"direction file not found: {path}")
    try:
        obj = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        if "pickle" in reason.lower():
            reason = "pickled data is never loaded"
        raise GanpriorError(f"cannot read direction file {path}: not a NumPy .npy or .npz array ({reason})") from None
    try:
        if isinstance(obj, np.lib.npyio.NpzFile):
            with obj:
                direction = _from_npz(obj, path)
            if prior is not None:
                check_fits(direction, prior)
            return direction
        return _from_boundary(np.asarray(obj), path, prior)
    except GanpriorError as e:
        message = str(e)
        raise GanpriorError(message if str(path) in message else f"{path}: {message}") from None


def check_fits(direction, prior: Prior) -> None:
    """Raise ``GanpriorError`` unless ``direction`` can edit the prior's codes: a ``Direction`` by
    ``as_latent`` (a w direction fits a w+ prior), a non-linear one (``editing.nonlinear``) by its
    ``check``."""
    if isinstance(direction, Direction):
        direction.as_latent(prior)
    else:
        direction.check(prior)


def _from_npz(npz, path: Path):
    if "meta" in npz.files and "vector" not in npz.files:
        try:
            info = json.loads(str(npz["meta"]))
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise GanpriorError(f"cannot read direction file {path}: {str(e).splitlines()[0][:120]}") from None
        if isinstance(info, dict) and info.get("format") == "ganprior-flow-direction":
            from .nonlinear import flow_from_npz
            return flow_from_npz(npz, info, path)
    if "vector" not in npz.files or "meta" not in npz.files:
        raise GanpriorError(f"{path} is not a ganprior direction file: it needs 'vector' and 'meta' "
                            f"entries, found {', '.join(npz.files) or 'none'}")
    try:
        vector = np.asarray(npz["vector"])
        info = json.loads(str(npz["meta"]))
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise GanpriorError(f"cannot read direction file {path}: {str(e).splitlines()[0][:120]}") from None
    if not isinstance(info, dict) or info.get("format") != "ganprior-direction":
        raise GanpriorError(f"{path} is not a ganprior direction file (its meta is not a direction record)")
    if not np.issubdtype(vector.dtype, np.floating):
        raise GanpriorError(f"{path}: the direction vector has dtype {vector.dtype}, expected float")
    shape = tuple(info.get("shape", vector.shape))
    if tuple(vector.shape) != shape:
        raise GanpriorError(f"{path}: the vector has shape {_shape_text(vector.shape)}, "
                            f"expected {_shape_text(shape)} (from its metadata)")
    return Direction(name=str(info.get("name", path.stem)), vector=torch.from_numpy(vector.copy()),
                     space=str(info.get("space", "z")), source=str(info.get("source", "external")),
                     accuracy=info.get("accuracy"), offset=float(info.get("offset", 0.0)),
                     meta=dict(info.get("meta") or {}))


def _from_boundary(array: np.ndarray, path: Path, prior: Prior | None) -> Direction:
    space = active_space(prior) if prior is not None else "z"
    expected = tuple(prior.latent_shape) if prior is not None else None
    if space in ("w", "w+"):
        w_dim = expected[-1]
        want = f"(1, {w_dim}) or ({w_dim},)"
        if space == "w+":
            want += f" (a w direction), or {_shape_text(expected)} / (1, {math.prod(expected)}) (w+)"
    elif expected is not None:
        want = f"(1, {math.prod(expected)}) or ({math.prod(expected)},)"
    else:
        want = "(1, D) or (D,)"
    squeezed = array[0] if array.ndim > 1 and array.shape[0] == 1 else array
    if array.size == 0 or not (squeezed.ndim == 1 or (space == "w+" and squeezed.shape == expected)):
        raise GanpriorError(f"{path}: a boundary must have shape {want}, got {_shape_text(array.shape)}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise GanpriorError(f"{path}: the boundary has dtype {array.dtype}, expected float of shape {want}")
    flat = torch.from_numpy(array.astype(np.float64).reshape(-1))
    if not bool(torch.isfinite(flat).all()) or float(flat.norm()) == 0:
        raise GanpriorError(f"{path}: the boundary has NaN, infinite or only zero values")
    d = flat.numel()
    vector, vec_space = flat, "z"
    if prior is not None:
        if space in ("w", "w+") and d == expected[-1]:
            vec_space = "w"
        elif space == "w+" and d == math.prod(expected):
            vector, vec_space = flat.reshape(expected), "w+"
        elif space == "z" and d == math.prod(expected):
            vector = flat.reshape(expected)
        elif space != "z" and d == getattr(getattr(prior, "mapping", None), "z_dim", -1):
            vec_space = "z"  # a z boundary of this network; usable after use_latent_space("z")
        else:
            raise GanpriorError(f"{path}: a boundary for prior {prior.name!r} ({space} space) must have "
                                f"shape {want}, got {_shape_text(array.shape)}")
    meta = {"file": path.name, "original_norm": float(flat.norm())}
    if prior is not None:
        meta.update(_prior_info(prior))
    return Direction(name=path.stem, vector=vector / flat.norm(), space=vec_space, source="external",
                     meta=meta)


# -- InterFaceGAN -------------------------------------------------------------------------------

def _as_numpy(x, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = x.double() if x.is_floating_point() else x
        return x.numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as e:
        raise GanpriorError(f"{what} cannot be read as an array: {e}") from None


def _stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded per-class split: (train indices, held-out indices); each class keeps >= 1 of each."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for cls in (False, True):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        n_test = min(max(1, int(round(fraction * idx.size))), idx.size - 1) if fraction > 0 else 0
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def label_targets(labels, attribute_kind: str = "binary", thresholds: tuple[float, float] | None = None,
                  what: str = "codes") -> tuple[np.ndarray | None, np.ndarray, dict]:
    """The boundary's targets from labels ``(M,)``, with ``fit_direction``'s rules and errors.

    Returns ``(keep, target, info)``: ``keep`` the codes an ordinal attribute keeps (None for binary),
    ``target`` the boolean class of each kept code, ``info`` the kind (and thresholds, codes dropped).
    Refuses non-finite labels, non-0/1 binary labels, and fewer than ``MIN_PER_CLASS`` per class
    (``what`` names the things counted in that message). Cheap: callers can check labels before
    producing the codes (``ganprior directions fit --images`` checks them before inverting).
    """
    if attribute_kind not in ATTRIBUTE_KINDS:
        raise GanpriorError(f"unknown attribute kind {attribute_kind!r}; choose one of {', '.join(ATTRIBUTE_KINDS)}")
    y_raw = np.asarray(labels, dtype=np.float64)
    if y_raw.ndim != 1 or y_raw.size == 0:
        raise GanpriorError(f"labels must be one value per code, shape (M,), got {_shape_text(y_raw.shape)}")
    if not np.isfinite(y_raw).all():
        raise GanpriorError("labels contain NaN or infinite values")
    info: dict = {"attribute_kind": attribute_kind}
    keep = None
    if attribute_kind == "binary":
        values = set(np.unique(y_raw).tolist())
        if not values <= {0.0, 1.0}:
            shown = ", ".join(f"{v:g}" for v in sorted(values)[:5])
            raise GanpriorError(f"binary labels must be 0 or 1, got values {shown}; use the ordinal kind "
                                "for graded attributes such as an age")
        y = y_raw == 1
    else:
        if thresholds is None:
            low, high = (float(t) for t in np.quantile(y_raw, [1 / 3, 2 / 3]))
        else:
            try:
                low, high = (float(t) for t in thresholds)
            except (TypeError, ValueError):
                raise GanpriorError(f"thresholds must be two numbers (low, high), got {thresholds!r}") from None
        if not low <= high:
            raise GanpriorError(f"ordinal thresholds must satisfy low <= high, got ({low:g}, {high:g})")
        keep = (y_raw <= low) | (y_raw >= high)
        y = y_raw[keep] >= high
        info.update(thresholds=[low, high], num_dropped=int((~keep).sum()))
    positive, negative = int(y.sum()), int((~y).sum())
    if min(positive, negative) == 0:
        raise GanpriorError(f"too few {what} per class to fit a boundary: the labels hold a single class "
                            f"({positive} positive, {negative} negative); a boundary needs both")
    if min(positive, negative) < MIN_PER_CLASS:
        raise GanpriorError(f"too few {what} per class to fit a boundary: {positive} positive, {negative} "
                            f"negative (need at least {MIN_PER_CLASS} of each)")
    return keep, y, info


def labelled_codes(codes, labels, attribute_kind: str = "binary", thresholds: tuple[float, float] | None = None,
                   space: str = "z", holdout_fraction: float = 0.2, seed: int = 0):
    """Check and prepare labelled codes for an attribute model (``fit_direction``, and the MLP of
    ``editing.nonlinear``): ``(x, y, info, code_shape, train, test)`` with ``x`` the kept codes
    flattened ``(M', D)`` float64, ``y`` their boolean targets (``label_targets``), ``info`` the label
    rule, and ``train`` / ``test`` the seeded stratified split (``holdout_fraction`` of each class
    held out), so every model fitted on the same codes, labels and seed is scored on the same codes.
    """
    if attribute_kind not in ATTRIBUTE_KINDS:
        raise GanpriorError(f"unknown attribute kind {attribute_kind!r}; choose one of {', '.join(ATTRIBUTE_KINDS)}")
    if space not in SPACES:
        raise GanpriorError(f"unknown latent space {space!r}; choose one of {', '.join(SPACES)}")
    if not 0 <= holdout_fraction < 1:
        raise GanpriorError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    x = _as_numpy(codes, "codes")
    code_shape = tuple(x.shape[1:])
    y_raw = _as_numpy(labels, "labels")
    if x.ndim < 2:
        raise GanpriorError(f"codes must be (M, *latent_shape), got shape {_shape_text(x.shape)}")
    if y_raw.ndim != 1:
        raise GanpriorError(f"labels must be one value per code, shape (M,), got {_shape_text(y_raw.shape)}")
    if x.shape[0] != y_raw.shape[0]:
        raise GanpriorError(f"codes and labels differ in length: {x.shape[0]} codes, {y_raw.shape[0]} labels")
    if not np.issubdtype(x.dtype, np.number) or not (np.issubdtype(y_raw.dtype, np.number)
                                                     or y_raw.dtype == bool):
        raise GanpriorError("codes and labels must be numeric")
    x = x.astype(np.float64).reshape(x.shape[0], -1)
    y_raw = y_raw.astype(np.float64)
    if not np.isfinite(x).all():
        raise GanpriorError("codes contain NaN or infinite values")
    keep, y, info = label_targets(y_raw, attribute_kind, thresholds)
    if keep is not None:
        x = x[keep]
    train, test = _stratified_split(y, holdout_fraction, seed)
    return x, y, info, code_shape, train, test


def fit_direction(codes, labels, *, name: str, attribute_kind: str = "binary",
                  thresholds: tuple[float, float] | None = None, classifier: str = "svm",
                  holdout_fraction: float = 0.2, seed: int = 0, space: str = "z",
                  meta: dict | None = None) -> Direction:
    """Fit a linear attribute boundary in latent space (InterFaceGAN) and return its unit normal.

    Args:
        codes: ``(M, *latent_shape)`` latent codes (tensor or array), flattened for the classifier.
        labels: ``(M,)``. ``binary``: 0 / 1 (or booleans). ``ordinal`` (e.g. an age): codes with
            ``label <= low`` or ``label >= high`` are kept and the target is ``label >= high``,
            ``thresholds=(low, high)`` defaulting to the lower and upper tertiles of the labels.
        classifier: ``"svm"`` (scikit-learn ``LinearSVC``, as InterFaceGAN) or ``"logistic"``.
        holdout_fraction: share of each class held out (seeded) to measure accuracy; 0: none.
        space: the latent space the codes are in (``z``, ``w`` or ``w+``).
        meta: extra JSON-able details to store (e.g. ``{"prior": ..., "attribute": ...}``).

    Returns a ``Direction`` whose vector points toward the positive class (shape ``latent_shape``)
    and whose ``offset`` is the intercept on the same scale, so ``<vector, x> + offset`` is the
    signed distance of a code to the boundary; ``accuracy`` is the held-out accuracy (None without
    a held-out set). Codes are centred and scaled by one scalar before fitting (which keeps the
    geometry) and the boundary is mapped back.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if classifier not in CLASSIFIERS:
        raise GanpriorError(f"unknown classifier {classifier!r}; choose one of {', '.join(CLASSIFIERS)}")
    x, y, info, code_shape, train, test = labelled_codes(codes, labels, attribute_kind, thresholds, space,
                                                         holdout_fraction, seed)
    info.update(classifier=classifier)
    counts = {"negative": int((~y).sum()), "positive": int(y.sum())}
    mu = x[train].mean(axis=0)
    scale = float(x[train].std()) or 1.0
    xs = (x - mu) / scale
    if classifier == "svm":
        clf = LinearSVC(C=1.0, max_iter=10000, random_state=seed)
    else:
        clf = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(xs[train], y[train])
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    accuracy = float(clf.score(xs[test], y[test])) if test.size else None
    a = np.asarray(clf.coef_, dtype=np.float64).reshape(-1) / scale      # normal in code units
    b = float(np.asarray(clf.intercept_).reshape(-1)[0]) - float(a @ mu)  # so a.x + b = decision
    norm = float(np.linalg.norm(a))
    if not np.isfinite(norm) or norm == 0:
        raise GanpriorError(f"the {classifier} found no boundary (zero normal); the labels may not "
                            "depend linearly on the codes")
    info.update(num_codes=int(y.size), num_train=int(train.size), num_holdout=int(test.size),
                class_counts=counts, train_accuracy=float(clf.score(xs[train], y[train])),
                converged=converged, seed=int(seed))
    info.update(meta or {})
    vector = torch.from_numpy(a / norm).reshape(code_shape)
    return Direction(name=name, vector=vector, space=space, source="supervised", accuracy=accuracy,
                     offset=b / norm, meta=info)


# -- SeFa ---------------------------------------------------------------------------------------

def conditional_direction(direction: Direction, *conditions: Direction, name: str | None = None) -> Direction:
    """InterFaceGAN's conditional manipulation: ``direction`` with the normals of ``conditions``
    projected out, so moving along it leaves those attributes' boundary distances unchanged.

    Correlated attributes (in a face prior, age and gender boundaries can share much of their
    normal) otherwise change together. The conditions are orthonormalised first (Gram-Schmidt);
    the result is renormalised; its ``meta["conditioned_on"]`` lists the condition names and
    ``meta["cosine_to_conditions"]`` the cosines before projection. The boundary moved, so its
    held-out accuracy is not carried over as ``accuracy`` (it is kept as
    ``meta["unconditioned_accuracy"]``).
    """
    if not conditions:
        raise GanpriorError("a conditional direction needs at least one condition")
    v = direction.vector.double().flatten()
    basis: list[torch.Tensor] = []
    for c in conditions:
        if c.space != direction.space or c.vector.numel() != v.numel():
            raise GanpriorError(f"condition {c.name!r} ({c.space}, shape {_shape_text(c.shape)}) does not match "
                                f"direction {direction.name!r} ({direction.space}, shape {_shape_text(direction.shape)})")
        u = c.vector.double().flatten()
        for b in basis:
            u = u - (u @ b) * b
        if float(u.norm()) > 1e-6:
            basis.append(u / u.norm())
    cosines = {c.name: float(v @ c.vector.double().flatten()) for c in conditions}
    for b in basis:
        v = v - (v @ b) * b
    if float(v.norm()) < 1e-6:
        raise GanpriorError(f"direction {direction.name!r} lies in the span of its conditions; nothing is left")
    meta = {**direction.meta, "conditioned_on": [c.name for c in conditions], "cosine_to_conditions": cosines,
            "unconditioned_accuracy": direction.accuracy}
    return Direction(name=name or direction.name, vector=(v / v.norm()).float().reshape(direction.shape),
                     space=direction.space, source=direction.source, meta=meta)


def latent_projection(prior: Prior, method: str = "auto") -> torch.Tensor:
    """The matrix ``A`` ``(out_features, latent_dim)`` of the first linear map applied to a code in
    the prior's active space (SeFa), float64 on the CPU.

    * DCGAN: the first ConvTranspose2d (1x1 -> 4x4) ``(C * 16, latent)`` (z columns only for a
      class-conditional generator);
    * PGGAN: the first (dense, 4x4) conv on the pixel-normalised z, with its equalised-LR scale;
    * StyleGAN2 in w / w+: the modulation affines ``(in_channels, w_dim)`` of every synthesis
      conv and to-RGB layer, stacked (SeFa's choice; the w+ directions are w vectors); z space is
      refused (the mapping network is nonlinear);
    * BigGAN: every spectrally normalised linear map that reads z: the stem (z, or its first
      chunk) and, with a hierarchical z, each stage's conditional batch-norm gain and bias
      projections restricted to its z chunk; BigGAN-deep: the stem and batch-norm projections
      restricted to the z part of ``[z, class embedding]``;
    * anything else (or ``method="jacobian"``): the Jacobian of the flattened first composition
      layer's feature map w.r.t. the code at the mean code (zeros, or the mean w).
    """
    return _projection(prior, method)[0]


def _projection(prior: Prior, method: str) -> tuple[torch.Tensor, str]:
    if method not in PROJECTION_METHODS:
        raise GanpriorError(f"unknown projection method {method!r}; choose one of {', '.join(PROJECTION_METHODS)}")
    if method == "auto" or method == "weights":
        with torch.no_grad():
            a = _weight_projection(prior)
        if a is not None:
            return a.detach().double().cpu(), "weights"
        if method == "weights":
            raise GanpriorError(f"no weight-based projection is known for prior {prior.name!r} "
                                f"(family {getattr(prior, 'family', 'custom')}); use method='jacobian'")
    return _jacobian_projection(prior).double().cpu(), "jacobian"


def _weight_projection(prior: Prior) -> torch.Tensor | None:
    from ..priors.biggan import BigGANPrior, SNLinear
    from ..priors.biggan_deep import BigGANDeepPrior
    from ..priors.dcgan import DCGANPrior
    from ..priors.pggan import PGGANPrior
    from ..priors.stylegan2 import StyleGAN2Prior

    if isinstance(prior, DCGANPrior):
        w = prior.net[0][0].weight[:prior.latent_dim]        # (latent [+ embed], C, 4, 4) -> z rows
        return w.reshape(prior.latent_dim, -1).t()
    if isinstance(prior, PGGANPrior):
        conv = prior.layers[0].conv                          # (C, z_dim, 4, 4) on a 1x1 input
        return (conv.weight * conv.scale).permute(0, 2, 3, 1).reshape(-1, prior.latent_dim)
    if isinstance(prior, StyleGAN2Prior):
        if prior.latent_space == "z":
            raise GanpriorError(f"closed-form (SeFa) directions need a linear first layer, but prior "
                                f"{prior.name!r} is in z space, where the mapping network is nonlinear; "
                                "call prior.use_latent_space('w') (or 'w+') first")
        rows = []
        for block in prior.generator.blocks:
            for layer in (block.conv_up, block.conv, block.to_rgb):
                if layer is not None:
                    rows.append(layer.affine.weight * layer.affine.weight_gain)
        return torch.cat(rows, dim=0)
    if isinstance(prior, BigGANPrior):
        arch = prior.arch
        stem = prior.stem.linear.normalized_weight()
        if not arch.hierarchical:
            return stem
        c, e = arch.chunk_dim, arch.embedding_dim
        rows = [torch.nn.functional.pad(stem, (0, arch.dim_z - c))]
        for k, stage in enumerate(prior.stages):
            for norm in (stage.block.norm1, stage.block.norm2):
                for proj in (norm.gain_proj, norm.bias_proj):
                    part = proj.normalized_weight()[:, e:]   # cond = [embedding, z chunk k+1]
                    rows.append(torch.nn.functional.pad(part, (c * (k + 1), arch.dim_z - c * (k + 2))))
        return torch.cat(rows, dim=0)
    if isinstance(prior, BigGANDeepPrior):
        z_dim, cond_dim = prior.arch.z_dim, prior.arch.cond_dim  # cond = [z, embedding]
        rows = [prior.stem.linear.normalized_weight()[:, :z_dim]]
        for stage in prior.stages:
            for module in stage.modules():
                if isinstance(module, SNLinear) and module.weight.shape[1] == cond_dim:
                    rows.append(module.normalized_weight()[:, :z_dim])
        return torch.cat(rows, dim=0)
    return None


def _mean_code(prior: Prior) -> torch.Tensor:
    """The centre of the latent distribution in the active space: the mean w for w / w+, else 0."""
    shape = tuple(prior.latent_shape)
    w_avg = getattr(prior, "w_avg", None)
    if active_space(prior) in ("w", "w+") and isinstance(w_avg, torch.Tensor) and w_avg.numel() == shape[-1]:
        return w_avg.detach().float().reshape(-1).expand(shape).clone()
    return torch.zeros(shape)


def _jacobian_projection(prior: Prior) -> torch.Tensor:
    layer = min(prior.composition_layers)
    code = _mean_code(prior).to(_device(prior))
    shape = tuple(prior.latent_shape)

    def head(flat: torch.Tensor) -> torch.Tensor:
        return feature_map(prior.head(flat.reshape(1, *shape), layer)).reshape(-1)

    with _eval_mode(prior):
        try:
            jac = torch.func.jacrev(head)(code.reshape(-1))
        except (RuntimeError, NotImplementedError, TypeError):
            # models whose ops torch.func cannot vectorise: one backward pass per output
            jac = torch.autograd.functional.jacobian(head, code.reshape(-1))
    return jac.detach().reshape(-1, code.numel())


def closed_form_directions(prior: Prior, k: int = 5, *, method: str = "auto") -> list[Direction]:
    """The top-``k`` closed-form directions (SeFa, Shen & Zhou CVPR 2021).

    SeFa finds the unit codes ``n`` that change the first layer's output most, i.e. maximise
    ``|A n|^2``: the eigenvectors of ``A^T A`` with the largest eigenvalues (``latent_projection``
    gives ``A``). Directions are named ``sefa-{i}`` in descending eigenvalue order, with
    ``meta["eigenvalue"]``; each sign is fixed so the largest-magnitude component is positive.
    For StyleGAN2 in w+ space the directions are w vectors (space ``"w"``; see ``as_latent``).
    ``method="jacobian"`` forces the Jacobian fallback (``meta["method"]`` says which was used).
    """
    a, used = _projection(prior, method)
    dim = a.shape[1]
    if not 1 <= int(k) <= dim:
        raise GanpriorError(f"k must be between 1 and the latent size {dim}, got {k}")
    if not bool(torch.isfinite(a).all()):
        raise GanpriorError(f"the first-layer weights of prior {prior.name!r} contain NaN or infinite values")
    eigenvalues, eigenvectors = torch.linalg.eigh(a.t() @ a)    # ascending
    order = torch.argsort(eigenvalues, descending=True)[:int(k)]
    total = float(eigenvalues.clamp(min=0).sum()) or 1.0
    space, shape = active_space(prior), tuple(prior.latent_shape)
    if space == "w+" and dim != math.prod(shape):   # StyleGAN2's affines read one w
        space, shape = "w", (dim,)
    out = []
    for rank, i in enumerate(order.tolist()):
        value = max(float(eigenvalues[i]), 0.0)
        vector = _fix_sign(eigenvectors[:, i]).reshape(shape)
        meta = {**_prior_info(prior), "method": "sefa" if used == "weights" else "jacobian",
                "eigenvalue": value, "eigenvalue_ratio": value / total, "rank": rank,
                "projection_shape": list(a.shape)}
        out.append(Direction(name=f"sefa-{rank}", vector=vector, space=space, source="closed-form", meta=meta))
    return out


# -- GANSpace -----------------------------------------------------------------------------------

def _top_components(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """PCA of the rows of ``x`` (N, P) float32, centred in place.

    Returns (scores ``(N, k)`` float64: the samples' coordinates on the top-k components,
    variances ``(k,)`` descending, total variance). Uses the P x P covariance or, when P > N, the
    N x N Gram matrix (same non-zero spectrum), accumulated in float64 in chunks.
    """
    n, p = x.shape
    x -= x.double().mean(dim=0).float()
    chunk = max(1, (64 << 20) // (8 * max(n, p)))
    if p <= n:
        cov = torch.zeros(p, p, dtype=torch.float64)
        for s in range(0, n, chunk):
            rows = x[s:s + chunk].double()
            cov += rows.t() @ rows
        values, vectors = torch.linalg.eigh(cov)
        values, vectors = values.flip(0)[:k], vectors.flip(1)[:, :k]
        scores = torch.cat([x[s:s + chunk].double() @ vectors for s in range(0, n, chunk)])
    else:
        gram = torch.zeros(n, n, dtype=torch.float64)
        for s in range(0, p, chunk):
            cols = x[:, s:s + chunk].double()
            gram += cols @ cols.t()
        values, vectors = torch.linalg.eigh(gram)
        values, vectors = values.flip(0)[:k], vectors.flip(1)[:, :k]
        cov = gram
        scores = vectors * values.clamp(min=0).sqrt()
    total = float(torch.diagonal(cov).sum())
    return scores, values.clamp(min=0) / (n - 1), total / (n - 1)


def pca_directions(prior: Prior, k: int = 5, num_samples: int = 2000, seed: int = 0,
                   batch: int = 250) -> list[Direction]:
    """The top-``k`` principal directions of the latent distribution (GANSpace, Haerkoenen et al. 2020).

    * w / w+ space: PCA of ``num_samples`` sampled w (from the mapping, as ``sample_latent``
      draws them); the directions are w vectors (space ``"w"``, usable on w+ via ``as_latent``).
    * z space: PCA of the flattened feature map at the first composition layer, ``head(z, layer)``;
      each component is mapped back to z by least-squares regression of the (centred) codes on
      the samples' component coordinates, as GANSpace does for BigGAN; the direction is the
      normalised regression coefficient.

    Names ``pca-{i}``; ``meta["explained_variance_ratio"]`` (of the sampled w or features,
    descending). Deterministic for a seed; runs without gradients, in eval mode.
    """
    k, num_samples, batch = int(k), int(num_samples), int(batch)
    if k < 1:
        raise GanpriorError(f"k must be at least 1, got {k}")
    if num_samples <= k:
        raise GanpriorError(f"num_samples must exceed k: got {num_samples} samples for {k} components")
    if batch < 1:
        raise GanpriorError(f"batch must be at least 1, got {batch}")
    space = active_space(prior)
    gen = torch.Generator().manual_seed(int(seed))
    codes, feats = [], []
    layer = min(prior.composition_layers)
    with torch.no_grad(), _eval_mode(prior):
        for start in range(0, num_samples, batch):
            z = prior.sample_latent(min(batch, num_samples - start), gen)
            if space in ("w", "w+"):
                feats.append((z[:, 0] if space == "w+" else z).float().cpu())
                continue
            f = feature_map(prior.head(z, layer)).reshape(z.shape[0], -1).float().cpu()
            if start == 0 and num_samples * f.shape[1] * 4 > _MAX_FEATURE_BYTES:
                raise GanpriorError(f"PCA of {num_samples} samples of layer-{layer} features "
                                    f"({f.shape[1]} values each) needs more than "
                                    f"{_MAX_FEATURE_BYTES >> 30} GiB; use fewer samples")
            codes.append(z.reshape(z.shape[0], -1).double().cpu())
            feats.append(f)
    x = torch.cat(feats)
    if k > x.shape[1]:
        raise GanpriorError(f"k must be at most {x.shape[1]} (the size of the sampled vectors), got {k}")
    scores, variances, total = _top_components(x, k)
    ratios = (variances / total).tolist() if total > 0 else [0.0] * k
    if space in ("w", "w+"):
        # the principal axes themselves: x_centred^T scores is proportional to them
        directions = (x.double().t() @ scores).t()                            # (k, w_dim)
        out_space, shape = "w", (x.shape[1],)
        what = "w"
    else:
        z = torch.cat(codes)
        z = z - z.mean(dim=0)
        directions = torch.linalg.lstsq(scores, z).solution                   # (k, z_dim)
        out_space, shape = "z", tuple(prior.latent_shape)
        what = f"layer-{layer} features"
    out = []
    for i in range(k):
        v = directions[i]
        if float(v.norm()) == 0 or float(variances[i]) == 0:
            raise GanpriorError(f"component {i} of the sampled {what} has no variance; lower k")
        v = _fix_sign(v / v.norm()).reshape(shape)
        meta = {**_prior_info(prior), "method": "ganspace", "pca_of": what,
                "explained_variance_ratio": float(ratios[i]), "explained_variance": float(variances[i]),
                "component": i, "num_samples": num_samples, "seed": int(seed)}
        out.append(Direction(name=f"pca-{i}", vector=v, space=out_space, source="pca", meta=meta))
    return out


__all__ = ["Direction", "active_space", "closed_form_directions", "conditional_direction", "fit_direction", "latent_projection",
           "load_direction", "pca_directions"]


# -- directions by name: shipped files, computed ones, paths ----------------------------------------

COMPUTED_DIRECTION_FORMS = ("sefa", "pca")


def named_directions(prior_name: str) -> dict[str, Path]:
    """The directions shipped for a named prior: ``{name: path}`` of the ``.npz`` files in
    ``WEIGHTS_DIR / "directions" / prior_name`` (sorted by name; empty when there is no folder)."""
    from ..priors.zoo import WEIGHTS_DIR
    name = str(prior_name)
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        return {}
    folder = WEIGHTS_DIR / "directions" / name
    if not folder.is_dir():
        return {}
    return {f.stem: f for f in sorted(folder.glob("*.npz")) if f.is_file()}


def _computed_direction(spec: str, prior: Prior) -> Direction:
    kind, _, index_text = spec.partition(":")
    try:
        index = int(index_text)
    except ValueError:
        index = -1
    if index < 0:
        raise GanpriorError(f"direction {spec!r}: {kind}:I takes a component index I = 0, 1, 2, ...")
    try:
        found = (closed_form_directions(prior, index + 1) if kind == "sefa"
                 else pca_directions(prior, index + 1))
    except GanpriorError as e:
        raise GanpriorError(f"direction {spec!r}: {e}") from None
    return found[index]


def resolve_direction(spec: str | os.PathLike, prior: Prior):
    """A direction for ``prior`` from a command-line spec, checked against the prior (a ``Direction``,
    or a ``FlowDirection`` for a non-linear direction file):

    * ``sefa:I`` / ``pca:I``: the I-th closed-form (SeFa) or PCA (GANSpace) direction, computed
      on the fly (the top I+1 are computed);
    * a path to a ``.npz`` (``Direction.save``) or ``.npy`` (InterFaceGAN boundary) file;
    * a NAME shipped with the prior (``named_directions(prior.name)``).

    An unknown name is an error that lists the available names and the ``sefa:I`` / ``pca:I`` forms.
    """
    text = str(spec).strip()
    if not text:
        raise GanpriorError("empty direction; give a .npz/.npy file, sefa:I, pca:I or a direction name")
    kind = text.partition(":")[0]
    if ":" in text and kind in COMPUTED_DIRECTION_FORMS and not Path(text).exists():
        return _computed_direction(text, prior)
    path = Path(text)
    if path.suffix.lower() in (".npz", ".npy") or path.is_file() or os.sep in text or "/" in text:
        direction = load_direction(path, prior)
        check_fits(direction, prior)  # shape and space against the prior, also for .npz files
        return direction
    names = named_directions(getattr(prior, "name", ""))
    if text in names:
        direction = load_direction(names[text], prior)
        check_fits(direction, prior)
        return direction
    shipped = (f"directions shipped for prior {prior.name!r}: {', '.join(names)}" if names
               else f"no directions are shipped for prior {prior.name!r}")
    raise GanpriorError(f"unknown direction {text!r} ({shipped}); give a .npz/.npy file, sefa:I "
                        "(closed-form, SeFa) or pca:I (GANSpace), I = 0, 1, 2, ...")


__all__ += ["check_fits", "named_directions", "resolve_direction"]
