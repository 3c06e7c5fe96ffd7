"""Editing after a DGP reconstruction: random jittering, morphing, category transfer (and their commands).

Tiny random DCGANs (16x16, 3 blocks) with random discriminators stand in for trained priors; a short
two-stage schedule with large rates (as in test_dgp.py) makes the fine-tuned weights differ visibly
from the prior's in a few steps.
"""

import json

import numpy as np
import pytest
import torch
from PIL import Image


from .conftest import assert_one_line_error, run_cli
from ganprior.editing import DEFAULT_JITTER_STD, as_dgp_generator, dgp_category_transfer, dgp_jitter, dgp_morph
from ganprior.errors import GanpriorError
from ganprior.inversion import invert
from ganprior.inversion.dgp import DELTA_PREFIX, DGPGenerator
from ganprior.tasks import build_degradation
from ganprior.priors import DCGANPrior
from ganprior.priors.dcgan import DCGANDiscriminator
from ganprior.training.trainer import export_prior

FAST = [dict(iterations=10, unfrozen_blocks=2, generator_lr=1e-2, latent_lr=5e-2, mse_weight=1.0),
        dict(iterations=10, unfrozen_blocks=3, generator_lr=1e-2, latent_lr=1e-2, mse_weight=1.0)]
DGP_CLI = ["--steps", "4", "--candidates", "5"]


@pytest.fixture
def prior_with_d():
    """The conftest's tiny prior (its own copy: ``tiny_checkpoint`` needs one without D) plus a random D."""
    prior = DCGANPrior.random(latent_dim=8, width=4, resolution=16, seed=0)
    torch.manual_seed(0)
    prior.discriminator = DCGANDiscriminator(width=4, resolution=16, spectral=False).eval()
    return prior


@pytest.fixture
def conditional_prior():
    """A 3-class DCGAN with a projection discriminator; BatchNorm statistics calibrated so that
    images use the output range and classes differ visibly."""
    torch.manual_seed(0)
    prior = DCGANPrior(8, 4, 16, num_classes=3, name="tiny-conditional")
    with torch.no_grad():
        prior.train()
        for m in prior.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None  # cumulative average over the calibration batch
        prior.generate(torch.randn(256, 8, 1, 1), torch.randint(0, 3, (256,)))
    prior.discriminator = DCGANDiscriminator(width=4, resolution=16, spectral=False, num_classes=3)
    for p in prior.parameters():
        p.requires_grad_(False)
    return prior.eval()


def targets(n=2, seed=5):
    """Samples of another random generator: the tiny priors cannot produce them exactly."""
    other = DCGANPrior.random(latent_dim=8, width=4, resolution=16, seed=7)
    with torch.no_grad():
        z = torch.randn(n, 8, 1, 1, generator=torch.Generator().manual_seed(seed))
        return other.to_unit(other.generate(z)).clamp(0, 1)


def reconstruct(prior, y):
    return invert(y, build_degradation("reconstruct", 16), prior, method="dgp", schedule=FAST, num_candidates=10)


def rmse(a, b):
    return (a - b).pow(2).flatten(1).mean(1).sqrt()


# -- jitter ----------------------------------------------------------------------------------------


