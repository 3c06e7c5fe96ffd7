"""The web app's handlers, called directly (no browser): uploads, masks, streaming runs, isolation, cancel."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from .app_helpers import STOPPED, LoadSpy, as_tensor, browser_copy, detailed, file_data, page_call, start_long_run
from .conftest import assert_one_line_error, run_cli, write_png
from ganprior.app import handlers as h
from ganprior.errors import GanpriorError
from ganprior.metrics import psnr
from ganprior.pipeline import Pipeline


def _face(tiny_prior, seed: int = 1, size: int = 16) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x = tiny_prior.to_unit(tiny_prior.generate(torch.randn(1, 8, 1, 1, generator=g))).clamp(0, 1)
    x = torch.nn.functional.interpolate(x, size=size, mode="nearest")[0]
    return (x.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def _editor(image: np.ndarray, box: tuple[slice, slice] | None = None) -> dict:
    layer = np.zeros((*image.shape[:2], 4), np.uint8)
    if box is not None:
        layer[box] = (255, 64, 64, 255)
    return {"background": image, "layers": [layer], "composite": None}


def _last(stream) -> tuple[h.Update, list[h.Update]]:
    updates = list(stream)
    return updates[-1], updates


def _read(path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).astype(np.float32) / 255).permute(2, 0, 1)


# -- uploads --------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["RGB", "L", "1", "P", "I;16", "CMYK", "LA", "RGBA", "F"])
def test_upload_accepts_every_common_mode(tmp_path, mode):
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    im = rgb.convert(mode) if mode not in ("I;16", "F") else rgb.convert("L").convert(mode)
    path = tmp_path / ("x.tif" if mode in ("CMYK", "F") else "x.png")
    im.save(path)
    up = h.read_upload(path)
    assert up.image.dtype == np.uint8 and up.image.shape == (20, 30, 3)
    assert up.missing is None  # fully opaque
    if mode == "RGB":
        assert np.array_equal(up.image, np.asarray(rgb))


def test_upload_transparency_becomes_the_painted_mask(tmp_path):
    a = np.full((16, 16, 4), 200, np.uint8)
    a[4:8, 2:10, 3] = 0
    up = h.read_upload(write_png(tmp_path / "hole.png", a))
    assert up.missing.sum() == 32 and up.missing[4:8, 2:10].all()
    assert (up.image[4:8, 2:10] == 255).all()  # transparent pixels are composited over white
    mask = h.painted_mask(h.editor_value(up))
    assert np.array_equal(mask, up.missing)


@pytest.mark.parametrize("content, pattern", [
    (b"this is not an image", "is not an image this app can read"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "is not an image this app can read"),
    (b"", "is not an image this app can read"),
])
def test_upload_rejects_non_images_with_one_line(tmp_path, content, pattern):
    path = tmp_path / "fake.png"
    path.write_bytes(content)
    with pytest.raises(GanpriorError, match=pattern) as e:
        h.read_upload(path)
    assert "\n" not in str(e.value)


def test_upload_rejects_truncated_image(tmp_path):
    good = write_png(tmp_path / "good.png", np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(GanpriorError, match="cannot read image|not an image"):
        h.read_upload(cut)


def test_upload_limits_size_and_pixels_before_decoding(tmp_path):
    path = write_png(tmp_path / "big.png", np.zeros((100, 120, 3), np.uint8))
    with pytest.raises(GanpriorError, match=r"120x100 pixels; the limit is"):
        h.read_upload(path, max_pixels=10_000)
    with pytest.raises(GanpriorError, match=r"uploads are limited to 1e-05 MB"):
        h.read_upload(path, max_mb=1e-5)
    with pytest.raises(GanpriorError, match="upload an image first"):
        h.read_upload(None)
    with pytest.raises(GanpriorError, match="is gone"):
        h.read_upload(tmp_path / "missing.png")


def test_painted_mask_reads_every_layer_and_checks_sizes():
    image = np.zeros((10, 12, 3), np.uint8)
    assert h.painted_mask(_editor(image)) is None
    ed = _editor(image, (slice(1, 3), slice(2, 5)))
    second = np.zeros((10, 12, 4), np.uint8)
    second[8, 11, 3] = 10  # a faint stroke still counts
    ed["layers"].append(second)
    m = h.painted_mask(ed)
    assert m.sum() == 7 and m[1:3, 2:5].all() and m[8, 11]
    ed["layers"].append(np.zeros((5, 5, 4), np.uint8))
    with pytest.raises(GanpriorError, match="painted layer is 5x5, the image 12x10"):
        h.painted_mask(ed)


# -- restoration ----------------------------------------------------------------------------------

@pytest.mark.integration
def test_restore_streams_live_updates_then_writes_result_and_metrics(tmp_path, tiny_prior):
    image = _face(tiny_prior)
    box = (slice(4, 10), slice(5, 11))
    final, updates = _last(h.restore_stream(_editor(image, box), "inpaint", tiny_prior, "multi", 4, 1, 30,
                                            simulate=True, out_root=tmp_path, perceptual=0))
    live = [u for u in updates if u.after is not None and not u.done]
    assert live, "no intermediate result was streamed"
    steps = [u.step for u in live]
    assert steps == sorted(steps) and steps[-1] <= 30 and all(u.total == 30 for u in live)
    assert final.done and not final.error and final.status.startswith("Done:")
    assert final.after.shape == (h.DISPLAY_SIZE, h.DISPLAY_SIZE, 3)
    names = sorted(p.rsplit("/", 1)[1] for p in final.files)
    assert names == ["ground_truth.png", "input.png", "metrics.json", "result.png", "sheet.png"]
    folder = tmp_path.joinpath(*final.files[0].split("/")[-2:-1])
    record = json.loads((folder / "metrics.json").read_text())
    assert record["task"] == "inpaint" and record["steps"] == 30 and record["simulated"]
    result, truth = _read(folder / "result.png"), _read(folder / "ground_truth.png")
    assert truth.shape == (3, 16, 16)
    assert abs(float(psnr(result[None], truth[None])) - record["psnr"]) < 0.2  # PNG rounding only
    known = torch.ones(16, 16, dtype=torch.bool)
    known[box] = False
    assert torch.allclose(result[:, known], truth[:, known], atol=1 / 255)  # known pixels pasted back
    assert f"| PSNR (dB) | {record['psnr']:.2f} |" in final.metrics


@pytest.mark.integration
def test_restore_without_ground_truth_reports_no_reference_metrics(tmp_path, tiny_prior):
    final, _ = _last(h.restore_stream(_editor(_face(tiny_prior)), "colorize", tiny_prior, "single", 0, "preset", 5,
                                      simulate=False, out_root=tmp_path, perceptual=0))
    assert final.done and not final.error, final.status
    record = json.loads(open(next(f for f in final.files if f.endswith("metrics.json"))).read())
    assert record["psnr"] is None and record["data_fit_psnr"] > 0
    assert "No ground truth" in final.metrics and "PSNR (dB) |" not in final.metrics.split("data-fit")[0]


@pytest.mark.parametrize("kwargs, pattern", [
    ({"task": "inpaint"}, "Error: inpaint needs a mask: paint the area to fill"),
    ({"task": "sharpen"}, "Error: unknown task"),
    ({"task": "reconstruct", "steps": -1}, "Error: steps must be >= 1"),
    ({"task": "reconstruct", "steps": float("nan")}, "Error: steps must be a number"),
    ({"task": "reconstruct", "method": "magic"}, "Error: unknown method 'magic'"),
    ({"task": "reconstruct", "layer": "deep"}, "Error: layer must be a number or 'preset'"),
    ({"task": "super-resolve", "factor": 3}, "Error:"),
])
def test_restore_bad_settings_end_with_one_line_error_and_no_files(tmp_path, tiny_prior, kwargs, pattern):
    final, updates = _last(h.restore_stream(_editor(_face(tiny_prior)), prior=tiny_prior, out_root=tmp_path,
                                            perceptual=0, **kwargs))
    assert len(updates) == 1 and final.error and final.done
    assert final.status.startswith(pattern) and "\n" not in final.status and "Traceback" not in final.status
    assert not final.files and not any(tmp_path.iterdir())


def test_restore_without_image_asks_for_one(tmp_path, tiny_prior):
    final, _ = _last(h.restore_stream(None, "reconstruct", tiny_prior, out_root=tmp_path))
    assert final.status == "Error: upload an image first, or pick one of the examples"


@pytest.mark.integration
def test_two_sessions_at_once_do_not_mix_results(tmp_path, tiny_prior):
    """Two tabs run at the same time: each gets its own folder and the same result as when run alone."""
    images = {"tab-a": _face(tiny_prior, 1), "tab-b": _face(tiny_prior, 2)}
    alone = {}
    for tab, image in images.items():
        final, _ = _last(h.restore_stream(_editor(image), "reconstruct", tiny_prior, "multi", 4, 1, 20, seed=3,
                                          out_root=tmp_path / "alone", session=tab, perceptual=0))
        alone[tab] = final.after
    together: dict[str, h.Update] = {}

    slots = h.RunSlots(2)  # two runs at once (the app's default is one at a time)

    def tab_run(tab):
        together[tab], _ = _last(h.restore_stream(_editor(images[tab]), "reconstruct", tiny_prior, "multi", 4, 1, 20,
                                                  seed=3, out_root=tmp_path / "both", session=tab, perceptual=0,
                                                  slots=slots))

    threads = [threading.Thread(target=tab_run, args=(t,)) for t in images]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not np.array_equal(alone["tab-a"], alone["tab-b"])
    for tab in images:
        assert together[tab].done and not together[tab].error
        assert np.array_equal(together[tab].after, alone[tab])
    folders = {f.rsplit("/", 2)[1] for u in together.values() for f in u.files}
    assert len(folders) == 2


@pytest.mark.integration
def test_cancel_stops_only_its_own_session_and_writes_nothing(tmp_path, tiny_prior):
    runs = h.RunRegistry()
    stream = h.restore_stream(_editor(_face(tiny_prior)), "reconstruct", tiny_prior, "multi", 4, 1, h.limits.MAX_STEPS,
                              session="tab-a", out_root=tmp_path, runs=runs, perceptual=0)
    seen = []
    for u in stream:
        seen.append(u)
        if u.step >= 2:
            assert runs.running("tab-a")
            assert not runs.cancel("tab-b")  # another tab has nothing running: nothing happens
            assert runs.cancel("tab-a")
    final = seen[-1]
    assert final.status == "Cancelled: nothing was written." and final.error
    assert max(u.step for u in seen) < 1000
    assert not any(tmp_path.iterdir()) and not runs.running("tab-a")


@pytest.mark.integration
def test_closing_the_stream_stops_the_worker(tmp_path, tiny_prior):
    """A closed tab closes the generator: the worker thread must stop instead of running on."""
    runs = h.RunRegistry()
    stream = h.restore_stream(_editor(_face(tiny_prior)), "reconstruct", tiny_prior, "multi", 4, 1, h.limits.MAX_STEPS,
                              session="tab", out_root=tmp_path, runs=runs, perceptual=0)
    for u in stream:
        if u.step >= 1:
            break
    stream.close()  # joins the worker: returns only once it has stopped
    assert not any(t.name == "ganprior-app-run" for t in threading.enumerate())
    assert not runs.running("tab") and not any(tmp_path.iterdir())


# -- editing --------------------------------------------------------------------------------------

@pytest.mark.integration
def test_edit_stream_writes_frames_gif_and_json(tmp_path, tiny_prior):
    final, updates = _last(h.edit_stream({"background": _face(tiny_prior)}, tiny_prior, "single", "sefa:0", 2.0, 3,
                                         20, out_root=tmp_path, perceptual=0))
    assert final.done and not final.error, final.status
    assert len(final.frames) == 3 and all(f.shape == (h.DISPLAY_SIZE,) * 2 + (3,) for f in final.frames)
    assert np.array_equal(final.frames[1], final.after)  # strength 0 is the reconstruction
    assert not np.array_equal(final.frames[0], final.frames[2])
    names = {f.rsplit("/", 1)[1] for f in final.files}
    assert {"edit.gif", "strip.png", "edit.json", "reconstruction.png", "frame_02.png"} <= names
    record = json.loads(open(next(f for f in final.files if f.endswith("edit.json"))).read())
    assert record["strengths"] == [-2.0, 0.0, 2.0] and record["direction"]["spec"] == "sefa:0"
    assert any(u.after is not None and not u.done for u in updates)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"direction": "smile"}, "Error:"),
    ({"direction": "sefa:0", "strength": 0}, "Error: frames must be >= 2 and strength a number > 0"),
    ({"direction": "sefa:0", "frames": 1}, "Error: frames must be >= 2"),
    ({"direction": "sefa:0", "method": "subspace"}, "Error: unknown method 'subspace'"),
])
def test_edit_bad_settings_fail_before_inverting(tmp_path, tiny_prior, kwargs, pattern):
    final, updates = _last(h.edit_stream({"background": _face(tiny_prior)}, tiny_prior, out_root=tmp_path,
                                         perceptual=0, **kwargs))
    assert len(updates) == 1 and final.status.startswith(pattern) and "\n" not in final.status


def test_direction_choices_list_shipped_names_first():
    choices = h.direction_choices("utkface64")
    assert choices[0] == "age" and "gender" in choices and "sefa:0" in choices and "pca:4" in choices
    assert choices.index("gender") < choices.index("sefa:0")
    assert h.direction_choices("dcgan-digiface64")[0] == "sefa:0"


def test_enlarged_repeats_pixels_by_an_integer_factor():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    big = h.enlarged(image, size=12)
    assert big.shape == (8, 12, 3) and np.array_equal(big[::4, ::4], image)
    assert h.enlarged(np.zeros((300, 200, 3), np.uint8)).shape == (300, 200, 3)  # never shrinks


def test_examples_are_bundled_images():
    ex = h.examples()
    assert len(ex) >= 4 and all(h.read_upload(p).image.ndim == 3 for p in ex)
    assert any(h.read_upload(p).missing is not None for p in ex)  # the RGBA hole example pre-paints its mask


# -- page and command -----------------------------------------------------------------------------

@pytest.mark.integration
def test_build_app_wires_both_tabs():
    pytest.importorskip("gradio")
    from ganprior.app import build_app
    page = build_app()
    ids = {getattr(b, "elem_id", None) for b in page.blocks.values()}
    assert {"upload", "editor", "task", "run", "cancel", "status", "comparison", "metrics", "downloads",
            "edit-run"} <= ids


@pytest.mark.integration
def test_app_command_rejects_a_bad_port(capsys):
    code, _, err = run_cli(["app", "--port", "0"], capsys)
    assert_one_line_error(code, err, "--port must be in 1..65535")


# -- issue #26: the exact upload, every limit on every endpoint, no server paths -------------------

TEMP_MARKERS = ("/tmp/", "/var/folders/", "gradio/")


def _no_server_path(text: str, *paths) -> None:
    assert "\n" not in text and "Traceback" not in text, text
    for p in (*TEMP_MARKERS, *(str(p) for p in paths)):
        assert p not in text, f"{p!r} shown to the user: {text}"


def test_public_text_replaces_server_paths_with_file_names():
    from ganprior.app.messages import public_text
    assert public_text("cannot read image /tmp/gradio/3f2a/my photo.png: truncated") == \
        "cannot read image my photo.png: truncated"
    assert public_text("bad /srv/x/y.npz", {"/srv/x/y.npz": "mine.npz"}) == "bad mine.npz"
    assert public_text("a\nb  c") == "a b c"
    kept = "step 3/30, give a .npz/.npy file, w+/w, sefa:I"
    assert public_text(kept) == kept


def test_editor_input_takes_the_kept_upload_over_the_editors_copy():
    upload = detailed()
    lossy = np.clip(upload.astype(int) + 60, 0, 255).astype(np.uint8)  # the browser's re-encoded copy
    image, painted = h.editor_input(_editor(lossy, (slice(2, 5), slice(3, 9))), upload)
    assert np.array_equal(image, upload) and painted.sum() == 18
    other = detailed(20, 20, seed=1)  # an editor value of another size is taken as given
    image, _ = h.editor_input(_editor(other), upload)
    assert np.array_equal(image, other)


@pytest.fixture(scope="module")
def page():
    pytest.importorskip("gradio")
    from ganprior.app import build_app
    return build_app()


@pytest.mark.integration
@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_an_uploaded_png_reaches_the_restore_function_bit_exact(page, tmp_path, monkeypatch, fmt):
    """Through the page's own event functions: the upload handler, the editor component's encoding
    for the browser, the browser's copy coming back (as PNG, as the editor now sends it, or as the
    lossy WebP it used to be), and the Run handler. The run gets the uploaded pixels, bit for bit."""
    from gradio.state_holder import SessionState
    spy = LoadSpy()
    monkeypatch.setattr(Pipeline, "load", spy)
    upload = detailed()
    state = SessionState(page)
    loaded = page_call(page, "on_upload", [file_data(write_png(tmp_path / "detail.png", upload))], state)[0]
    editor, status = loaded[0], loaded[-1]
    assert status == "Loaded detail (40×48)."
    sent = Path(editor["background"]["path"])
    assert sent.suffix == ".png" and np.array_equal(np.asarray(Image.open(sent).convert("RGB")), upload)
    # the browser draws what it was sent and exports its canvas
    back = browser_copy(sent, fmt, tmp_path / "browser")
    copy = np.asarray(Image.open(back).convert("RGB"))
    if fmt == "webp":
        assert np.abs(copy.astype(int) - upload).max() > 100  # the copy really is lossy
    payload = {"background": file_data(back), "layers": editor["layers"], "composite": None, "id": None}
    outs = page_call(page, "run_restore", [payload, None, "reconstruct", "utkface64", "single", 0, "preset", 5, 4,
                                            0.1, 1.5, False, 0, False, ""], state)
    assert outs[-1][0] == f"Error: {STOPPED}"
    assert len(spy.seen) == 1 and torch.equal(spy.seen[0], as_tensor(upload))


@pytest.mark.integration
def test_a_transparent_hole_reaches_the_run_as_the_exact_mask(page, tmp_path, monkeypatch):
    """The pre-painted layer of an RGBA upload travels as PNG: the run's mask is the hole, pixel for
    pixel (WebP's lossy alpha used to grow it by a few pixels)."""
    from gradio.state_holder import SessionState
    spy = LoadSpy()
    monkeypatch.setattr(Pipeline, "load", spy)
    rgba = np.dstack([detailed(), np.full((48, 40), 255, np.uint8)])
    rgba[10:30:2, 5:33:3, 3] = 0  # a ragged hole: every edge a lossy codec could blur
    state = SessionState(page)
    editor = page_call(page, "on_upload", [file_data(write_png(tmp_path / "hole.png", rgba))], state)[0][0]
    assert len(editor["layers"]) == 1 and editor["layers"][0]["path"].endswith(".png")
    payload = {"background": editor["background"], "layers": editor["layers"], "composite": None, "id": None}
    outs = page_call(page, "run_restore", [payload, None, "inpaint", "utkface64", "single", 0, "preset", 5, 4,
                                           0.1, 1.5, False, 0, False, ""], state)
    assert outs[-1][0] == f"Error: {STOPPED}"
    hole = torch.from_numpy(rgba[..., 3] == 0)
    assert torch.equal(spy.masks[0][0] == 0, hole)


def test_an_opaque_upload_goes_to_the_editor_without_a_layer():
    """An all-transparent PNG layer stops the browser's brush from registering; the editor makes its own."""
    up = h.Upload(image=detailed(), missing=None, name="x")
    assert h.editor_value(up)["layers"] == []


@pytest.mark.integration
def test_an_uploaded_face_reaches_the_edit_inversion_bit_exact(page, tmp_path, monkeypatch):
    from gradio.state_holder import SessionState
    spy = LoadSpy()
    monkeypatch.setattr(Pipeline, "load", spy)
    upload = detailed(64, 64, seed=3)
    state = SessionState(page)
    page_call(page, "on_edit_upload", [file_data(write_png(tmp_path / "face.png", upload))], state)
    outs = page_call(page, "run_edit", [None, None, "utkface64", "single", "sefa:0", 2, 3, 10, 0], state)
    assert outs[-1][0] == f"Error: {STOPPED}"
    assert len(spy.seen) == 1 and torch.equal(spy.seen[0], as_tensor(upload))


@pytest.mark.integration
def test_page_upload_errors_name_the_file_never_the_server_path(page, tmp_path):
    from gradio.state_holder import SessionState
    state = SessionState(page)
    folder = tmp_path / "gradio" / "0123abcd"
    folder.mkdir(parents=True)
    good = write_png(folder / "good.png", detailed())
    cut = folder / "cut photo.png"
    cut.write_bytes(good.read_bytes()[:300])
    notes = folder / "notes.png"
    notes.write_text("not an image")
    for path, name in ((cut, "cut photo.png"), (notes, "notes.png")):
        for fn in ("on_upload", "on_edit_upload"):
            status = page_call(page, fn, [file_data(path)], state)[0][-1]
            assert status.startswith("Error: ") and name in status, status
            _no_server_path(status, folder, tmp_path)
    text = tmp_path / "vector.npz"
    text.write_text("not numpy")
    status = page_call(page, "on_direction_upload", [file_data(text), None, "utkface64"], state)[0][-1]
    assert status.startswith("Error: ") and "vector.npz" in status
    _no_server_path(status, tmp_path)


def test_read_upload_errors_never_show_the_server_path(tmp_path):
    good = write_png(tmp_path / "good.png", detailed())
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:300])
    with pytest.raises(GanpriorError) as e:
        h.read_upload(cut)
    assert "cut.png" in str(e.value)
    _no_server_path(str(e.value), tmp_path)


