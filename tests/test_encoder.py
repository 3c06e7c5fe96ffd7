"""Image encoders and the encoder start (issue #29): the file format and its prior check, the shipped
lookup, latent_init="encoder" for every method, steps=0, and ``ganprior train-encoder``."""

from __future__ import annotations

import csv
import json

import deepinv as dinv
import numpy as np
import pytest
import torch
from PIL import Image

from ganprior.config import RunConfig
from ganprior.encoders import (ImageEncoder, encoder_for, load_encoder, prior_digest, read_encoder_metadata,
                               save_encoder)
from ganprior.errors import GanpriorError
from ganprior.inversion import invert
from ganprior.inversion.encoder_start import encoder_codes
from ganprior.priors import DCGANPrior, PriorEntry
from ganprior.tasks import build_degradation
from ganprior.tasks.classical import classical_restore
from ganprior.training import EncoderTrainConfig, EncoderTrainer, build_image_set, list_images

from .conftest import assert_one_line_error, run_cli


def _encoder(prior, seed: int = 3) -> ImageEncoder:
    """A random encoder for ``prior`` whose BatchNorm statistics are not the defaults (so a file that
    dropped them would show)."""
    torch.manual_seed(seed)
    enc = ImageEncoder.for_prior(prior, width=4, recipe={"steps": 3, "data": "faces"})
    with torch.no_grad():
        enc.train()(torch.rand(8, 3, prior.resolution, prior.resolution, generator=torch.Generator().manual_seed(seed)))
    return enc.eval()


def _render(prior, codes):
    with torch.no_grad():
        return prior.to_unit(prior.generate(codes)).float()


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))


# -- the file ------------------------------------------------------------------------------------


def test_save_and_load_keep_outputs_and_metadata(tmp_path, tiny_prior, images):
    enc = _encoder(tiny_prior)
    path = save_encoder(enc, tmp_path / "enc.safetensors", extra={"step": 7, "holdout_psnr": 21.5})
    back = load_encoder(path, tiny_prior)
    assert not back.training
    assert torch.equal(back.encode(images), enc.encode(images))
    assert back.encode(images).shape == (2, *tiny_prior.latent_shape)
    assert (back.latent_shape, back.resolution, back.width) == (tuple(tiny_prior.latent_shape), 16, 4)
    assert back.prior_name == tiny_prior.name and back.prior_sha256 == prior_digest(tiny_prior)
    assert back.recipe == {"steps": 3, "data": "faces"} and back.info == {"step": "7", "holdout_psnr": "21.5"}
    meta = read_encoder_metadata(path)
    assert meta["format"] == "ganprior-encoder" and json.loads(meta["latent_shape"]) == [8, 1, 1]
    # saving again keeps the extra entries, which cannot override the ones that describe the encoder
    again = read_encoder_metadata(save_encoder(back, tmp_path / "again.safetensors", extra={"format": "x"}))
    assert again["step"] == "7" and again["format"] == "ganprior-encoder"


def test_an_encoder_for_another_prior_is_refused_in_one_line(tmp_path, tiny_prior):
    path = save_encoder(_encoder(tiny_prior), tmp_path / "enc.safetensors")
    wider = DCGANPrior.random(latent_dim=6, width=4, resolution=16, seed=0, name="six")
    with pytest.raises(GanpriorError, match=r"trained for prior 'dcgan-random' \(latent \(8, 1, 1\), 3x16x16\), "
                                            r"not 'six' \(latent \(6, 1, 1\)") as e:
        load_encoder(path, wider)
    assert "\n" not in str(e.value)
    retrained = DCGANPrior.random(latent_dim=8, width=4, resolution=16, seed=1)  # same shape, other weights
    with pytest.raises(GanpriorError, match="other generator weights"):
        load_encoder(path, retrained)
    with pytest.raises(GanpriorError, match="other generator weights"):
        invert(torch.rand(1, 3, 16, 16), build_degradation("reconstruct", 16), retrained, method="single",
               steps=0, latent_init="encoder", encoder=path)
    (tmp_path / "prior.safetensors").write_bytes((tmp_path / "enc.safetensors").read_bytes().replace(
        b"ganprior-encoder", b"ganprior-dcgan__"))
    with pytest.raises(GanpriorError, match="not a ganprior encoder file"):
        load_encoder(tmp_path / "prior.safetensors")


