"""Labelled codes for the supervised kinds: the rules that turn labels into a boundary's classes,
and the seeded held-out split.

Shared by the linear boundary (``linear.fit_direction``) and the MLP flow (``flow.fit_flow_direction``)
so that both refuse the same labels with the same words and, fitted with the same seed, score their
held-out accuracy on the same codes.
"""

from __future__ import annotations

import numpy as np
import torch

from ...errors import GanpriorError
from .base import SPACES, shape_text

ATTRIBUTE_KINDS = ("binary", "ordinal")
MIN_PER_CLASS = 10          # fewer labelled codes per class than this give no usable boundary


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
        raise GanpriorError(f"labels must be one value per code, shape (M,), got {shape_text(y_raw.shape)}")
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
    ``flow``): ``(x, y, info, code_shape, train, test)`` with ``x`` the kept codes
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
        raise GanpriorError(f"codes must be (M, *latent_shape), got shape {shape_text(x.shape)}")
    if y_raw.ndim != 1:
        raise GanpriorError(f"labels must be one value per code, shape (M,), got {shape_text(y_raw.shape)}")
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


__all__ = ["ATTRIBUTE_KINDS", "MIN_PER_CLASS", "label_targets", "labelled_codes"]