# every limit, on every endpoint: a 144-megapixel array (a broadcast view: no memory behind it) is
# refused from its shape, before anything is converted
HUGE = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (12000, 12000, 3))
HUGE_LAYER = np.broadcast_to(np.zeros((1, 1, 4), np.uint8), (12000, 12000, 4))


SMALL = np.zeros((16, 16, 3), np.uint8)
BAD_IMAGES = [
    (HUGE, "Error: the image is 12000x12000 pixels; the limit is 40 megapixels"),
    ("/etc/passwd", "Error: the image must be an image array, got str"),
    (np.zeros((16, 16, 7), np.uint8), "Error: the image must be an (H, W) or (H, W, 1/3/4) image"),
    (np.zeros((16, 16, 3), object), "Error: the image must hold numbers"),
    (np.zeros((0, 16, 3), np.uint8), "Error: the image is empty"),
]
BAD_LAYERS = [
    ([HUGE_LAYER], "Error: the painted layer is 12000x12000 pixels; the limit is 40 megapixels"),
    ([np.zeros((16, 16, 4), np.uint8)] * 5, "Error: 5 painted layers; the limit is 4"),
    ([np.zeros((8, 16, 4), np.uint8)], "Error: the painted layer is 16x8, the image 16x16"),
]


def _refused_at_once(stream, tmp_path, pattern) -> None:
    import time
    t0 = time.perf_counter()
    final, updates = _last(stream)
    assert time.perf_counter() - t0 < 2.0
    assert len(updates) == 1 and final.error and final.status.startswith(pattern), final.status
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


