"""Training a prior: data split, augmentation, one tiny run, checkpoint/resume, export, CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganprior.cli import main
from ganprior.errors import GanpriorError
from ganprior.priors import DCGANPrior, load_prior
from ganprior.priors.dcgan import DCGANDiscriminator
from ganprior.training import (TrainConfig, Trainer, build_image_set, holdout_files, list_images,
                               parse_labels, split_holdout)
from ganprior.training.augment import cutout, diff_augment, parse_policy, translation
from ganprior.training.trainer import read_run_config

TINY = dict(resolution=16, latent_dim=8, g_width=4, d_width=4, batch=4, checkpoint_every=3, log_every=1)


@pytest.fixture
def face_folder(tmp_path) -> Path:
    """Ten small images named like UTKFace (age_gender_race_date), one of them corrupt."""
    folder = tmp_path / "faces"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        arr = (rng.random((20, 24, 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{20 + i}_{i % 2}_{i % 3}_2017011{i}.jpg.chip.jpg", format="JPEG")
    (folder / "31_1_0_broken.jpg.chip.jpg").write_bytes(b"not a jpeg")
    return folder


def _tiny_data(folder: Path):
    files = list_images(folder)
    return build_image_set(files, 16)


def test_holdout_rule_is_fixed_and_order_independent(face_folder):
    files = list_images(face_folder)
    train, held = split_holdout(files, 3)
    train_rev, held_rev = split_holdout(list(reversed(files)), 3)
    assert held == held_rev and len(held) == 3 and not set(held) & set(train)
    assert len(train) + len(held) == len(files)
    assert holdout_files(face_folder, 3) == held
    with pytest.raises(GanpriorError, match="cannot hold out"):
        split_holdout(files, len(files))


def test_labels_from_file_names(face_folder):
    files = list_images(face_folder)
    kept, labels, classes = parse_labels(files, r"^\d+_(\d)_")
    assert classes == ["0", "1"] and len(kept) == 11
    assert all(int(f.name.split("_")[1]) == lab for f, lab in zip(kept, labels))
    with pytest.raises(GanpriorError, match="one capture group"):
        parse_labels(files, r"^\d+_\d_")
    with pytest.raises(GanpriorError, match="bad --labels"):
        parse_labels(files, r"(")
    with pytest.raises(GanpriorError, match="matches no file"):
        parse_labels(files, r"^x(\d)")


def test_image_set_skips_corrupt_files_and_caches(face_folder, tmp_path):
    files = list_images(face_folder)
    data = build_image_set(files, 16, cache=tmp_path)
    assert data.images.shape == (10, 3, 16, 16) and data.images.dtype == torch.uint8
    assert data.skipped == ["31_1_0_broken.jpg.chip.jpg"]
    again = build_image_set(files, 16, cache=tmp_path)
    assert torch.equal(again.images, data.images) and again.files == data.files


def test_translation_and_cutout_are_exact():
    x = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8) + 1
    gen = torch.Generator().manual_seed(3)
    state = gen.get_state()
    y = translation(x, gen)
    gen.set_state(state)
    dy = torch.randint(-1, 2, (2,), generator=gen)
    dx = torch.randint(-1, 2, (2,), generator=gen)
    for b in range(2):
        expected = torch.zeros(8, 8)
        for i in range(8):
            for j in range(8):
                si, sj = i - dy[b], j - dx[b]
                if 0 <= si < 8 and 0 <= sj < 8:
                    expected[i, j] = x[b, 0, si, sj]
        assert torch.equal(y[b, 0], expected)
    z = cutout(torch.ones(4, 3, 8, 8), torch.Generator().manual_seed(0))
    zeros = (z == 0).flatten(1).sum(1)
    assert ((zeros > 0) & (zeros <= 3 * 16)).all()  # a 4x4 square, possibly clipped at the border


def test_diff_augment_is_differentiable_and_validated():
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    y = diff_augment(x, parse_policy("color,translation,cutout"), torch.Generator().manual_seed(0))
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert parse_policy("none") == ()
    with pytest.raises(GanpriorError, match="unknown augmentation"):
        parse_policy("color,blur")


def test_discriminator_features_and_plain_copy():
    D = DCGANDiscriminator(width=4, resolution=16, spectral=True)
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    feats = D.features(x)
    assert [tuple(f.shape) for f in feats] == [(3, 4, 8, 8), (3, 8, 4, 4)]
    D.eval()
    plain = D.plain()
    assert not plain.spectral
    torch.testing.assert_close(plain(x), D(x), rtol=1e-5, atol=1e-6)
    for a, b in zip(plain.features(x), D.features(x)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_conditional_generator_uses_class():
    G = DCGANPrior(8, 4, 16, num_classes=3)
    z = torch.randn(2, 8, 1, 1)
    G.eval()
    a = G.generate(z, torch.tensor([0, 0]))
    b = G.generate(z, torch.tensor([2, 2]))
    assert not torch.allclose(a, b)
    G.class_index = 2
    torch.testing.assert_close(G.generate(z), b)


@pytest.mark.integration
def test_tiny_run_trains_and_resume_is_exact(face_folder, tmp_path):
    data = _tiny_data(face_folder)
    straight = Trainer.start(tmp_path / "a", TrainConfig(**TINY), data)
    stats = [straight.train_step() for _ in range(4)]
    assert all(np.isfinite(list(s.values())).all() for s in stats)

    first = Trainer.start(tmp_path / "b", TrainConfig(**TINY), data)
    first.train(2)
    assert (tmp_path / "b" / "checkpoint.pt").is_file()
    resumed = Trainer.resume(tmp_path / "b", data)
    assert resumed.step == 2
    resumed.train(4)
    for name in ("G", "D", "G_ema"):
        sa = getattr(straight, name).state_dict()
        sb = getattr(resumed, name).state_dict()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"{name}.{k} differs after resume"
    rows = list(csv.DictReader(open(tmp_path / "b" / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert "loss_rec" not in rows[0]  # a plain GAN run logs no reconstruction column
    assert sorted(p.name for p in (tmp_path / "b" / "samples").iterdir()) == ["step-0000002.png", "step-0000003.png",
                                                                            "step-0000004.png"]


def test_export_loads_as_prior_with_discriminator(face_folder, tmp_path):
    data = _tiny_data(face_folder)
    trainer = Trainer.start(tmp_path / "run", TrainConfig(**TINY), data)
    trainer.train(2)
    prior = load_prior(tmp_path / "run" / "prior.safetensors")
    assert prior.resolution == 16 and prior.latent_shape == (8, 1, 1)
    assert prior.composition_layers == {1: 8, 2: 4}
    z = torch.randn(2, 8, 1, 1)
    for layer in prior.composition_layers:
        torch.testing.assert_close(prior.tail(prior.head(z, layer), layer), prior.generate(z))
    x = prior.generate(z)
    assert [f.shape[1] for f in prior.discriminator.features(x)] == [4, 8]
    assert all(not p.requires_grad for p in prior.parameters())


def test_bad_prior_file_is_one_line_error(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"\x00" * 20)
    with pytest.raises(GanpriorError, match=r"cannot read prior file .*x.safetensors: its header is not valid JSON"):
        load_prior(bad)


@pytest.mark.integration
def test_cli_train_resume_and_refusal(face_folder, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", str(face_folder), "--out", str(out), "--resolution", "16", "--latent-dim", "8",
            "--g-width", "4", "--d-width", "4", "--batch", "4", "--holdout", "2", "--checkpoint-every", "2",
            "--quiet"]
    assert main(args + ["--steps", "2"]) == 0
    assert len((out / "holdout.txt").read_text().split()) == 2
    assert "skipped 1 unreadable" in capsys.readouterr().err
    assert main(args + ["--steps", "4"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", str(face_folder), "--out", str(out), "--resume", "--steps", "3", "--holdout", "2",
                 "--quiet"]) == 0
    assert "step 3" in capsys.readouterr().out
    assert main(["train", str(face_folder), "--out", str(tmp_path / "none"), "--resume", "--quiet"]) == 2
    assert main(["train", str(tmp_path / "missing"), "--out", str(out), "--quiet"]) == 2


@pytest.mark.integration
def test_cli_conditional_run_records_classes(face_folder, tmp_path):
    out = tmp_path / "cond"
    base = ["train", str(face_folder), "--out", str(out), "--resolution", "16", "--latent-dim", "8",
            "--g-width", "4", "--d-width", "4", "--batch", "4", "--holdout", "0", "--quiet"]
    assert main(base + ["--steps", "1", "--labels", r"^\d+_(\d)_"]) == 0
    prior = load_prior(out / "prior.safetensors")
    assert prior.num_classes == 2 and prior.classes == ["0", "1"]
    assert prior.discriminator.num_classes == 2
    # resuming needs no --labels: the run remembers its regular expression
    assert main(["train", str(face_folder), "--out", str(out), "--resume", "--steps", "2", "--quiet"]) == 0
    assert Trainer.resume(out, build_image_set(parse_labels(list_images(face_folder), r"^\d+_(\d)_")[0], 16,
                                               [0] * 11, ["0", "1"])).step == 2
    assert main(base + ["--steps", "1", "--labels", "(", "--out", str(tmp_path / "bad")]) == 2


def test_spectral_copy_of_exported_discriminator_matches_it():
    torch.manual_seed(0)
    D = DCGANDiscriminator(width=4, resolution=16, spectral=True)
    with torch.no_grad():
        for _ in range(30):
            D(torch.zeros(1, 3, 16, 16))  # converge the power iteration
    plain = D.eval().plain()
    again = plain.spectral_copy()
    assert again.spectral and set(again.state_dict()) == set(D.state_dict())
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    torch.testing.assert_close(again.eval()(x), plain(x), rtol=0.01, atol=0.01)


@pytest.mark.integration
def test_cli_init_continues_from_an_exported_prior(face_folder, tmp_path, capsys):
    first = tmp_path / "first"
    base = ["train", str(face_folder), "--holdout", "2", "--batch", "4", "--quiet"]
    assert main(base + ["--out", str(first), "--resolution", "16", "--latent-dim", "8", "--g-width", "4",
                        "--d-width", "4", "--steps", "3"]) == 0
    exported = load_prior(first / "prior.safetensors")
    second = tmp_path / "second"
    # the architecture comes from the file, not from the (default 64x64) command line
    seeded = Trainer.start(tmp_path / "direct", TrainConfig(**TINY), _tiny_data(face_folder),
                           init=first / "prior.safetensors")
    assert seeded.step == 3
    for k, v in exported.state_dict().items():
        if not k.startswith("discriminator."):
            assert torch.equal(seeded.G_ema.state_dict()[k], v), k
            assert torch.equal(seeded.G.state_dict()[k], v), k
    assert main(base + ["--out", str(second), "--init", str(first / "prior.safetensors"), "--steps", "4"]) == 0
    assert "step 4" in capsys.readouterr().out  # the step count carried over: one more step to 4
    trainer = Trainer.resume(second, _tiny_data(face_folder))
    assert trainer.step == 4 and trainer.config.resolution == 16 and "step 3" in trainer.config.init
    assert main(["train", str(face_folder), "--resume", "--out", str(second), "--steps", "5", "--quiet"]) == 0
    assert main(base + ["--out", str(tmp_path / "x"), "--init", "no-such-prior"]) == 2
    assert "--init no-such-prior" in capsys.readouterr().err


@pytest.mark.integration
def test_recon_run_resume_is_exact_and_logs_reconstruction(face_folder, tmp_path):
    data = _tiny_data(face_folder)
    cfg = dict(TINY, recon=5.0, recon_warmup=1)
    straight = Trainer.start(tmp_path / "a", TrainConfig(**cfg), data)
    straight.train(4)
    first = Trainer.start(tmp_path / "b", TrainConfig(**cfg), data)
    first.train(2)
    resumed = Trainer.resume(tmp_path / "b", data)
    assert resumed.encoder_steps == 2
    resumed.train(4)
    for name in ("G", "D", "G_ema", "E"):
        sa, sb = getattr(straight, name).state_dict(), getattr(resumed, name).state_dict()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"{name}.{k} differs after resume"
    rows = list(csv.DictReader(open(tmp_path / "b" / "log.csv")))
    assert len(rows) == 4 and all(np.isfinite(float(r["loss_rec"])) for r in rows)
    # the encoder is training machinery: the exported prior is an ordinary one
    prior = load_prior(tmp_path / "b" / "prior.safetensors")
    assert not any(k.startswith("E.") or "encoder" in k for k in prior.state_dict())


def test_recon_warmup_keeps_the_reconstruction_gradient_off_the_generator(face_folder, tmp_path):
    data = _tiny_data(face_folder)
    plain = Trainer.start(tmp_path / "plain", TrainConfig(**TINY), data)
    warm = Trainer.start(tmp_path / "warm", TrainConfig(**TINY, recon=5.0, recon_warmup=10), data)
    live = Trainer.start(tmp_path / "live", TrainConfig(**TINY, recon=5.0, recon_warmup=0), data)
    for t in (plain, warm, live):
        for _ in range(2):
            t.train_step()
    for (k, p), q, r in zip(plain.G.named_parameters(), warm.G.parameters(), live.G.parameters()):
        assert torch.equal(p, q), f"{k}: the generator moved with the reconstruction term during warm-up"
    assert any(not torch.equal(p, r) for p, r in zip(plain.G.parameters(), live.G.parameters()))
    assert any(not torch.equal(p, q) for p, q in zip(warm.E.state_dict().values(),
                                                     Trainer(tmp_path / "x", TrainConfig(**TINY, recon=5.0),
                                                             data).E.state_dict().values()))


def test_moment_penalty_and_recon_validation(tmp_path):
    from ganprior.training.encoder import moment_penalty
    z = torch.tensor([[1.0, 3.0], [-1.0, 5.0]])  # means 0 and 4, (unbiased) variances 2 and 2
    assert moment_penalty(z).item() == pytest.approx((0 + 16) / 2 + (1 + 1) / 2)
    with pytest.raises(GanpriorError, match="--recon"):
        TrainConfig(recon=-1.0).validate()
    with pytest.raises(GanpriorError, match="--recon"):
        TrainConfig(recon=float("nan")).validate()


def test_log_written_before_a_column_existed_keeps_its_header(face_folder, tmp_path):
    run = tmp_path / "old"
    trainer = Trainer.start(run, TrainConfig(**TINY), _tiny_data(face_folder))
    old_header = "step,seconds,images_per_s,loss_d,loss_g,d_real,d_fake"
    (run / "log.csv").write_text(old_header + "\n0,0,0,0,0,0,0\n")
    trainer.train(1)
    lines = (run / "log.csv").read_text().splitlines()
    assert lines[0] == old_header and len(lines) == 3 and lines[2].count(",") == 6


@pytest.mark.integration
def test_cli_recon_is_recorded_and_resumed(face_folder, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", str(face_folder), "--out", str(out), "--resolution", "16", "--latent-dim", "8",
            "--g-width", "4", "--d-width", "4", "--batch", "4", "--holdout", "2", "--quiet"]
    assert main(base + ["--steps", "2", "--recon", "3", "--recon-warmup", "1"]) == 0
    cfg = read_run_config(out)
    assert (cfg.recon, cfg.recon_warmup) == (3.0, 1)
    assert main(["train", str(face_folder), "--out", str(out), "--resume", "--steps", "3", "--quiet"]) == 0
    assert Trainer.resume(out, _tiny_data(face_folder)).encoder_steps == 3
    assert main(base + ["--out", str(tmp_path / "bad"), "--recon", "-2"]) == 2
    assert "--recon" in capsys.readouterr().err