def test_encoder_for_finds_a_named_priors_shipped_encoder(tmp_path, monkeypatch, tiny_prior, images):
    from ganprior.priors import zoo
    assert encoder_for(tiny_prior) is None  # not a registry name
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setitem(zoo.PRIORS, tiny_prior.name, PriorEntry(tiny_prior.name, "tiny", "MIT", lambda: tiny_prior))
    assert encoder_for(tiny_prior) is None  # named, but nothing shipped
    enc = _encoder(tiny_prior)
    save_encoder(enc, tmp_path / f"{tiny_prior.name}_encoder.safetensors")
    found = encoder_for(tiny_prior)
    assert torch.equal(found.encode(images), enc.encode(images))
    # a checkpoint that only shares the name gets no encoder
    assert encoder_for(DCGANPrior.random(latent_dim=8, width=4, resolution=16, seed=1)) is None
    # and latent_init="encoder" uses the shipped one by default
    deg = build_degradation("reconstruct", 16)
    r = invert(images, deg, tiny_prior, method="single", steps=0, latent_init="encoder")
    assert torch.equal(r.raw, _render(tiny_prior, enc.encode(images)).clamp(0, 1))


def test_no_encoder_is_a_one_line_error_naming_the_prior_and_the_way_out(tiny_prior, images):
    deg = build_degradation("reconstruct", 16)
    for method in ("single", "multi", "dgp"):
        with pytest.raises(GanpriorError, match="prior 'dcgan-random' has no encoder for --latent-init encoder; "
                                                "train one with 'ganprior train-encoder") as e:
            invert(images, deg, tiny_prior, method=method, steps=0, latent_init="encoder", loss="mse" if method == "dgp" else None)
        assert "\n" not in str(e.value)
    with pytest.raises(GanpriorError, match="has no encoder"):
        from ganprior.pipeline import Pipeline
        Pipeline(RunConfig.from_options("reconstruct", latent_init="encoder"), prior=tiny_prior)


# -- the start of each method --------------------------------------------------------------------


def test_single_code_starts_at_the_encoders_code_of_the_classical_restoration(tiny_prior, images, monkeypatch):
    enc = _encoder(tiny_prior)
    deg = build_degradation("super-resolve", 16, factor=2)
    y = deg.A(images)
    x0 = classical_restore(y, deg)  # bicubic up to 16 px
    seen = []
    real = enc.encode
    monkeypatch.setattr(enc, "encode", lambda x: seen.append(x) or real(x))
    r = invert(y, deg, tiny_prior, method="single", steps=0, latent_init="encoder", encoder=enc)
    assert torch.equal(seen[0], x0)
    assert torch.equal(r.params["codes"], real(x0))
    assert torch.equal(r.raw, _render(tiny_prior, real(x0)).clamp(0, 1))
    assert r.steps == 0 and r.history.shape == (0, 2)
    # a few steps move on from that start
    moved = invert(y, deg, tiny_prior, method="single", steps=3, latent_init="encoder", encoder=enc)
    assert moved.steps == 3 and not torch.equal(moved.params["codes"], real(x0))


