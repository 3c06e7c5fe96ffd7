"""The web app's handlers, called directly (no browser): uploads, masks, streaming runs, isolation, cancel."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from .conftest import assert_one_line_error, run_cli, write_png
from ganprior.app import handlers as h
from ganprior.errors import GanpriorError
from ganprior.metrics import psnr


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

    def tab_run(tab):
        together[tab], _ = _last(h.restore_stream(_editor(images[tab]), "reconstruct", tiny_prior, "multi", 4, 1, 20,
                                                  seed=3, out_root=tmp_path / "both", session=tab, perceptual=0))

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
    stream = h.restore_stream(_editor(_face(tiny_prior)), "reconstruct", tiny_prior, "multi", 4, 1, 100000,
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
    stream = h.restore_stream(_editor(_face(tiny_prior)), "reconstruct", tiny_prior, "multi", 4, 1, 100000,
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
