"""Every supported checkpoint format: sniffed from its content, loaded by ``load_prior`` and
usable from the CLI (`inspect`, `--prior PATH` with every method). Parity lives in the per-family tests."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ganprior.cli import main
from ganprior.errors import GanpriorError
from ganprior.inversion import invert
from ganprior.tasks import build_degradation
from ganprior.priors import load_prior
from ganprior.priors.zoo import configure_prior, sniff_checkpoint
from ganprior.subspaces import Subspaces

from .conftest import shared_path

FIXTURES = {
    # path under ../shared/fixtures: (format, family, resolution, has discriminator)
    "pggan-genforce/pggan_tiny32_generator.pth": ("pggan", "pggan", 32, False),
    "pggan-genforce/pggan_tiny32_fusedscale_generator.pth": ("pggan", "pggan", 32, False),
    "rosinality-stylegan2/000000.pt": ("stylegan2-rosinality", "stylegan2", 64, True),
    "rosinality-stylegan2/stylegan2-converted-style.pt": ("stylegan2-rosinality", "stylegan2", 64, True),
    "stylegan2-ada-pytorch/network-snapshot-000000.pkl": ("stylegan2-nvlabs", "stylegan2", 32, True),
    "biggan-dgp/G_ema.pth": ("biggan", "biggan", 64, True),
    "biggan-dgp": ("biggan", "biggan", 64, True),
    "pytorch-pretrained-biggan": ("biggan-deep", "biggan-deep", 64, False),
    "pytorch-pretrained-biggan/pytorch_model.bin": ("biggan-deep", "biggan-deep", 64, False),
}


@pytest.mark.integration
@pytest.mark.parametrize("rel", sorted(FIXTURES))
def test_sniff_load_and_inspect(rel, capsys):
    path = shared_path("fixtures", *rel.split("/"))
    fmt, family, resolution, has_d = FIXTURES[rel]
    assert sniff_checkpoint(path) == fmt
    prior = load_prior(path)
    assert (prior.family, prior.resolution, prior.discriminator is not None) == (family, resolution, has_d)
    assert not any(p.requires_grad for p in prior.parameters())
    assert main(["inspect", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == family and info["resolution"] == resolution
    assert {int(k): v for k, v in info["composition_layers"].items()} == prior.composition_layers
    assert (info["discriminator"] is not None) == has_d


@pytest.mark.integration
@pytest.mark.parametrize("rel", ["pggan-genforce/pggan_tiny32_generator.pth", "rosinality-stylegan2/000000.pt",
                                 "stylegan2-ada-pytorch/network-snapshot-000000.pkl", "biggan-dgp",
                                 "pytorch-pretrained-biggan"])
def test_subspace_method_runs_on_every_family(rel):
    prior = load_prior(shared_path("fixtures", *rel.split("/")))
    layer = sorted(prior.composition_layers)[1]
    channels = prior.composition_layers[layer]
    groups = np.arange(channels) % 2
    sub = Subspaces(layer, 2, groups, np.zeros((channels, channels)), np.zeros(1))
    y = torch.rand(1, 3, prior.resolution, prior.resolution)
    r = invert(y, build_degradation("inpaint", prior.resolution, mask=torch.ones(1, 1, prior.resolution,
                                                                                 prior.resolution)),
               prior, method="subspace", steps=2, layer=layer, subspaces=sub, num_codes=2)
    assert r.images.shape == y.shape and torch.isfinite(r.images).all()


@pytest.mark.integration
def test_cli_prior_path_every_family(tmp_path, capsys):
    face = tmp_path / "face.png"
    from PIL import Image
    Image.fromarray((np.random.default_rng(0).random((40, 40, 3)) * 255).astype(np.uint8)).save(face)
    runs = [("stylegan2-ada-pytorch/network-snapshot-000000.pkl", ["--latent-space", "w+", "--truncation", "0.7"]),
            ("biggan-dgp", ["--class", "3"]),
            ("pytorch-pretrained-biggan", ["--class", "7", "--truncation", "0.5"]),
            ("pggan-genforce/pggan_tiny32_fusedscale_generator.pth", [])]
    for rel, extra in runs:
        ckpt = shared_path("fixtures", *rel.split("/"))
        out = tmp_path / rel.replace("/", "_")
        code = main(["super-resolve", str(face), "--factor", "2", "--simulate", "--prior", str(ckpt), "--steps", "2",
                     "--codes", "2", "--out", str(out), "--quiet", *extra])
        assert code == 0, capsys.readouterr().err
        assert json.loads((out / "metrics.json").read_text())[0]["psnr"] > 0


def test_configure_prior_refuses_what_a_family_lacks():
    prior = load_prior(shared_path("fixtures", "pggan-genforce", "pggan_tiny32_generator.pth"))
    with pytest.raises(GanpriorError, match="latent spaces z, not 'w'"):
        configure_prior(prior, latent_space="w")
    with pytest.raises(GanpriorError, match="not class-conditional"):
        configure_prior(prior, class_index=1)
    with pytest.raises(GanpriorError, match="no truncation"):
        configure_prior(prior, truncation=0.5)
    big = load_prior(shared_path("fixtures", "biggan-dgp"))
    with pytest.raises(GanpriorError, match=r"out of range .*0\.\.9"):
        configure_prior(big, class_index=10)
    assert configure_prior(big, class_index=4).class_index == 4


def test_unknown_files_are_refused_clearly(tmp_path):
    junk = tmp_path / "model.pth"
    torch.save({"foo.weight": torch.zeros(3)}, junk)
    with pytest.raises(GanpriorError, match="unrecognised checkpoint layout"):
        load_prior(junk)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(GanpriorError, match="without a known checkpoint"):
        load_prior(empty_dir)
    assert main(["inspect", str(tmp_path / "missing.pth")]) == 2
