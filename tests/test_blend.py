"""The classical blend C(y) + w (x - C(A x)): exact on known pixels, the classical restoration at
w = 0, the residual correction at w = 1, luminance kept with colour, off for denoising."""

import json

import pytest
import torch

import ganprior
from ganprior.baselines import denoise, fill, upsample
from ganprior.errors import GanpriorError
from ganprior.io import to_gray
from ganprior.metrics import psnr
from ganprior.tasks import build_degradation, classical_restore, get_task
from ganprior.tasks.blend import blend_applies, classical_blend, prior_detail
from ganprior.tasks.colorize import keep_luminance

from .conftest import run_cli


def _smooth(b, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    low = 0.4 + 0.2 * torch.rand(b, 3, 8, 8, generator=g)  # far from 0 and 1: no clamping
    return torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)


def test_inpainting_blend_keeps_known_pixels_and_spans_classical_to_residual():
    truth, x = _smooth(2, seed=0), _smooth(2, seed=1)
    mask = (torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(2)) > 0.6).float()
    deg = build_degradation("inpaint", 32, mask=mask)
    y = deg.A(truth)
    for w in (0.0, 0.3, 1.0):
        out = classical_blend(x, y, deg, w)
        torch.testing.assert_close(out * mask, truth * mask, atol=1e-5, rtol=0)
    torch.testing.assert_close(classical_blend(x, y, deg, 0.0), classical_restore(y, deg), atol=1e-5, rtol=0)
    # the definition, operator by operator, with inpainting's weight map (w near known pixels, 1
    # deep in holes: tasks.inpaint)
    w = 0.3
    weights = get_task("inpaint").blend_weight(w, deg, 32)
    assert weights.shape == (2, 1, 32, 32) and bool((weights[mask.bool()] == w).all())
    expected = classical_restore(y, deg) + weights * (x - classical_restore(deg.A(x), deg))
    torch.testing.assert_close(classical_blend(x, y, deg, w), expected.clamp(0, 1), atol=1e-5, rtol=0)
    # w = 1 is (up to scikit-image's clipping of extrapolated values to the known range) the prior's
    # output plus the biharmonic fill of what it missed on the known pixels
    residual = fill((y - deg.A(x)) / 2 + 0.5, mask) * 2 - 1
    assert (classical_blend(x, y, deg, 1.0) - (x + residual).clamp(0, 1)).abs().mean() < 1e-3
    # halfway is the average of the two ends (the operators are linear) where the weight is the run's
    mid = classical_blend(x, y, deg, 0.5)
    ends = 0.5 * (classical_blend(x, y, deg, 0.0) + classical_blend(x, y, deg, 1.0))
    near = get_task("inpaint").blend_weight(0.5, deg, 32) == 0.5
    torch.testing.assert_close(mid * near, ends * near, atol=1e-4, rtol=0)


def test_super_resolution_blend_adds_the_prior_detail_to_bicubic():
    truth, x = _smooth(1, 64, seed=3), _smooth(1, 64, seed=4)
    deg = build_degradation("super-resolve", 64, factor=4)
    y = deg.A(truth)
    w = 0.5
    expected = upsample(y, 64) + w * (x - upsample(deg.A(x).clamp(0, 1), 64))
    torch.testing.assert_close(classical_blend(x, y, deg, w), expected.clamp(0, 1), atol=1e-5, rtol=0)


def test_prior_detail_is_what_the_classical_path_misses():
    x = _smooth(2, 64, seed=5)
    deg = build_degradation("super-resolve", 64, factor=4)
    detail = prior_detail(x, deg)
    torch.testing.assert_close(detail, x - upsample(deg.A(x).clamp(0, 1), 64), atol=1e-6, rtol=0)
    flat = torch.full((1, 3, 64, 64), 0.4)  # a constant image is all the classical path needs
    assert float(prior_detail(flat, deg).abs().max()) < 1e-5
    with pytest.raises(GanpriorError, match="degrades the image"):
        prior_detail(x, build_degradation("reconstruct", 64))


def test_colorization_blend_keeps_the_gray_input_as_luminance_and_full_chroma():
    truth, x = _smooth(2, seed=5), _smooth(2, seed=6)
    deg = build_degradation("colorize", 32)
    y = deg.A(truth)
    out = classical_blend(x, y, deg, 0.5)
    torch.testing.assert_close(to_gray(out), y, atol=1e-5, rtol=0)
    torch.testing.assert_close(out, keep_luminance(x, y), atol=1e-5, rtol=0)  # chroma not faded by w


def test_blend_is_off_for_reconstruction_and_checks_its_weight():
    assert not blend_applies(["reconstruct"]) and not blend_applies([])
    assert blend_applies(["colorize", "inpaint", "super-resolve"]) and blend_applies(["denoise"])
    x = _smooth(1)
    deg = build_degradation("reconstruct", 32, blend=0.5)
    assert torch.equal(deg.postprocess(x, x), x)
    with pytest.raises(GanpriorError, match=r"blend weight must be in \[0, 1\]"):
        build_degradation("inpaint", 32, mask=torch.ones(1, 32, 32), blend=1.5)
    with pytest.raises(GanpriorError, match=r"blend weight must be in \[0, 1\]"):
        classical_blend(x, x, build_degradation("colorize", 32), -0.1)


