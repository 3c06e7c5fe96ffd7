"""Resumable batch jobs (issue #10): manifest, verified resume, failure isolation, kill -9."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import assert_one_line_error, run_cli

pytestmark = pytest.mark.integration

FAST = ["--steps", "3", "--codes", "2", "--layer", "1", "--perceptual", "0", "--quiet"]  # [:-1]: with the summary
OUTPUTS = ("{}.png", "{}_input.png", "{}_sheet.png")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def test_manifest_records_settings_inputs_and_outputs(tmp_path, capsys, tiny_checkpoint, face_pngs):
    out = tmp_path / "out"
    code, stdout, err = run_cli(["reconstruct", face_pngs[0].parent, "--out", out, "--prior", tiny_checkpoint,
                                 "--batch", "2", *FAST[:-1], "--seed", "3"], capsys)
    assert code == 0, err
    assert "done 3, skipped 0, failed 0" in stdout
    m = manifest(out)
    assert m["version"] == 2 and m["prior_name"]
    s = m["settings"]
    assert s["task"] == "reconstruct" and s["steps"] == 3 and s["seed"] == 3 and s["num_codes"] == 2
    assert s["prior"] == str(Path(tiny_checkpoint).resolve())
    assert "device" not in s and "batch" not in s and "out" not in s  # how, not what: may change on resume
    assert [i["name"] for i in m["items"]] == ["img0", "img1", "img2"]
    for item, src in zip(m["items"], face_pngs):
        assert item["state"] == "done" and item["error"] is None and item["attempts"] == 1
        assert item["source"] == str(src) and item["sha256"] == sha(src)
        assert set(item["outputs"]) == {f.format(item["name"]) for f in OUTPUTS}
        for f, h in item["outputs"].items():
            assert sha(out / f) == h
        assert item["metrics"]["input"] == str(src) and item["metrics"]["steps"] == 3
        assert item["seconds"] > 0
    # metrics.json is still the list of per-image records, rebuilt from the manifest
    assert json.loads((out / "metrics.json").read_text()) == [i["metrics"] for i in m["items"]]
    assert (out / "summary.png").exists()
    assert not list(out.glob(".*"))


def test_rerun_skips_verified_outputs_and_redoes_changed_ones(tmp_path, capsys, tiny_checkpoint, face_pngs,
                                                             count_inversions):
    out = tmp_path / "out"
    argv = ["reconstruct", *face_pngs, "--out", out, "--prior", tiny_checkpoint, "--batch", "1", *FAST]
    assert run_cli(argv, capsys)[0] == 0
    assert len(count_inversions) == 3
    before = {p.name: p.read_bytes() for p in out.glob("img*.png")}
    stamp = {p.name: p.stat().st_mtime_ns for p in out.glob("img*.png")}

    count_inversions.clear()
    code, stdout, _ = run_cli(argv[:-1], capsys)  # not quiet: prints the summary
    assert code == 0 and count_inversions == []  # nothing inverted again
    assert "done 0, skipped 3, failed 0" in stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("img*.png")} == stamp  # nor rewritten

    # a tampered output, a deleted output and a changed input are redone; the untouched one is not
    (out / "img0.png").write_bytes(b"tampered")
    (out / "img1_sheet.png").unlink()
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(face_pngs[2])
    count_inversions.clear()
    code, stdout, _ = run_cli(argv[:-1], capsys)
    assert code == 0
    assert sorted(n for batch in count_inversions for n in batch) == ["img0", "img1", "img2"][:3] and \
        len(count_inversions) == 3
    assert "done 3, skipped 0, failed 0" in stdout
    m = manifest(out)
    assert [i["attempts"] for i in m["items"]] == [2, 2, 2]
    assert (out / "img0.png").read_bytes() == before["img0.png"]  # same seed, same result
    assert (out / "img1_sheet.png").read_bytes() == before["img1_sheet.png"]
    assert m["items"][2]["sha256"] == sha(face_pngs[2])

    # only the deleted one this time
    (out / "img1_input.png").unlink()
    count_inversions.clear()
    assert run_cli(argv, capsys)[0] == 0
    assert count_inversions == [["img1"]]


def test_a_corrupt_image_in_a_folder_fails_alone(tmp_path, capsys, tiny_checkpoint, face_pngs):
    folder = face_pngs[0].parent
    data = face_pngs[0].read_bytes()
    (folder / "broken.png").write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    code, stdout, err = run_cli(["reconstruct", folder, "--out", out, "--prior", tiny_checkpoint, "--batch", "2",
                                 *FAST[:-1]], capsys)
    errors = [ln for ln in err.splitlines() if ln.startswith("ganprior")]  # the rest is progress bars
    assert code == 2 and len(errors) == 1, err
    assert errors[0].startswith("ganprior: error: 1 of 4 images failed: broken: cannot read image")
    assert str(folder / "broken.png") in errors[0]  # the user's path, not a temporary copy
    assert "done 3, skipped 0, failed 1" in stdout and "failed: broken: cannot read image" in stdout
    states = {i["name"]: (i["state"], i["error"]) for i in manifest(out)["items"]}
    assert states["broken"][0] == "failed" and "cannot read image" in states["broken"][1]
    assert "\n" not in states["broken"][1]
    assert all(states[f"img{k}"] == ("done", None) for k in range(3))
    assert len(json.loads((out / "metrics.json").read_text())) == 3
    assert not (out / "broken.png").exists() and (out / "summary.png").exists()

    # fixing the file and rerunning does only that one
    (folder / "broken.png").write_bytes(data)
    code, stdout, err = run_cli(["reconstruct", folder, "--out", out, "--prior", tiny_checkpoint, "--batch", "2",
                                 *FAST[:-1]], capsys)
    assert code == 0, err
    assert "done 1, skipped 3, failed 0" in stdout


def test_a_failed_inversion_in_a_batch_is_retried_image_by_image(tmp_path, capsys, tiny_checkpoint, face_pngs,
                                                                  monkeypatch):
    import ganprior.pipeline
    from ganprior.errors import GanpriorError
    real = ganprior.pipeline.restore_batch
    calls = []

    def poisoned(inputs, idx, *a, **k):
        names = list(inputs.names[idx])
        calls.append(names)
        if "img1" in names:
            raise GanpriorError("loss became NaN/inf at step 2")
        return real(inputs, idx, *a, **k)

    monkeypatch.setattr(ganprior.pipeline, "restore_batch", poisoned)
    out = tmp_path / "out"
    code, _, err = run_cli(["reconstruct", *face_pngs, "--out", out, "--prior", tiny_checkpoint, "--batch", "3",
                            *FAST], capsys)
    assert_one_line_error(code, err, "img1: loss became NaN/inf")
    assert calls == [["img0", "img1", "img2"], ["img0"], ["img1"], ["img2"]]
    assert [i["state"] for i in manifest(out)["items"]] == ["done", "failed", "done"]


def test_other_settings_on_the_same_out_are_refused_unless_restart(tmp_path, capsys, tiny_checkpoint, face_pngs,
                                                                    count_inversions):
    out = tmp_path / "out"
    base = ["reconstruct", *face_pngs[:2], "--out", out, "--prior", tiny_checkpoint, *FAST]
    assert run_cli(base, capsys)[0] == 0
    first = manifest(out)
    code, _, err = run_cli([*base, "--seed", "5"], capsys)
    assert_one_line_error(code, err, "holds a job with other settings (seed 0 -> 5)")
    assert "--restart" in err and manifest(out) == first
    # how a job runs may change on resume (batch size, device)
    count_inversions.clear()
    assert run_cli([*base, "--batch", "1", "--device", "cpu"], capsys)[0] == 0 and count_inversions == []
    code, _, err = run_cli([*base, "--seed", "5", "--restart"], capsys)
    assert code == 0, err
    m = manifest(out)
    assert m["settings"]["seed"] == 5 and all(i["attempts"] == 1 for i in m["items"])
    assert len(count_inversions) == 1  # both images again, in one batch


def test_a_second_run_on_the_same_out_is_refused_while_one_runs(tmp_path, capsys, tiny_checkpoint, face_pngs):
    import fcntl
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        code, _, err = run_cli(["reconstruct", face_pngs[0], "--out", out, "--prior", tiny_checkpoint, *FAST], capsys)
        assert_one_line_error(code, err, "another ganprior run is writing to")
    finally:
        os.close(fd)
    assert run_cli(["reconstruct", face_pngs[0], "--out", out, "--prior", tiny_checkpoint, *FAST], capsys)[0] == 0


def test_new_inputs_join_an_existing_job(tmp_path, capsys, tiny_checkpoint, face_pngs, count_inversions):
    out = tmp_path / "out"
    assert run_cli(["reconstruct", *face_pngs[:2], "--out", out, "--prior", tiny_checkpoint, *FAST], capsys)[0] == 0
    count_inversions.clear()
    assert run_cli(["reconstruct", *face_pngs, "--out", out, "--prior", tiny_checkpoint, *FAST], capsys)[0] == 0
    assert count_inversions == [["img2"]]
    assert [r["input"] for r in json.loads((out / "metrics.json").read_text())] == [str(p) for p in face_pngs]


def test_kill_9_loses_no_finished_result_and_resumes(tmp_path, capsys, tiny_checkpoint, count_inversions):
    """SIGKILL the CLI after its first finished image: every file then present is complete, the
    manifest is valid, and a rerun finishes the rest without redoing (or rewriting) what was done."""
    folder = tmp_path / "faces"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(folder / f"f{i}.png")
    out = tmp_path / "out"
    argv = ["reconstruct", str(folder), "--out", str(out), "--prior", str(tiny_checkpoint), "--batch", "1",
            "--steps", "700", "--codes", "2", "--layer", "1", "--perceptual", "0", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([sys.executable, "-m", "ganprior.cli", *argv], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if any(i["state"] == "done" for i in manifest(out)["items"]):
                    break
            except (OSError, ValueError):  # not written yet (never half-written: it is replaced atomically)
                pass
            time.sleep(0.02)
        assert proc.poll() is None, f"the job ended before it could be killed: {proc.stderr.read().decode()}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    m = manifest(out)
    done = {i["name"]: i for i in m["items"] if i["state"] == "done"}
    assert 1 <= len(done) < 6
    kept = {}
    for item in done.values():
        for f, h in item["outputs"].items():
            assert sha(out / f) == h
            kept[f] = ((out / f).read_bytes(), (out / f).stat().st_mtime_ns)
    for p in out.iterdir():  # anything else is a complete file or a temporary that is never an output
        if p.suffix == ".png" and not p.name.startswith("."):
            Image.open(p).load()
        elif p.name not in ("manifest.json", "metrics.json"):
            assert p.name.startswith(".") and p.name.endswith(".part"), p.name
    json.loads((out / "metrics.json").read_text())

    count_inversions.clear()
    code, stdout, err = run_cli([*argv[:-1]], capsys)
    assert code == 0, err
    assert f"done {6 - len(done)}, skipped {len(done)}, failed 0" in stdout
    redone = {n for batch in count_inversions for n in batch}
    assert redone == {f"f{i}" for i in range(6)} - set(done)
    m = manifest(out)
    assert all(i["state"] == "done" for i in m["items"])
    assert all(m["items"][k]["attempts"] == 1 for k in range(6) if f"f{k}" in done)
    for f, (data, mtime) in kept.items():
        assert (out / f).read_bytes() == data and (out / f).stat().st_mtime_ns == mtime
    assert not list(out.glob(".*"))
    assert len(json.loads((out / "metrics.json").read_text())) == 6


def test_out_in_the_inputs_folder_refuses_instead_of_overwriting_an_input(tmp_path, capsys, tiny_checkpoint,
                                                                       face_pngs, monkeypatch):
    """`cd d && ganprior reconstruct face.png --out .` used to replace face.png with its result."""
    folder = face_pngs[0].parent
    before = face_pngs[0].read_bytes()
    monkeypatch.chdir(folder)
    code, _, err = run_cli(["reconstruct", face_pngs[0].name, "--out", ".", "--prior", tiny_checkpoint, *FAST],
                           capsys)
    assert_one_line_error(code, err, f"would overwrite {face_pngs[0].name} with the result of img0")
    assert face_pngs[0].read_bytes() == before
    assert not (folder / "manifest.json").exists()


def test_clashing_stems_give_distinct_results_recorded_once_and_a_rerun_settles(tmp_path, capsys, tiny_checkpoint,
                                                                                face_pngs):
    """x.jpg, x.png, x_1.png, a.png, a_input.png and summary.png used to give x, x_1, x_1 (one result lost,
    listed twice), a_input.png over a's observation, summary.png over an input's result, and reruns that
    never settled."""
    d = tmp_path / "clash"
    d.mkdir()
    names = ["x.jpg", "x.png", "x_1.png", "a.png", "a_input.png", "summary.png"]
    for i, n in enumerate(names):
        Image.open(face_pngs[i % 3]).convert("RGB").rotate(90 * (i // 3)).save(d / n)
    before = {n: sha(d / n) for n in names}
    out = tmp_path / "o"
    argv = ["reconstruct", d, "--out", out, "--prior", tiny_checkpoint, *FAST]
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    items = manifest(out)["items"]
    assert sorted(i["name"] for i in items) == ["a", "a_input_png", "summary_png", "x", "x_1", "x_png"]
    assert sorted(Path(i["source"]).name for i in items) == sorted(names)  # each input once
    results = [f for i in items for f in i["outputs"] if not f.endswith(("_input.png", "_sheet.png"))]
    assert len(set(results)) == 6
    written = [f for i in items for f in i["outputs"]]
    assert len(written) == len(set(written)) == 18  # no output shared
    for i in items:  # every recorded output is the one on disk
        for f, h in i["outputs"].items():
            assert sha(out / f) == h
    assert (out / "summary.png").exists() and (out / "summary_png.png").exists()
    code, stdout, err = run_cli(argv[:-1], capsys)
    assert code == 0, err
    assert "done 0, skipped 6, failed 0" in stdout
    assert {n: sha(d / n) for n in names} == before


def test_job_names_are_unique_stable_and_fit_the_file_system():
    from ganprior.jobs import JOB_FILES, NAME_MAX_BYTES, output_names, unique_names
    files = [Path(n) for n in ["a.png", "a_input.png", "x.jpg", "x.png", "x_png.tif", "d1/y.png", "d2/y.png",
                               "d3/y.png", "summary.png", "manifest.png", "z" * 250 + ".png", "z" * 250 + ".jpg"]]
    names = unique_names(files)
    assert names[:8] == ["a", "a_input_png", "x", "x_png", "x_png_tif", "y", "y_png", "y_png_2"]
    assert names[8] == "summary_png" and names[9] == "manifest"  # manifest.json is not manifest.png
    every = [f for n in names for f in output_names(n)]
    assert len(every) == len(set(every)) and not set(every) & set(JOB_FILES)
    for n in names:  # the longest output plus atomic_write's ".NAME.XXXXXXXX.part" fits 255 bytes
        assert len(n.encode()) <= NAME_MAX_BYTES and len(f".{n}_sheet.png.12345678.part".encode()) <= 255
    assert names[10] != names[11] and names[10].startswith("z" * 100) and "~" in names[10]
    assert unique_names(files) == names  # the same files, the same names


def test_a_231_character_stem_is_restored_not_failed_after_the_work(tmp_path, capsys, tiny_checkpoint, face_pngs):
    long = tmp_path / ("L" * 231 + ".png")
    long.write_bytes(face_pngs[0].read_bytes())
    out = tmp_path / "o"
    code, _, err = run_cli(["reconstruct", long, "--out", out, "--prior", tiny_checkpoint, *FAST], capsys)
    assert code == 0, err
    (item,) = manifest(out)["items"]
    assert item["state"] == "done" and item["source"] == str(long)
    assert all((out / f).exists() for f in item["outputs"])


def test_out_as_a_folder_of_inputs_is_refused(tmp_path, capsys, tiny_checkpoint, face_pngs):
    """`ganprior reconstruct d --out d`: the next run would take the results as inputs."""
    d = face_pngs[0].parent
    listing = sorted(p.name for p in d.iterdir())
    code, _, err = run_cli(["reconstruct", d, "--out", d, "--prior", tiny_checkpoint, *FAST], capsys)
    assert_one_line_error(code, err, "is a folder of inputs")
    assert sorted(p.name for p in d.iterdir()) == listing


@pytest.mark.parametrize("out, message", [
    ("file/x", "is a file, not a folder"),
    ("Q" * 300, "is longer than a file name may be"),
    ("dangling/x", "is a broken link"),
])
def test_an_out_that_cannot_be_made_is_refused_before_any_work(out, message, tmp_path, capsys, tiny_checkpoint,
                                                               face_pngs, count_inversions, monkeypatch):
    (tmp_path / "file").write_bytes(b"x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["reconstruct", face_pngs[0], "--out", out, "--prior", tiny_checkpoint, *FAST], capsys)
    assert_one_line_error(code, err, message)
    assert not count_inversions


def test_a_read_only_out_is_refused_before_any_work(tmp_path, capsys, tiny_checkpoint, face_pngs, count_inversions,
                                                    monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if Path(p) == ro else real(p, mode, **k))
    code, _, err = run_cli(["reconstruct", face_pngs[0], "--out", ro / "x", "--prior", tiny_checkpoint, *FAST],
                           capsys)
    assert_one_line_error(code, err, f"--out {ro / 'x'}: the folder {ro}, where it would be created, is not writable")
    assert not count_inversions and not (ro / "x").exists()


def test_a_full_disk_is_a_one_line_error_that_keeps_the_finished_results(tmp_path, capsys, tiny_checkpoint,
                                                                         face_pngs, monkeypatch):
    import errno

    import ganprior.io
    real = ganprior.io.atomic_write

    def full_after_first_batch(path, write):
        if Path(path).name.startswith("img1"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, write)

    monkeypatch.setattr(ganprior.io, "atomic_write", full_after_first_batch)
    out = tmp_path / "o"
    argv = ["reconstruct", face_pngs[0].parent, "--out", out, "--prior", tiny_checkpoint, "--batch", "1", *FAST]
    code, _, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, f"cannot write {out / 'img1.png'}: No space left on device; results written so "
                                     "far are kept")
    done = {i["name"]: i for i in manifest(out)["items"] if i["state"] == "done"}
    assert list(done) == ["img0"] and all((out / f).exists() for f in done["img0"]["outputs"])
    monkeypatch.setattr(ganprior.io, "atomic_write", real)
    code, stdout, err = run_cli(argv[:-1], capsys)  # space again: the rerun finishes the rest
    assert code == 0, err
    assert "done 2, skipped 1, failed 0" in stdout


@pytest.mark.parametrize("device, message", [
    ("bogus", "unknown device 'bogus'; use cpu, cuda, cuda:N or mps"),
    ("cuda:99", "device 'cuda:99'"),
    ("mps", "device 'mps'"),
])
def test_an_unavailable_device_is_a_one_line_error(device, message, tmp_path, capsys, tiny_checkpoint, face_pngs):
    import torch
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    out = tmp_path / "o"
    code, _, err = run_cli(["reconstruct", face_pngs[0], "--out", out, "--prior", tiny_checkpoint, "--device", device,
                            *FAST], capsys)
    assert_one_line_error(code, err, message)
    assert not out.exists()


def test_a_batch_that_would_not_fit_in_memory_is_refused_before_any_work(tmp_path, capsys, tiny_checkpoint,
                                                                         face_pngs, monkeypatch):
    import ganprior.batching
    from ganprior.priors import load_prior
    per_image = ganprior.batching.step_bytes_per_image(load_prior(str(tiny_checkpoint)), "multi", num_codes=2, layer=1)
    monkeypatch.setattr(ganprior.batching, "free_memory_bytes", lambda device: int(2.5 * per_image))
    out = tmp_path / "o"
    argv = ["reconstruct", face_pngs[0].parent, "--out", out, "--prior", tiny_checkpoint, *FAST]
    code, _, err = run_cli([*argv, "--batch", "3"], capsys)
    assert_one_line_error(code, err, "3 image(s) per batch with these settings need about")
    assert "lower --batch (or use --batch auto) or --codes" in err and not out.exists()
    code, _, err = run_cli([*argv, "--batch", "2"], capsys)  # 2 images take 2x, under 0.9 x 2.5x
    assert code == 0, err