@pytest.mark.parametrize("image, pattern", BAD_IMAGES)
def test_restore_and_edit_check_the_image_limits_themselves(tmp_path, tiny_prior, image, pattern):
    """Not only the upload handler: a 144-megapixel array sent straight to a run is refused from its shape."""
    _refused_at_once(h.restore_stream({"background": image, "layers": []}, "inpaint", tiny_prior, out_root=tmp_path),
                     tmp_path, pattern)
    _refused_at_once(h.restore_stream({"background": SMALL}, "reconstruct", tiny_prior, out_root=tmp_path,
                                      source=image), tmp_path, pattern.replace("the image", "the kept upload"))
    _refused_at_once(h.edit_stream({"background": image}, tiny_prior, "single", "sefa:0", out_root=tmp_path),
                     tmp_path, pattern)


@pytest.mark.parametrize("layers, pattern", BAD_LAYERS)
def test_restore_checks_the_painted_mask_limits(tmp_path, tiny_prior, layers, pattern):
    _refused_at_once(h.restore_stream({"background": SMALL, "layers": layers}, "inpaint", tiny_prior,
                                      out_root=tmp_path), tmp_path, pattern)


@pytest.mark.parametrize("call, pattern", [
    (lambda p, e: h.restore_stream(e, "reconstruct", p, "multi", 10 ** 6, 1, 5), "Error: codes must be <= 40"),
    (lambda p, e: h.restore_stream(e, "reconstruct", p, "multi", 4, 1, 10 ** 9), "Error: steps must be <= 2000"),
    (lambda p, e: h.restore_stream(e, "reconstruct", "/etc/passwd"), "Error: priors are picked by name, not by path"),
    (lambda p, e: h.restore_stream(e, "reconstruct", "../weights/x.pth"), "Error: priors are picked by name"),
    (lambda p, e: h.restore_stream(e, "reconstruct", "stylegan9"), "Error: unknown prior 'stylegan9'; choose one of"),
    (lambda p, e: h.edit_stream(e, p, "single", "sefa:0", 2.0, 10 ** 6), "Error: frames must be <= 9"),
    (lambda p, e: h.edit_stream(e, p, "single", "sefa:0", 2.0, 3, 10 ** 9), "Error: steps must be <= 2000"),
    (lambda p, e: h.edit_stream(e, "/tmp/x.pth", "single", "sefa:0"), "Error: priors are picked by name"),
    (lambda p, e: h.edit_stream(e, p, "single", "sefa:999"), "Error: direction sefa:999: the app computes"),
])
def test_every_endpoint_checks_run_limits_and_loads_priors_by_name_only(tmp_path, tiny_prior, call, pattern):
    final, updates = _last(call(tiny_prior, _editor(_face(tiny_prior))))
    assert len(updates) == 1 and final.error and final.status.startswith(pattern), final.status


