"""Classical baselines (ganprior.baselines.classical): each one does its job on images with a known
answer, the chains undo the forward model in order, and bad input gives one-line errors."""

import pytest
import torch

from ganprior.baselines import colorize, denoise, fill, richardson_lucy, upsample, wiener
from ganprior.errors import GanpriorError
from ganprior.metrics import psnr
from ganprior.physics.masks import builtin_mask
from ganprior.tasks import baseline_variants, build_degradation, classical_restore

from .conftest import periodic_image

pytest.importorskip("skimage", reason="the classical baselines need scikit-image (pip install 'ganprior[baselines]')")


def smooth_images(b=2, size=32):
    """Smooth colour images (low-order polynomials): what denoisers and fills should get nearly right."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    imgs = []
    for k in range(b):
        r = 0.2 + 0.6 * xx
        g = 0.3 + 0.4 * yy * (1 - 0.3 * k)
        bl = 0.5 + 0.3 * (xx - yy) * 0.5
        imgs.append(torch.stack([r, g, bl]))
    return torch.stack(imgs)


@pytest.mark.parametrize("method", ["nl-means", pytest.param("bm3d", marks=pytest.mark.integration)])
def test_denoisers_remove_most_of_the_noise(method):
    if method == "bm3d":
        pytest.importorskip("bm3d")
    x = smooth_images()
    y = x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    out = denoise(y, 0.1, method)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    gain = float((psnr(out, x) - psnr(y.clamp(0, 1), x)).mean())
    assert gain > 6, gain  # 20 dB input; both reach > 26 dB on smooth images


def test_zero_sigma_is_identity():
    x = smooth_images()
    assert torch.equal(denoise(x, 0.0, "nl-means"), x)


def test_biharmonic_fill_reproduces_a_linear_ramp():
    x = smooth_images(1)
    mask = builtin_mask("center", 32)[None]
    out = fill(x * mask, mask)
    assert float((out - x).abs().max()) < 2e-3  # biharmonic interpolation is exact on linear functions
    known = mask.expand_as(x) > 0.5
    assert torch.allclose(out[known], x[known], atol=1e-6)


def test_fill_per_image_masks_and_errors():
    x = smooth_images(2)
    masks = torch.stack([builtin_mask("center", 32), builtin_mask("random:0.5", 32, seed=1)])
    out = fill(x * masks, masks)
    assert float((out - x).abs().max()) < 0.02
    with pytest.raises(GanpriorError, match="mask is"):
        fill(x, torch.ones(1, 1, 16, 16))
    with pytest.raises(GanpriorError, match="hides every pixel"):
        fill(x, torch.zeros(1, 1, 32, 32))


def test_upsamplers_keep_constants_and_size():
    y = torch.full((2, 3, 16, 16), 0.4)
    for method in ("bicubic", "lanczos"):
        out = upsample(y, 64, method)
        assert out.shape == (2, 3, 64, 64)
        assert float((out - 0.4).abs().max()) < 3e-3  # Lanczos goes through 8-bit, as an editor does


def test_colorize_is_the_gray_image_in_three_channels():
    g = torch.rand(2, 1, 8, 8)
    out = colorize(g)
    assert out.shape == (2, 3, 8, 8) and torch.equal(out[:, 0], out[:, 2]) and torch.equal(out[:, :1], g)


def test_chain_undoes_each_operator_in_order():
    x = smooth_images(2, 64)
    mask = builtin_mask("center", 32)[None]
    deg = build_degradation("colorize+inpaint+super-resolve", 64, factor=2, mask=mask)
    y = deg.simulate(x)
    assert y.shape == (2, 1, 32, 32)
    out = classical_restore(y, deg, upsampler="lanczos")
    assert out.shape == (2, 3, 64, 64)
    assert torch.allclose(out[:, 0], out[:, 1])  # no colour invented
    # the gray of the truth is recovered well: only smooth content was lost
    gray_truth = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])
    assert float(psnr(out[:, :1], gray_truth[:, None]).mean()) > 35


def test_denoise_inside_a_chain_uses_the_known_sigma():
    x = smooth_images(1)
    deg = build_degradation("denoise", 32, noise_sigma=0.2)
    y = deg.simulate(x)
    out = classical_restore(y, deg, denoiser="nl-means")
    assert float(psnr(out, x)) > float(psnr(y.clamp(0, 1), x)) + 5


def test_variants_name_the_baselines_of_each_task():
    assert baseline_variants(build_degradation("reconstruct", 64)) == {}
    assert list(baseline_variants(build_degradation("colorize", 64))) == ["gray input"]
    assert list(baseline_variants(build_degradation("super-resolve", 64, factor=4))) == ["bicubic", "lanczos"]
    assert list(baseline_variants(build_degradation("denoise", 64))) == ["nl-means", "bm3d"]
    chain = build_degradation("colorize+inpaint+super-resolve", 64, factor=2, mask=builtin_mask("center", 32)[None])
    assert list(baseline_variants(chain)) == ["biharmonic + bicubic", "biharmonic + lanczos"]


def test_bad_input_is_one_line():
    deg = build_degradation("denoise", 32)
    for bad, match in ((torch.rand(3, 32, 32), "baselines take"), (torch.rand(1, 2, 32, 32), "baselines take"),
                       (torch.full((1, 3, 32, 32), float("nan")), "NaN")):
        with pytest.raises(GanpriorError, match=match) as e:
            classical_restore(bad, deg)
        assert "\n" not in str(e.value)
    with pytest.raises(GanpriorError, match="denoiser must be one of"):
        denoise(torch.rand(1, 3, 8, 8), 0.1, "wiener")
    with pytest.raises(GanpriorError, match="upsampler must be one of"):
        upsample(torch.rand(1, 3, 8, 8), 16, "nearest")
    with pytest.raises(GanpriorError, match="square .* with odd k"):
        wiener(torch.rand(1, 3, 8, 8), torch.ones(2, 2) / 4)
    with pytest.raises(GanpriorError, match=r"kernel \(9 px\) is larger than the image \(8 px\)"):
        richardson_lucy(torch.rand(1, 3, 8, 8), _gaussian_psf())
    with pytest.raises(GanpriorError, match="non-negative"):
        wiener(torch.rand(1, 3, 8, 8), -torch.ones(3, 3))
    with pytest.raises(GanpriorError, match="balance must be > 0"):
        wiener(torch.rand(1, 3, 16, 16), _gaussian_psf(), balance=0.0)
    from ganprior.physics.operator import as_operator as custom_degradation
    import deepinv as dinv
    custom = custom_degradation(dinv.physics.Denoising(), 32)
    with pytest.raises(GanpriorError, match="named task chain"):
        classical_restore(torch.rand(1, 3, 32, 32), custom)


@pytest.mark.integration
def test_bm3d_takes_gray_and_flat_rgb_images_without_nan(recwarn):
    pytest.importorskip("bm3d")
    gray = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0)).expand(1, 3, 32, 32).contiguous()
    out = denoise(gray, 0.1, "bm3d")  # the colour BM3D divides by the (zero) chroma range of a gray image
    assert torch.isfinite(out).all() and torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])
    assert (out - gray).abs().mean() < 0.2
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.equal(denoise(flat, 0.1, "bm3d"), flat)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def _textured(b=2, size=32):
    """Smooth images plus a fine stripe pattern: detail that BM3D's first stage partly smooths away."""
    x = smooth_images(b, size)
    stripes = 0.08 * torch.sin(torch.arange(size) * 2.1)[None, None, None, :]
    return (x + stripes).clamp(0, 1)