def test_multi_code_starts_at_the_encoders_image_with_the_nearest_samples_ready_to_join(tiny_prior, images):
    from ganprior.inversion.candidates import best_codes
    enc = _encoder(tiny_prior)
    deg = build_degradation("reconstruct", 16)
    code = enc.encode(images)  # reconstruction: x0 is the image itself
    r = invert(images, deg, tiny_prior, method="multi", steps=0, latent_init="encoder", encoder=enc,
               num_codes=6, layer=1)
    codes, importance = r.params["codes"], r.params["importance"]
    assert codes.shape == (2, 6, 8, 1, 1)
    assert torch.equal(codes[:, 0], code)  # the encoder's code first, at importance 1
    assert torch.equal(codes[:, 1:], best_codes(tiny_prior, images, deg, 5, seed=0))  # the nearest samples
    assert torch.equal(importance[:, 0], torch.ones(2, 8)) and torch.equal(importance[:, 1:], torch.zeros(2, 5, 8))
    # the composed start renders exactly the encoder's image
    assert torch.allclose(r.raw, _render(tiny_prior, code).clamp(0, 1), atol=1e-6)
    # and the other codes join: after a few steps their importances are no longer 0
    moved = invert(images, deg, tiny_prior, method="multi", steps=3, latent_init="encoder", encoder=enc,
                   num_codes=6, layer=1)
    assert moved.params["importance"][:, 1:].abs().max() > 0
    # reference normalisation (the sum divided by N): the encoder's code gets importance N
    norm = invert(images, deg, tiny_prior, method="multi", steps=0, latent_init="encoder", encoder=enc,
                  num_codes=6, layer=1, normalize=True)
    assert torch.allclose(norm.raw, r.raw, atol=1e-6) and float(norm.params["importance"][0, 0, 0]) == 6.0
    one = invert(images, deg, tiny_prior, method="multi", steps=0, latent_init="encoder", encoder=enc, num_codes=1)
    assert torch.allclose(one.raw, _render(tiny_prior, code).clamp(0, 1), atol=1e-6)


def test_subspace_centres_the_spread_within_each_subspace(tiny_prior, images):
    enc = _encoder(tiny_prior)
    deg = build_degradation("reconstruct", 16)
    code = enc.encode(images)
    r = invert(images, deg, tiny_prior, method="subspace", steps=0, latent_init="encoder", encoder=enc,
               num_subspaces=2, num_codes=3)
    codes = r.params["codes"]  # (B, R, K, ...)
    assert codes.shape == (2, 2, 3, 8, 1, 1)
    assert torch.allclose(codes.mean(2), code[:, None].expand(-1, 2, -1, -1, -1), atol=1e-6)
    assert not torch.equal(codes[:, :, 0], codes[:, :, 1])
    one = invert(images, deg, tiny_prior, method="subspace", steps=0, latent_init="encoder", encoder=enc,
                 num_subspaces=2, num_codes=1)
    assert torch.allclose(one.raw, _render(tiny_prior, code).clamp(0, 1), atol=1e-6)


def test_dgp_starts_at_the_encoders_code_without_scoring_candidates(tiny_prior, images, monkeypatch):
    import ganprior.inversion.dgp as dgp
    enc = _encoder(tiny_prior)
    deg = build_degradation("reconstruct", 16)

    def refuse(*a, **k):
        raise AssertionError("the encoder start scores no candidate")

    monkeypatch.setattr(dgp, "select_initial_codes", refuse)
    r = invert(images, deg, tiny_prior, method="dgp", steps=0, latent_init="encoder", encoder=enc, loss="mse")
    assert torch.equal(r.params["codes"], enc.encode(images))
    assert torch.allclose(r.raw, _render(tiny_prior, enc.encode(images)).clamp(0, 1), atol=1e-6)
    assert r.steps == 0
    with pytest.raises(GanpriorError, match="dgp starts from the best of its candidates"):
        invert(images, deg, tiny_prior, method="dgp", steps=0, latent_init="normal", loss="mse")


def test_a_user_physics_shows_the_encoder_its_pseudo_inverse(tiny_prior, images):
    enc = _encoder(tiny_prior)
    physics = dinv.physics.Denoising(noise_model=dinv.physics.ZeroNoise())  # A_dagger is the identity
    r = invert(images, physics, tiny_prior, method="single", steps=0, latent_init="encoder", encoder=enc)
    assert torch.equal(r.params["codes"], enc.encode(images))
    with pytest.raises(GanpriorError, match="has no pseudo-inverse"):
        invert(images, lambda x: x * 0.5, tiny_prior, method="single", steps=0, latent_init="encoder", encoder=enc)


def test_encoder_codes_refuse_uneven_groups(tiny_prior, images):
    deg = build_degradation("reconstruct", 16)
    with pytest.raises(GanpriorError, match="cannot split 5 codes into 2 equal groups"):
        encoder_codes(_encoder(tiny_prior), images, deg, tiny_prior, 5, groups=2)


# -- steps 0 and the run settings ------------------------------------------------------------------


