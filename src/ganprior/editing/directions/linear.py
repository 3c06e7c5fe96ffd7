"""The supervised linear kind (InterFaceGAN, Shen et al. CVPR 2020): the normal of a linear boundary
that separates labelled codes by an attribute, and conditional manipulation, which projects other
attributes' normals out of it so that they stay put.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ...errors import GanpriorError
from .base import Direction, shape_text
from .labels import labelled_codes

CLASSIFIERS = ("svm", "logistic")


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
            raise GanpriorError(f"condition {c.name!r} ({c.space}, shape {shape_text(c.shape)}) does not match "
                                f"direction {direction.name!r} ({direction.space}, shape {shape_text(direction.shape)})")
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


__all__ = ["CLASSIFIERS", "conditional_direction", "fit_direction"]