@pytest.mark.integration
def test_guided_bm3d_follows_its_pilot():
    pytest.importorskip("bm3d")
    x = _textured()
    y = x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    plain = denoise(y, 0.1, "bm3d")
    # a vanishing guide weight is BM3D (its Wiener stage run per channel instead of in one call)
    torch.testing.assert_close(denoise(y, 0.1, "bm3d", guide=x, guide_weight=1e-9), plain, atol=2e-3, rtol=0)
    # the true image as pilot: the Wiener gains keep the detail, so the error falls
    err = [float(((denoise(y, 0.1, "bm3d", guide=x, guide_weight=w) - x) ** 2).mean()) for w in (0.0, 0.5, 1.0)]
    assert err[0] == pytest.approx(float(((plain - x) ** 2).mean()))
    assert err[2] < err[1] < 0.9 * err[0], err
    # a wrong pilot (a flat image) hurts: the output follows the pilot, not the truth
    flat = torch.full_like(x, 0.5)
    assert float(((denoise(y, 0.1, "bm3d", guide=flat, guide_weight=1.0) - x) ** 2).mean()) > err[0]
    # gray input with a one-channel guide stays gray
    g = denoise(y[:, :1], 0.1, "bm3d", guide=x[:, :1], guide_weight=0.5)
    assert g.shape == (2, 1, 32, 32) and torch.isfinite(g).all()


