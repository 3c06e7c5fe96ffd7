import deepinv as dinv
import pytest
import torch

import ganprior
from ganprior.inputs import _as_items
from ganprior.errors import GanpriorError


def clean(tiny_prior, n=2):
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        return tiny_prior.to_unit(tiny_prior.generate(torch.randn(n, 8, 1, 1, generator=g))).clamp(0, 1)


@pytest.mark.integration
def test_restore_tensors_simulated(tiny_prior):
    x = clean(tiny_prior)
    r = ganprior.restore(x, "super-resolve", tiny_prior, factor=2, simulate=True, steps=20, layer=1, perceptual=0)
    assert r.images.shape == (2, 3, 16, 16) and r.observed.shape == (2, 3, 8, 8)
    assert all(m["psnr"] > 10 and m["lpips"] is not None for m in r.metrics)
    torch.testing.assert_close(r.ground_truth, x)


def test_batch_size_does_not_change_results(tiny_prior):
    x = clean(tiny_prior, 3)
    kw = dict(simulate=True, steps=10, layer=2, num_codes=3, perceptual=0)
    a = ganprior.restore(x, "reconstruct", tiny_prior, batch_size=3, **kw)
    b = ganprior.restore(x, "reconstruct", tiny_prior, batch_size=1, **kw)
    torch.testing.assert_close(a.images, b.images, atol=1e-4, rtol=0)
    assert a.history.shape == b.history.shape == (10, 3)


def test_user_supplied_physics(tiny_prior):
    blur = dinv.physics.BlurFFT(img_size=(3, 16, 16), filter=torch.ones(1, 1, 3, 3) / 9)
    x = clean(tiny_prior)
    r = ganprior.restore(x, physics=blur, prior=tiny_prior, simulate=True, steps=30, layer=1, perceptual=0)
    torch.testing.assert_close(r.observed, blur(x))
    assert r.history[-1].mean() < r.history[0].mean()


@pytest.mark.integration
def test_perceptual_auto_is_recorded(tiny_prior):
    r = ganprior.restore(clean(tiny_prior, 1), "reconstruct", tiny_prior, simulate=True, steps=2, layer=1)
    assert all("perceptual loss off" not in n for n in r.notes)  # weights are available here
    assert r.metrics[0]["lpips"] is not None


def test_names_are_unique(tmp_path, face_pngs):
    other = tmp_path / "other"
    other.mkdir()
    (other / "img0.png").write_bytes(face_pngs[0].read_bytes())
    names = [n for n, _, _ in _as_items([face_pngs[0], other, torch.rand(2, 3, 4, 4)])]
    assert names == ["img0", "img0_1", "image2_0", "image2_1"]
    with pytest.raises(GanpriorError, match="no input"):
        _as_items([])
    with pytest.raises(GanpriorError, match="must be"):
        _as_items([torch.rand(4, 4)])
