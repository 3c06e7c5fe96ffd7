"""The reliability corpus's job categories (issue #26): what a user gives is never lost.

* ``settings``: a bad setting on an otherwise good command line. Each must be a one-line error with
  exit 2 before any work: no --out folder is created and no image reaches the inversion (a bad
  setting recorded as a failed image in a new job used to block the corrected rerun).
* ``data-loss``: ordinary situations that used to overwrite or lose a user's files with exit 0.
  Each scenario checks what is on disk afterwards (inputs byte-identical, one result per input,
  reruns settling) and returns its problems.

Both tally into the corpus summary printed at the end of the run (tests/fuzz/conftest.py).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from .conftest import count
from .test_fuzz import FAST_SINGLE

pytestmark = pytest.mark.integration

BIG = str(2 ** 64)

# (what, task and options after the good image): each must be refused before the job
SETTINGS = [
    ("steps -1", ["reconstruct", "--steps", "-1"]),
    ("codes 0", ["reconstruct", "--method", "multi", "--codes", "0"]),
    ("codes 100000", ["reconstruct", "--method", "multi", "--codes", "100000"]),
    ("layer 0", ["reconstruct", "--method", "multi", "--layer", "0"]),
    ("layer 5", ["reconstruct", "--method", "multi", "--layer", "5"]),
    ("lr nan", ["reconstruct", "--lr", "nan"]),
    ("lr 0", ["reconstruct", "--lr", "0"]),
    ("lr -1", ["reconstruct", "--lr", "-1"]),
    ("lr inf", ["reconstruct", "--lr", "inf"]),
    ("blend 2", ["super-resolve", "--factor", "2", "--blend", "2"]),
    ("blend -0.1", ["super-resolve", "--factor", "2", "--blend", "-0.1"]),
    ("guide 5", ["super-resolve", "--factor", "2", "--guide", "5"]),
    ("stop-mse nan", ["reconstruct", "--stop-mse", "nan"]),
    ("stop-mse -1", ["reconstruct", "--stop-mse", "-1"]),
    ("seed 2**64", ["reconstruct", "--seed", BIG]),
    ("seed -1", ["reconstruct", "--seed", "-1"]),
    ("noise-sigma nan", ["denoise", "--noise-sigma", "nan"]),
    ("noise-sigma inf", ["denoise", "--noise-sigma", "inf"]),
    ("noise-sigma -1", ["denoise", "--noise-sigma", "-1"]),
    ("l1 -1", ["reconstruct", "--l1", "-1"]),
    ("perceptual-resize 0", ["reconstruct", "--perceptual-resize", "0"]),
    ("perceptual -1", ["reconstruct", "--perceptual", "-1"]),
    ("factor 0", ["super-resolve", "--factor", "0"]),
    ("factor 3.5", ["super-resolve", "--factor", "3.5"]),
    ("blur-sigma nan", ["deblur", "--blur-sigma", "nan"]),
    ("mask nonsense", ["inpaint", "--mask", "nonsense:7"]),
    ("device bogus", ["reconstruct", "--device", "bogus"]),
    ("device cuda:99", ["reconstruct", "--device", "cuda:99"]),
    ("batch 0", ["reconstruct", "--batch", "0"]),
    ("batch x", ["reconstruct", "--batch", "x"]),
    ("unknown flag", ["reconstruct", "--stpes", "3"]),
    ("bad int", ["reconstruct", "--steps", "three"]),
    ("bad choice", ["reconstruct", "--method", "nope"]),
    ("codes with single", ["reconstruct", "--method", "single", "--codes", "4"]),
    ("unknown task", ["reconstrct"]),
    ("address without ray", ["reconstruct", "--address", "auto"]),
]


def _one_line_error(code, err) -> list[str]:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if code == 2 and len(lines) == 1 and lines[0].startswith("ganprior: error: "):
        return []
    return [f"exit {code}, {len(lines)} stderr lines: {err.strip()[:300]!r}"]


def _tally(fuzz_tally, category: str, outcomes: list[tuple[str, list[str], float]]) -> list[str]:
    t = fuzz_tally.setdefault(category, dict(cases=0, result=0, error=0, failure=0, seconds=0.0))
    failures = []
    for name, problems, seconds in outcomes:
        count(t, "failure" if problems else ("error" if category == "settings" else "result"), seconds)
        if problems:
            failures.append(f"{name}: {'; '.join(problems)}")
    return failures


@pytest.fixture
def inversions(monkeypatch):
    """The batches that reach the inversion."""
    import ganprior.pipeline
    real, seen = ganprior.pipeline.restore_batch, []

    def counting(inputs, idx, *a, **k):
        seen.append(list(inputs.names[idx]))
        return real(inputs, idx, *a, **k)

    monkeypatch.setattr(ganprior.pipeline, "restore_batch", counting)
    return seen


def test_settings(fuzz_checkpoint, fuzz_tally, capfd, tmp_path, inversions, monkeypatch):
    from ganprior import cli
    monkeypatch.delenv("GANPRIOR_DEBUG", raising=False)
    good = tmp_path / "good.png"
    Image.fromarray(np.full((20, 24, 3), 120, np.uint8)).save(good)
    outcomes = []
    for i, (what, (task, *options)) in enumerate(SETTINGS):
        out = tmp_path / f"out{i}"
        t0 = time.perf_counter()
        inversions.clear()
        capfd.readouterr()
        try:
            code = cli.main([task, str(good), "--out", str(out), "--prior", str(fuzz_checkpoint), *FAST_SINGLE,
                             *options])
        except BaseException as e:  # noqa: BLE001 - argparse's SystemExit, or anything escaping main()
            code = f"{type(e).__name__} escaped main()"
        _, err = capfd.readouterr()
        problems = _one_line_error(code, err)
        if out.exists():
            problems.append("created the --out folder")
        if inversions:
            problems.append("ran an inversion")
        outcomes.append((f"settings/{what}", problems, time.perf_counter() - t0))
    failures = _tally(fuzz_tally, "settings", outcomes)
    assert not failures, f"{len(failures)} of {len(SETTINGS)} settings cases failed:\n" + "\n".join(failures)


# ---------------------------------------------------------------------------------------------------
# data-loss scenarios: each gets (folder, run) and returns its problems; run(argv) -> (code, stdout, stderr)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _png(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path, format="PNG")
    return path


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _unchanged(files: dict[Path, str]) -> list[str]:
    return [f"{p.name} changed" for p, h in files.items() if not p.exists() or _sha(p) != h]


def out_dot(d: Path, run) -> list[str]:
    """`cd d && ganprior reconstruct face.png --out .` replaced face.png with its result."""
    face = _png(d / "face.png", 1)
    before = {face: _sha(face)}
    cwd = os.getcwd()
    os.chdir(d)
    try:
        code, _, err = run(["reconstruct", "face.png", "--out", "."])
    finally:
        os.chdir(cwd)
    return _unchanged(before) + ([] if code == 2 else [f"exit {code}: not refused"])


def out_is_input_folder(d: Path, run) -> list[str]:
    """`ganprior reconstruct d --out d`: results beside the inputs, taken as inputs by the next run."""
    _png(d / "in" / "p.jpg", 2)
    listing = sorted(os.listdir(d / "in"))
    code, _, err = run(["reconstruct", str(d / "in"), "--out", str(d / "in")])
    return ([] if code == 2 else [f"exit {code}: not refused"]) + \
        ([] if sorted(os.listdir(d / "in")) == listing else ["wrote into the inputs' folder"])


def six_clashing_names(d: Path, run) -> list[str]:
    """x.jpg, x.png, x_1.png, a.png, a_input.png, summary.png: six results, each once; a rerun skips all."""
    names = ["x.jpg", "x.png", "x_1.png", "a.png", "a_input.png", "summary.png"]
    for i, n in enumerate(names):
        with Image.open(_png(d / "scratch" / "tmp.png", 10 + i)) as im:
            (d / "in").mkdir(exist_ok=True)
            im.save(d / "in" / n)
    before = {d / "in" / n: _sha(d / "in" / n) for n in names}
    out = d / "out"
    code, _, err = run(["reconstruct", str(d / "in"), "--out", str(out)])
    problems = [] if code == 0 else [f"exit {code}: {err.strip()[:200]}"]
    if code == 0:
        items = _manifest(out)["items"]
        if len({i["name"] for i in items}) != 6 or len(items) != 6:
            problems.append(f"manifest names {[i['name'] for i in items]}")
        results = {f for i in items for f in i["outputs"] if not f.endswith(("_input.png", "_sheet.png"))}
        if len(results) != 6:
            problems.append(f"{len(results)} distinct results")
        outputs = [f for i in items for f in i["outputs"]]
        if len(outputs) != len(set(outputs)):
            problems.append("an output recorded twice")
        problems += [f"{f} differs from its record" for i in items for f, h in i["outputs"].items()
                     if _sha(out / f) != h]
        code, stdout, err = run(["reconstruct", str(d / "in"), "--out", str(out), "--no-quiet"])
        if "done 0, skipped 6, failed 0" not in stdout:
            problems.append(f"rerun did not settle: {stdout.strip().splitlines()[-3:]}")
    return problems + _unchanged(before)


def long_stem(d: Path, run) -> list[str]:
    """A 231-character stem failed after the optimisation, on its temporary file name."""
    f = _png(d / ("s" * 231 + ".png"), 3)
    code, _, err = run(["reconstruct", str(f), "--out", str(d / "out")])
    if code != 0:
        return [f"exit {code}: {err.strip()[:200]}"]
    (item,) = _manifest(d / "out")["items"]
    return [] if item["state"] == "done" else [f"state {item['state']}: {item['error']}"]


def mask_and_prior_in_out(d: Path, run) -> list[str]:
    """--out holding the mask and the checkpoint: neither may be replaced."""
    out = d / "out"
    out.mkdir()
    mask = out / "img_input.png"  # the observation's name of img.png
    Image.fromarray(np.where(np.arange(24)[None, :] < 12, 255, 0).astype(np.uint8).repeat(20, 0)).save(mask)
    img = _png(d / "img.png", 4)
    before = {mask: _sha(mask), img: _sha(img)}
    code, _, err = run(["inpaint", str(img), "--mask", str(mask), "--out", str(out)])
    return _unchanged(before) + ([] if code == 2 else [f"exit {code}: not refused"])


def full_disk(d: Path, run) -> list[str]:
    """A full disk mid-job: one-line error, the finished results kept, the rerun finishes."""
    import ganprior.io
    for i in range(3):
        _png(d / "in" / f"f{i}.png", 20 + i)
    real = ganprior.io.atomic_write

    def full(path, write):
        if Path(path).name.startswith("f1"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, write)

    ganprior.io.atomic_write = full
    try:
        code, _, err = run(["reconstruct", str(d / "in"), "--out", str(d / "out"), "--batch", "1"])
    finally:
        ganprior.io.atomic_write = real
    problems = [] if code == 2 and "No space left on device" in err else [f"exit {code}: {err.strip()[:200]}"]
    done = [i for i in _manifest(d / "out")["items"] if i["state"] == "done"]
    if [i["name"] for i in done] != ["f0"]:
        problems.append(f"finished before the disk filled: {[i['name'] for i in done]}")
    code, stdout, err = run(["reconstruct", str(d / "in"), "--out", str(d / "out"), "--batch", "1", "--no-quiet"])
    if "done 2, skipped 1, failed 0" not in stdout:
        problems.append(f"rerun: {stdout.strip().splitlines()[-2:]} {err.strip()[:200]}")
    return problems


def umask_respected(d: Path, run) -> list[str]:
    """Outputs were written with mode 0600 whatever the umask."""
    f = _png(d / "u.png", 5)
    old = os.umask(0o022)
    try:
        code, _, err = run(["reconstruct", str(f), "--out", str(d / "out")])
    finally:
        os.umask(old)
    if code != 0:
        return [f"exit {code}: {err.strip()[:200]}"]
    return [f"{p.name} mode {oct(p.stat().st_mode & 0o777)}" for p in (d / "out").iterdir()
            if p.is_file() and p.stat().st_mode & 0o777 != 0o644]


def bad_setting_then_corrected(d: Path, run) -> list[str]:
    """A bad setting recorded a failed job, and the corrected rerun was refused as other settings."""
    f = _png(d / "b.png", 6)
    code, _, _ = run(["reconstruct", str(f), "--out", str(d / "out"), "--lr", "nan"])
    problems = [] if code == 2 else [f"bad setting: exit {code}"]
    code, _, err = run(["reconstruct", str(f), "--out", str(d / "out")])
    return problems + ([] if code == 0 else [f"corrected rerun: exit {code}: {err.strip()[:200]}"])


def input_changed_between_runs(d: Path, run) -> list[str]:
    """An input edited after its run is redone, not skipped with a stale result."""
    f = _png(d / "c.png", 7)
    run(["reconstruct", str(f), "--out", str(d / "out")])
    first = _manifest(d / "out")["items"][0]["outputs"]
    _png(f, 8)
    code, stdout, err = run(["reconstruct", str(f), "--out", str(d / "out"), "--no-quiet"])
    problems = [] if "done 1, skipped 0" in stdout else [f"rerun: {stdout.strip().splitlines()[-2:]}"]
    second = _manifest(d / "out")["items"][0]["outputs"]
    return problems + ([] if first["c.png"] != second["c.png"] else ["result not redone"])


DATA_LOSS: dict[str, Callable] = {f.__name__: f for f in (
    out_dot, out_is_input_folder, six_clashing_names, long_stem, mask_and_prior_in_out, full_disk, umask_respected,
    bad_setting_then_corrected, input_changed_between_runs)}


def test_data_loss(fuzz_checkpoint, fuzz_tally, capfd, tmp_path, monkeypatch):
    from ganprior import cli
    monkeypatch.delenv("GANPRIOR_DEBUG", raising=False)

    def run(argv):
        quiet = [] if "--no-quiet" in argv else ["--quiet"]
        argv = [a for a in argv if a != "--no-quiet"]
        capfd.readouterr()
        code = cli.main([*argv, "--prior", str(fuzz_checkpoint), *FAST_SINGLE[:-1], *quiet])
        stdout, stderr = capfd.readouterr()
        if code not in (0, 2) or "Traceback" in stderr or "internal error" in stderr:
            raise AssertionError(f"{argv}: exit {code}: {stderr.strip()[:300]}")
        return code, stdout, stderr

    outcomes = []
    for name, scenario in DATA_LOSS.items():
        d = tmp_path / name
        d.mkdir()
        t0 = time.perf_counter()
        try:
            problems = scenario(d, run)
        except AssertionError as e:
            problems = [str(e)]
        outcomes.append((f"data-loss/{name}", problems, time.perf_counter() - t0))
    failures = _tally(fuzz_tally, "data-loss", outcomes)
    assert not failures, f"{len(failures)} of {len(DATA_LOSS)} data-loss scenarios failed:\n" + "\n".join(failures)