def _start_long_run(tiny_prior, tmp_path, slots, runs, session="tab-a"):
    """A restoration that runs until cancelled, in a thread; returns (thread, updates) once it has stepped."""
    return start_long_run(_editor(_face(tiny_prior)), tiny_prior, tmp_path / session, slots, runs, session)


@pytest.mark.integration
def test_a_second_run_is_refused_when_no_slot_frees_up(tmp_path, tiny_prior):
    slots, runs = h.RunSlots(1, max_wait_s=0.5), h.RunRegistry()
    thread, first = _start_long_run(tiny_prior, tmp_path, slots, runs)
    try:
        final, updates = _last(h.restore_stream(_editor(_face(tiny_prior, 2)), "reconstruct", tiny_prior, "multi", 4,
                                                1, 5, session="tab-b", out_root=tmp_path / "b", runs=runs,
                                                perceptual=0, slots=slots))
        assert final.error and final.status == ("Error: the app is busy: it runs 1 job at a time and none ended "
                                                "within 0.5 s; try again later")
        assert all(u.step == 0 for u in updates) and not (tmp_path / "b").exists()
        assert runs.running("tab-a") and not runs.running("tab-b")
    finally:
        runs.cancel("tab-a")
        thread.join(60)
    assert first[-1].status == "Cancelled: nothing was written."
    assert slots.peak == 1 and slots.active == 0


