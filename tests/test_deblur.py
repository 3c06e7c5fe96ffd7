"""The deblur task, added as one file of the task registry: a Gaussian blur (deepinv BlurFFT) before
any downsampling, no paste-back, Wiener and Richardson-Lucy as classical answers, and one-line errors
for a bad blur sigma."""

import math

import deepinv as dinv
import pytest
import torch

import ganprior
from ganprior.baselines import wiener
from ganprior.errors import GanpriorError
from ganprior.metrics import psnr
from ganprior.physics.resize import Resize
from ganprior.presets import RECIPES, dgp_schedule_name, task_preset
from ganprior.tasks import (TASKS, baseline_variants, build_degradation, classical_blend, classical_restore,
                            parse_task, task_options)
from ganprior.tasks.deblur import blur_kernel

from .conftest import periodic_image


def test_registered_with_its_alias_before_super_resolution():
    assert "deblur" in TASKS and TASKS.index("deblur") < TASKS.index("super-resolve")
    assert parse_task("super-resolve+deblurring") == ["deblur", "super-resolve"]
    [option] = task_options("deblur")
    assert (option.name, option.flag, option.type, option.default) == ("blur_sigma", "--blur-sigma", float, 1.5)


def test_forward_is_a_gaussian_blur_at_full_resolution():
    deg = build_degradation("deblur", 32)
    assert deg.options["blur_sigma"] == 1.5 and isinstance(deg.physics, dinv.physics.BlurFFT)
    assert (deg.observed_channels, deg.observed_size) == (3, 32) and deg.noise_sigma == 0.0
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    # a circular convolution with deepinv's Gaussian filter (13 x 13 at sigma 1.5), summing to 1
    psf = blur_kernel(1.5, 32)
    assert psf.shape == (13, 13) and float(psf.sum()) == pytest.approx(1.0)
    padded = torch.nn.functional.pad(x, (6, 6, 6, 6), mode="circular")
    direct = torch.nn.functional.conv2d(padded, psf.expand(3, 1, 13, 13), groups=3)
    torch.testing.assert_close(deg.A(x), direct, atol=1e-5, rtol=0)
    torch.testing.assert_close(deg.A(torch.full((1, 3, 32, 32), 0.3)), torch.full((1, 3, 32, 32), 0.3))
    # a wide blur on a small prior: the kernel is cut to the image
    assert blur_kernel(8.0, 16).shape == (15, 15)
    assert build_degradation("deblur", 16, blur_sigma=8).A(x[..., :16, :16]).shape == (2, 3, 16, 16)


def test_blur_comes_before_downsampling_and_noise_after():
    x = periodic_image(32)
    deg = build_degradation("denoise+super-resolve+deblur", 32, factor=2, blur_sigma=2.0, noise_sigma=0.05)
    assert deg.tasks == ["deblur", "super-resolve", "denoise"]
    blur = dinv.physics.BlurFFT(img_size=(3, 32, 32), filter=blur_kernel(2.0, 32)[None, None])
    down = Resize(32, 2)  # PIL's antialiased bicubic, the default kernel
    torch.testing.assert_close(deg.A(x), down.A(blur.A(x)), atol=1e-6, rtol=0)
    assert float(deg.physics.noise_model.sigma) == pytest.approx(0.05)


def test_wiener_and_richardson_lucy_improve_on_the_blurred_input():
    x = periodic_image(64)
    deg = build_degradation("deblur", 64, blur_sigma=1.5)
    y = deg.simulate(x)
    assert float(psnr(y, x)) == pytest.approx(25.11, abs=0.05)
    assert list(baseline_variants(deg)) == ["wiener", "richardson-lucy"]
    # the default classical answer is Wiener: nearly exact on a clean observation
    assert float(psnr(classical_restore(y, deg), x)) == pytest.approx(63.78, abs=0.3)
    assert float(psnr(classical_restore(y, deg, deconvolver="richardson-lucy"), x)) == pytest.approx(41.94, abs=0.1)
    # an 8-bit observation: the balance keeps the quantisation from ringing
    y8 = (y * 255).round() / 255
    assert float(psnr(classical_restore(y8, deg), x)) == pytest.approx(42.78, abs=0.1)
    with pytest.raises(GanpriorError, match="deconvolver must be one of wiener, richardson-lucy"):
        classical_restore(y, deg, deconvolver="blind")


