"""The super-resolution forward model matches the resize of common image tools exactly."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganprior.errors import GanpriorError
from ganprior.physics.resize import KERNELS, Resize, resize_weights
from ganprior.tasks import build_degradation

N = 64


def pil_resize(x: torch.Tensor, size: int, resample) -> torch.Tensor:
    """PIL's float ("F" mode) resize of each channel of a (1, C, n, n) batch: no 8-bit rounding."""
    chans = [np.asarray(Image.fromarray(c.numpy(), mode="F").resize((size, size), resample)) for c in x[0]]
    return torch.from_numpy(np.stack(chans))[None]


@pytest.fixture
def image():
    return torch.rand(1, 3, N, N, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("factor", [2, 4, 8])
@pytest.mark.parametrize("kernel,resample", [("bicubic", Image.BICUBIC), ("lanczos", Image.LANCZOS),
                                             ("bilinear", Image.BILINEAR)])
def test_matches_pil(image, factor, kernel, resample):
    torch.testing.assert_close(Resize(N, factor, kernel).A(image), pil_resize(image, N // factor, resample),
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_matches_torch(image, factor):
    s = N // factor
    torch.testing.assert_close(Resize(N, factor, "bicubic").A(image),
                               F.interpolate(image, size=s, mode="bicubic", antialias=True, align_corners=False),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(Resize(N, factor, "area").A(image), F.interpolate(image, size=s, mode="area"),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(Resize(N, factor, "cubic-sampled").A(image),
                               F.interpolate(image, size=s, mode="bicubic", align_corners=False), atol=1e-5, rtol=0)


@pytest.mark.parametrize("factor", [4, 8])
@pytest.mark.parametrize("kernel", ["area", "cubic-sampled"])
def test_matches_opencv(image, factor, kernel):
    cv2 = pytest.importorskip("cv2")
    flag = {"area": cv2.INTER_AREA, "cubic-sampled": cv2.INTER_CUBIC}[kernel]
    s = N // factor
    ref = torch.from_numpy(cv2.resize(image[0].permute(1, 2, 0).numpy(), (s, s), interpolation=flag))
    torch.testing.assert_close(Resize(N, factor, kernel).A(image), ref.permute(2, 0, 1)[None], atol=1e-5, rtol=0)


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_adjoint_and_constants(image, kernel):
    op = Resize(N, 4, kernel)
    y = torch.rand(1, 3, N // 4, N // 4, generator=torch.Generator().manual_seed(1))
    lhs = (op.A(image) * y).sum()
    rhs = (image * op.A_adjoint(y)).sum()
    assert float(lhs) == pytest.approx(float(rhs), rel=1e-5)
    torch.testing.assert_close(op.A(torch.full((1, 3, N, N), 0.3)), torch.full((1, 3, 16, 16), 0.3))


def test_shift_moves_the_grid(image):
    # a whole-pixel shift of the grid is the image rolled the other way (away from the borders)
    w = resize_weights(N, 4, "bicubic", 1.0)
    w0 = resize_weights(N, 4, "bicubic", 0.0)
    torch.testing.assert_close(w[2:-2, 1:], w0[2:-2, :-1])
    shift = torch.tensor(0.5, requires_grad=True)
    # each row's centre of mass follows the shift: d(sum of centres)/d(shift) is about one per row
    (resize_weights(N, 4, "bicubic", shift) * torch.arange(N)).sum().backward()
    assert 14 < float(shift.grad) < 17


def test_deepinv_kernel_is_the_centred_one_moved():
    # deepinv's Downsampling samples 1 high-resolution pixel off the centred grid at x4: the reason the
    # default kernel is the image tools' one
    x = F.interpolate(torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2)), size=N,
                      mode="bicubic", align_corners=False)
    legacy = build_degradation("super-resolve", N, factor=4, kernel="deepinv").A(x)
    centred = build_degradation("super-resolve", N, factor=4).A(x)
    moved = Resize(N, 4).A(torch.roll(x, (1, 1), (2, 3)))
    assert float((legacy - moved)[..., 2:-2, 2:-2].abs().max()) < 1e-5
    assert float((legacy - centred)[..., 2:-2, 2:-2].abs().max()) > 0.01


def test_bad_kernel_is_one_line():
    with pytest.raises(GanpriorError, match="super-resolution kernel must be one of bicubic, lanczos"):
        build_degradation("super-resolve", N, factor=4, kernel="gaussian")
    with pytest.raises(GanpriorError, match="unknown resize kernel"):
        Resize(N, 4, "nearest")