@pytest.mark.integration
def test_a_second_run_waits_for_the_slot_then_runs(tmp_path, tiny_prior):
    slots, runs = h.RunSlots(1, max_wait_s=60), h.RunRegistry()
    thread, first = _start_long_run(tiny_prior, tmp_path, slots, runs)
    second = h.restore_stream(_editor(_face(tiny_prior, 2)), "reconstruct", tiny_prior, "multi", 4, 1, 5,
                              session="tab-b", out_root=tmp_path / "b", runs=runs, perceptual=0, slots=slots)
    waiting = next(second)
    assert waiting.status.startswith("Waiting: another run is using the app (1 at a time)")
    runs.cancel("tab-a")  # the first run ends: the second one takes its slot
    thread.join(60)
    final, _ = _last(second)
    assert final.done and not final.error and final.status.startswith("Done:"), final.status
    assert first[-1].status == "Cancelled: nothing was written."
    assert slots.peak == 1 and slots.active == 0


@pytest.mark.integration
def test_cancel_while_waiting_for_a_slot_ends_the_wait(tmp_path, tiny_prior):
    slots, runs = h.RunSlots(1, max_wait_s=60), h.RunRegistry()
    thread, _ = _start_long_run(tiny_prior, tmp_path, slots, runs)
    try:
        second = h.restore_stream(_editor(_face(tiny_prior, 2)), "reconstruct", tiny_prior, "multi", 4, 1, 5,
                                  session="tab-b", out_root=tmp_path / "b", runs=runs, perceptual=0, slots=slots)
        assert next(second).status.startswith("Waiting:")
        assert runs.cancel("tab-b")
        final, _ = _last(second)
        assert final.status == "Cancelled: nothing was written." and runs.running("tab-a")
    finally:
        runs.cancel("tab-a")
        thread.join(60)
    assert slots.active == 0


