"""Short end-to-end runs on the real embedded prior (weights fetched once through the package registry)."""

import json

import torch

import ganprior
from ganprior import cli
from ganprior.demo import demo_dir
from ganprior.io import read_image

from .conftest import shared_path


def test_reconstruct_real_face_multi_beats_single(real_prior):
    face = demo_dir() / "faces" / "astronaut.png"
    single = ganprior.restore(face, "reconstruct", real_prior, method="single", simulate=True, steps=40, perceptual=0)
    multi = ganprior.restore(face, "reconstruct", real_prior, method="multi", simulate=True, steps=40, perceptual=0)
    assert multi.metrics[0]["psnr"] > single.metrics[0]["psnr"] + 3.0
    assert multi.metrics[0]["psnr"] > 18.0


def test_colorize_real_gray_input_keeps_luminance(real_prior):
    gray = demo_dir() / "real" / "astronaut_gray.png"
    r = ganprior.restore(gray, "colorize", real_prior, steps=20, perceptual=0)
    y, _ = read_image(gray, channels=1)
    lum = ganprior.io.to_gray(r.images)[0]
    assert (lum - y).abs().max() < 1e-4
    assert (r.images[0, 0] - r.images[0, 2]).abs().mean() > 0.02  # it is in colour


def test_rgba_face_from_shared(real_prior):
    face = shared_path("data", "mganprior-examples", "face", "15_01.png")
    inputs = ganprior.load_inputs([face], "reconstruct", 64, simulate=True)
    assert inputs.observed.shape == (1, 3, 64, 64)


def test_demo_command(tmp_path, capsys):
    code = cli.main(["demo", "--out", str(tmp_path), "--steps", "2", "--quiet"])
    assert code == 0
    records = json.loads((tmp_path / "metrics.json").read_text())
    assert len(records) == 5 * 4 + 3
    assert {r["task"] for r in records} == {"reconstruct", "colorize", "super-resolve", "inpaint", "denoise"}
    assert (tmp_path / "summary.png").exists()
    assert torch.tensor([r["psnr"] for r in records if r["psnr"] is not None]).isfinite().all()
