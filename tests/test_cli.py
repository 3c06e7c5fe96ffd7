import json

import numpy as np
import pytest
from PIL import Image

from ganprior.tasks import parse_task
from ganprior.presets import default_style, task_preset

from .conftest import assert_one_line_error, run_cli

pytestmark = pytest.mark.integration


FAST = ["--steps", "3", "--codes", "2", "--layer", "1", "--quiet", "--perceptual", "0"]
FAST_SINGLE = ["--steps", "3", "--quiet", "--perceptual", "0"]  # single code: --codes/--layer do not apply


@pytest.mark.parametrize("task,extra", [
    ("reconstruct", []), ("colorize", []), ("super-resolve", ["--factor", "2"]),
    ("inpaint", ["--mask", "center:0.5"]), ("denoise", ["--noise-sigma", "0.05"]),
    ("colorize+inpaint+super-resolve", ["--factor", "2", "--mask", "random:0.5"])])
def test_tasks_end_to_end_simulated(tmp_path, capsys, tiny_checkpoint, face_pngs, task, extra):
    out = tmp_path / "out"
    fast = FAST_SINGLE if task_preset(parse_task(task))["method"] == "single" else FAST
    code, _, err = run_cli([task, *face_pngs, "--out", out, "--prior", tiny_checkpoint, "--simulate", "--batch", "2",
                        *fast, *extra], capsys)
    assert code == 0, err
    records = json.loads((out / "metrics.json").read_text())
    assert [r["input"] for r in records] == [str(p) for p in face_pngs]
    for r in records:
        assert set(r) == {"input", "task", "method", "psnr", "ssim", "lpips", "niqe", "auc", "seconds", "steps"}
        assert 0 <= r["lpips"] < 1 and 0 <= r["auc"] <= 100 and r["niqe"] is None  # 16 px: no NIQE block
        tasks = parse_task(task)
        assert r["task"] == "+".join(tasks)
        assert r["method"] == task_preset(tasks, default_style(tasks))["method"]
        assert r["steps"] == 3
        assert 0 < r["psnr"] < 100 and -1 <= r["ssim"] <= 1 and r["seconds"] > 0
    for p in face_pngs:
        assert Image.open(out / f"{p.stem}.png").size == (16, 16)
        assert (out / f"{p.stem}_sheet.png").exists()
    assert (out / "summary.png").exists()
    assert not list(out.glob("*.part")) and not list(out.glob(".*"))


def test_real_inputs_without_ground_truth(tmp_path, capsys, tiny_checkpoint):
    gray = tmp_path / "gray.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40), dtype=np.uint8)).save(gray)
    low = tmp_path / "low.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(low)
    code, _, err = run_cli(["colorize", gray, "--out", tmp_path / "c", "--prior", tiny_checkpoint, *FAST_SINGLE],
                           capsys)
    assert code == 0, err
    rec = json.loads((tmp_path / "c" / "metrics.json").read_text())[0]
    assert all(rec[k] is None for k in ("psnr", "ssim", "lpips", "auc", "niqe"))
    assert Image.open(tmp_path / "c" / "gray_input.png").mode == "L"
    code, _, err = run_cli(["super-resolve", low, "--factor", "2", "--out", tmp_path / "s", "--prior", tiny_checkpoint,
                        "--gif", *FAST], capsys)
    assert code == 0, err
    assert Image.open(tmp_path / "s" / "low.png").size == (16, 16)
    assert Image.open(tmp_path / "s" / "low.gif").n_frames >= 2


def test_inpaint_uses_alpha_as_mask(tmp_path, capsys, tiny_checkpoint):
    a = np.full((16, 16, 4), 200, np.uint8)
    a[..., 3] = 255
    a[4:8, 4:8, 3] = 0
    p = tmp_path / "hole.png"
    Image.fromarray(a, "RGBA").save(p)
    code, _, err = run_cli(["inpaint", p, "--out", tmp_path / "o", "--prior", tiny_checkpoint, *FAST], capsys)
    assert code == 0, err
    out = np.asarray(Image.open(tmp_path / "o" / "hole.png"))
    assert (out[0, 0] == 200).all()  # known pixels pasted back exactly


def test_progress_and_summary_printed(tmp_path, capsys, tiny_checkpoint, face_pngs):
    code, out, err = run_cli(["reconstruct", face_pngs[0], "--out", tmp_path / "o", "--prior", tiny_checkpoint,
                          "--simulate", "--steps", "2", "--layer", "1"], capsys)
    assert code == 0
    assert "batch 1/1" in err and "mean PSNR" in out