@pytest.mark.parametrize("direction", ["/etc/passwd", "../x.npz", "age.npz", "~/.ssh/id_rsa", "..\\x.npy",
                                       "SERVER_NPZ", "SHIPPED_NPZ"])
def test_edit_directions_are_never_server_paths(tmp_path, tiny_prior, direction):
    from ganprior.app.directions import NOT_A_PATH
    from ganprior.editing.directions import closed_form_directions, named_directions
    server = closed_form_directions(tiny_prior, 1)[0].save(tmp_path / "secret.npz")
    direction = {"SERVER_NPZ": str(server), "SHIPPED_NPZ": str(named_directions("utkface64")["age"])}.get(direction,
                                                                                                          direction)
    for prior in (tiny_prior, "utkface64"):
        final, updates = _last(h.edit_stream({"background": _face(tiny_prior)}, prior, "single", direction,
                                             out_root=tmp_path / "out"))
        # the same words whether or not the file exists: nothing about the server is revealed
        assert len(updates) == 1 and final.status == f"Error: {NOT_A_PATH}"
        assert "vector" not in final.status and "meta" not in final.status


@pytest.mark.integration
def test_a_direction_file_is_usable_only_in_the_session_that_uploaded_it(tmp_path, tiny_prior):
    from ganprior.app.directions import read_direction_upload
    from ganprior.editing.directions import closed_form_directions
    folder = tmp_path / "gradio" / "9f9f"
    folder.mkdir(parents=True)
    path = closed_form_directions(tiny_prior, 2)[1].save(folder / "mine.npz")
    mine, key = read_direction_upload(path)
    assert key == "upload:mine.npz" and mine == {key: str(path)}
    assert key in h.direction_choices("utkface64", mine)
    final, _ = _last(h.edit_stream({"background": _face(tiny_prior)}, tiny_prior, "single", key, 2.0, 3, 5,
                                   out_root=tmp_path / "a", perceptual=0, uploaded_directions=mine))
    assert final.done and not final.error, final.status
    record = json.loads(open(next(f for f in final.files if f.endswith("edit.json"))).read())
    assert record["direction"]["spec"] == key and record["direction"]["name"] == "sefa-1"
    # another session (its own, empty uploads) cannot name it, nor reach the file by its path
    for spec in (key, str(path)):
        final, updates = _last(h.edit_stream({"background": _face(tiny_prior)}, tiny_prior, "single", spec,
                                             out_root=tmp_path / "b", uploaded_directions={}))
        assert len(updates) == 1 and final.error
        _no_server_path(final.status, folder)
    # a second upload of the same name keeps the first
    other = closed_form_directions(tiny_prior, 1)[0].save(tmp_path / "gradio" / "mine.npz")
    both, key2 = read_direction_upload(other, mine)
    assert key2 == "upload:mine.npz (2)" and both[key] == str(path) and both[key2] == str(other)


@pytest.mark.parametrize("content, pattern", [
    ("text", "is not a direction file|not a NumPy"),
    ("pickle", "pickled data is never loaded"),
    ("bomb", "unpacks to"),
    ("wrong", "is not a ganprior direction file"),
])
def test_direction_upload_errors_are_one_line_and_name_the_file_only(tmp_path, content, pattern):
    import zipfile
    from ganprior.app.directions import read_direction_upload
    folder = tmp_path / "gradio" / "77aa"
    folder.mkdir(parents=True)
    path = folder / "dir.npz"
    if content == "text":
        path.write_text("not numpy")
    elif content == "pickle":
        with open(path, "wb") as f:  # an object array: reading it would unpickle
            np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif content == "bomb":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("vector.npy", b"\0" * (h.limits.MAX_DIRECTION_MB * 2 ** 20 + 1))
    else:
        np.savez(path, weights=np.zeros(3, np.float32))
    with pytest.raises(GanpriorError, match=pattern) as e:
        read_direction_upload(path)
    assert "dir.npz" in str(e.value)
    _no_server_path(str(e.value), folder)


@pytest.mark.integration
def test_page_direction_uploads_belong_to_their_session(page, tmp_path, monkeypatch):
    from gradio.state_holder import SessionState
    from ganprior.editing.directions import closed_form_directions
    from ganprior.priors import load_prior
    path = closed_form_directions(load_prior("utkface64"), 2)[1].save(tmp_path / "mine.npz")
    mine, other = SessionState(page), SessionState(page)
    out = page_call(page, "on_direction_upload", [file_data(path), None, "utkface64"], mine)[0]
    assert out[-1] == "Loaded direction upload:mine.npz."
    assert out[1]["value"] == "upload:mine.npz" and "upload:mine.npz" in [c[0] for c in out[1]["choices"]]
    for state in (mine, other):
        page_call(page, "on_edit_upload", [file_data(write_png(tmp_path / "face.png", detailed(64, 64)))], state)
    monkeypatch.setattr(Pipeline, "load", LoadSpy())
    args = [None, None, "utkface64", "single", "upload:mine.npz", 2, 3, 10, 0]
    assert page_call(page, "run_edit", args, mine)[-1][0] == f"Error: {STOPPED}"  # loaded, up to the inversion
    refused = page_call(page, "run_edit", args, other)[-1][0]
    assert refused == "Error: no direction file 'mine.npz' was uploaded in this session; upload it here"


