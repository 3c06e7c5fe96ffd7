"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan and Bovik, 2013), no-reference.

Lower is better. The computation follows the authors' MATLAB release (and BasicSR's MATLAB-compatible
``calculate_niqe``): the image is scored on its luminance (MATLAB's BT.601 Y, 16..235, rounded to integers),
cut into 96x96 blocks at full and half resolution, each block described by 18 statistics of its
mean-subtracted, contrast-normalised coefficients per scale, and the multivariate Gaussian fitted to those
36-dimensional features is compared with the one fitted to pristine natural images.

The pristine model (``niqe_pris_params.npz``: ``mu_pris_param``, ``cov_pris_param``, ``gaussian_window``)
is data this project does not ship. :func:`load_niqe_params` finds it, in this order:

1. a path passed explicitly;
2. the environment variable ``GANPRIOR_NIQE_PARAMS``;
3. the copy inside the ``basicsr==1.4.2`` source distribution on the package registry, fetched once with
   ``pip download --no-deps``, checked by sha256 and cached (see :mod:`ganprior.registry_files`;
   ``GANPRIOR_OFFLINE=1`` forbids fetching).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage, special

from .errors import GanpriorError

__all__ = ["NiqeParams", "NiqeUndefined", "load_niqe_params", "niqe", "niqe_or_none", "BLOCK_SIZE"]

BLOCK_SIZE = 96  # block side at full resolution, as in the authors' release
PARAMS_ENV = "GANPRIOR_NIQE_PARAMS"
_N_FEATURES = 36  # 18 per scale, two scales


def _registry_spec():
    from .registry_files import PackageFile
    return PackageFile(
        package="basicsr",
        version="1.4.2",
        member="basicsr/metrics/niqe_pris_params.npz",
        sha256="2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296",
        cache_name="niqe_pris_params-basicsr-1.4.2.npz",
    )


class NiqeUndefined(GanpriorError):
    """The image cannot be scored (too small, or no block carries the statistics NIQE needs)."""


@dataclass(frozen=True)
class NiqeParams:
    """The pristine model: ``mu`` (36,), ``cov`` (36, 36) and the 7x7 local-statistics ``window``, float64."""
    mu: np.ndarray
    cov: np.ndarray
    window: np.ndarray
    source: str = ""


# ---------------------------------------------------------------------------------------------------------
# parameters


def _read_params(path: Path, how: str) -> NiqeParams:
    if not path.is_file():
        raise GanpriorError(f"NIQE parameter file {path} ({how}) does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except Exception as e:  # np.load raises several unrelated types for a file that is not an npz
        raise GanpriorError(f"NIQE parameter file {path} ({how}) is not a readable .npz "
                            f"({type(e).__name__}: {e})") from None
    need = ("mu_pris_param", "cov_pris_param", "gaussian_window")
    missing = [k for k in need if k not in arrays]
    if missing:
        raise GanpriorError(f"NIQE parameter file {path} lacks {', '.join(missing)} "
                            f"(expected keys: {', '.join(need)})")
    mu, cov, window = (arrays[k] for k in need)
    checks = (("mu_pris_param", mu, mu.shape in ((1, _N_FEATURES), (_N_FEATURES,)), "(1, 36) or (36,)"),
              ("cov_pris_param", cov, cov.shape == (_N_FEATURES, _N_FEATURES), "(36, 36)"),
              ("gaussian_window", window, window.shape == (7, 7), "(7, 7)"))
    for name, arr, ok, want in checks:
        if not ok:
            raise GanpriorError(f"NIQE parameter file {path}: {name} has shape {arr.shape}, expected {want}")
        if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
            raise GanpriorError(f"NIQE parameter file {path}: {name} must hold finite numbers")
    return NiqeParams(mu=mu.astype(np.float64).reshape(_N_FEATURES), cov=cov.astype(np.float64),
                      window=window.astype(np.float64), source=str(path))


def load_niqe_params(path: str | os.PathLike | None = None) -> NiqeParams:
    """Load and validate the pristine NIQE model.

    Looks at ``path``, then ``$GANPRIOR_NIQE_PARAMS``, then the copy in ``basicsr==1.4.2`` from the package
    registry (verified by sha256, cached). Raises :class:`GanpriorError` with a one-line message otherwise.
    """
    if path is not None:
        return _read_params(Path(path).expanduser(), "given path")
    env = os.environ.get(PARAMS_ENV)
    if env:
        return _read_params(Path(env).expanduser(), f"from ${PARAMS_ENV}")
    from .registry_files import fetch_package_file
    spec = _registry_spec()
    try:
        cached = fetch_package_file(spec)
    except GanpriorError as e:
        raise GanpriorError(f"NIQE needs its pristine model niqe_pris_params.npz: pass its path (params=...) or set "
                            f"{PARAMS_ENV}; reading it from {spec.package}=={spec.version} failed: {e}") from None
    return _read_params(cached, f"from {spec.package}=={spec.version}")


def _as_params(params) -> NiqeParams:
    if isinstance(params, NiqeParams):
        return params
    return load_niqe_params(params)


# ---------------------------------------------------------------------------------------------------------
# image preparation


def _rgb_to_matlab_y(rgb: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` luma: RGB in [0, 1], (..., 3) -> Y in [16, 235] (float64, not rounded)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return 16.0 + rgb @ np.array([65.481, 128.553, 24.966])


def _luminance(image) -> np.ndarray:
    """The image as rounded float64 luminance in [0, 255], (H, W).

    - torch tensor (3, H, W), RGB in [0, 1]: MATLAB's BT.601 Y (16..235);
    - torch tensor (1, H, W), gray in [0, 1]: taken as luminance and scaled by 255 (full range, no 16..235);
    - a leading batch dimension of size 1 is allowed for tensors;
    - numpy uint8 (H, W, 3) RGB: MATLAB's Y of ``rgb / 255``; numpy uint8 (H, W): luminance as is.
    Rounding to integers mirrors MATLAB, where ``rgb2ycbcr`` of a uint8 image returns uint8.
    """
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise GanpriorError(f"NIQE takes numpy images as uint8 (H, W, 3) or (H, W); got dtype {image.dtype}")
        if image.ndim == 3 and image.shape[2] == 3:
            y = _rgb_to_matlab_y(image / 255.0)
        elif image.ndim == 2:
            y = image.astype(np.float64)
        else:
            raise GanpriorError(f"NIQE takes numpy images of shape (H, W, 3) or (H, W); got {image.shape}")
    elif hasattr(image, "detach") and hasattr(image, "shape"):  # a torch tensor; no hard torch import needed
        t = image.detach()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 3 or t.shape[0] not in (1, 3):
            raise GanpriorError(f"NIQE takes a tensor of shape (3, H, W) or (1, H, W); got {tuple(image.shape)}")
        if not t.is_floating_point():
            raise GanpriorError(f"NIQE takes float tensors in [0, 1]; got dtype {t.dtype}")
        arr = t.to("cpu").double().numpy()
        if not np.all(np.isfinite(arr)):
            raise GanpriorError("NIQE input contains NaN or infinite values")
        y = _rgb_to_matlab_y(np.moveaxis(arr, 0, -1)) if arr.shape[0] == 3 else arr[0] * 255.0
    else:
        raise GanpriorError(f"NIQE takes a torch tensor or a numpy uint8 array; got {type(image).__name__}")
    return np.round(y)  # numpy rounds halves to even, as BasicSR does


# ---------------------------------------------------------------------------------------------------------
# MATLAB-compatible imresize (bicubic)


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5, MATLAB's 'bicubic'."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def _resize_matrix(in_len: int, out_len: int, scale: float, antialiasing: bool = True) -> np.ndarray:
    """The (out_len, in_len) matrix of MATLAB's imresize along one axis.

    MATLAB places output sample ``x`` (1-based) at input coordinate ``x / scale + (1 - 1 / scale) / 2``.
    When shrinking with antialiasing, the kernel is stretched by ``1 / scale`` (wider support, lower
    cutoff). Weights of each output sample are normalised to sum to 1, and taps outside the image are
    folded back symmetrically (edge pixel repeated), as MATLAB does.
    """
    stretch = antialiasing and scale < 1
    width = 4.0 / scale if stretch else 4.0
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # 1-based input positions
    dist = u[:, None] - idx
    w = scale * _cubic(scale * dist) if stretch else _cubic(dist)
    w = w / w.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])  # 0-based, symmetric
    cols = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    m = np.zeros((out_len, in_len))
    np.add.at(m, (np.repeat(np.arange(out_len), taps), cols.ravel()), w.ravel())
    return m


def _imresize(img: np.ndarray, scale: float, antialiasing: bool = True) -> np.ndarray:
    """MATLAB ``imresize(img, scale, 'bicubic')`` of a 2-D float image, (H, W) -> (ceil(H*s), ceil(W*s)).

    No rounding or clipping (MATLAB does neither for double input).
    """
    if img.ndim != 2:
        raise ValueError(f"_imresize expects a 2-D array, got shape {img.shape}")
    h, w = img.shape
    out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
    rows = _resize_matrix(h, out_h, scale, antialiasing)
    cols = _resize_matrix(w, out_w, scale, antialiasing)
    return rows @ np.asarray(img, dtype=np.float64) @ cols.T


# ---------------------------------------------------------------------------------------------------------
# features

_GAM = np.arange(0.2, 10.001, 0.001)  # the shape grid of the authors' estimator
_R_GAM = special.gamma(2.0 / _GAM) ** 2 / (special.gamma(1.0 / _GAM) * special.gamma(3.0 / _GAM))


def _aggd_params(x: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric generalized Gaussian fit by moment matching: (alpha, beta_left, beta_right).

    A side with no samples gives NaN betas. The shape is then looked up with a NaN target; like MATLAB's
    ``min`` (and BasicSR's ``argmin``) that returns the first grid point, 0.2, which is kept on purpose:
    ``nanmean`` of the features then sees the same numbers as the reference implementations.
    """
    x = x.ravel()
    neg, pos = x[x < 0], x[x > 0]
    left = math.sqrt(np.mean(neg * neg)) if neg.size else math.nan
    right = math.sqrt(np.mean(pos * pos)) if pos.size else math.nan
    msq = float(np.mean(x * x))
    if right > 0 and msq > 0:
        g = left / right
        rhat = float(np.mean(np.abs(x))) ** 2 / msq
        rnorm = rhat * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
    else:
        rnorm = math.nan
    alpha = float(_GAM[np.argmin((_R_GAM - rnorm) ** 2)]) if math.isfinite(rnorm) else float(_GAM[0])
    k = math.sqrt(math.gamma(1.0 / alpha) / math.gamma(3.0 / alpha))
    return alpha, left * k, right * k


_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))  # horizontal, vertical, main and anti diagonal neighbours


def _block_features(block: np.ndarray) -> list[float]:
    """The 18 statistics of one block of normalised coefficients."""
    alpha, bl, br = _aggd_params(block)
    feats = [alpha, (bl + br) / 2.0]
    for shift in _SHIFTS:
        # Neighbours are taken circularly inside the block, as in the reference implementations.
        prod = block * np.roll(block, shift, axis=(0, 1))
        a, pl, pr = _aggd_params(prod)
        mean = (pr - pl) * (math.gamma(2.0 / a) / math.gamma(1.0 / a))
        feats.extend([a, mean, pl, pr])
    return feats


def _normalise(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Mean-subtracted, contrast-normalised coefficients; the +1 keeps flat areas finite."""
    mu = ndimage.convolve(img, window, mode="nearest")
    var = ndimage.convolve(img * img, window, mode="nearest") - mu * mu
    return (img - mu) / (np.sqrt(np.abs(var)) + 1.0)  # abs: var can dip below 0 by rounding


def _features(y: np.ndarray, window: np.ndarray) -> np.ndarray:
    """(n_blocks, 36) features of luminance ``y`` in [0, 255], already cropped to whole blocks."""
    nh, nw = y.shape[0] // BLOCK_SIZE, y.shape[1] // BLOCK_SIZE
    per_scale = []
    img = y
    for scale in (1, 2):
        coeffs = _normalise(img, window)
        b = BLOCK_SIZE // scale
        per_scale.append([_block_features(coeffs[i * b:(i + 1) * b, j * b:(j + 1) * b])
                          for i in range(nh) for j in range(nw)])
        if scale == 1:
            # The half scale is resized in [0, 1] and scaled back, like the reference.
            img = _imresize(img / 255.0, 0.5) * 255.0
    return np.concatenate([np.asarray(f) for f in per_scale], axis=1)


def _quality(feats: np.ndarray, params: NiqeParams) -> float:
    complete = feats[~np.isnan(feats).any(axis=1)]
    with np.errstate(invalid="ignore"):
        mu = np.nanmean(feats, axis=0) if complete.shape[0] else np.full(_N_FEATURES, np.nan)
    if complete.shape[0] == 0 or not np.all(np.isfinite(mu)):
        raise NiqeUndefined("NIQE is undefined for this image: no block has texture on both sides of its local "
                            "mean (is the image flat?)")
    # One complete block: covariance 0, as MATLAB's nancov gives (numpy's np.cov would give NaN).
    cov = np.cov(complete, rowvar=False) if complete.shape[0] > 1 else np.zeros((_N_FEATURES, _N_FEATURES))
    d = params.mu - mu
    inv = np.linalg.pinv((params.cov + cov) / 2.0)
    return float(math.sqrt(max(float(d @ inv @ d), 0.0)))


# ---------------------------------------------------------------------------------------------------------
# public API


def niqe(image, params: NiqeParams | str | os.PathLike | None = None) -> float:
    """NIQE of one image (lower is better).

    image: torch tensor (3, H, W) RGB or (1, H, W) gray, float in [0, 1] (a leading batch dim of 1 is
    allowed); or numpy uint8 (H, W, 3) RGB or (H, W) gray. RGB is scored on MATLAB's BT.601 Y in [16, 235];
    a 1-channel tensor is taken as luminance and scaled to [0, 255]. Values are rounded to integers first,
    as in MATLAB/BasicSR. The bottom and right margins that do not fill a 96x96 block are ignored.
    params: a :class:`NiqeParams`, a path to ``niqe_pris_params.npz``, or None to look it up (see
    :func:`load_niqe_params`); pass a loaded :class:`NiqeParams` when scoring many images.

    Raises :class:`NiqeUndefined` (a :class:`GanpriorError`) for images under 96x96 or without texture.
    """
    y = _luminance(image)
    h, w = y.shape
    if h < BLOCK_SIZE or w < BLOCK_SIZE:
        raise NiqeUndefined(f"NIQE needs at least {BLOCK_SIZE}x{BLOCK_SIZE} pixels (one block); the image is "
                            f"{h}x{w}")
    p = _as_params(params)  # after the cheap input checks, so a bad image never triggers a fetch
    y = y[: h // BLOCK_SIZE * BLOCK_SIZE, : w // BLOCK_SIZE * BLOCK_SIZE]
    return _quality(_features(y, p.window), p)


def niqe_or_none(image, params: NiqeParams | str | os.PathLike | None = None) -> float | None:
    """Like :func:`niqe`, but None for an image NIQE cannot score (too small or flat), for batch use.

    Other errors (bad input type, missing parameter file) are still raised.
    """
    try:
        return niqe(image, params)
    except NiqeUndefined:
        return None