def test_jitter(prior_with_d):
    r = reconstruct(prior_with_d, targets())
    samples = dgp_jitter(r, num_samples=5, seed=3)
    assert samples.shape == (5, 3, 16, 16) and 0 <= samples.min() and samples.max() <= 1
    gaps = [float((samples[i] - samples[j]).abs().max()) for i in range(5) for j in range(i + 1, 5)]
    assert min(gaps) > 1e-3  # N distinct samples
    assert torch.equal(dgp_jitter(r, num_samples=5, seed=3), samples)  # deterministic for a seed
    assert not torch.allclose(dgp_jitter(r, num_samples=5, seed=4), samples)
    # std 0 reproduces the reconstruction, of whichever image is asked for
    torch.testing.assert_close(dgp_jitter(r, 3, std=0.0), r.raw[:1].expand(3, -1, -1, -1), atol=1e-6, rtol=0)
    torch.testing.assert_close(dgp_jitter(r, 2, std=0.0, image=1), r.raw[1:].expand(2, -1, -1, -1),
                               atol=1e-6, rtol=0)
    # the fine-tuned weights are kept: the same jittered codes through the untuned prior look different
    noise = torch.randn((5, 8, 1, 1), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        untuned = prior_with_d.to_unit(prior_with_d.generate(r.params["codes"][0] + DEFAULT_JITTER_STD * noise))
    assert (rmse(samples, untuned.clamp(0, 1)) > 1e-2).all()
    # larger noise moves further from the reconstruction
    near, far = dgp_jitter(r, 8, std=0.1), dgp_jitter(r, 8, std=1.0)
    assert rmse(near, r.raw[:1]).mean() < rmse(far, r.raw[:1]).mean()


def test_jitter_from_params_and_errors(prior_with_d, tiny_prior):
    r = reconstruct(prior_with_d, targets())
    detached = type(r)(**{**r.__dict__, "parameterization": None})  # as restore() over several batches
    with pytest.raises(GanpriorError, match="pass prior="):
        dgp_jitter(detached)
    torch.testing.assert_close(dgp_jitter(detached, 4, prior=prior_with_d), dgp_jitter(r, 4), atol=1e-6, rtol=0)
    with pytest.raises(GanpriorError, match="num_samples"):
        dgp_jitter(r, 0)
    with pytest.raises(GanpriorError, match="std"):
        dgp_jitter(r, 2, std=-0.1)
    with pytest.raises(GanpriorError, match="out of range"):
        dgp_jitter(r, 2, image=2)
    single = invert(targets(), build_degradation("reconstruct", 16), tiny_prior, method="multi", steps=2,
                    num_codes=2, layer=1)
    with pytest.raises(GanpriorError, match="DGP reconstruction"):
        dgp_jitter(single)


# -- morph -----------------------------------------------------------------------------------------


def test_morph_between_separate_reconstructions(prior_with_d):
    y = targets()
    first, second = reconstruct(prior_with_d, y[:1]), reconstruct(prior_with_d, y[1:])
    frames = dgp_morph(first, second, frames=9)
    assert frames.shape == (9, 3, 16, 16) and 0 <= frames.min() and frames.max() <= 1
    torch.testing.assert_close(frames[0], first.raw[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(frames[-1], second.raw[0], atol=1e-5, rtol=0)
    ends = float(rmse(frames[:1], frames[-1:]))
    assert ends > 1e-2
    assert rmse(frames[4:5], frames[:1]) > 0.1 * ends and rmse(frames[4:5], frames[-1:]) > 0.1 * ends
    assert rmse(frames[1:], frames[:-1]).max() < ends  # smooth: no jump as large as the whole way
    # it blends the weights too, not only z: the untuned prior at the blended z is another image
    za, zb = first.params["codes"][0], second.params["codes"][0]
    with torch.no_grad():
        latent_only = prior_with_d.to_unit(prior_with_d.generate(((za + zb) / 2)[None])).clamp(0, 1)
    assert rmse(frames[4:5], latent_only) > 1e-2


def test_morph_within_one_result_and_errors(prior_with_d, tiny_prior):
    y = targets()
    both = reconstruct(prior_with_d, y)
    frames = dgp_morph(both, frames=3)
    torch.testing.assert_close(frames, both.parameterization.morph(0, 1, [0.0, 0.5, 1.0]))
    torch.testing.assert_close(frames[0], both.raw[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(frames[2], both.raw[1], atol=1e-6, rtol=0)
    # the same prior loaded twice (equal weights, another object) is one prior
    twin = DCGANPrior.random(latent_dim=8, width=4, resolution=16, seed=0)
    twin.discriminator = prior_with_d.discriminator
    other = reconstruct(twin, y[1:])
    torch.testing.assert_close(dgp_morph(both, other, frames=2)[1], other.raw[0], atol=1e-5, rtol=0)
    one = reconstruct(prior_with_d, y[:1])
    with pytest.raises(GanpriorError, match="two reconstructions"):
        dgp_morph(one)
    with pytest.raises(GanpriorError, match="at least 2 frames"):
        dgp_morph(both, frames=1)
    different = DCGANPrior.random(latent_dim=8, width=4, resolution=16, seed=1)
    different.discriminator = prior_with_d.discriminator
    with pytest.raises(GanpriorError, match="different priors"):
        dgp_morph(one, reconstruct(different, y[1:]))


def test_morph_merges_different_tuned_blocks(prior_with_d):
    """A weight tuned in one reconstruction only keeps the prior's value in the other."""
    y = targets()
    shallow = invert(y[:1], build_degradation("reconstruct", 16), prior_with_d, method="dgp",
                     schedule=FAST[:1], num_candidates=10)
    deep = reconstruct(prior_with_d, y[1:])
    assert len([k for k in shallow.params if k.startswith(DELTA_PREFIX)]) < \
        len([k for k in deep.params if k.startswith(DELTA_PREFIX)])
    frames = dgp_morph(shallow, deep, frames=5)
    torch.testing.assert_close(frames[0], shallow.raw[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(frames[-1], deep.raw[0], atol=1e-5, rtol=0)


# -- category transfer -------------------------------------------------------------------------------


def test_category_transfer(conditional_prior):
    prior = conditional_prior
    prior.class_index = 1
    r = reconstruct(prior, targets(1))
    same = dgp_category_transfer(r, 1)
    assert same.shape == (1, 3, 16, 16)
    torch.testing.assert_close(same[0], r.raw[0], atol=1e-6, rtol=0)  # the original class reproduces it
    strip = dgp_category_transfer(r, [0, 1, 2])
    assert strip.shape == (3, 3, 16, 16)
    torch.testing.assert_close(strip[1], r.raw[0], atol=1e-6, rtol=0)
    assert rmse(strip[0:1], r.raw) > 1e-2 and rmse(strip[2:3], r.raw) > 1e-2  # another class changes it
    # the class is swapped, z and the fine-tuned weights are kept: it is not the untuned prior's class 0
    with torch.no_grad():
        untuned = prior.to_unit(prior.generate(r.params["codes"], torch.tensor([0]))).clamp(0, 1)
    assert rmse(strip[0:1], untuned) > 1e-2
    assert prior.class_index == 1  # the prior's own class is left alone
    with pytest.raises(GanpriorError, match="out of range"):
        dgp_category_transfer(r, [0, 3])
    with pytest.raises(GanpriorError, match="integer"):
        dgp_category_transfer(r, [0.5])
    with pytest.raises(GanpriorError, match="at least one"):
        dgp_category_transfer(r, [])


def test_category_transfer_needs_a_conditional_prior(prior_with_d):
    r = reconstruct(prior_with_d, targets(1))
    with pytest.raises(GanpriorError, match="not class-conditional"):
        dgp_category_transfer(r, 1)
    gen = as_dgp_generator(r)
    assert isinstance(gen, DGPGenerator)
    with pytest.raises(GanpriorError, match="not class-conditional"):
        gen.render(labels=torch.tensor([0]))


# -- commands --------------------------------------------------------------------------------------


def write_pngs(folder, prior, n=2, labels=None):
    """n 24x24 PNGs (fitted to 16 by the command) of the prior's samples."""
    folder.mkdir(exist_ok=True)
    with torch.no_grad():
        z = torch.randn(n, 8, 1, 1, generator=torch.Generator().manual_seed(2))
        x = prior.to_unit(prior.generate(z, labels) if labels is not None else prior.generate(z)).clamp(0, 1)
    x = torch.nn.functional.interpolate(x, size=24, mode="bilinear", align_corners=False)
    paths = []
    for i in range(n):
        arr = (x[i].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        paths.append(folder / f"face{i}.png")
        Image.fromarray(arr).save(paths[-1])
    return paths


def export_with_d(prior, path, **kw):
    """The prior and its discriminator as a ganprior safetensors file (``--prior PATH``)."""
    d = prior.discriminator
    prior.discriminator = None  # exported on its own, not inside the generator's state
    try:
        return export_prior(prior, d, path, **kw)
    finally:
        prior.discriminator = d


@pytest.fixture
def checkpoint_with_d(tmp_path, prior_with_d):
    return export_with_d(prior_with_d, tmp_path / "tiny_d.safetensors")


@pytest.fixture
def conditional_checkpoint(tmp_path, conditional_prior):
    return export_with_d(conditional_prior, tmp_path / "tiny_cond.safetensors", classes=["a", "b", "c"])


@pytest.mark.integration
def test_jitter_command(tmp_path, capsys, checkpoint_with_d, prior_with_d):
    image, _ = write_pngs(tmp_path / "in", prior_with_d)
    out = tmp_path / "jit"
    code, stdout, err = run_cli(["jitter", image, "--out", out, "--prior", checkpoint_with_d, "--samples", "3",
                             "--std", "0.3", *DGP_CLI], capsys)
    assert code == 0, err
    assert "DGP reconstruction" in err and "jitter.json" in stdout  # progress bar on stderr
    names = {p.name for p in out.iterdir()}
    assert names == {"input.png", "reconstruction.png", "jitter_000.png", "jitter_001.png", "jitter_002.png",
                     "sheet.png", "jitter.json"}
    assert Image.open(out / "jitter_000.png").size == (16, 16)
    rec = json.loads((out / "jitter.json").read_text())
    assert rec["command"] == "jitter" and rec["method"] == "dgp" and rec["dgp_loss"] == "discriminator"
    assert rec["samples"] == 3 and rec["std"] == 0.3 and rec["steps"] == 4 and rec["input"] == str(image)
    assert 0 < rec["psnr"] < 100
    sheet = Image.open(out / "sheet.png")
    assert sheet.width > 5 * 128  # input | reconstruction | 3 samples


@pytest.mark.integration
def test_morph_command(tmp_path, capsys, checkpoint_with_d, prior_with_d):
    first, second = write_pngs(tmp_path / "in", prior_with_d)
    out = tmp_path / "morph"
    code, _, err = run_cli(["morph", first, second, "--out", out, "--prior", checkpoint_with_d, "--frames", "4",
                        "--quiet", *DGP_CLI], capsys)
    assert code == 0, err
    assert err == ""  # --quiet: no progress bar
    for name in ("input_1.png", "input_2.png", "reconstruction_1.png", "reconstruction_2.png", "sheet.png",
                 "morph.json", *[f"frame_{k:03d}.png" for k in range(4)]):
        assert (out / name).is_file(), name
    assert Image.open(out / "morph.gif").n_frames == 6  # there and back: 4 + 2
    rec = json.loads((out / "morph.json").read_text())
    assert rec["inputs"] == [str(first), str(second)] and rec["frames"] == 4 and len(rec["psnr"]) == 2
    assert 0 < rec["max_jump_rmse"] < rec["endpoint_rmse"]


@pytest.mark.integration
def test_transfer_command(tmp_path, capsys, conditional_checkpoint, conditional_prior):
    image, _ = write_pngs(tmp_path / "in", conditional_prior, labels=torch.tensor([1, 1]))
    out = tmp_path / "transfer"
    code, _, err = run_cli(["transfer", image, "--class", "0,2", "--source-class", "1", "--out", out, "--prior",
                        conditional_checkpoint, "--quiet", *DGP_CLI], capsys)
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == {"input.png", "reconstruction.png", "class_0000.png",
                                               "class_0002.png", "sheet.png", "transfer.json"}
    rec = json.loads((out / "transfer.json").read_text())
    assert rec["classes"] == [0, 2] and rec["source_class"] == 1 and rec["class_names"] == ["a", "c"]
    a, b = (np.asarray(Image.open(out / f"class_000{k}.png"), dtype=float) for k in (0, 2))
    assert np.abs(a - b).max() > 1  # the two classes render differently


@pytest.mark.integration
def test_command_errors(tmp_path, capsys, checkpoint_with_d, conditional_checkpoint, tiny_checkpoint, prior_with_d):
    image, second = write_pngs(tmp_path / "in", prior_with_d)
    out = tmp_path / "out"
    # a prior without a discriminator: DGP's own error, one line, before any progress bar
    for argv in (["jitter", image], ["morph", image, second], ["transfer", image, "--class", "0"]):
        code, _, err = run_cli([*argv, "--out", out, "--prior", tiny_checkpoint, *DGP_CLI], capsys)
        if argv[0] == "transfer":  # an unconditional prior fails on the class first
            assert_one_line_error(code, err, "not class-conditional")
        else:
            assert_one_line_error(code, err, "--dgp-loss mse")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    code, _, err = run_cli(["jitter", bad, "--out", out, "--prior", checkpoint_with_d, *DGP_CLI], capsys)
    assert_one_line_error(code, err, "bad.png")
    code, _, err = run_cli(["morph", image, tmp_path / "missing.png", "--out", out, "--prior", checkpoint_with_d,
                        *DGP_CLI], capsys)
    assert_one_line_error(code, err, "missing.png")
    for classes, pattern in (("5", "out of range"), ("0,-1", "out of range"), ("x", "class indices"),
                             (",", "class indices")):
        code, _, err = run_cli(["transfer", image, "--class", classes, "--out", out, "--prior", conditional_checkpoint,
                            *DGP_CLI], capsys)
        assert_one_line_error(code, err, pattern)
    assert not out.exists()  # every error came before anything was written
    code, _, err = run_cli(["transfer", image, "--class", "1", "--out", out, "--prior", checkpoint_with_d, *DGP_CLI],
                       capsys)
    assert_one_line_error(code, err, "not class-conditional")
    code, _, err = run_cli(["jitter", image, "--out", out, "--prior", checkpoint_with_d, "--std", "-1"], capsys)
    assert_one_line_error(code, err, "--std")
    code, _, err = run_cli(["morph", image, second, "--out", out, "--prior", checkpoint_with_d, "--frames", "1"], capsys)
    assert_one_line_error(code, err, "--frames")


@pytest.mark.integration
def test_category_transfer_on_a_biggan_prior():
    """BigGAN takes labels through its shared class embedding, inside the batched render too."""
    from ganprior.priors import load_prior

    from .conftest import shared_path
    prior = load_prior(shared_path("fixtures", "biggan-dgp"))
    with torch.no_grad():
        clean = prior.to_unit(prior.generate(torch.randn(1, 20, generator=torch.Generator().manual_seed(0))))
    r = invert(clean.clamp(0, 1), build_degradation("reconstruct", 64), prior, method="dgp", steps=2,
               num_candidates=2)
    strip = dgp_category_transfer(r, [prior.class_index, 3])
    assert strip.shape == (2, 3, 64, 64)
    torch.testing.assert_close(strip[0], r.raw[0], atol=1e-5, rtol=0)
    assert rmse(strip[1:], r.raw) > 1e-2