def test_guided_denoising_rejects_bad_guides():
    x = smooth_images()
    with pytest.raises(GanpriorError, match="guide image needs the bm3d denoiser"):
        denoise(x, 0.1, "nl-means", guide=x, guide_weight=0.5)
    with pytest.raises(GanpriorError, match="guide image must have the observation's shape"):
        denoise(x, 0.1, "bm3d", guide=x[:, :, :16], guide_weight=0.5)
    with pytest.raises(GanpriorError, match="NaN"):
        denoise(x, 0.1, "bm3d", guide=x * float("nan"), guide_weight=0.5)
    with pytest.raises(GanpriorError, match=r"guide weight must be in \[0, 1\]"):
        denoise(x, 0.1, "bm3d", guide=x, guide_weight=1.5)


@pytest.mark.integration
def test_guided_bm3d_on_an_image_without_chroma_range_per_channel(recwarn):
    pytest.importorskip("bm3d")
    # blue equal to red: the red-blue opponent channel has zero range, so BM3D works per RGB channel
    x = smooth_images(1)
    x[:, 2] = x[:, 0]
    y = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    y[:, 2] = y[:, 0]
    out = denoise(y, 0.05, "bm3d", guide=x, guide_weight=0.5)
    assert torch.isfinite(out).all() and float(((out - x) ** 2).mean()) < float(((y - x) ** 2).mean())
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def _gaussian_psf(size=9, sigma=1.5):
    r = torch.arange(size).float() - size // 2
    psf = torch.exp(-(r[:, None] ** 2 + r[None] ** 2) / (2 * sigma ** 2))
    return psf / psf.sum()


def test_deconvolution_undoes_deepinvs_circular_blur():
    import deepinv as dinv
    psf, x = _gaussian_psf(), periodic_image(32)
    y = dinv.physics.BlurFFT(img_size=(3, 32, 32), filter=psf[None, None]).A(x)
    blurred = float(psnr(y, x))
    assert blurred == pytest.approx(18.32, abs=0.05)
    # Wiener with a small balance inverts the blur but for the frequencies it nearly removes
    assert float(psnr(wiener(y, psf, 1e-3), x)) == pytest.approx(40.83, abs=0.1)
    assert float(psnr(wiener(y[:, :1], psf, 1e-3), x[:, :1])) > 60  # the low-frequency channel, all but exactly
    # Richardson-Lucy converges slowly from its flat start: 30 iterations gain under 3 dB
    assert float(psnr(richardson_lucy(y, psf, 30), x)) == pytest.approx(21.17, abs=0.1)
    flat = torch.full((1, 1, 16, 16), 0.5)
    assert torch.allclose(richardson_lucy(flat, psf), flat)  # keeps a constant (the flux)
    assert torch.allclose(wiener(flat, psf, 1e-3), flat / (1 + 1e-3))  # H(0) = 1: the balance only