@pytest.mark.integration
def test_both_tabs_share_one_run_queue_of_the_apps_size(page):
    runs = [f for f in page.fns.values() if getattr(f.fn, "__name__", "") in ("run_restore", "run_edit")]
    assert len(runs) == 2
    assert {f.concurrency_id for f in runs} == {"ganprior-run"}
    assert {f.concurrency_limit for f in runs} == {h.SLOTS.size}


@pytest.mark.integration
def test_app_command_rejects_a_bad_run_limit(capsys):
    code, _, err = run_cli(["app", "--max-runs", "0"], capsys)
    assert_one_line_error(code, err, "--max-runs must be in 1..64")


# -- issue #28: whole photos: the faces shown before the run, restored at full size, downloaded -----

def _photo_image() -> np.ndarray:
    from .test_faces_photo import smooth_photo
    return (smooth_photo().permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)  # 120x90


@pytest.fixture
def detector(monkeypatch):
    """A fixed detector in place of RetinaFace: a 20 px face at (40, 45) and an 80 px one at (90, 30)
    (too large for the tiny prior's crop: left to the background); ``.faces`` can be changed."""
    import ganprior.faces.photo as photo_module
    from .test_faces_photo import FixedDetector, face_at
    det = FixedDetector([face_at(40, 45, 20), face_at(90, 30, 80)])
    monkeypatch.setattr(photo_module, "get_detector", lambda *a, **k: det)
    return det


def test_find_faces_shows_the_boxes_without_running(tmp_path, tiny_prior, detector):
    from .test_faces_photo import face_at
    image = _photo_image()
    slots = h.SLOTS.active
    found = h.find_faces({"background": image}, "reconstruct", tiny_prior)
    assert not found.error and found.status == "Found 2 faces in the 120×90 photo, 1 to restore."
    assert found.image.shape == (90, 120, 3) and len(found.crops) == 1
    assert [f["box"] for f in found.faces] == [face_at(40, 45, 20).to_json()["box"],
                                               face_at(90, 30, 80).to_json()["box"]]
    assert [f["restored"] for f in found.faces] == [True, False]
    # the restored face's box is drawn in green on the photo, the other one in orange
    x0, y0 = (round(v) for v in found.faces[0]["box"][:2])
    assert tuple(found.image[45, x0]) == (40, 220, 60) and not np.array_equal(found.image, image)
    assert tuple(found.image[30, round(found.faces[1]["box"][0])]) == (255, 150, 0)
    assert "| 1 | 33, 38, 47, 52 | 0.99 | yes |" in found.table and "| 2 |" in found.table
    assert "larger than the prior" in found.table
    assert h.SLOTS.active == slots and detector.seen == [(90, 120, 3)]
    # inpainting with nothing painted yet looks at the whole photo; a bad setting is one line
    assert not h.find_faces({"background": image}, "inpaint", tiny_prior).error
    bad = h.find_faces({"background": image}, "super-resolve", tiny_prior, factor=3)
    assert bad.error and bad.status.startswith("Error:") and "\n" not in bad.status and bad.image is None
    assert h.find_faces(None, "reconstruct", tiny_prior).status == \
        "Error: upload an image first, or pick one of the examples"


@pytest.mark.integration
def test_whole_photo_restore_is_the_photo_times_the_factor_with_its_faces(tmp_path, tiny_prior, detector):
    from .test_faces_photo import face_at
    detector.faces = [face_at(40, 45, 8), face_at(90, 30, 80)]  # 8 px: the x2 crop's own scale
    image = _photo_image()
    final, updates = _last(h.restore_stream({"background": image}, "super-resolve", tiny_prior, "single", 0,
                                            "preset", 4, factor=2, simulate=False, out_root=tmp_path,
                                            perceptual=0, faces="detect"))
    assert final.done and not final.error, final.status
    assert final.status.startswith("Done: single super-resolve on dcgan-random (1 face of the photo to restore)")
    assert "1 of 2 faces restored, 240×180 result" in final.status
    # before and after at full size: the input's own pixels (nearest) beside the restored photo
    assert final.after.shape == final.before.shape == (180, 240, 3)
    assert np.array_equal(final.before[::2, ::2], image)
    assert [f["box"] for f in final.faces] == [face_at(40, 45, 8).to_json()["box"],
                                               face_at(90, 30, 80).to_json()["box"]]
    assert [f["restored"] for f in final.faces] == [True, False]
    assert "| 1 | 37, 42, 43, 48 | 0.99 | yes |" in final.metrics
    # the faces were shown with their boxes from the start, the live crops streamed while restoring
    start = updates[0]
    assert start.before.shape == (90, 120, 3) and start.after is None and len(start.crops) == 1
    live = [u for u in updates if u.total and not u.done]
    assert live and all(len(u.crops) == 1 and u.after is None for u in live) and live[-1].step == 4
    # the download: the full-size PNG in the run's own folder, with the CLI's input, sheet and record
    folder = Path(final.result).parent
    assert folder.parent == tmp_path and final.result in final.files
    assert sorted(Path(f).name for f in final.files) == ["input.png", "metrics.json", "result.png", "sheet.png"]
    assert Image.open(final.result).size == (240, 180)
    assert np.array_equal(np.asarray(Image.open(final.result)), final.after)
    record = json.loads((folder / "metrics.json").read_text())
    assert record["faces"] == final.faces and record["photo"] == [120, 90] and record["result"] == [240, 180]
    assert record["settings"]["faces"] == "detect" and record["steps"] == 4