def test_zero_steps_return_the_seeded_start_for_every_init(tiny_prior, images):
    deg = build_degradation("reconstruct", 16)
    r = invert(images, deg, tiny_prior, method="single", steps=0)
    start = tiny_prior.sample_latent(1, torch.Generator().manual_seed(0))
    assert torch.equal(r.raw, _render(tiny_prior, start.expand(2, -1, -1, -1)).clamp(0, 1))
    assert r.steps == 0 and r.history.shape == (0, 2) and r.seconds >= 0


def test_run_config_takes_steps_zero_and_checks_the_encoder_options():
    c = RunConfig.from_options("reconstruct", steps=0, latent_init="encoder", encoder="e.safetensors").resolved(4)
    assert c.steps == 0 and c.invert_options()["encoder"] == "e.safetensors"
    d = RunConfig.from_options("reconstruct", method="dgp", latent_init="encoder").resolved(4)
    assert d.invert_options()["latent_init"] == "encoder"
    for options, pattern in [({"encoder": "e.safetensors", "latent_init": "normal"},
                              "--encoder applies with --latent-init encoder"),
                             ({"method": "dgp", "latent_init": "normal"}, "dgp starts from the best"),
                             ({"method": "dgp", "latent_init": "encoder", "num_candidates": 9}, "the encoder does"),
                             ({"encoder": 3}, "encoder must be a file path")]:
        with pytest.raises(GanpriorError, match=pattern):
            RunConfig.from_options("reconstruct", **options).resolved(4)


def test_the_faithful_presets_take_their_encoder_recipes_only_where_the_encoder_start_runs():
    def run(task, has_encoder, **options):
        return RunConfig.from_options(task, **options).resolved(4, has_encoder=has_encoder)
    # reconstruction: the encoder and fixed codes where the prior has an encoder, else the seeded joint fit
    fast, slow = run("reconstruct", True), run("reconstruct", False)
    assert (fast.latent_init, fast.code_steps, fast.steps) == ("encoder", 0, 300)
    assert (slow.latent_init, slow.code_steps, slow.steps) == ("normal", None, 300)
    mine = run("reconstruct", False, encoder="e.safetensors")  # the user's own encoder
    assert (mine.latent_init, mine.code_steps) == ("encoder", 0)
    # a start the user names is never replaced, and takes the recipe without the encoder
    named = run("reconstruct", True, latent_init="best")
    assert (named.latent_init, named.code_steps) == ("best", None)
    assert run("reconstruct", True, preset="perceptual").latent_init == "normal"
    # super-resolution: per factor; x2 fixes 20 codes at layer 2, larger factors move 3 at layer 1
    x4, x2, x8 = (run("super-resolve", True, factor=f) for f in (4, 2, 8))
    assert (x4.layer, x4.num_codes, x4.code_steps, x4.lr) == (1, 3, None, 0.05) == \
        (x8.layer, x8.num_codes, x8.code_steps, x8.lr)
    assert (x4.steps, x8.steps) == (120, 100)  # less to fit in an 8 px input
    assert (x2.layer, x2.num_codes, x2.code_steps, x2.steps) == (2, 20, 0, 150)
    old = run("super-resolve", False, factor=4)
    assert (old.latent_init, old.layer, old.num_codes, old.steps) == ("normal", 1, 20, 300)
    x16 = run("super-resolve", True, factor=16)  # a 4 px input: the recipe without the encoder
    assert (x16.latent_init, x16.layer, x16.num_codes, x16.steps) == ("normal", 1, 20, 300)
    # the user's own settings win over the recipe's
    assert run("super-resolve", True, factor=2, steps=40, code_steps=10).steps == 40
    # denoising: the encoder recipe; inpainting (with an encoder) and colorization: fast recipes from the best start
    dn = run("denoise", True, noise_sigma=0.1)
    assert (dn.latent_init, dn.code_steps, dn.guide) == ("encoder", 0, 0.2)
    inpaint = run("inpaint", True)
    assert (inpaint.latent_init, inpaint.code_steps, inpaint.steps, inpaint.blend) == ("best", 0, 100, 0.6)
    inpaint = run("inpaint", False)  # the fixed samples hold only for a prior whose encoder vouches for them
    assert (inpaint.latent_init, inpaint.code_steps, inpaint.steps, inpaint.blend) == ("normal", None, 300, 0.5)
    colorize = run("colorize", False)
    assert (colorize.method, colorize.latent_init, colorize.steps, colorize.lr) == ("single", "best", 50, 0.08)


