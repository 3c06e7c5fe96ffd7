"""NIQE: the reference value on baboon, the MATLAB imresize helper, luminance, and error handling."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import ganprior.registry_files
from ganprior import niqe as niqe_mod
from ganprior.errors import GanpriorError
from ganprior.niqe import (NiqeParams, NiqeUndefined, _aggd_params, _imresize, _luminance, _rgb_to_matlab_y,
                           load_niqe_params, niqe, niqe_or_none)

from .conftest import shared_path


@pytest.fixture(scope="module")
def params_path():
    return shared_path("fixtures", "metrics", "niqe", "niqe_pris_params.npz")


@pytest.fixture(scope="module")
def params(params_path):
    return load_niqe_params(params_path)


@pytest.fixture(scope="module")
def baboon() -> np.ndarray:
    from PIL import Image
    with Image.open(shared_path("fixtures", "metrics", "niqe", "baboon.png")) as im:
        return np.array(im.convert("RGB"))


@pytest.fixture(scope="module")
def fake_params() -> NiqeParams:
    """A well-formed stand-in model (identity covariance, 7x7 Gaussian window) for tests of everything but the value."""
    g = np.exp(-0.5 * (np.arange(-3, 4) / (7 / 6)) ** 2)
    window = np.outer(g, g)
    return NiqeParams(mu=np.zeros(36), cov=np.eye(36), window=window / window.sum())


@pytest.fixture
def no_params(monkeypatch, tmp_path):
    """No env var, an empty cache, no installed basicsr, and fetching forbidden."""
    monkeypatch.delenv("GANPRIOR_NIQE_PARAMS", raising=False)
    monkeypatch.setenv("GANPRIOR_OFFLINE", "1")
    monkeypatch.setenv("GANPRIOR_CACHE", str(tmp_path))
    monkeypatch.setattr(ganprior.registry_files, "_installed_copy", lambda spec: None)
    return tmp_path


# --- reference value ---------------------------------------------------------------------------------------

def test_baboon_matches_matlab_reference(baboon, params_path):
    # BasicSR's MATLAB-compatible NIQE (Y channel, crop_border 0) gives 5.7296.
    assert baboon.shape == (480, 492, 3)
    assert niqe(baboon, params_path) == pytest.approx(5.7296, abs=1e-3)


def test_tensor_and_gray_inputs_agree_with_uint8(baboon, params):
    ref = niqe(baboon, params)
    rgb = torch.from_numpy(baboon.copy()).permute(2, 0, 1).float() / 255
    assert niqe(rgb, params) == pytest.approx(ref, abs=1e-9)
    assert niqe(rgb[None], params) == pytest.approx(ref, abs=1e-9)  # batch of one
    # The rounded Y plane given as 1-channel luminance in [0, 1] is scored identically.
    y = torch.from_numpy(_luminance(baboon) / 255.0)[None]
    assert niqe(y, params) == pytest.approx(ref, abs=1e-9)
    assert niqe(_luminance(baboon).astype(np.uint8), params) == pytest.approx(ref, abs=1e-9)


def test_distortions_raise_niqe(baboon, params):
    # NIQE grows when natural statistics are destroyed: strong blur and strong noise both score worse.
    from scipy import ndimage
    ref = niqe(baboon, params)
    img = baboon.astype(np.float64)
    blurred = ndimage.gaussian_filter(img, (3, 3, 0)).round().astype(np.uint8)
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 25, img.shape), 0, 255).round().astype(np.uint8)
    assert niqe(blurred, params) > ref + 2.0
    assert niqe(noisy, params) > ref + 2.0


def test_single_block_uses_matlab_zero_covariance(baboon, params):
    # 96x96 has one block; MATLAB's nancov of one row is 0 (numpy's np.cov would give NaN).
    value = niqe(baboon[:96, :96], params)
    assert np.isfinite(value) and value > 0


# --- luminance ----------------------------------------------------------------------------------------------

def test_matlab_y_of_white_and_black():
    assert _rgb_to_matlab_y(np.array([1.0, 1.0, 1.0])) == pytest.approx(235.0, abs=1e-9)
    assert _rgb_to_matlab_y(np.array([0.0, 0.0, 0.0])) == pytest.approx(16.0, abs=1e-12)
    img = np.zeros((2, 2, 3), np.uint8)
    img[0] = 255
    np.testing.assert_array_equal(_luminance(img), [[235, 235], [16, 16]])
    # 1-channel tensors are full-range luminance: 1.0 -> 255, values are rounded.
    np.testing.assert_array_equal(_luminance(torch.tensor([[[1.0, 0.0, 0.5 / 255 + 0.3 / 255]]])), [[255, 0, 1]])


# --- MATLAB imresize ----------------------------------------------------------------------------------------

def test_imresize_constant_stays_constant():
    out = _imresize(np.full((37, 50), 123.25), 0.5)
    assert out.shape == (19, 25)
    np.testing.assert_allclose(out, 123.25, rtol=0, atol=1e-10)


@pytest.mark.parametrize("shape, expected", [((97, 101), (49, 51)), ((96, 96), (48, 48)), ((3, 1), (2, 1))])
def test_imresize_half_uses_ceil(shape, expected):
    assert _imresize(np.ones(shape), 0.5).shape == expected


def test_imresize_ramp_interior_is_local_mean():
    # The antialiased kernel is symmetric about each output centre, which sits between input pixels
    # 2i and 2i+1 (0-based), so a linear ramp maps to the mean of that pair away from the borders.
    i, j = np.mgrid[0:40, 0:30].astype(np.float64)
    out = _imresize(3 * i + 5 * j, 0.5)
    oi, oj = np.mgrid[0:20, 0:15].astype(np.float64)
    expected = 3 * (2 * oi + 0.5) + 5 * (2 * oj + 0.5)
    np.testing.assert_allclose(out[2:-2, 2:-2], expected[2:-2, 2:-2], atol=1e-10)


def test_imresize_border_weights_by_hand():
    # Output 1 sits at input coordinate u = 1.5 (1-based). The kernel is 0.5*cubic(0.5*d) over 8 taps,
    # d = +-0.5, +-1.5, +-2.5, +-3.5 -> weights 0.43359375, 0.11328125, -0.03515625, -0.01171875 (sum 1).
    # Taps 0, -1, -2 fold back symmetrically onto 1, 2, 3, so for x_k = k:
    # 1*(.43359375+.11328125) + 2*(.43359375-.03515625) + 3*(.11328125-.01171875) - 4*.03515625 - 5*.01171875
    ramp = np.tile(np.arange(1, 21, dtype=np.float64)[:, None], (1, 6))
    out = _imresize(ramp, 0.5)
    hand = 1 * 0.546875 + 2 * 0.3984375 + 3 * 0.1015625 - 4 * 0.03515625 - 5 * 0.01171875
    assert hand == 1.44921875
    np.testing.assert_allclose(out[0], hand, atol=1e-12)
    np.testing.assert_allclose(out[-1], 21 - hand, atol=1e-12)  # mirror image at the other end
    np.testing.assert_allclose(out[2:-2, 0], np.arange(5.5, 17, 2), atol=1e-12)


def test_aggd_recovers_gaussian():
    # A zero-mean Gaussian is an AGGD with shape 2 and beta = sigma * sqrt(2) on both sides.
    x = np.random.default_rng(0).normal(0.0, 1.5, 200_000)
    alpha, bl, br = _aggd_params(x)
    assert alpha == pytest.approx(2.0, abs=0.05)
    assert bl == pytest.approx(1.5 * np.sqrt(2), rel=0.02)
    assert br == pytest.approx(1.5 * np.sqrt(2), rel=0.02)


# --- errors -------------------------------------------------------------------------------------------------

def test_too_small_image(fake_params):
    img = np.zeros((95, 200, 3), np.uint8)
    with pytest.raises(GanpriorError, match="at least 96x96"):
        niqe(img, fake_params)
    assert niqe_or_none(img, fake_params) is None
    assert niqe_or_none(torch.rand(3, 200, 64), fake_params) is None


def test_flat_image_is_undefined(fake_params):
    flat = np.full((96, 192, 3), 128, np.uint8)
    with pytest.raises(NiqeUndefined, match="flat"):
        niqe(flat, fake_params)
    assert niqe_or_none(flat, fake_params) is None


def test_bad_inputs(fake_params):
    with pytest.raises(GanpriorError, match="uint8"):
        niqe(np.zeros((100, 100, 3), np.float32), fake_params)
    with pytest.raises(GanpriorError, match="shape"):
        niqe(torch.rand(2, 100, 100), fake_params)
    with pytest.raises(GanpriorError, match="float tensors"):
        niqe(torch.zeros(3, 100, 100, dtype=torch.uint8), fake_params)
    with pytest.raises(GanpriorError, match="NaN"):
        niqe(torch.full((3, 100, 100), float("nan")), fake_params)


def test_params_missing_key(tmp_path, fake_params):
    bad = tmp_path / "bad.npz"
    np.savez(bad, mu_pris_param=fake_params.mu, cov_pris_param=fake_params.cov)
    with pytest.raises(GanpriorError, match="gaussian_window"):
        load_niqe_params(bad)


def test_params_bad_shape_and_not_npz(tmp_path, fake_params):
    bad = tmp_path / "bad.npz"
    np.savez(bad, mu_pris_param=fake_params.mu[:35], cov_pris_param=fake_params.cov,
             gaussian_window=fake_params.window)
    with pytest.raises(GanpriorError, match=r"mu_pris_param has shape \(35,\)"):
        load_niqe_params(bad)
    junk = tmp_path / "junk.npz"
    junk.write_text("not an archive")
    with pytest.raises(GanpriorError, match="not a readable .npz"):
        niqe(np.zeros((96, 96, 3), np.uint8), junk)


def test_params_missing_everywhere(no_params):
    with pytest.raises(GanpriorError, match="GANPRIOR_NIQE_PARAMS") as exc:
        load_niqe_params()
    assert "\n" not in str(exc.value)
    with pytest.raises(GanpriorError, match="GANPRIOR_NIQE_PARAMS"):
        niqe(np.zeros((96, 96, 3), np.uint8))
    # The image is checked first: a too-small one is None without looking for the model at all.
    assert niqe_or_none(np.zeros((50, 50, 3), np.uint8)) is None


def test_params_from_env(monkeypatch, no_params, params_path, tmp_path):
    monkeypatch.setenv("GANPRIOR_NIQE_PARAMS", str(params_path))
    assert load_niqe_params().cov.shape == (36, 36)
    monkeypatch.setenv("GANPRIOR_NIQE_PARAMS", str(tmp_path / "nowhere.npz"))
    with pytest.raises(GanpriorError, match="does not exist"):
        load_niqe_params()


def test_params_from_registry_cache(no_params, params_path):
    # A verified copy already in the cache (as a previous fetch of basicsr would leave it) is used offline.
    spec = niqe_mod._registry_spec()
    shutil.copyfile(params_path, no_params / spec.cache_name)
    p = load_niqe_params()
    assert p.mu.shape == (36,) and p.source.endswith(spec.cache_name)