def test_denoising_blend_puts_fresh_noise_on_the_prior_image(monkeypatch):
    import ganprior.tasks.blend as blend
    import ganprior.tasks.denoise as denoise_task
    monkeypatch.setattr(denoise_task, "default_denoiser", lambda: "nl-means")  # fast, and always installed
    truth, x = _smooth(1, seed=8), _smooth(1, seed=9)
    deg = build_degradation("denoise", 32, noise_sigma=0.1)
    y = deg.simulate(truth, seed=0)  # not clipped: the denoiser sees the noise as it came
    w = 0.3
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(blend.BLEND_NOISE_SEED))
    expected = denoise(y, 0.1, "nl-means") + w * (x - denoise(x + 0.1 * noise, 0.1, "nl-means"))
    torch.testing.assert_close(classical_blend(x, y, deg, w), expected.clamp(0, 1), atol=1e-5, rtol=0)
    torch.testing.assert_close(classical_blend(x, y, deg, 0.0), denoise(y, 0.1, "nl-means"), atol=1e-6, rtol=0)
    # the blend's noise is its own draw, not the one that simulated the observation
    assert not torch.allclose(y - truth, 0.1 * noise)


@pytest.mark.integration
def test_restore_applies_the_blend_through_the_degradation(tiny_prior):
    truth = _smooth(2, 16, seed=7)
    mask = torch.ones(1, 16, 16)
    mask[:, 4:12, 4:12] = 0
    common = dict(simulate=True, mask=mask, steps=3, num_codes=2, layer=1, preset="none")
    raw = ganprior.restore(truth, "inpaint", tiny_prior, paste_known=False, **common)
    blended = ganprior.restore(truth, "inpaint", tiny_prior, blend=0.5, **common)
    deg = build_degradation("inpaint", 16, mask=mask)
    expected = classical_blend(raw.images, deg.A(truth), deg, 0.5)
    torch.testing.assert_close(blended.images, expected, atol=1e-4, rtol=0)


@pytest.mark.integration
def test_cli_blend_flag_and_preset_record_the_weight(tmp_path, capsys, tiny_checkpoint, face_pngs):
    out = tmp_path / "out"
    code, _, err = run_cli(["inpaint", face_pngs[0], "--out", out, "--prior", tiny_checkpoint, "--simulate",
                            "--mask", "center", "--steps", "2", "--codes", "2", "--layer", "1", "--quiet"], capsys)
    assert code == 0, err
    settings = json.loads((out / "manifest.json").read_text())["settings"]
    # a checkpoint without an encoder takes the recipe without one (blend 0.5); with one, 0.6
    assert settings["blend"] == ganprior.presets.task_preset(["inpaint"], "auto")["blend"] == 0.5
    assert ganprior.presets.task_preset(["inpaint"], "auto", encoder=True)["blend"] == 0.6
    code, _, err = run_cli(["inpaint", face_pngs[0], "--out", tmp_path / "bad", "--prior", tiny_checkpoint,
                            "--simulate", "--mask", "center", "--blend", "2", "--steps", "1", "--quiet"], capsys)
    assert code != 0 and "blend weight must be in [0, 1]" in err and "Traceback" not in err
    code, _, err = run_cli(["denoise", face_pngs[0], "--out", tmp_path / "bad2", "--prior", tiny_checkpoint,
                            "--simulate", "--guide", "-0.5", "--steps", "1", "--quiet"], capsys)
    assert code != 0 and "guide weight must be in [0, 1]" in err and "Traceback" not in err


@pytest.mark.integration
def test_denoising_blend_with_bm3d_guides_its_wiener_stage():
    pytest.importorskip("bm3d")
    import ganprior.tasks.blend as blend
    truth, other = _smooth(1, seed=8), _smooth(1, seed=9)
    deg = build_degradation("denoise", 32, noise_sigma=0.1)
    y = deg.simulate(truth, seed=0)
    noise = torch.randn(truth.shape, generator=torch.Generator().manual_seed(blend.BLEND_NOISE_SEED))
    for x in (truth, other):
        for w, g in ((0.0, 0.4), (0.2, 0.4)):
            expected = (denoise(y, 0.1, "bm3d", guide=x, guide_weight=g)
                        + w * (x - denoise(x + 0.1 * noise, 0.1, "bm3d")))
            torch.testing.assert_close(classical_blend(x, y, deg, w, guide=g), expected.clamp(0, 1), atol=1e-5, rtol=0)
    # a prior image that is right beats plain BM3D; weights 0 are plain BM3D
    plain = denoise(y, 0.1, "bm3d")
    assert float(psnr(classical_blend(truth, y, deg, 0.0, guide=0.4), truth)) > float(psnr(plain, truth))
    torch.testing.assert_close(classical_blend(other, y, deg, 0.0), plain, atol=1e-6, rtol=0)
    # the guide reaches the blend through the degradation (restore's path), and is checked there
    guided = build_degradation("denoise", 32, noise_sigma=0.1, guide=0.4)
    torch.testing.assert_close(guided.postprocess(truth, y), classical_blend(truth, y, deg, 0.0, guide=0.4))
    with pytest.raises(GanpriorError, match=r"guide weight must be in \[0, 1\]"):
        build_degradation("denoise", 32, noise_sigma=0.1, guide=2.0)
