"""The web app's adversarial cases (issue #26), tallied as category ``app`` of the reliability corpus.

Each case sends something a visitor (or a script calling the page's HTTP API) could send to one of
the app's handlers: images and painted masks over the limits (straight to the run handlers, not only
through the upload), odd editor values, huge knobs, priors and directions given as server paths,
direction and image uploads that are not what they claim, the exact-pixel round trip through the
page's own event functions, and runs at the same time. Its outcome is

* ``result``: the handler did its job (a run's ``Done:``, an upload's ``Loaded``, pixels bit-exact);
* ``error``: one line starting ``Error:`` (or ``Cancelled:``), with no traceback and no server path
  in it (no ``/tmp/``, no Gradio folder, no case folder), nothing written, and, where the case says
  so, within a time bound or word for word the same as another refusal;
* a failure: anything else, an exception escaping the handler, or a result where an error was
  expected (or the reverse).

The counts go to the ``fuzz_tally`` (tests/fuzz/conftest.py) under ``app``; the run asserts 0 failures.
"""

from __future__ import annotations

import importlib.util
import signal
import time
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from ..app_helpers import (STOPPED, LoadSpy, as_tensor, browser_copy, detailed, file_data, page_call,
                           start_long_run)
from ..conftest import write_png
from .conftest import count
from .corpus import ERROR, RESULT

pytestmark = pytest.mark.integration

CATEGORY = "app"
CASE_TIMEOUT_S = 60
TEMP_MARKERS = ("/tmp/", "/var/folders/", "gradio/")


@dataclass
class AppCase:
    """``run(ctx)`` returns the one line the user is shown; ``same_as`` names a text it must equal
    word for word (a refusal that must not depend on whether a server file exists)."""
    name: str
    expect: str
    run: Callable[["Ctx"], str]
    same_as: str | None = None
    max_seconds: float | None = None


@dataclass
class Ctx:
    prior: object          # the tiny 16x16 test prior
    root: Path             # this run's folder (server files, uploads, run outputs)
    page: object | None    # the Gradio page, when Gradio is installed
    monkeypatch: object

    def out(self, name: str) -> Path:
        return self.root / "out" / name.replace("/", "_")