@pytest.mark.integration
@pytest.mark.parametrize("task, options, width", [("super-resolve", {"factor": 2}, 8), ("inpaint", {}, 20)])
def test_whole_photo_in_the_app_has_the_bytes_of_ganprior_restore(tmp_path, tiny_prior, detector, task, options,
                                                                  width):
    """The app runs the library's own whole-photo path: the same settings give the same PNG as
    ``ganprior.restore(..., faces="detect")``."""
    import ganprior
    from ganprior.io import encode_image
    from .test_faces_photo import face_at
    detector.faces = [face_at(40, 45, width), face_at(85, 50, width)]
    image = _photo_image()
    box = (slice(40, 50), slice(30, 50))  # over the first face
    editor = _editor(image, box if task == "inpaint" else None)
    final, _ = _last(h.restore_stream(editor, task, tiny_prior, "single", 0, "preset", 3, simulate=False, seed=7,
                                      out_root=tmp_path, perceptual=0, faces="detect", **options))
    assert final.done and not final.error, final.status
    mask = None
    if task == "inpaint":
        known = torch.ones(1, 90, 120)
        known[0][box] = 0
        mask = known
    (r,) = ganprior.restore(as_tensor(image), task=task, faces="detect", prior=tiny_prior, method="single", steps=3,
                            perceptual=0, seed=7, mask=mask, **options)
    assert Path(final.result).read_bytes() == encode_image(r.image)
    assert final.faces == r.faces and all(f["restored"] for f in r.faces)


def test_a_photo_without_faces_gives_its_background_and_the_note(tmp_path, tiny_prior, detector):
    detector.faces = []
    image = _photo_image()
    found = h.find_faces({"background": image}, "reconstruct", tiny_prior)
    assert found.status == "No face found in the 120×90 photo: a run gives its classical restoration only."
    assert found.crops == [] and np.array_equal(found.image, image)
    final, _ = _last(h.restore_stream({"background": image}, "reconstruct", tiny_prior, "single", 0, "preset", 3,
                                      simulate=False, out_root=tmp_path, perceptual=0, faces="detect"))
    assert final.done and not final.error and final.faces == []
    assert final.status == "Done: no face found; the 120×90 result is the photo's classical restoration"
    assert "no face found in the upload: the photo has its classical restoration only" in final.metrics
    assert np.array_equal(final.after, image)  # reconstruct's background is the photo itself
    assert np.array_equal(np.asarray(Image.open(final.result)), image)
    _no_server_path(final.metrics.replace("\n", " "), tmp_path)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"simulate": True}, "Error: a whole photo is restored as it is: untick “The upload is clean”"),
    ({"faces": "auto"}, "Error: faces must be one of aligned, detect, got 'auto'"),
    ({"steps": 10 ** 9}, "Error: steps must be <= 2000"),
    ({"codes": 10 ** 6}, "Error: codes must be <= 40"),
    ({"prior": "/etc/passwd"}, "Error: priors are picked by name, not by path"),
    ({"task": "super-resolve", "factor": 4, "image": np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (2000, 2000, 3))},
     "Error: the restored photo is 8000x8000 pixels; the limit is 40 megapixels"),
    ({"image": HUGE}, "Error: the image is 12000x12000 pixels"),
])
def test_whole_photo_runs_check_every_limit_first(tmp_path, tiny_prior, detector, kwargs, pattern):
    image = kwargs.pop("image", _photo_image())
    args = {"task": "reconstruct", "prior": tiny_prior, "simulate": False, "faces": "detect", **kwargs}
    _refused_at_once(h.restore_stream({"background": image}, out_root=tmp_path, **args), tmp_path, pattern)
    assert detector.seen == []  # refused before anything was looked at


@pytest.mark.integration
def test_the_page_finds_and_restores_the_faces_of_the_exact_upload(page, tmp_path, monkeypatch, detector):
    """Through the page's own event functions: ticking *Whole photo* unticks "the upload is clean",
    the upload's faces are shown before any run, and the run's photo is the uploaded pixels."""
    import ganprior.faces.photo as photo_module
    from gradio.state_holder import SessionState
    upload = detailed(90, 120, seed=4)
    state = SessionState(page)
    simulate, *shown = page_call(page, "on_whole", [True], state)[0]
    assert simulate["value"] is False and simulate["interactive"] is False
    assert all(u["visible"] for u in shown)
    editor = page_call(page, "on_upload", [file_data(write_png(tmp_path / "group.png", upload))], state)[0][0]
    back = browser_copy(Path(editor["background"]["path"]), "webp", tmp_path / "browser")  # a lossy copy
    payload = {"background": file_data(back), "layers": editor["layers"], "composite": None, "id": None}
    boxes, crops, text = page_call(page, "on_find_faces", [payload, None, True, "reconstruct", "utkface64", 4, 0.1,
                                                           1.5], state)[0]
    assert text.startswith("Found 2 faces in the 120×90 photo") and "| 1 |" in text
    assert boxes is not None and len(crops) == 2  # the 64 px prior restores the 80 px face too
    seen = []
    load_photo = photo_module.load_photo

    def spy(pipe, image, **kwargs):
        seen.append(image.clone())
        return load_photo(pipe, image, **kwargs)
    monkeypatch.setattr(photo_module, "load_photo", spy)
    args = [payload, None, "super-resolve", "utkface64", "single", 0, "preset", 2, 2, 0.1, 1.5, False, 0, True, ""]
    outs = page_call(page, "run_restore", args, state)
    assert len(seen) == 1 and torch.equal(seen[0], as_tensor(upload))
    status, compare, metrics, files, crops, found, download = outs[-1]
    assert status.startswith("Done:") and "1 of 2 faces restored, 240×180 result" in status, status  # x2: a 32 px crop
    # the page's comparison is the full-size result's own pixels, the button downloads that PNG
    shown = [np.asarray(Image.open(c["path"])) for c in compare]
    result = np.asarray(Image.open(download["value"]["path"] if isinstance(download["value"], dict)
                                   else download["value"]))
    assert shown[0].shape == shown[1].shape == result.shape == (180, 240, 3)
    assert np.array_equal(shown[1], result) and np.array_equal(shown[0][::2, ::2], upload)
    assert download["visible"] is True and "| 2 |" in metrics