def test_restore_takes_an_encoder_object_or_file(tmp_path, tiny_prior, images):
    import ganprior
    enc = _encoder(tiny_prior)
    expected = _render(tiny_prior, enc.encode(images)).clamp(0, 1)
    common = dict(prior=tiny_prior, method="single", perceptual=0, steps=0, latent_init="encoder")
    r = ganprior.restore(images, "reconstruct", encoder=enc, **common)
    assert torch.equal(r.raw, expected) and r.steps == 0
    path = save_encoder(enc, tmp_path / "enc.safetensors")
    assert torch.equal(ganprior.restore(images, "reconstruct", encoder=path, **common).raw, expected)
    with pytest.raises(GanpriorError, match="applies with latent_init='encoder'"):
        ganprior.restore(images, "reconstruct", encoder=enc, **{**common, "latent_init": "normal"})


@pytest.mark.integration
def test_cli_steps_zero_writes_the_encoders_image(tmp_path, capsys, tiny_checkpoint, face_pngs):
    from ganprior.pipeline import Pipeline
    from ganprior.priors import load_prior
    prior = load_prior(str(tiny_checkpoint))
    enc_path = save_encoder(_encoder(prior), tmp_path / "enc.safetensors")
    out = tmp_path / "out"
    code, _, err = run_cli(["reconstruct", face_pngs[0], "--prior", tiny_checkpoint, "--method", "single",
                            "--latent-init", "encoder", "--encoder", enc_path, "--steps", 0, "--perceptual", 0,
                            "--out", out, "--quiet"], capsys)
    assert code == 0, err
    config = RunConfig.from_options("reconstruct", prior=str(tiny_checkpoint), method="single", perceptual=0,
                                    latent_init="encoder", encoder=str(enc_path), steps=0)
    y = Pipeline(config).load([face_pngs[0]]).observed
    expected = _render(prior, load_encoder(enc_path, prior).encode(y)).clamp(0, 1)[0]
    written = torch.from_numpy(np.asarray(Image.open(out / "img0.png"), dtype=np.float32) / 255).permute(2, 0, 1)
    assert (written - expected).abs().max() <= 0.5 / 255 + 1e-6
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["steps"] == 0 and manifest["settings"]["encoder"] == str(enc_path.resolve())
    assert json.loads((out / "metrics.json").read_text())[0]["steps"] == 0
    code, _, err = run_cli(["reconstruct", face_pngs[0], "--prior", tiny_checkpoint, "--latent-init", "encoder",
                            "--steps", 0, "--out", tmp_path / "none"], capsys)
    assert_one_line_error(code, err, "has no encoder for --latent-init encoder")


