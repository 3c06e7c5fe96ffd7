import deepinv as dinv
import pytest
import torch

from ganprior.errors import GanpriorError
from ganprior.io import to_gray
from ganprior.physics.masks import builtin_mask, center_box_mask, random_pixel_mask
from ganprior.physics.operator import as_operator as custom_degradation
from ganprior.tasks import TASKS, build_degradation, parse_task

R = 16


def x_batch(b=2):
    return torch.rand(b, 3, R, R, generator=torch.Generator().manual_seed(0))


class TestParse:
    def test_canonical_order_and_aliases(self):
        assert parse_task("inpaint+colorize+sr") == ["super-resolve", "colorize", "inpaint"]
        assert parse_task("reconstruct") == ["reconstruct"]
        assert parse_task("reconstruct+denoise") == ["denoise"]

    @pytest.mark.parametrize("bad,msg", [("sharpen", "unknown task"), ("inpaint+inpaint", "twice")])
    def test_errors(self, bad, msg):
        with pytest.raises(GanpriorError, match=msg):
            parse_task(bad)


class TestOperators:
    def test_reconstruct_is_identity(self):
        x = x_batch()
        torch.testing.assert_close(build_degradation("reconstruct", R).A(x), x)

    def test_colorize_is_rec601_gray(self):
        x = x_batch()
        d = build_degradation("colorize", R)
        y = d.A(x)
        assert y.shape == (2, 1, R, R) and d.observed_channels == 1
        torch.testing.assert_close(y, to_gray(x), atol=1e-5, rtol=0)

    @pytest.mark.parametrize("factor", [2, 4, 8])
    def test_downsampling_shapes_and_constant_preserved(self, factor):
        d = build_degradation("super-resolve", R, factor=factor)
        assert d.observed_size == R // factor
        const = torch.full((1, 3, R, R), 0.3)
        torch.testing.assert_close(d.A(const), torch.full((1, 3, R // factor, R // factor), 0.3), atol=1e-5, rtol=0)

    def test_inpaint_zeroes_missing(self):
        m = center_box_mask(R, 0.5)
        d = build_degradation("inpaint", R, mask=m)
        y = d.A(torch.ones(1, 3, R, R))
        assert y[0, :, 8, 8].sum() == 0 and y[0, :, 0, 0].sum() == 3
        assert float(m.mean()) == pytest.approx(1 - 0.25)

    def test_chain_applies_in_canonical_order(self):
        x = x_batch()
        m = torch.ones(1, 1, 8, 8)
        m[..., :4, :4] = 0
        d = build_degradation("inpaint+colorize+super-resolve", R, factor=2, mask=m)
        down = torch.nn.functional.interpolate(x, size=R // 2, mode="bicubic", antialias=True, align_corners=False)
        expected = to_gray(down) * m
        torch.testing.assert_close(d.A(x), expected, atol=1e-5, rtol=0)

    def test_physics_is_differentiable(self):
        x = x_batch().requires_grad_()
        d = build_degradation("colorize+super-resolve+inpaint", R, factor=4, mask=center_box_mask(4, 0.5))
        d.A(x).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0

    def test_denoise_simulation_noise_level_and_seed(self):
        d = build_degradation("denoise", 64, noise_sigma=0.2)
        x = torch.full((4, 3, 64, 64), 0.5)
        y = d.simulate(x, seed=3)
        assert float((y - x).std()) == pytest.approx(0.2, rel=0.05)
        torch.testing.assert_close(y, d.simulate(x, seed=3))
        torch.testing.assert_close(d.A(x), x)  # the loss sees the noiseless model

    @pytest.mark.parametrize("task", TASKS)
    def test_every_task_builds(self, task):
        d = build_degradation(task, R, factor=2, mask=center_box_mask(R))
        y = d.simulate(x_batch())
        assert y.shape[-1] == d.observed_size and y.shape[1] == d.observed_channels


class TestErrors:
    def test_sr_needs_valid_factor(self):
        with pytest.raises(GanpriorError, match="needs a factor"):
            build_degradation("super-resolve", R)
        with pytest.raises(GanpriorError, match="2..16"):
            build_degradation("super-resolve", R, factor=32)
        with pytest.raises(GanpriorError, match="divide"):
            build_degradation("super-resolve", R, factor=3)

    def test_inpaint_needs_mask_of_observed_size(self):
        with pytest.raises(GanpriorError, match="needs a mask"):
            build_degradation("inpaint", R)
        with pytest.raises(GanpriorError, match=r"mask must be \(1, 8, 8\)"):
            build_degradation("inpaint+super-resolve", R, factor=2, mask=center_box_mask(R))

    def test_builtin_masks(self):
        assert float(random_pixel_mask(64, 0.8, seed=1).mean()) == pytest.approx(0.2, abs=0.03)
        torch.testing.assert_close(builtin_mask("random:0.5", 8, seed=2), random_pixel_mask(8, 0.5, seed=2))
        with pytest.raises(GanpriorError, match="unknown built-in mask"):
            builtin_mask("star", 8)
        with pytest.raises(GanpriorError, match="not a number"):
            builtin_mask("center:big", 8)


class TestPostprocess:
    def test_colorize_keeps_input_luminance(self):
        x_hat = torch.full((1, 3, R, R), 0.5)
        x_hat[:, 0] = 0.6
        y = torch.rand(1, 1, R, R) * 0.3 + 0.3
        out = build_degradation("colorize", R).postprocess(x_hat, y)
        torch.testing.assert_close(to_gray(out), y, atol=1e-5, rtol=0)
        # chroma (channel differences) comes from the prior
        torch.testing.assert_close(out[:, 0] - out[:, 1], x_hat[:, 0] - x_hat[:, 1])

    def test_colorize_stays_in_gamut_with_exact_luminance(self):
        x_hat = torch.rand(2, 3, R, R, generator=torch.Generator().manual_seed(1))
        y = torch.rand(2, 1, R, R, generator=torch.Generator().manual_seed(2))
        y[:, :, 0, 0] = 1.0  # white: chroma must vanish
        out = build_degradation("colorize", R).postprocess(x_hat, y)
        assert out.min() >= 0 and out.max() <= 1
        torch.testing.assert_close(to_gray(out), y, atol=1e-5, rtol=0)
        torch.testing.assert_close(out[:, :, 0, 0], torch.ones(2, 3), atol=1e-5, rtol=0)

    def test_inpaint_pastes_known_pixels(self):
        m = center_box_mask(R, 0.5)[None]
        d = build_degradation("inpaint", R, mask=m)
        y = torch.rand(1, 3, R, R) * m
        x_hat = torch.zeros(1, 3, R, R) + 0.7
        out = d.postprocess(x_hat, y)
        torch.testing.assert_close(out * m, y * m)
        assert float(out[0, 0, 8, 8]) == pytest.approx(0.7)
        assert torch.equal(build_degradation("inpaint", R, mask=m, paste_known=False).postprocess(x_hat, y), x_hat)

    def test_colorize_and_inpaint_recolour_known_pixels_only(self):
        m = center_box_mask(R, 0.5)[None]
        d = build_degradation("inpaint+colorize", R, mask=m)
        x_hat = torch.rand(1, 3, R, R, generator=torch.Generator().manual_seed(3))
        y = d.A(torch.rand(1, 3, R, R, generator=torch.Generator().manual_seed(4)))
        out = d.postprocess(x_hat, y)
        known = m.expand_as(x_hat) > 0.5
        torch.testing.assert_close(to_gray(out) * m, y * m, atol=1e-5, rtol=0)  # the gray input's luminance
        assert torch.equal(out[~known], x_hat[~known])  # the hole is the prior's

    def test_no_paste_when_downsampled_or_noisy(self):
        x_hat = torch.rand(1, 3, R, R)
        for task, kw in (("inpaint+super-resolve", {"factor": 2, "mask": center_box_mask(8)}), ("denoise", {})):
            d = build_degradation(task, R, **kw)
            assert torch.equal(d.postprocess(x_hat, d.A(x_hat)), x_hat)


def test_custom_physics():
    phys = dinv.physics.BlurFFT(img_size=(3, R, R), filter=torch.ones(1, 1, 3, 3) / 9)
    d = custom_degradation(phys, R)
    assert (d.observed_channels, d.observed_size) == (3, R)
    x = x_batch()
    torch.testing.assert_close(d.A(x), phys.A(x))
