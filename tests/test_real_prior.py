"""Short end-to-end runs on the real embedded prior (weights fetched once through the package registry)."""

import json

import pytest
import torch

import ganprior
from ganprior import cli
from ganprior.demo import demo_dir
from ganprior.io import read_image

from .conftest import shared_path

pytestmark = pytest.mark.integration


def test_reconstruct_real_face_multi_beats_single(real_prior):
    face = demo_dir() / "real" / "astronaut.png"
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
    # two real faces through five simulated tasks, then three real inputs (two of them a whole photo)
    assert len(records) == 5 * 2 + 3
    assert {r["task"] for r in records} == {"reconstruct", "colorize", "super-resolve", "inpaint", "denoise"}
    photos = [r for r in records if r.get("faces")]
    assert len(photos) == 2 and all(len(r["faces"]) == 5 for r in photos)  # the five 1927 delegates
    grid = read_image(tmp_path / "summary.png")[0]
    # one compact grid: a title, the originals and eight runs, one row each
    assert grid.shape[1] == 34 + 9 * (112 + 6) + 6 and grid.shape[2] < 1200
    assert torch.tensor([r["psnr"] for r in records if r["psnr"] is not None]).isfinite().all()


def test_utkface64_ships_in_the_package_and_loads_offline(monkeypatch, tmp_path):
    import hashlib
    import re

    from ganprior.priors import load_prior
    from ganprior.priors.zoo import WEIGHTS_DIR
    monkeypatch.setenv("GANPRIOR_OFFLINE", "1")  # nothing may be fetched
    monkeypatch.setenv("GANPRIOR_CACHE", str(tmp_path))  # and nothing is cached
    prior = load_prior("utkface64")
    assert (prior.family, prior.resolution, prior.latent_shape) == ("dcgan", 64, (100, 1, 1))
    assert prior.composition_layers == {1: 512, 2: 256, 3: 128, 4: 64}
    with torch.no_grad():
        x = prior.generate(prior.sample_latent(8, torch.Generator().manual_seed(0)))
        feats = prior.discriminator.features(x)
        logits = prior.discriminator(x)
    assert torch.isfinite(x).all() and x.abs().max() <= 1
    # not collapsed: every pair of samples differs clearly
    dist = (x[:, None] - x[None]).pow(2).mean(dim=(2, 3, 4)).sqrt() + torch.eye(8)
    assert dist.min() > 0.05
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4)]
    assert logits.shape == (8,) and torch.isfinite(logits).all()
    # the shipped file is the one the model card describes
    card = (WEIGHTS_DIR / "MODEL_CARD.md").read_text()
    digest = hashlib.sha256((WEIGHTS_DIR / "utkface64.safetensors").read_bytes()).hexdigest()
    assert re.search(r"sha256 `([0-9a-f]{64})`", card).group(1) == digest
    assert "non-commercial" in card


def test_utkface64_ships_age_and_gender_directions():
    """The named directions `ganprior edit --direction age|gender` uses, and their alternatives:
    linear InterFaceGAN boundaries (``age-linear``, ``gender-linear``: unit vectors in z, each conditioned on
    the other) and MLP gradient flows (``age``, ``gender``: each conditioned on the other
    attribute's MLP, held-out accuracy at least the linear boundary's). Moving a sample along any of
    them changes the image."""
    from ganprior.editing import Direction, FlowDirection
    from ganprior.editing.directions import named_directions, resolve_direction
    prior = ganprior.load_prior("utkface64")
    names = named_directions("utkface64")
    assert set(names) == {"age", "age-linear", "gender", "gender-linear"}
    z = prior.sample_latent(2, torch.Generator().manual_seed(0))
    for name, linear_name, flow_name in (("age", "age-linear", "age"), ("gender", "gender-linear", "gender")):
        other = {"age": "gender", "gender": "age"}[name]
        linear = resolve_direction(linear_name, prior)
        assert isinstance(linear, Direction) and linear.name == name and linear.space == "z"
        assert abs(float(linear.vector.norm()) - 1) < 1e-5 and tuple(linear.vector.shape) == tuple(prior.latent_shape)
        assert linear.meta["unconditioned_accuracy"] > 0.8 and "UTKFace" in linear.meta["licence"]
        assert linear.meta["conditioned_on"] == [other] and linear.source == "supervised"
        flow = resolve_direction(flow_name, prior)
        assert isinstance(flow, FlowDirection) and flow.name == name and flow.space == "z"
        assert flow.accuracy >= linear.meta["unconditioned_accuracy"] and "UTKFace" in flow.meta["licence"]
        assert flow.meta["conditioned_on"] == [other] and flow.meta["target"] == "scores"
        assert names[flow_name].stat().st_size < 1 << 20
        moved = flow.move(z, [0.0, 3.0])
        assert torch.equal(moved[0], z)
        assert (flow.logit(moved[1]) > flow.logit(z)).all()
        with torch.no_grad():
            for b in (moved[1], z + 3 * linear.as_latent(prior)):
                assert (prior.generate(z) - prior.generate(b)).abs().mean() > 0.02


def test_edit_by_shipped_name_picks_utkface64(tmp_path, capsys):
    """`ganprior edit IMG --direction age` with no --prior uses the prior that ships `age`."""
    face = sorted((demo_dir() / "faces").glob("*.png"))[0]
    out = tmp_path / "edit"
    code = cli.main(["edit", str(face), "--direction", "age", "--method", "single", "--steps", "2",
                     "--frames", "3", "--out", str(out), "--quiet", "--perceptual", "0"])
    assert code == 0, capsys.readouterr().err
    info = json.loads((out / "edit.json").read_text())
    assert info["prior"] == "utkface64" and info["direction"]["name"] == "age"
    assert len(list(out.glob("frame_*.png"))) == 3