# -- training ------------------------------------------------------------------------------------------


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray((rng.random((20, 20, 3)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return folder


TINY_RECIPE = dict(width=4, batch=4, perceptual_weight=0.0, checkpoint_every=2, log_every=1, holdout=2)


def test_encoder_training_resumes_exactly_and_exports_its_numbers(tmp_path, tiny_prior, image_folder):
    data = build_image_set(list_images(image_folder), 16)
    held = data.images[:2]
    straight = EncoderTrainer.start(tmp_path / "a", EncoderTrainConfig(prior="tiny", **TINY_RECIPE), tiny_prior,
                                    data, held)
    straight.train(4)
    first = EncoderTrainer.start(tmp_path / "b", EncoderTrainConfig(prior="tiny", **TINY_RECIPE), tiny_prior, data, held)
    first.train(2)
    resumed = EncoderTrainer.resume(tmp_path / "b", tiny_prior, data, held)
    assert resumed.step == 2
    resumed.train(4)
    for k, v in straight.E.state_dict().items():
        assert torch.equal(v, resumed.E.state_dict()[k]), k
    with open(tmp_path / "b" / "log.csv", newline="") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [1, 2, 3, 4]
    exported = load_encoder(tmp_path / "b" / "encoder.safetensors", tiny_prior)
    assert exported.info["step"] == "4" and float(exported.info["holdout_psnr"]) > 0
    assert exported.recipe["code_weight"] == 1.0 and exported.recipe["prior"] == "tiny"
    assert "4 held-out" not in (tmp_path / "b" / "MODEL_CARD.md").read_text()  # it held out 2
    assert "PSNR of G(E(x)) on 2 held-out images" in (tmp_path / "b" / "MODEL_CARD.md").read_text()


def test_encoder_training_refuses_other_weights_on_resume(tmp_path, tiny_prior, image_folder):
    data = build_image_set(list_images(image_folder), 16)
    EncoderTrainer.start(tmp_path / "r", EncoderTrainConfig(prior="tiny", **TINY_RECIPE), tiny_prior, data).train(1)
    other = DCGANPrior.random(latent_dim=8, width=4, resolution=16, seed=1)
    with pytest.raises(GanpriorError, match="other weights"):
        EncoderTrainer.resume(tmp_path / "r", other, data)


@pytest.mark.integration
def test_cli_train_encoder_continues_on_rerun(tmp_path, capsys, tiny_checkpoint, image_folder):
    run = tmp_path / "run"
    args = ["train-encoder", image_folder, "--prior", tiny_checkpoint, "--out", run, "--batch-size", 4, "--width", 4,
            "--perceptual", 0, "--holdout", 2, "--checkpoint-every", 2, "--log-every", 1, "--quiet",
            "--license", "test images, CC0"]
    code, out, err = run_cli([*args, "--steps", 3], capsys)
    assert code == 0, err
    assert "stopped (steps) at step 3" in out and "held-out PSNR of G(E(x))" in out
    code, out, err = run_cli([*args, "--steps", 5], capsys)
    assert code == 0, err
    assert "at step 5" in out
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["step"] == 5
    with open(run / "log.csv", newline="") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [1, 2, 3, 4, 5]
    meta = read_encoder_metadata(run / "encoder.safetensors")
    assert meta["step"] == "5" and meta["train_images"] == "8" and json.loads(meta["recipe"])["batch"] == 4
    card = (run / "MODEL_CARD.md").read_text()
    assert "test images, CC0" in card and "8 images" in card and "Steps: 5" in card
    assert (run / "holdout.txt").read_text().count("\n") == 2
    code, _, err = run_cli([*args[:-2], "--lr", 0.5, "--steps", 6], capsys)
    assert_one_line_error(code, err, "holds a run with another recipe: --lr 0.5")
    code, out, err = run_cli([*args, "--steps", 5], capsys)
    assert code == 0 and "nothing to do" in out


# -- the shipped encoder -----------------------------------------------------------------------------------


# name, file sha256 (as its model card says), step, first 6 code entries and norm of a fixed gradient
# image's code, the least PSNR of G(E(G(z))) against G(z) on 8 samples (code regression)
SHIPPED = {
    "utkface64": ("469a705dfe3b792f1a26405a17484704f5cca3ed241819e3fa7260cde45148fe", "503",
                  [0.0760, 0.3887, 0.2170, 0.4455, 1.6063, 1.2064], 9.3932, 23.0),
    "dcgan-digiface64": ("20c3cd2696bafea3604cdeaf14775af2cb75c2f16243506ac9265d621b3f1fbe", "1707",
                         [-1.8895, -0.2872, 1.0181, -0.1669, -0.1027, 0.3224], 7.4351, 19.0),
}


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_a_shipped_encoder_loads_and_keeps_its_outputs(name):
    from ganprior.encoders import shipped_encoder_file
    from ganprior.metrics import psnr
    from ganprior.priors import load_prior
    from ganprior.registry_files import sha256_file
    sha, step, head, norm, least = SHIPPED[name]
    prior = load_prior(name)
    path = shipped_encoder_file(name)
    assert path is not None and sha256_file(path) == sha
    enc = encoder_for(prior)
    assert enc is not None and enc.info["step"] == step and enc.recipe["perceptual_net"] == "lpips"
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    z = enc.encode(torch.stack([yy, xx, (yy + xx) / 2])[None]).flatten()
    assert torch.allclose(z[:6], torch.tensor(head), atol=1e-3)
    assert abs(float(z.norm()) - norm) < 1e-3
    x = _render(prior, prior.sample_latent(8, torch.Generator().manual_seed(0))).clamp(0, 1)
    assert float(psnr(_render(prior, enc.encode(x)).clamp(0, 1), x).mean()) > least


@pytest.mark.integration
def test_the_shipped_digiface_encoder_is_mit_and_the_default_start_of_reconstruction_only():
    from ganprior.pipeline import Pipeline
    from ganprior.priors import load_prior
    prior = load_prior("dcgan-digiface64")
    assert encoder_for(prior).recipe["license"].startswith("MIT")
    # the presets start from it where it measured no worse: reconstruction, not x2 or inpainting
    recipe = lambda task, **o: Pipeline(RunConfig.from_options(task, prior="dcgan-digiface64", **o), prior=prior).config  # noqa: E731
    assert (recipe("reconstruct").latent_init, recipe("reconstruct").code_steps) == ("encoder", 0)
    assert recipe("super-resolve", factor=2).latent_init == "normal"
    assert recipe("inpaint").latent_init == "normal" and recipe("inpaint").steps == 300


def test_a_photo_face_at_another_factor_gets_that_factors_recipe(tiny_prior, monkeypatch):
    from ganprior.pipeline import Pipeline
    monkeypatch.setattr("ganprior.encoders.encoder_for", lambda prior: _encoder(prior))
    pipe = Pipeline(RunConfig.from_options("super-resolve", factor=4, steps=7), prior=tiny_prior)
    assert (pipe.config.code_steps, pipe.config.num_codes) == (None, 3)  # x4: 3 moving codes
    x2 = pipe.for_options({"factor": 2}, blend=0.0)
    assert x2.config.task_options["factor"] == 2 and x2.config.code_steps == 0  # x2's recipe: fixed codes
    assert x2.config.steps == 7 and x2.config.blend == 0.0  # what the user gave, then the changes
    assert x2.prior is pipe.prior and pipe.config.task_options["factor"] == 4  # the original is untouched


def test_a_shipped_encoder_starts_only_the_tasks_its_file_lists(tiny_prior, monkeypatch, tmp_path):
    """``default_tasks`` in the file: the encoder recipes become the default for those tasks only
    (super-resolution per factor); elsewhere the recipe without it stays, unless the user asks for
    the encoder's start. A malformed entry is one line."""
    from ganprior.pipeline import Pipeline
    enc = _encoder(tiny_prior)
    enc.info["default_tasks"] = json.dumps(["reconstruct", "super-resolve x4"])
    save_encoder(enc, tmp_path / "e.safetensors")
    enc = load_encoder(tmp_path / "e.safetensors")  # the entry survives the file
    assert enc.serves("reconstruct") and enc.serves("super-resolve", {"factor": 4})
    assert not enc.serves("super-resolve", {"factor": 2}) and not enc.serves("denoise", {"noise_sigma": 0.1})
    assert _encoder(tiny_prior).serves("denoise")  # no entry: every task
    monkeypatch.setattr("ganprior.encoders.encoder_for", lambda prior: enc)
    start = lambda task, **o: Pipeline(RunConfig.from_options(task, **o), prior=tiny_prior).config  # noqa: E731
    assert start("reconstruct").latent_init == "encoder"
    assert (start("super-resolve", factor=4).latent_init, start("super-resolve", factor=4).num_codes) == ("encoder", 3)
    x2 = start("super-resolve", factor=2)
    assert (x2.latent_init, x2.code_steps, x2.layer) == ("normal", None, 1)  # the recipe without the encoder
    asked = start("super-resolve", factor=2, latent_init="encoder")
    assert asked.latent_init == "encoder" and asked.code_steps == 0  # asked for: the encoder recipe
    # a photo's face at x2 inside an x4 run leaves the encoder for the recipe without it
    assert Pipeline(RunConfig.from_options("super-resolve", factor=4), prior=tiny_prior) \
        .for_options({"factor": 2}).config.latent_init == "normal"
    enc.info["default_tasks"] = "reconstruct"
    with pytest.raises(GanpriorError, match="default_tasks must be a JSON list of task names"):
        enc.serves("reconstruct")
