"""The reliability corpus (issue #10): every odd input ends in a result or a one-line error.

Each case of ``corpus.build_corpus`` runs through ``ganprior.cli.main`` in-process with a tiny
prior and one optimisation step. Its outcome is

* ``result``: exit 0, nothing on stderr, and a decodable 16x16 PNG in --out;
* ``error``: exit 2 and exactly one stderr line, ``ganprior: error: ...``;
* a failure: anything else (a traceback, an internal error, exit 1, a multi-line message, a
  warning or library chatter on stderr, an exception escaping ``main``, a hang), or a result where
  an error was expected (or the reverse), or a partial or undecodable file left in --out.

The counts per category are printed at the end of the pytest run (see conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import time
import traceback
import warnings
from pathlib import Path

import pytest
from PIL import Image

from .conftest import count
from .corpus import ERROR, MODES, RESULT, Case, build_corpus, restore_permissions

pytestmark = pytest.mark.integration

CATEGORIES = ["mode", "deep", "size", "multiframe", "exif", "truncated", "corrupt", "not-image", "bomb", "path",
              "folder", "mask", "task", "mask-paint", "mask-folder"]
FAST = ["--steps", "1", "--codes", "2", "--layer", "1", "--perceptual", "0", "--quiet"]
FAST_SINGLE = ["--steps", "1", "--perceptual", "0", "--quiet"]  # a single code takes no --codes / --layer


def _fast(args) -> list[str]:
    """The quick settings for a case: without --codes/--layer where the method that runs is a single
    code (a method flag the method does not take is refused before the job)."""
    from ganprior.errors import GanpriorError
    from ganprior.presets import task_preset
    from ganprior.tasks import parse_task
    args = [str(a) for a in args]
    try:
        method = args[args.index("--method") + 1] if "--method" in args else task_preset(parse_task(args[0]))["method"]
    except (GanpriorError, IndexError, KeyError):
        return FAST  # a bad task or flag: the case is about that error
    return FAST if method in ("multi", "subspace") else FAST_SINGLE
CASE_TIMEOUT_S = 60
# warnings Python shows by default (main() itself hides UserWarning): any of them is stderr noise
HIDDEN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning, UserWarning)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-corpus")
    cases = build_corpus(root)
    yield root, cases
    restore_permissions(root)


class _Hang(BaseException):
    """Raised by SIGALRM in a case that runs too long (a BaseException, so main() cannot swallow it)."""


def _on_alarm(signum, frame):
    raise _Hang()


def _output_problems(out: Path, expect_result: bool) -> list[str]:
    """Partial or undecodable files left in --out (and, for a result, no 16x16 restored image)."""
    problems, restored = [], 0
    if not out.exists():
        return ["no output folder"] if expect_result else []
    for p in sorted(out.rglob("*")):
        if p.name.endswith(".part"):
            problems.append(f"temporary file left: {p.name}")
        elif p.suffix in (".png", ".gif"):
            try:
                with Image.open(p) as im:
                    im.load()
                    restored += im.size == (16, 16) and not p.stem.endswith(("_input", "_sheet"))
            except Exception as e:  # noqa: BLE001
                problems.append(f"undecodable output {p.name}: {e}")
        elif p.suffix == ".json":
            try:
                json.loads(p.read_text())
            except ValueError as e:
                problems.append(f"unparsable output {p.name}: {e}")
    if expect_result and not restored:
        problems.append("no 16x16 restored PNG in --out")
    return problems


def call_main(argv: list[str], capfd) -> tuple[int | None, str | None, list[str], str, str]:
    """``ganprior.cli.main(argv)`` in-process under the case timeout -> (exit code, the exception that
    escaped main() or the hang, as text, the warnings shown, stdout, stderr)."""
    from ganprior import cli
    capfd.readouterr()
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(CASE_TIMEOUT_S)
    escaped, caught = None, []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = cli.main(argv)
    except _Hang:
        code, escaped = None, f"hang: still running after {CASE_TIMEOUT_S} s"
    except BaseException as e:  # noqa: BLE001 - an exception escaping main() is what the corpus looks for
        code, escaped = None, "".join(traceback.format_exception(e))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    stdout, stderr = capfd.readouterr()
    shown = [f"{w.category.__name__}: {w.message}" for w in caught if not issubclass(w.category, HIDDEN_WARNINGS)] \
        if escaped is None else []
    return code, escaped, shown, stdout, stderr


def run_case(case: Case, out: Path, prior: Path, capfd) -> tuple[str, str]:
    """-> (outcome, detail): outcome is "result", "error" or "failure"."""
    argv = [*case.args, "--out", str(out), "--prior", str(prior), *_fast(case.args)]
    code, escaped, shown, stdout, stderr = call_main(argv, capfd)
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    problems = []
    if escaped is not None:
        problems.append(escaped)
    if "Traceback" in stderr or "Traceback" in stdout:
        problems.append("traceback printed")
    if shown:
        problems.append(f"warning printed: {shown[0]}")
    if code == 0:
        outcome = RESULT
        if lines:
            problems.append("stderr not empty on success")
    elif code == 2 and len(lines) == 1 and lines[0].startswith("ganprior: error: "):
        outcome = ERROR
    else:
        outcome = "failure"
        problems.append(f"exit {code}" + (" (internal error)" if "internal error" in stderr else "")
                        + ("" if len(lines) == 1 else f", {len(lines)} stderr lines"))
    if case.expect is not None and outcome in (RESULT, ERROR) and outcome != case.expect:
        problems.append(f"expected {case.expect}, got {outcome}")
    problems += _output_problems(out, outcome == RESULT)
    if problems:
        detail = "; ".join(problems) + f"\n    argv: ganprior {' '.join(argv[:len(case.args)])}" \
                 + (f"\n    stderr: {stderr.strip()[-1500:]}" if stderr.strip() else "")
        return "failure", detail
    return outcome, lines[0] if lines else ""


@pytest.mark.parametrize("category", CATEGORIES)
def test_corpus(category, corpus, fuzz_checkpoint, fuzz_tally, capfd, tmp_path, monkeypatch):
    monkeypatch.delenv("GANPRIOR_DEBUG", raising=False)
    root, cases = corpus
    cases = [c for c in cases if c.category == category]
    assert cases, f"no {category} cases"
    tally = fuzz_tally.setdefault(category, dict(cases=0, result=0, error=0, failure=0, seconds=0.0))
    failures, report = [], []
    for i, case in enumerate(cases):
        t0 = time.perf_counter()
        outcome, detail = run_case(case, tmp_path / f"out{i}", fuzz_checkpoint, capfd)
        seconds = time.perf_counter() - t0
        count(tally, outcome, seconds)
        report.append({"case": case.name, "args": case.args[:1] + case.args[2:], "outcome": outcome,
                       "detail": detail, "seconds": round(seconds, 3)})
        if outcome == "failure":
            failures.append(f"{case.name!r}: {detail}")
    (root / f"report-{category}.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    assert not failures, f"{len(failures)} of {len(cases)} {category} cases failed:\n" + "\n".join(failures)


def test_corpus_is_large_deterministic_and_covers_the_issue(corpus, tmp_path):
    root, cases = corpus
    assert len(cases) >= 200
    assert len({c.name for c in cases}) == len(cases)
    assert sorted({c.category for c in cases}) == sorted(CATEGORIES)
    names = {c.name for c in cases}
    for mode in MODES:  # every mode PIL can write, in at least one format (no PIL writer takes La)
        tag = mode.replace(";", "_").replace("+", "_")
        assert mode == "La" or any(n.startswith(f"mode/{tag}.") for n in names), mode
    for required in ("bomb/zero_1bit_20000x10000.png", "size/rgb_1x1.png", "size/rgb_2x2000.png",
                     "multiframe/animated.gif", "exif/orientation_6.jpg", "not-image/empty.png",
                     "not-image/text.jpg", "not-image/page.png", "path/symlink loop", "path/dangling symlink",
                     "path/folder named dir.png", "path/chmod 000 image", "folder/empty", "folder/only_text",
                     "mask/L_7x5.png", "mask/RGB.png", "mask/I16.png", "mask/all_black_known.png",
                     "mask/all_white_missing.png", "mask/text.png", "deep/float_nan.tif", "deep/gray16_full.png"):
        assert required in names, required
    # the same bytes every time (chmod 000 entries compare as unreadable when not run as root)
    again = build_corpus(tmp_path / "again")
    try:
        assert [c.name for c in again] == [c.name for c in cases]
        assert _tree(tmp_path / "again") == _tree(root)
    finally:
        restore_permissions(tmp_path / "again")


def _tree(root: Path) -> dict[str, str]:
    import hashlib
    out = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(top) / name
            rel = str(p.relative_to(root))
            if rel.startswith("report-"):
                continue
            if p.is_symlink():
                out[rel] = "-> " + os.path.relpath(os.path.join(top, os.readlink(p)), top)
            elif p.is_dir():
                out[rel] = "dir"
            elif p.is_file():
                try:
                    out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
                except OSError:
                    out[rel] = "unreadable"
            else:
                out[rel] = "special"
    return out


# a newline in a file name (legal on POSIX) must not split the one-line error
@pytest.mark.parametrize("kind", ["image", "mask"])
def test_newline_in_a_bad_file_name_gives_one_line_error(kind, fuzz_checkpoint, capfd, tmp_path, corpus):
    root, _ = corpus
    bad = tmp_path / "bad\nname.png"
    bad.write_bytes(b"garbage")
    args = ("reconstruct", str(bad)) if kind == "image" else ("inpaint", str(root / "good.png"), "--mask", str(bad))
    outcome, detail = run_case(Case("known/newline", "known", kind, args, ERROR), tmp_path / "out", fuzz_checkpoint,
                               capfd)
    assert outcome == ERROR, detail


def test_mask_name_too_long_gives_one_line_error(fuzz_checkpoint, capfd, tmp_path, corpus):
    root, _ = corpus
    args = ("inpaint", str(root / "good.png"), "--mask", str(tmp_path / ("m" * 300 + ".png")))
    outcome, detail = run_case(Case("known/long-mask", "known", "mask", args, ERROR), tmp_path / "out",
                               fuzz_checkpoint, capfd)
    assert outcome == ERROR, detail