class _Hang(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Hang()


# -- building blocks ------------------------------------------------------------------------------

def _h():
    from ganprior.app import handlers
    return handlers


def _view(h: int, w: int, c: int = 3) -> np.ndarray:
    """An (h, w, c) uint8 array with no memory behind it: only its shape is big."""
    return np.broadcast_to(np.zeros((1, 1, c), np.uint8), (h, w, c))


def _face(ctx: Ctx, seed: int = 1) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x = ctx.prior.to_unit(ctx.prior.generate(torch.randn(1, 8, 1, 1, generator=g))).clamp(0, 1)[0]
    return (x.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def _editor(image, layers=None) -> dict:
    return {"background": image, "layers": [] if layers is None else layers, "composite": None}


def _last(stream, out: Path | None = None) -> str:
    """The last status of a handler's stream; every status must be one line, and a failed run must
    leave nothing in its folder."""
    updates = list(stream)
    assert updates, "the stream yielded nothing"
    for u in updates:
        assert isinstance(u.status, str) and "\n" not in u.status, repr(u.status)
    final = updates[-1]
    assert final.done, f"the stream ended without a final update: {final.status}"
    if final.error and out is not None:
        assert not out.exists() or not any(out.rglob("*")), f"a failed run wrote {list(out.rglob('*'))}"
    return final.status


def _restore(ctx: Ctx, name: str, editor, task: str = "inpaint", **kwargs) -> str:
    out = ctx.out(name)
    args = dict(prior=ctx.prior, method="multi", codes=2, layer=1, steps=2, perceptual=0, out_root=out)
    args.update(kwargs)
    return _last(_h().restore_stream(editor, task, **args), out)


def _edit(ctx: Ctx, name: str, editor, direction: str = "sefa:0", **kwargs) -> str:
    out = ctx.out(name)
    args = dict(prior=ctx.prior, method="single", direction=direction, strength=2.0, frames=3, steps=2,
                perceptual=0, out_root=out)
    args.update(kwargs)
    return _last(_h().edit_stream(editor, **args), out)


def _painted(ctx: Ctx) -> dict:
    image = _face(ctx)
    layer = np.zeros((16, 16, 4), np.uint8)
    layer[4:9, 5:11] = (255, 64, 64, 255)
    return _editor(image, [layer])


def _upload_text(ctx: Ctx, path: Path, tab: str = "restore", via_page: bool = True) -> str:
    """What the page shows for an image upload (through the page when Gradio is there; a folder or
    a vanished file cannot come through Gradio's upload, so those go to the upload handler itself)."""
    if ctx.page is not None and via_page:
        from gradio.state_holder import SessionState
        name = "on_upload" if tab == "restore" else "on_edit_upload"
        return page_call(ctx.page, name, [file_data(path)], SessionState(ctx.page))[0][-1]
    from ganprior.app.uploads import read_upload
    from ganprior.errors import GanpriorError
    try:
        up = read_upload(path)
    except GanpriorError as e:
        return f"Error: {e}"
    return f"Loaded {up.name}"


def _direction_upload_text(ctx: Ctx, path: Path, uploaded=None) -> str:
    from ganprior.app.directions import read_direction_upload
    from ganprior.errors import GanpriorError
    try:
        mapping, key = read_direction_upload(path, uploaded)
    except GanpriorError as e:
        return f"Error: {e}"
    return f"Loaded direction {key}"


def _server_npz(ctx: Ctx) -> Path:
    from ganprior.editing.directions import closed_form_directions
    path = ctx.root / "server" / "secret.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        closed_form_directions(ctx.prior, 1)[0].save(path)
    return path


def _upload_dir(ctx: Ctx) -> Path:
    """A folder laid out like Gradio's upload cache: <root>/gradio/<hash>/."""
    d = ctx.root / "gradio" / "5e1f0c2d"
    d.mkdir(parents=True, exist_ok=True)
    return d


# -- the exact upload ------------------------------------------------------------------------------

def _exact_restore_through_page(ctx: Ctx, fmt: str) -> str:
    from gradio.state_holder import SessionState
    from ganprior.pipeline import Pipeline
    upload = detailed(37, 29, seed=5)
    state = SessionState(ctx.page)
    path = write_png(_upload_dir(ctx) / f"detail_{fmt}.png", upload)
    editor = page_call(ctx.page, "on_upload", [file_data(path)], state)[0][0]
    sent = Path(editor["background"]["path"])
    back = browser_copy(sent, fmt, ctx.root / f"browser-{fmt}")
    payload = {"background": file_data(back), "layers": editor["layers"], "composite": None, "id": None}
    spy = LoadSpy()
    with ctx.monkeypatch.context() as m:
        m.setattr(Pipeline, "load", spy)
        status = page_call(ctx.page, "run_restore", [payload, None, "reconstruct", "utkface64", "single", 0,
                                                     "preset", 5, 4, 0.1, 1.5, False, 0, False, ""], state)[-1][0]
    assert status == f"Error: {STOPPED}", status
    assert len(spy.seen) == 1 and torch.equal(spy.seen[0], as_tensor(upload)), "the run got other pixels"
    return f"Done: {fmt} copy from the browser, the run got the uploaded pixels bit for bit"


def _exact_edit_through_page(ctx: Ctx) -> str:
    from gradio.state_holder import SessionState
    from ganprior.pipeline import Pipeline
    upload = detailed(64, 64, seed=6)
    state = SessionState(ctx.page)
    page_call(ctx.page, "on_edit_upload", [file_data(write_png(_upload_dir(ctx) / "face.png", upload))], state)
    spy = LoadSpy()
    with ctx.monkeypatch.context() as m:
        m.setattr(Pipeline, "load", spy)
        status = page_call(ctx.page, "run_edit", [None, None, "utkface64", "single", "sefa:0", 2, 3, 10, 0],
                           state)[-1][0]
    assert status == f"Error: {STOPPED}", status
    assert len(spy.seen) == 1 and torch.equal(spy.seen[0], as_tensor(upload)), "the inversion got other pixels"
    return "Done: the edit tab's inversion got the uploaded pixels bit for bit"


def _exact_restore_handler(ctx: Ctx) -> str:
    from ganprior.pipeline import Pipeline
    upload = detailed(16, 16, seed=7)
    lossy = (upload // 32 * 32).astype(np.uint8)  # what a lossy browser copy could look like
    spy = LoadSpy()
    with ctx.monkeypatch.context() as m:
        m.setattr(Pipeline, "load", spy)
        status = _restore(ctx, "exact/handler", _editor(lossy), "reconstruct", source=upload)
    assert status == f"Error: {STOPPED}" and torch.equal(spy.seen[0], as_tensor(upload))
    return "Done: restore_stream used the kept upload, not the editor's copy"


# -- runs at the same time ---------------------------------------------------------------------------

def _long_run(ctx: Ctx, slots, runs, session: str):
    return start_long_run(_editor(_face(ctx)), ctx.prior, ctx.out(session), slots, runs, session, codes=2, wait_s=30)


def _concurrent(ctx: Ctx, mode: str) -> str:
    h = _h()
    slots = h.RunSlots(1, max_wait_s=0.5 if mode == "refused" else 30)
    runs = h.RunRegistry()
    thread, first = _long_run(ctx, slots, runs, f"first-{mode}")
    try:
        second = h.restore_stream(_editor(_face(ctx, 2)), "reconstruct", ctx.prior, "multi", 2, 1, 3,
                                  session=f"second-{mode}", out_root=ctx.out(f"second-{mode}"), runs=runs,
                                  perceptual=0, slots=slots)
        if mode == "refused":
            status = _last(second, ctx.out(f"second-{mode}"))
            assert runs.running(f"first-{mode}"), "the refusal stopped the first run"
        else:
            assert next(second).status.startswith("Waiting:")
            if mode == "cancel":
                runs.cancel(f"second-{mode}")
            else:
                runs.cancel(f"first-{mode}")
                thread.join(30)
            status = _last(second, ctx.out(f"second-{mode}"))
    finally:
        runs.cancel(f"first-{mode}")
        thread.join(30)
    assert slots.peak == 1, f"{slots.peak} runs optimised at once"
    assert slots.active == 0, "a slot was not given back"
    assert first[-1].status == "Cancelled: nothing was written."
    return status


# -- the cases -------------------------------------------------------------------------------------

def build_cases(with_page: bool) -> list[AppCase]:
    from ganprior.app.directions import NOT_A_PATH
    from ganprior.editing.directions import named_directions
    from ganprior.priors import PRIORS
    h = _h()
    not_a_path = f"Error: {NOT_A_PATH}"
    names = ", ".join(sorted(PRIORS))
    prior_path = f"Error: priors are picked by name, not by path; choose one of {names}"
    small = np.zeros((16, 16, 3), np.uint8)
    cases: list[AppCase] = []

    def add(name, expect, run, same_as=None, max_seconds=None):
        cases.append(AppCase(name, expect, run, same_as, max_seconds))

    # images over the limits, straight to the run handlers (a view: only the shape is big)
    over = {"144mp": (12000, 12000), "just_over_40mp": (6325, 6325), "one_row_40mp": (1, 40_000_001)}
    for tag, (hh, ww) in over.items():
        add(f"restore/image_{tag}", ERROR, lambda c, s=(hh, ww), t=tag: _restore(c, f"r{t}", _editor(_view(*s)),
                                                                                "reconstruct"), max_seconds=2)
        add(f"edit/image_{tag}", ERROR, lambda c, s=(hh, ww), t=tag: _edit(c, f"e{t}", _editor(_view(*s))),
            max_seconds=2)
        add(f"restore/kept_upload_{tag}", ERROR,
            lambda c, s=(hh, ww), t=tag: _restore(c, f"k{t}", _editor(small), "reconstruct", source=_view(*s)),
            max_seconds=2)
    odd_images = {"empty_0x16": np.zeros((0, 16, 3), np.uint8), "4d": np.zeros((2, 16, 16, 3), np.uint8),
                  "5_channels": np.zeros((16, 16, 5), np.uint8), "objects": np.zeros((16, 16, 3), object),
                  "strings": np.full((16, 16, 3), "x"), "path_string": "/etc/passwd", "list": [[0, 0, 0]] * 4,
                  "none": None}
    for tag, image in odd_images.items():
        add(f"restore/background_{tag}", ERROR, lambda c, i=image, t=tag: _restore(c, f"b{t}", _editor(i)))
        add(f"edit/background_{tag}", ERROR, lambda c, i=image, t=tag: _edit(c, f"eb{t}", _editor(i)))
    for tag, editor in {"not_a_dict": "/etc/passwd", "no_editor": None, "empty_dict": {}, "list": [1, 2]}.items():
        add(f"restore/editor_{tag}", ERROR, lambda c, e=editor, t=tag: _restore(c, f"ed{t}", e))
        add(f"edit/editor_{tag}", ERROR, lambda c, e=editor, t=tag: _edit(c, f"eed{t}", e))

    # painted masks over the limits or malformed
    layers = {"144mp": [_view(12000, 12000, 4)], "just_over_40mp": [_view(6325, 6325, 4)],
              "gray_144mp": [np.broadcast_to(np.zeros((1, 1), np.uint8), (12000, 12000))],
              "other_size": [np.zeros((32, 32, 4), np.uint8)], "five_layers": [np.zeros((16, 16, 4), np.uint8)] * 5,
              "many_layers": [np.zeros((16, 16, 4), np.uint8)] * 1000, "string": ["/etc/passwd"],
              "6_channels": [np.zeros((16, 16, 6), np.uint8)], "objects": [np.zeros((16, 16, 4), object)]}
    for tag, ls in layers.items():
        add(f"mask/{tag}", ERROR, lambda c, ls=ls, t=tag: _restore(c, f"m{t}", _editor(_face(c), ls)), max_seconds=2)
    add("mask/none_painted_for_inpaint", ERROR, lambda c: _restore(c, "mnone", _editor(_face(c))))

    # knobs beyond what the page's controls allow
    knobs = {"steps_1e9": dict(steps=10 ** 9), "codes_1e6": dict(codes=10 ** 6), "steps_nan": dict(steps=float("nan")),
             "steps_text": dict(steps="9"), "seed_1e30": dict(seed=10 ** 30), "codes_negative": dict(codes=-3)}
    for tag, kw in knobs.items():
        add(f"knob/restore_{tag}", ERROR, lambda c, kw=kw, t=tag: _restore(c, f"kn{t}", _editor(_face(c)),
                                                                           "reconstruct", **kw))
    edit_knobs = {"frames_1e6": dict(frames=10 ** 6), "steps_1e9": dict(steps=10 ** 9),
                  "strength_inf": dict(strength=float("inf")), "frames_text": dict(frames="5")}
    for tag, kw in edit_knobs.items():
        add(f"knob/edit_{tag}", ERROR, lambda c, kw=kw, t=tag: _edit(c, f"ekn{t}", _editor(_face(c)), **kw))

    # priors are registry names, never paths
    for tag, prior in {"etc_passwd": "/etc/passwd", "parent": "../weights/x.pth", "home": "~/x.pt",
                       "with_suffix": "utkface64.pth", "dot": "./utkface64"}.items():
        add(f"prior/restore_{tag}", ERROR, lambda c, p=prior, t=tag: _restore(c, f"p{t}", _editor(_face(c)),
                                                                              "reconstruct", prior=p),
            same_as=prior_path)
        add(f"prior/edit_{tag}", ERROR, lambda c, p=prior, t=tag: _edit(c, f"ep{t}", _editor(_face(c)), prior=p),
            same_as=prior_path)
    add("prior/unknown_name", ERROR, lambda c: _restore(c, "punk", _editor(_face(c)), "reconstruct",
                                                        prior="stylegan9"))

    # directions are names, never paths: the same words whether or not the file exists
    paths = {"etc_passwd": lambda c: "/etc/passwd", "parent_npz": lambda c: "../x.npz",
             "ssh_key": lambda c: "~/.ssh/id_rsa", "windows": lambda c: "C:\\x.npy", "bare_npz": lambda c: "age.npz",
             "dot": lambda c: "./age", "existing_server_npz": lambda c: str(_server_npz(c)),
             "existing_relative_npz": lambda c: str(Path("..") / _server_npz(c).relative_to(c.root.parent)),
             "shipped_file_path": lambda c: str(named_directions("utkface64")["age"])}
    for tag, spec in paths.items():
        add(f"direction/{tag}", ERROR, lambda c, s=spec, t=tag: _edit(c, f"d{t}", _editor(_face(c)), s(c)),
            same_as=not_a_path)
        add(f"direction/{tag}_utkface64", ERROR,
            lambda c, s=spec, t=tag: _edit(c, f"du{t}", _editor(_face(c)), s(c), prior="utkface64"),
            same_as=not_a_path)
    for tag, spec in {"sefa_huge": "sefa:100000", "pca_negative": "pca:-1", "empty": "", "none": None,
                      "unknown": "smile", "not_uploaded": "upload:mine.npz"}.items():
        add(f"direction/{tag}", ERROR, lambda c, s=spec, t=tag: _edit(c, f"dn{t}", _editor(_face(c)), s))

    # direction uploads
    def bad_direction(kind: str) -> Callable[[Ctx], str]:
        def run(c: Ctx) -> str:
            d = _upload_dir(c)
            path = d / ("dir.txt" if kind == "txt" else f"{kind}.npz")
            if kind in ("text", "txt"):
                path.write_text("not numpy")
            elif kind == "pickle":
                with open(path, "wb") as f:
                    np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
            elif kind == "bomb":
                with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
                    z.writestr("vector.npy", b"\0" * (_h().limits.MAX_DIRECTION_MB * 2 ** 20 + 1))
            elif kind == "no_meta":
                np.savez(path, weights=np.zeros(3, np.float32))
            elif kind == "folder":
                path.mkdir(exist_ok=True)
            elif kind == "empty":
                path.write_bytes(b"")
            return _direction_upload_text(c, path)
        return run

    for kind in ("text", "txt", "pickle", "bomb", "no_meta", "folder", "empty", "missing"):
        add(f"direction-upload/{kind}", ERROR, bad_direction(kind), max_seconds=5)

    def good_direction_upload(c: Ctx) -> str:
        from ganprior.app.directions import read_direction_upload
        from ganprior.editing.directions import closed_form_directions
        d = _upload_dir(c)
        first = closed_form_directions(c.prior, 2)[1].save(d / "mine.npz")
        mapping, key = read_direction_upload(first)
        (d / "again").mkdir(exist_ok=True)
        second = closed_form_directions(c.prior, 1)[0].save(d / "again" / "mine.npz")
        both, key2 = read_direction_upload(second, mapping)
        assert key != key2 and both[key] == str(first), "a second upload of the same name replaced the first"
        status = _edit(c, "dup", _editor(_face(c)), key2, uploaded_directions=both)
        assert status.startswith("Done: sefa-0 edit"), status
        refused = _edit(c, "dup-other", _editor(_face(c)), key2, uploaded_directions={})
        assert refused.startswith("Error: no direction file"), refused
        return status

    add("direction-upload/used_in_its_session_only", RESULT, good_direction_upload)

    # image uploads that are not what they claim, in a folder laid out like Gradio's
    def bad_upload(kind: str, tab: str = "restore") -> Callable[[Ctx], str]:
        def run(c: Ctx) -> str:
            d = _upload_dir(c)
            path = d / f"{kind} photo.png"
            if kind == "text":
                path.write_text("not an image")
            elif kind == "truncated":
                good = write_png(d / "whole.png", detailed(64, 64))
                path.write_bytes(good.read_bytes()[:300])
            elif kind == "empty":
                path.write_bytes(b"")
            elif kind == "bomb_header":  # a PNG header claiming 20000x10000: refused before decoding
                import struct
                import zlib
                ihdr = struct.pack(">IIBBBBB", 20000, 10000, 1, 0, 0, 0, 0)
                chunk = b"IHDR" + ihdr
                path.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk
                                 + struct.pack(">I", zlib.crc32(chunk)))
            elif kind == "folder":
                path.mkdir(exist_ok=True)
            elif kind == "nan_tiff":
                from PIL import Image
                path = d / "nan photo.tif"
                Image.fromarray(np.full((8, 8), np.nan, np.float32)).save(path)
            return _upload_text(c, path, tab, via_page=kind not in ("folder", "missing"))
        return run

    for kind in ("text", "truncated", "empty", "bomb_header", "folder", "missing", "nan_tiff"):
        add(f"upload/{kind}", ERROR, bad_upload(kind), max_seconds=10)
        add(f"upload/{kind}_edit_tab", ERROR, bad_upload(kind, "edit"), max_seconds=10)
    add("upload/detailed_png", RESULT, lambda c: _upload_text(c, write_png(_upload_dir(c) / "fine.png", detailed())))

    # the exact upload, and ordinary runs
    add("exact/handler_prefers_the_kept_upload", RESULT, _exact_restore_handler)
    if with_page:
        add("exact/page_restore_png_copy", RESULT, lambda c: _exact_restore_through_page(c, "png"))
        add("exact/page_restore_lossy_webp_copy", RESULT, lambda c: _exact_restore_through_page(c, "webp"))
        add("exact/page_edit", RESULT, _exact_edit_through_page)
    add("run/inpaint_painted", RESULT, lambda c: _restore(c, "ok-inpaint", _painted(c)))
    add("run/edit_sefa", RESULT, lambda c: _edit(c, "ok-edit", _editor(_face(c))))

    # runs at the same time
    add("concurrent/second_refused_when_busy", ERROR, lambda c: _concurrent(c, "refused"))
    add("concurrent/second_waits_then_runs", RESULT, lambda c: _concurrent(c, "wait"))
    add("concurrent/cancel_while_waiting", ERROR, lambda c: _concurrent(c, "cancel"))
    assert h.limits.MAX_RUNS >= 1
    return cases


# -- running them ------------------------------------------------------------------------------------

def judge(case: AppCase, run: Callable[[], str], root: Path) -> tuple[str, str, float]:
    """-> (outcome, detail, seconds)."""
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(CASE_TIMEOUT_S)
    t0 = time.perf_counter()
    try:
        text = run()
        problem = None
    except _Hang:
        text, problem = None, f"hang: still running after {CASE_TIMEOUT_S} s"
    except BaseException as e:  # noqa: BLE001 - an escaping exception is what the corpus looks for
        text, problem = None, "".join(traceback.format_exception(e))[-2000:]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    seconds = time.perf_counter() - t0
    if problem is not None:
        return "failure", problem, seconds
    problems = []
    if not isinstance(text, str):
        return "failure", f"shown: {text!r} (not a line of text)", seconds
    if "\n" in text or "Traceback" in text:
        problems.append("more than one line, or a traceback")
    for marker in (*TEMP_MARKERS, str(root)):
        if marker in text:
            problems.append(f"a server path is shown ({marker!r})")
    if text.startswith(("Error: ", "Cancelled: ")):
        outcome = ERROR
        if "internal error" in text:
            problems.append("an internal error")
    elif text.startswith(("Done: ", "Loaded ")):
        outcome = RESULT
    else:
        outcome = "failure"
        problems.append("neither a result nor an error")
    if outcome in (RESULT, ERROR) and outcome != case.expect:
        problems.append(f"expected {case.expect}, got {outcome}")
    if case.same_as is not None and text != case.same_as:
        problems.append(f"expected the words {case.same_as!r}")
    if case.max_seconds is not None and seconds > case.max_seconds:
        problems.append(f"took {seconds:.1f} s (at most {case.max_seconds} s)")
    if problems:
        return "failure", "; ".join(problems) + f"\n    shown: {text}", seconds
    return outcome, text, seconds


@pytest.fixture(scope="module")
def app_page():
    if importlib.util.find_spec("gradio") is None:
        return None
    from ganprior.app import build_app
    return build_app()


def test_app_corpus(app_page, tiny_prior, fuzz_tally, tmp_path, monkeypatch):
    monkeypatch.delenv("GANPRIOR_DEBUG", raising=False)
    ctx = Ctx(prior=tiny_prior, root=tmp_path, page=app_page, monkeypatch=monkeypatch)
    cases = build_cases(app_page is not None)
    tally = fuzz_tally.setdefault(CATEGORY, dict(cases=0, result=0, error=0, failure=0, seconds=0.0))
    failures = []
    for case in cases:
        outcome, detail, seconds = judge(case, lambda: case.run(ctx), tmp_path)
        count(tally, outcome, seconds)
        if outcome == "failure":
            failures.append(f"{case.name!r}: {detail}")
    assert not failures, f"{len(failures)} of {len(cases)} app cases failed:\n" + "\n".join(failures)


def test_app_corpus_covers_the_issue():
    cases = build_cases(with_page=True)
    names = [c.name for c in cases]
    assert len(names) == len(set(names)) and len(cases) >= 100
    for required in ("restore/image_144mp", "edit/image_144mp", "restore/kept_upload_144mp", "mask/144mp",
                     "direction/etc_passwd", "direction/parent_npz", "direction/existing_server_npz",
                     "upload/text", "upload/truncated", "direction-upload/pickle",
                     "exact/page_restore_lossy_webp_copy", "concurrent/second_refused_when_busy",
                     "concurrent/second_waits_then_runs"):
        assert required in names, required