def test_priors_lists_default(capsys):
    code, out, _ = run_cli(["priors"], capsys)
    assert code == 0 and "dcgan-digiface64" in out and "MIT" in out
    # each shipped encoder, the tasks it starts by default, and its licence
    assert "encoder: dcgan-digiface64_encoder.safetensors (the presets' start where a task's recipe uses one; " \
           "for reconstruct)\n    encoder licence: MIT" in out
    assert "encoder: utkface64_encoder.safetensors (the presets' start where a task's recipe uses one; " \
           "for all tasks)\n    encoder licence: UTKFace (non-commercial research only)" in out


class TestBadInput:
    def base(self, tmp_path, ckpt):
        return ["--out", tmp_path / "out", "--prior", ckpt, *FAST]

    def test_non_image(self, tmp_path, capsys, tiny_checkpoint):
        f = tmp_path / "notes.png"
        f.write_text("not an image")
        assert_one_line_error(*run_cli(["reconstruct", f, *self.base(tmp_path, tiny_checkpoint)], capsys)[::2],
                              "cannot read image")

    def test_truncated(self, tmp_path, capsys, tiny_checkpoint, face_pngs):
        data = face_pngs[0].read_bytes()
        f = tmp_path / "trunc.png"
        f.write_bytes(data[: len(data) // 2])
        assert_one_line_error(*run_cli(["reconstruct", face_pngs[1], f, *self.base(tmp_path, tiny_checkpoint)],
                                   capsys)[::2], "cannot read image")
        assert not (tmp_path / "out").exists()  # validated before any work

    def test_empty_folder(self, tmp_path, capsys, tiny_checkpoint):
        (tmp_path / "empty").mkdir()
        assert_one_line_error(*run_cli(["reconstruct", tmp_path / "empty", *self.base(tmp_path, tiny_checkpoint)],
                                   capsys)[::2], "holds no image files")

    def test_wrong_masks(self, tmp_path, capsys, tiny_checkpoint, face_pngs):
        black = tmp_path / "black.png"
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(black)
        assert_one_line_error(*run_cli(["inpaint", face_pngs[0], "--mask", black, "--simulate",
                                    *self.base(tmp_path, tiny_checkpoint)], capsys)[::2], "marks no missing pixel")
        assert_one_line_error(*run_cli(["inpaint", face_pngs[0], "--mask", tmp_path / "nomask.png", "--simulate",
                                    *self.base(tmp_path, tiny_checkpoint)], capsys)[::2], "not found")
        assert_one_line_error(*run_cli(["inpaint", face_pngs[0], *self.base(tmp_path, tiny_checkpoint)], capsys)[::2],
                              "inpaint needs a mask")

    def test_unknown_prior(self, tmp_path, capsys, face_pngs):
        assert_one_line_error(*run_cli(["reconstruct", face_pngs[0], "--out", tmp_path / "o", "--prior", "biggan-9000"],
                                   capsys)[::2], "unknown prior")

    def test_missing_weights_offline(self, tmp_path, capsys, face_pngs, monkeypatch):
        monkeypatch.setenv("GANPRIOR_CACHE", str(tmp_path / "emptycache"))
        monkeypatch.setenv("GANPRIOR_OFFLINE", "1")
        monkeypatch.setattr("ganprior.registry_files._installed_copy", lambda spec: None)
        # dcgan-digiface64 comes from the package registry: offline with an empty cache it cannot be had
        assert_one_line_error(*run_cli(["reconstruct", face_pngs[0], "--out", tmp_path / "o", "--prior",
                                        "dcgan-digiface64"], capsys)[::2], "GANPRIOR_OFFLINE")
        assert not (tmp_path / "o").exists()

    def test_default_prior_needs_no_download(self, tmp_path, capsys, face_pngs, monkeypatch):
        # the default prior (utkface64) ships inside the package: offline, empty cache, it still runs
        monkeypatch.setenv("GANPRIOR_CACHE", str(tmp_path / "emptycache"))
        monkeypatch.setenv("GANPRIOR_OFFLINE", "1")
        monkeypatch.setattr("ganprior.registry_files._installed_copy", lambda spec: None)
        code, _, err = run_cli(["reconstruct", face_pngs[0], "--out", tmp_path / "o", "--steps", "2", "--quiet"],
                               capsys)
        assert code == 0, err
        record = json.loads((tmp_path / "o" / "metrics.json").read_text())[0]
        assert record["method"] == "multi" and record["steps"] == 2
        assert Image.open(tmp_path / "o" / f"{face_pngs[0].stem}.png").size == (64, 64)

    def test_infinite_learning_rate_is_refused_before_the_job(self, tmp_path, capsys, tiny_checkpoint, face_pngs):
        # it used to run and fail per image with a NaN loss; RunConfig's bounds refuse it up front
        code, _, err = run_cli(["reconstruct", face_pngs[0], "--simulate", "--out", tmp_path / "o", "--prior",
                            tiny_checkpoint, "--method", "single", "--optimizer", "sgd", "--lr", "inf",
                            "--steps", "5", "--quiet"], capsys)
        assert_one_line_error(code, err, "learning rate must be finite, got inf")
        assert not (tmp_path / "o").exists()

    def test_bad_task_and_factor(self, tmp_path, capsys, tiny_checkpoint, face_pngs):
        assert_one_line_error(*run_cli(["sharpen", face_pngs[0], *self.base(tmp_path, tiny_checkpoint)], capsys)[::2],
                              "unknown task")
        assert_one_line_error(*run_cli(["super-resolve", face_pngs[0], "--factor", "3", "--simulate",
                                    *self.base(tmp_path, tiny_checkpoint)], capsys)[::2], "factor")

    def test_a_failed_batch_is_recorded_and_the_others_go_on(self, tmp_path, capsys, tiny_checkpoint, face_pngs,
                                                            monkeypatch):
        """Batch jobs (issue #10): the failing image is recorded with its error, the images before
        and after it are restored, and the run ends with a one-line error (exit 2)."""
        import ganprior.pipeline
        from ganprior.errors import GanpriorError
        real = ganprior.pipeline.restore_batch
        calls = []

        def flaky(inputs, idx, *a, **k):
            calls.append(idx)
            if len(calls) == 2:
                raise GanpriorError("loss became NaN/inf at step 2 for image 1 of the batch")
            return real(inputs, idx, *a, **k)

        monkeypatch.setattr(ganprior.pipeline, "restore_batch", flaky)
        code, _, err = run_cli(["reconstruct", *face_pngs, "--simulate", "--batch", "1",
                            *self.base(tmp_path, tiny_checkpoint)], capsys)
        assert_one_line_error(code, err, "NaN/inf")
        assert "1 of 3 images failed: img1:" in err
        records = json.loads((tmp_path / "out" / "metrics.json").read_text())
        assert [r["input"] for r in records] == [str(face_pngs[0]), str(face_pngs[2])]
        assert (tmp_path / "out" / "img0.png").exists() and (tmp_path / "out" / "img2.png").exists()
        assert not (tmp_path / "out" / "img1.png").exists()
        items = json.loads((tmp_path / "out" / "manifest.json").read_text())["items"]
        assert [i["state"] for i in items] == ["done", "failed", "done"] and "NaN/inf" in items[1]["error"]


def test_invalid_factor_fails_before_creating_output(tmp_path, capsys, tiny_checkpoint, face_pngs):
    for factor in ("0", "-4", "3"):
        code, _, err = run_cli(["super-resolve", face_pngs[0], "--factor", factor, "--out", tmp_path / "o",
                            "--prior", tiny_checkpoint, "--quiet"], capsys)
        assert_one_line_error(code, err, "factor")
    code, _, err = run_cli(["super-resolve", face_pngs[0], "--out", tmp_path / "o", "--prior", tiny_checkpoint], capsys)
    assert_one_line_error(code, err, "needs a factor")
    assert not (tmp_path / "o").exists()


def test_stop_mse_records_the_stopping_step(tmp_path, capsys, tiny_checkpoint, face_pngs):
    """--stop-mse (adversarial defense): an easy threshold stops every image at once; records keep
    the step each image stopped at; a bad threshold is a one-line error."""
    out = tmp_path / "out"
    code, _, err = run_cli(["reconstruct", *face_pngs, "--out", out, "--prior", tiny_checkpoint, "--steps", "50",
                        "--stop-mse", "10", "--perceptual", "0", "--quiet", "--batch", "2"], capsys)
    assert code == 0, err
    records = json.loads((out / "metrics.json").read_text())
    assert [r["steps"] for r in records] == [1, 1, 1]  # any image is within MSE 10 of its input
    code, _, err = run_cli(["reconstruct", face_pngs[0], "--out", tmp_path / "o2", "--prior", tiny_checkpoint,
                        "--steps", "5", "--stop-mse", "-1", "--quiet"], capsys)
    assert_one_line_error(code, err, "stop MSE must be > 0")


def test_patience_stops_a_run_whose_loss_no_longer_improves(tmp_path, capsys, tiny_checkpoint, face_pngs):
    """--patience/--min-improvement reach the solver: asking 90% of improvement every 2 steps stops
    every image at step 3 (the earliest the rule can judge); records say so; bad values are one line."""
    out = tmp_path / "out"
    code, _, err = run_cli(["reconstruct", *face_pngs, "--out", out, "--prior", tiny_checkpoint, "--steps", "50",
                            "--patience", "2", "--min-improvement", "0.9", "--perceptual", "0", "--quiet",
                            "--batch", "3"], capsys)
    assert code == 0, err
    assert [r["steps"] for r in json.loads((out / "metrics.json").read_text())] == [3, 3, 3]
    assert json.loads((out / "manifest.json").read_text())["settings"]["patience"] == 2
    for flags, message in ((["--patience", "0"], "patience must be >= 1, got 0"),
                           (["--patience", "4", "--min-improvement", "1"], "min improvement must be <= 0.999")):
        code, _, err = run_cli(["reconstruct", face_pngs[0], "--out", tmp_path / "o2", "--prior", tiny_checkpoint,
                                "--steps", "5", *flags, "--quiet"], capsys)
        assert_one_line_error(code, err, message)


def test_latent_init_best_from_the_command_line(tmp_path, capsys, tiny_checkpoint, face_pngs):
    code, _, err = run_cli(["reconstruct", face_pngs[0], "--out", tmp_path / "b", "--prior", tiny_checkpoint,
                            "--method", "single", "--latent-init", "best", "--candidates", "7", *FAST_SINGLE], capsys)
    assert code == 0, err
    settings = json.loads((tmp_path / "b" / "manifest.json").read_text())["settings"]
    assert settings["latent_init"] == "best" and settings["num_candidates"] == 7
    code, _, err = run_cli(["reconstruct", face_pngs[0], "--out", tmp_path / "n", "--prior", tiny_checkpoint,
                            "--method", "single", "--latent-init", "normal", *FAST_SINGLE], capsys)
    assert code == 0, err
    best, normal = (np.asarray(Image.open(tmp_path / d / "img0.png")) for d in ("b", "n"))
    assert not np.array_equal(best, normal)  # the flag reaches the solver
    code, _, err = run_cli(["reconstruct", face_pngs[0], "--out", tmp_path / "e", "--prior", tiny_checkpoint,
                            "--latent-init", "normal", "--candidates", "7", *FAST], capsys)
    assert_one_line_error(code, err, "applies with latent_init")


def test_a_method_flag_the_method_does_not_take_fails_before_the_job(tmp_path, capsys, tiny_checkpoint, face_pngs):
    """--codes used to be ignored by a single-code run; now it is refused before anything runs."""
    code, _, err = run_cli(["reconstruct", face_pngs[0], "--out", tmp_path / "s", "--prior", tiny_checkpoint,
                            "--method", "single", *FAST], capsys)
    assert_one_line_error(code, err, "--codes, --layer do(es) not apply to --method single")
    assert not (tmp_path / "s").exists()
    code, _, err = run_cli(["colorize", face_pngs[0], "--out", tmp_path / "c", "--prior", tiny_checkpoint,
                            "--simulate", "--codes", "3", "--quiet"], capsys)
    assert_one_line_error(code, err, "what the colorize preset runs; choose one with --method")


@pytest.mark.parametrize("argv, message", [
    (["reconstruct", "x.png", "--out", "o", "--bogus"], "unrecognized arguments: --bogus (see 'ganprior --help')"),
    (["reconstruct", "x.png", "--out", "o", "--steps", "x"], "argument --steps: invalid int value: 'x'"),
    (["reconstruct"], "the following arguments are required: inputs, --out"),
    (["reconstruct", "x.png", "--out", "o", "--method", "nope"], "argument --method: invalid choice: 'nope'"),
    (["edit", "--bogus"], "(see 'ganprior edit --help')"),
    (["directions", "fit", "--x"], "(see 'ganprior directions fit --help')"),
    (["evaluate"], "the following arguments are required"),
    (["train", "--nope"], "(see 'ganprior train --help')"),
])
def test_command_line_mistakes_are_one_line_not_the_usage_text(argv, message, capsys):
    """argparse printed about 21 lines of usage for a mistyped flag."""
    code, out, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, message)
    assert "usage:" not in out + err


def test_help_still_prints_the_usage(capsys):
    with pytest.raises(SystemExit) as e:
        run_cli(["reconstruct", "--help"], capsys)
    assert e.value.code == 0
    assert "usage: ganprior" in capsys.readouterr().out


@pytest.mark.parametrize("err_no, expected", [(28, 2), (30, 2), (13, 2), (5, 1)])
def test_a_write_the_machine_refuses_is_a_user_error_a_bug_is_not(err_no, expected, tmp_path, capsys, monkeypatch):
    """A full disk or a read-only folder in any command is one line with exit 2; EIO stays an internal error."""
    import os

    from ganprior.cli import priors as priors_cmd

    def failing(argv):
        raise OSError(err_no, os.strerror(err_no), str(tmp_path / "x.png"))

    monkeypatch.setattr(priors_cmd, "priors_cmd", failing)
    monkeypatch.delenv("GANPRIOR_DEBUG", raising=False)
    code, _, err = run_cli(["priors"], capsys)
    if expected == 2:
        assert_one_line_error(code, err, f"cannot write {tmp_path / 'x.png'}: {os.strerror(err_no)}")
    else:
        assert code == 1 and "internal error: OSError" in err
