"""Throughput settings: the automatic batch size from free memory, bf16 autocast, torch.compile."""

from __future__ import annotations

import json

import pytest
import torch

import ganprior
from ganprior import batching
from ganprior.errors import GanpriorError
from ganprior.metrics import psnr
from ganprior.tasks import build_degradation


def _target(prior, n=3, seed=1):
    with torch.no_grad():
        z = prior.sample_latent(n, torch.Generator().manual_seed(seed))
        return prior.to_unit(prior.generate(z)).clamp(0, 1)


def test_step_bytes_grow_with_codes_and_method(tiny_prior):
    single = batching.step_bytes_per_image(tiny_prior, "single")
    multi4 = batching.step_bytes_per_image(tiny_prior, "multi", num_codes=4, layer=1)
    multi8 = batching.step_bytes_per_image(tiny_prior, "multi", num_codes=8, layer=1)
    assert 0 < single < multi4 < multi8
    # the head runs once per code: its saved activations double with the codes, the tail's do not
    assert 1.3 < multi8 / multi4 < 2.0


def test_auto_batch_size_divides_free_memory(tiny_prior, monkeypatch):
    need = batching.step_bytes_per_image(tiny_prior, "multi", num_codes=4, layer=1)
    monkeypatch.setattr(batching, "free_memory_bytes", lambda device: 10 * need)
    assert batching.auto_batch_size(tiny_prior, 100, "multi", num_codes=4, layer=1, fraction=0.5) == 5
    assert batching.auto_batch_size(tiny_prior, 3, "multi", num_codes=4, layer=1, fraction=0.5) == 3
    assert batching.auto_batch_size(tiny_prior, 100, "multi", num_codes=4, layer=1, fraction=1.0, cap=7) == 7
    monkeypatch.setattr(batching, "free_memory_bytes", lambda device: need // 10)
    assert batching.auto_batch_size(tiny_prior, 100, "multi", num_codes=4, layer=1) == 1  # never 0
    with pytest.raises(GanpriorError, match=r"memory fraction must be in \(0, 1\]"):
        batching.auto_batch_size(tiny_prior, 10, fraction=0)
    with pytest.raises(GanpriorError, match="automatic batch size covers"):
        batching.auto_batch_size(tiny_prior, 10, "dgp")


def test_free_memory_is_positive_on_this_machine():
    assert batching.free_memory_bytes("cpu") > 2 ** 20


def test_bf16_autocast_keeps_quality_and_fp32_parameters(tiny_prior):
    y = _target(tiny_prior)
    deg = build_degradation("reconstruct", 16)
    fp32 = ganprior.invert(y, deg, tiny_prior, method="multi", num_codes=4, layer=1, steps=40)
    bf16 = ganprior.invert(y, deg, tiny_prior, method="multi", num_codes=4, layer=1, steps=40, precision="bf16")
    assert bf16.images.dtype == torch.float32 and bf16.params["codes"].dtype == torch.float32
    assert torch.isfinite(bf16.history).all()
    # bf16 has an 8-bit mantissa: the fit differs, but only slightly
    assert abs(float(psnr(bf16.images, y).mean()) - float(psnr(fp32.images, y).mean())) < 1.0
    assert not torch.equal(bf16.images, fp32.images)  # it did run in another precision


def test_unknown_precision_and_dgp_precision_are_one_line_errors(tiny_prior):
    y = _target(tiny_prior, 1)
    deg = build_degradation("reconstruct", 16)
    with pytest.raises(GanpriorError, match="unknown precision 'fp16'; choose fp32 or bf16"):
        ganprior.invert(y, deg, tiny_prior, method="single", steps=2, precision="fp16")
    with pytest.raises(GanpriorError, match="runs in fp32 without torch.compile"):
        ganprior.invert(y, deg, tiny_prior, method="dgp", steps=2, precision="bf16")


@pytest.mark.slow
def test_compiled_render_matches_eager(tiny_prior):
    y = _target(tiny_prior)
    deg = build_degradation("reconstruct", 16)
    eager = ganprior.invert(y, deg, tiny_prior, method="multi", num_codes=4, layer=1, steps=10)
    compiled = ganprior.invert(y, deg, tiny_prior, method="multi", num_codes=4, layer=1, steps=10, compile=True)
    assert torch.allclose(eager.images, compiled.images, atol=1e-4)


@pytest.mark.integration
def test_cli_batch_auto_and_precision(tmp_path, face_pngs, tiny_checkpoint, capsys):
    from .conftest import run_cli
    code, out, err = run_cli(["reconstruct", *face_pngs, "--out", tmp_path / "auto", "--prior", tiny_checkpoint,
                              "--steps", "3", "--perceptual", "0", "--batch", "auto", "--precision", "bf16"], capsys)
    assert code == 0, err
    assert "--batch auto: 3 images per batch" in err  # 3 inputs, ample memory: one batch of all three
    manifest = json.loads((tmp_path / "auto" / "manifest.json").read_text())
    assert manifest["settings"]["precision"] == "bf16" and "compile" not in manifest["settings"]
    assert len(json.loads((tmp_path / "auto" / "metrics.json").read_text())) == 3


@pytest.mark.integration
@pytest.mark.parametrize("argv, pattern", [
    (["--batch", "many"], "--batch must be a whole number >= 1 or 'auto', got 'many'"),
    (["--batch", "0"], "--batch must be >= 1, got 0"),
    (["--batch", "auto", "--method", "dgp"], "--batch auto covers single, multi and subspace"),
])
def test_cli_bad_batch_is_a_one_line_error(tmp_path, face_pngs, tiny_checkpoint, capsys, argv, pattern):
    from .conftest import assert_one_line_error, run_cli
    code, _, err = run_cli(["reconstruct", face_pngs[0], "--out", tmp_path / "o", "--prior", tiny_checkpoint,
                            "--steps", "2", *argv], capsys)
    assert_one_line_error(code, err, pattern)
    assert not (tmp_path / "o").exists()
