"""The editing commands of the CLI (directions, edit, mix, roles, analyze) on the tiny random prior."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganprior.editing import Direction, load_direction

from .conftest import assert_one_line_error, run_cli, write_png

pytestmark = pytest.mark.integration

FAST = ["--steps", "2", "--perceptual", "0", "--quiet"]
MULTI = ["--codes", "2", "--layer", "1"]
EDIT_MULTI = ["--method", "multi", *MULTI]  # edit's default method is single


def separable_codes(tmp_path, n=60, dim=8, seed=0):
    """Codes (n, dim) whose label is the sign of component 2, with a margin: a clean boundary."""
    rng = np.random.default_rng(seed)
    codes = rng.standard_normal((n, dim))
    labels = (np.arange(n) % 2).astype(np.int64)
    codes[:, 2] = np.where(labels == 1, 1.0, -1.0) * (1.0 + np.abs(codes[:, 2]))
    np.save(tmp_path / "codes.npy", codes)
    np.save(tmp_path / "labels.npy", labels)
    return tmp_path / "codes.npy", tmp_path / "labels.npy"


def pixels(path):
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


# -- directions fit --------------------------------------------------------------------------------

def test_fit_from_codes_saves_an_accurate_direction(tmp_path, capsys, tiny_checkpoint, tiny_prior):
    codes, labels = separable_codes(tmp_path)
    out = tmp_path / "smile.npz"
    code, stdout, err = run_cli(["directions", "fit", "--prior", tiny_checkpoint, "--codes", codes, "--labels", labels,
                                 "--name", "smile", "--out", out], capsys)
    assert code == 0, err
    assert "held-out accuracy" in stdout
    d = load_direction(out, tiny_prior)
    assert d.accuracy > 0.9 and d.source == "supervised" and d.space == "z"
    assert d.shape == (8, 1, 1) and abs(float(d.vector.norm()) - 1) < 1e-5
    assert float(d.vector.reshape(-1)[2]) > 0.9  # the labels depend on component 2 only
    assert d.meta["attribute"] == "smile" and d.meta["kind"] == "binary" and d.meta["prior"] == "tiny_dcgan"
    assert d.meta["class_counts"] == {"negative": 30, "positive": 30}


def test_fit_ordinal_labels_from_text(tmp_path, capsys, tiny_checkpoint):
    codes, _ = separable_codes(tmp_path)
    ages = np.where(np.arange(60) % 2 == 1, 60, 20) + np.arange(60) % 3  # 20..22 and 60..62
    (tmp_path / "ages.txt").write_text("".join(f"{a}\n" for a in ages))
    out = tmp_path / "age.npz"
    code, _, err = run_cli(["directions", "fit", "--prior", tiny_checkpoint, "--codes", codes, "--labels",
                            tmp_path / "ages.txt", "--kind", "ordinal", "--thresholds", "30,50", "--name", "age",
                            "--out", out, "--classifier", "logistic"], capsys)
    assert code == 0, err
    d = load_direction(out)
    assert d.accuracy > 0.9 and d.meta["thresholds"] == [30.0, 50.0] and d.meta["kind"] == "ordinal"


def test_fit_flow_model_learns_a_non_linear_attribute_and_edits(tmp_path, capsys, tiny_checkpoint, tiny_prior):
    """Labels set by |component 2| (no linear boundary can split them): the flow model learns them, the
    linear one cannot, and the saved flow drives 'ganprior edit'."""
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((600, 8))
    labels = (np.abs(codes[:, 2]) > 0.7).astype(np.int64)
    np.save(tmp_path / "codes.npy", codes)
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "scores.npy", np.abs(codes[:, 2]) - 0.7)
    base = ["directions", "fit", "--prior", tiny_checkpoint, "--codes", tmp_path / "codes.npy", "--labels",
            tmp_path / "labels.npy", "--name", "ring"]
    code, out, err = run_cli([*base, "--out", tmp_path / "linear.npz"], capsys)
    assert code == 0, err
    code, out, err = run_cli([*base, "--out", tmp_path / "flow.npz", "--model", "flow", "--epochs", "60"], capsys)
    assert code == 0, err
    assert "ring (flow): held-out accuracy" in out
    linear, flow = load_direction(tmp_path / "linear.npz"), load_direction(tmp_path / "flow.npz", tiny_prior)
    assert flow.accuracy > 0.85 and linear.accuracy < 0.75, (flow.accuracy, linear.accuracy)
    code, out, err = run_cli([*base, "--out", tmp_path / "scored.npz", "--model", "flow", "--scores",
                              tmp_path / "scores.npy"], capsys)
    assert code == 0, err
    assert load_direction(tmp_path / "scored.npz").accuracy > 0.85
    image = write_png(tmp_path / "face.png", (rng.random((16, 16, 3)) * 255).astype(np.uint8))
    code, _, err = run_cli(["edit", image, "--direction", tmp_path / "flow.npz", "--out", tmp_path / "edit",
                            "--prior", tiny_checkpoint, "--method", "single", "--frames", "3", *FAST], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "edit" / "edit.json").read_text())["direction"]["name"] == "ring"
    assert_one_line_error(*run_cli([*base, "--out", tmp_path / "x.npz", "--scores", tmp_path / "scores.npy"],
                                   capsys)[::2], "--scores applies to --model flow")


def test_fit_user_errors_are_one_line(tmp_path, capsys, tiny_checkpoint):
    codes, labels = separable_codes(tmp_path)
    out = tmp_path / "d.npz"
    base = ["directions", "fit", "--prior", tiny_checkpoint, "--name", "x", "--out", out]
    np.save(tmp_path / "wide.npy", np.zeros((60, 5)))
    assert_one_line_error(*run_cli([*base, "--codes", tmp_path / "wide.npy", "--labels", labels], capsys)[::2],
                          "shape (60, 5)")
    np.save(tmp_path / "few.npy", np.array([0, 1, 0, 1, 1, 0] * 2 + [0] * 48))
    assert_one_line_error(*run_cli([*base, "--codes", codes, "--labels", tmp_path / "few.npy"], capsys)[::2],
                          "too few labels")
    assert_one_line_error(*run_cli([*base, "--codes", tmp_path / "nope.npy", "--labels", labels], capsys)[::2],
                          "not found")
    np.save(tmp_path / "short.npy", np.zeros(10))
    assert_one_line_error(*run_cli([*base, "--codes", codes, "--labels", tmp_path / "short.npy"], capsys)[::2],
                          "one label per code")
    assert not out.exists()


def test_fit_from_labelled_images(tmp_path, capsys, tiny_checkpoint, tiny_prior):
    folder = tmp_path / "faces"
    folder.mkdir()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        x = tiny_prior.to_unit(tiny_prior.generate(torch.randn(22, 8, 1, 1, generator=g))).clamp(0, 1)
    for i in range(22):
        arr = (x[i].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        write_png(folder / (f"20_0_{i}.png" if i % 2 else f"60_1_{i}.png"), arr)
    (folder / "unlabelled.png").write_bytes((folder / "20_0_1.png").read_bytes())
    out = tmp_path / "gender.npz"
    code, _, err = run_cli(["directions", "fit", "--prior", tiny_checkpoint, "--images", folder, "--label-regex",
                            r"^\d+_(\d)_", "--name", "gender", "--out", out, "--steps", "2", "--perceptual", "0"],
                           capsys)
    assert code == 0, err
    assert "inverting 22 images" in err  # the progress bar
    d = load_direction(out, tiny_prior)
    assert d.meta["num_images"] == 22 and d.meta["class_counts"] == {"negative": 11, "positive": 11}
    assert d.accuracy is not None and 0 <= d.accuracy <= 1
    # capped below 10 per class: refused before any inversion
    assert_one_line_error(*run_cli(["directions", "fit", "--prior", tiny_checkpoint, "--images", folder,
                                    "--label-regex", r"^\d+_(\d)_", "--max-images", "8", "--name", "g",
                                    "--out", tmp_path / "g.npz", "--quiet"], capsys)[::2], "too few labels")


# -- directions closed-form / pca -----------------------------------------------------------------

@pytest.mark.parametrize("kind,prefix,extra,key", [
    ("closed-form", "sefa", [], "eigenvalue"),
    ("pca", "pca", ["--samples", "200"], "explained_variance_ratio")])
def test_unsupervised_directions(tmp_path, capsys, tiny_checkpoint, tiny_prior, kind, prefix, extra, key):
    out = tmp_path / "dirs"
    code, stdout, err = run_cli(["directions", kind, "--prior", tiny_checkpoint, "--k", "3", "--out", out, *extra],
                                capsys)
    assert code == 0, err
    assert "wrote 3" in stdout
    summary = json.loads((out / "directions.json").read_text())
    assert [r["name"] for r in summary["directions"]] == [f"{prefix}-{i}" for i in range(3)]
    values = [r[key] for r in summary["directions"]]
    assert values == sorted(values, reverse=True) and values[0] > 0
    vectors = []
    for i in range(3):
        d = load_direction(out / f"{prefix}-{i}.npz", tiny_prior)
        assert abs(float(d.vector.norm()) - 1) < 1e-5 and d.shape == (8, 1, 1)
        vectors.append(d.vector.reshape(-1))
    if kind == "closed-form":  # eigenvectors: orthonormal
        gram = torch.stack(vectors) @ torch.stack(vectors).t()
        assert torch.allclose(gram, torch.eye(3), atol=1e-4)
    sheet = Image.open(out / "sheet.png")
    assert sheet.height >= 9 * 64 and sheet.width >= 7 * 64  # 3 samples x 3 directions, 7 strengths


# -- edit -------------------------------------------------------------------------------------------

def check_edit_folder(out, frames):
    assert sorted(p.name for p in out.glob("frame_*.png")) == [f"frame_{k:02d}.png" for k in range(frames)]
    middle = pixels(out / f"frame_{frames // 2:02d}.png")
    assert np.abs(middle - pixels(out / "reconstruction.png")).max() <= 1  # strength 0 = the reconstruction
    assert not np.array_equal(pixels(out / "frame_00.png"), pixels(out / f"frame_{frames - 1:02d}.png"))
    assert Image.open(out / "edit.gif").n_frames == 2 * frames - 2
    assert (out / "strip.png").exists() and (out / "input.png").exists()
    return json.loads((out / "edit.json").read_text())


def test_edit_with_a_computed_direction(tmp_path, capsys, tiny_checkpoint, face_pngs):
    out = tmp_path / "edit"
    code, _, err = run_cli(["edit", face_pngs[0], "--direction", "sefa:0", "--out", out, "--prior", tiny_checkpoint,
                            "--frames", "5", *EDIT_MULTI, *FAST], capsys)
    assert code == 0, err
    info = check_edit_folder(out, 5)
    assert info["strengths"] == [-2.0, -1.0, 0.0, 1.0, 2.0] and info["method"] == "multi"  # default strength 2
    assert info["direction"]["name"] == "sefa-0" and info["direction"]["source"] == "closed-form"
    assert info["direction"]["space"] == "z" and info["direction"]["accuracy"] is None
    assert 0 < info["psnr"] < 100 and info["steps"] == 2 and info["prior"] == "tiny_dcgan"


def test_edit_with_a_direction_file_single_code(tmp_path, capsys, tiny_checkpoint, face_pngs):
    path = Direction("smile", torch.randn(8, generator=torch.Generator().manual_seed(0)), source="supervised",
                     accuracy=0.95).save(tmp_path / "smile.npz")
    out = tmp_path / "edit"
    code, stdout, err = run_cli(["edit", face_pngs[1], "--direction", path, "--out", out, "--prior", tiny_checkpoint,
                                 "--method", "single", "--strength", "2", "--steps", "2", "--perceptual", "0"], capsys)
    assert code == 0, err
    assert "wrote" in stdout and "single reconstruction" in err  # summary and progress bar
    info = check_edit_folder(out, 5)  # the default frames
    assert info["direction"] == {"spec": str(path), "name": "smile", "source": "supervised", "model": "linear",
                                 "space": "z", "accuracy": 0.95, "attribute": None}
    assert info["strengths"][0] == -2.0 and info["method"] == "single"


def test_edit_with_a_flow_direction_file(tmp_path, capsys, tiny_checkpoint, face_pngs):
    """A non-linear (MLP flow) direction file: multi-code edit, every code along its own path."""
    from ganprior.editing import fit_flow_direction
    z = torch.randn(400, 8, 1, 1, generator=torch.Generator().manual_seed(0))
    flow = fit_flow_direction(z, (z[:, 0, 0, 0] * z[:, 1, 0, 0] > 0).long(), name="xor", epochs=5, hidden=(8,))
    path = flow.save(tmp_path / "xor.npz")
    out = tmp_path / "edit"
    code, _, err = run_cli(["edit", face_pngs[0], "--direction", path, "--out", out, "--prior", tiny_checkpoint,
                            "--frames", "3", "--strength", "1", *EDIT_MULTI, *FAST], capsys)
    assert code == 0, err
    info = check_edit_folder(out, 3)
    assert info["direction"]["model"] == "flow" and info["direction"]["name"] == "xor"
    assert info["direction"]["accuracy"] == pytest.approx(flow.accuracy)
    assert not np.array_equal(pixels(out / "frame_00.png"), pixels(out / "frame_02.png"))
    # a damaged flow file: one line naming the file and the missing entry, nothing written
    with np.load(path) as npz:
        np.savez(tmp_path / "cut.npz", **{k: npz[k] for k in npz.files if k != "model.net.0.bias"})
    out2 = tmp_path / "edit2"
    assert_one_line_error(*run_cli(["edit", face_pngs[0], "--direction", tmp_path / "cut.npz", "--out", out2,
                                    "--prior", tiny_checkpoint, *EDIT_MULTI, *FAST], capsys)[::2], "model.net.0.bias")
    assert not out2.exists()


def test_edit_direction_errors(tmp_path, capsys, tiny_checkpoint, face_pngs):
    out = tmp_path / "edit"
    base = ["edit", face_pngs[0], "--out", out, "--prior", tiny_checkpoint, *EDIT_MULTI, *FAST]
    code, _, err = run_cli([*base, "--direction", "smile"], capsys)
    assert_one_line_error(code, err, "sefa:I")
    assert "no directions are shipped for prior 'tiny_dcgan'" in err and "pca:I" in err
    Direction("wide", torch.ones(5)).save(tmp_path / "wide.npz")
    assert_one_line_error(*run_cli([*base, "--direction", tmp_path / "wide.npz"], capsys)[::2], "shape (5,)")
    assert_one_line_error(*run_cli([*base, "--direction", "sefa:8"], capsys)[::2], "sefa:8")
    assert_one_line_error(*run_cli([*base, "--direction", tmp_path / "missing.npz"], capsys)[::2], "not found")
    assert not out.exists()  # nothing written for any of them
    assert_one_line_error(*run_cli(["edit", face_pngs[0], "--out", out, "--prior", tiny_checkpoint, "--method",
                                    "single", "--codes", "3", "--direction", "sefa:0", *FAST], capsys)[::2],
                          "--codes and --layer apply")


def test_named_directions_are_found(tmp_path, monkeypatch, tiny_prior):
    from ganprior.editing import directions
    monkeypatch.setattr("ganprior.priors.zoo.WEIGHTS_DIR", tmp_path)
    assert directions.named_directions("dcgan-random") == {}
    folder = tmp_path / "directions" / "dcgan-random"
    folder.mkdir(parents=True)
    Direction("smile", torch.randn(8)).save(folder / "smile.npz")
    Direction("age", torch.randn(8)).save(folder / "age.npz")
    assert list(directions.named_directions("dcgan-random")) == ["age", "smile"]
    assert directions.resolve_direction("smile", tiny_prior).name == "smile"
    with pytest.raises(Exception, match="age, smile"):
        directions.resolve_direction("beard", tiny_prior)
    assert directions.resolve_direction("pca:1", tiny_prior).name == "pca-1"


# -- mix, roles, analyze -----------------------------------------------------------------------------

def test_mix_feature_mixing_on_dcgan(tmp_path, capsys, tiny_checkpoint, face_pngs):
    out = tmp_path / "mix"
    code, _, err = run_cli(["mix", face_pngs[0], face_pngs[1], "--out", out, "--prior", tiny_checkpoint,
                            *MULTI, *FAST], capsys)
    assert code == 0, err
    info = json.loads((out / "mix.json").read_text())
    assert info["kind"] == "feature" and info["method"] == "multi" and info["mode"] == "adain"
    assert info["layer"] == 1 and info["codes"] == 2 and len(info["psnr"]) == 2
    assert info["mixes"] == ["mix_ab.png", "mix_ba.png"]
    for name in ("sheet.png", "mix_ab.png", "mix_ba.png", "reconstruction_a.png", "input_b.png"):
        assert (out / name).exists(), name
    assert Image.open(out / "mix_ab.png").size == (16, 16)
    assert_one_line_error(*run_cli(["mix", face_pngs[0], face_pngs[1], "--out", tmp_path / "m2", "--prior",
                                    tiny_checkpoint, "--method", "single", *FAST], capsys)[::2], "StyleGAN2")
    assert not (tmp_path / "m2").exists()


def test_mix_style_mixing_on_stylegan2(tmp_path, capsys, face_pngs, monkeypatch):
    from ganprior.cli import mix
    from ganprior.priors.stylegan2 import StyleGAN2Prior
    prior = StyleGAN2Prior.random(resolution=16, z_dim=16, w_dim=16, channels=16, mapping_layers=2)
    monkeypatch.setattr(mix, "_load_prior", lambda *a, **k: prior)
    out = tmp_path / "mix"
    code, _, err = run_cli(["mix", face_pngs[0], face_pngs[1], "--out", out, "--crossover", "2", "4", *FAST], capsys)
    assert code == 0, err
    info = json.loads((out / "mix.json").read_text())
    assert info["kind"] == "style" and info["method"] == "single" and info["crossovers"] == [2, 4]
    assert sorted(p.name for p in out.glob("style_*.png")) == ["style_ab_02.png", "style_ab_04.png",
                                                               "style_ba_02.png", "style_ba_04.png"]
    assert (out / "sheet.png").exists() and prior.latent_space == "w+"


def test_roles(tmp_path, capsys, tiny_checkpoint, face_pngs):
    out = tmp_path / "roles"
    code, _, err = run_cli(["roles", face_pngs[0], "--out", out, "--prior", tiny_checkpoint, "--codes", "3",
                            "--layer", "1", *FAST], capsys)
    assert code == 0, err
    info = json.loads((out / "roles.json").read_text())
    assert info["codes"] == 3 and info["layer"] == 1 and len(info["per_code_max_difference"]) == 3
    assert all(v >= 0 for v in info["per_code_max_difference"])
    assert max(info["per_code_max_difference"]) == pytest.approx(info["scale"])
    assert len(info["important_channels"]) == 3
    assert Image.open(out / "roles.png").width > 4 * 96


def test_analyze(tmp_path, capsys, tiny_checkpoint, face_pngs):
    out = tmp_path / "an"
    code, stdout, err = run_cli(["analyze", face_pngs[0], face_pngs[1], "--out", out, "--prior", tiny_checkpoint,
                                 "--layers", "1,2", "--codes", "1,3", "--steps", "2"], capsys)
    assert code == 0, err
    info = json.loads((out / "layers.json").read_text())
    assert info["layers"] == [1, 2] and info["num_codes"] == [1, 3] and info["num_images"] == 2
    assert [(r["layer"], r["num_codes"]) for r in info["runs"]] == [(1, 1), (1, 3), (2, 1), (2, 3)]
    assert info["steps"] == 2 and "psnr" in info["single"]
    assert Image.open(out / "layers.png").format == "PNG"
    assert "layer 2, N = 3" in stdout and "layer sweep" in err
    assert_one_line_error(*run_cli(["analyze", face_pngs[0], "--out", tmp_path / "a2", "--prior", tiny_checkpoint,
                                    "--layers", "1,x"], capsys)[::2], "--layers")


def test_directions_help_and_unknown_subcommand(capsys):
    code, out, _ = run_cli(["directions"], capsys)
    assert code == 2 and "closed-form" in out
    assert_one_line_error(*run_cli(["directions", "svd"], capsys)[::2], "unknown directions command")