@pytest.mark.parametrize("sigma,shown", [(0, "0.0"), (-1, "-1.0"), (8.5, "8.5"), (math.nan, "nan"),
                                         (math.inf, "inf")])
def test_invalid_blur_sigma_is_a_one_line_error(sigma, shown):
    with pytest.raises(GanpriorError) as e:
        build_degradation("deblur", 32, blur_sigma=sigma)
    assert str(e.value) == f"blur sigma must be finite and > 0 and <= 8, got {shown}"
    with pytest.raises(GanpriorError, match="blur sigma must be a number, got 'wide'"):
        build_degradation("deblur", 32, blur_sigma="wide")


def test_no_paste_back_and_the_blend_goes_through_wiener():
    truth, x = periodic_image(32), periodic_image(32).flip(-1)
    deg = build_degradation("deblur", 32)
    y = deg.A(truth)
    assert torch.equal(deg.postprocess(x, y), x)  # the blurred pixels are not the image's
    psf = blur_kernel(1.5, 32)
    expected = wiener(y, psf) + 0.5 * (x - wiener(deg.A(x).clamp(0, 1), psf))
    torch.testing.assert_close(classical_blend(x, y, deg, 0.5), expected.clamp(0, 1), atol=1e-5, rtol=0)
    blended = build_degradation("deblur", 32, blend=0.5)
    torch.testing.assert_close(blended.postprocess(x, y), classical_blend(x, y, deg, 0.5))


def test_presets_and_schedule():
    assert task_preset(["deblur"], "auto") == RECIPES["faithful"]["deblur"]
    assert RECIPES["faithful"]["deblur"] == {"method": "multi", "perceptual": 0.0, "blend": 0.7, "layer": 1}
    assert task_preset(["deblur", "super-resolve"], "faithful") == RECIPES["faithful"]["super-resolve"]
    assert task_preset(["deblur", "inpaint"], "faithful") == RECIPES["faithful"]["inpaint"]
    assert dgp_schedule_name(["deblur"]) == "deblur" and dgp_schedule_name(["deblur", "colorize"]) == "colorize"


def test_restore_runs_deblur_end_to_end(tiny_prior):
    truth = periodic_image(16).expand(2, -1, -1, -1)
    r = ganprior.restore(truth, "deblur", tiny_prior, simulate=True, steps=3, num_codes=2)  # blur sigma 1.5
    assert r.images.shape == (2, 3, 16, 16) and torch.isfinite(r.images).all()
    assert r.observed.shape == (2, 3, 16, 16) and len(r.metrics) == 2


def test_presets_resolve_as_measured():
    """The recipes chosen on training faces (tasks/deblur.py): faithful = 20 codes composed at layer 1,
    pixel loss, blend 0.7 into Wiener; perceptual = one code from the best start with the VGG term,
    blend 1.0."""
    from ganprior.config import RunConfig
    faithful = RunConfig.from_options("deblur", preset="faithful").resolved()
    assert (faithful.method, faithful.layer, faithful.blend, float(faithful.perceptual)) == ("multi", 1, 0.7, 0.0)
    assert faithful.num_codes == 20
    auto = RunConfig.from_options("deblur", preset="auto").resolved()
    assert (auto.method, auto.layer, auto.blend) == ("multi", 1, 0.7)
    perceptual = RunConfig.from_options("deblur", preset="perceptual").resolved()
    assert (perceptual.method, perceptual.latent_init, perceptual.blend) == ("single", "best", 1.0)
    assert perceptual.perceptual == "auto"  # the VGG term, as every perceptual style
    # the blend goes through Wiener, the deconvolver that measured best as its base
    assert baseline_variants(build_degradation("deblur", 32))["wiener"] == {"deconvolver": "wiener"}
    assert build_degradation("deblur", 32).chain[0].default_method() == "wiener"
