"""Masks as users give them (issue #27): per-image masks matched by name (``--mask DIR``, ``NAME_mask.*``
beside an input) and damage painted on the input itself (``--mask-paint COLOR[:TOLERANCE]``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import ganprior
from ganprior.config import RunConfig
from ganprior.errors import GanpriorError
from ganprior.inputs import load_inputs
from ganprior.io import fit_image
from ganprior.jobs import attach_masks, collect_inputs
from ganprior.mask_files import drop_paired_masks, find_masks
from ganprior.physics.masks import fit_known_mask
from ganprior.physics.paint import paint_known, parse_paint
from .conftest import assert_one_line_error, run_cli, shared_path, write_png

FAST = ["--steps", "2", "--codes", "2", "--layer", "1", "--perceptual", "0", "--quiet"]


def _png(path: Path, size=(16, 16), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    return write_png(path, rng.integers(20, 200, (size[1], size[0], 3), dtype=np.uint8))


def _mask(path: Path, box, size=(16, 16)) -> Path:
    """A mask file (white = missing) with the box ``(y0, y1, x0, x1)`` missing."""
    m = np.zeros((size[1], size[0]), np.uint8)
    y0, y1, x0, x1 = box
    m[y0:y1, x0:x1] = 255
    return write_png(path, m)


def _read(path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).astype(np.float32) / 255).permute(2, 0, 1)


# -- matching by name -------------------------------------------------------------------------------

def test_masks_are_found_beside_inputs_and_in_a_folder_by_name(tmp_path):
    ins, masks = tmp_path / "in", tmp_path / "masks"
    ins.mkdir(), masks.mkdir()
    a, b, c, d = (_png(ins / n) for n in ("a.jpg", "b.png", "c.png", "d.png"))
    _mask(ins / "a_mask.PNG", (0, 4, 0, 4))  # any image extension, any letter case
    _mask(masks / "b.png", (0, 4, 0, 4))  # NAME.*
    _mask(masks / "c_mask.bmp", (0, 4, 0, 4))  # NAME_mask.*, preferred to NAME.*
    _mask(masks / "c.png", (0, 4, 0, 4))
    assert find_masks([a, b, c, d]) == [ins / "a_mask.PNG", None, None, None]
    assert find_masks([a, b, c, d], masks) == [None, masks / "b.png", masks / "c_mask.bmp", None]
    # the inputs' own folder as the mask folder: an input is never its own mask
    assert find_masks([a, b], ins) == [ins / "a_mask.PNG", None]


def test_two_masks_for_one_input_are_an_error_naming_both(tmp_path):
    a = _png(tmp_path / "a.png")
    _mask(tmp_path / "a_mask.png", (0, 4, 0, 4))
    _mask(tmp_path / "a_mask.jpg", (0, 4, 0, 4))
    with pytest.raises(GanpriorError, match=r"2 masks match input .*a\.png: .*a_mask\.jpg, .*a_mask\.png; keep one"):
        find_masks([a])


def _folder(tmp_path, images, masks):
    """tmp_path/in with the ``images`` and, beside them, ``masks`` (a 4 px box missing in each)."""
    ins = tmp_path / "in"
    ins.mkdir()
    for n in images:
        _png(ins / n)
    for n in masks:
        _mask(ins / n, (0, 4, 0, 4))
    return ins


def test_a_mask_beside_its_input_is_not_an_input_of_an_inpaint_job(tmp_path):
    ins = _folder(tmp_path, ("a.png", "b.jpg", "lonely_mask.png"), ("a_mask.png", "b_mask.png"))
    assert [i.name for i in collect_inputs([ins], drop_masks=True)] == ["a", "b", "lonely_mask"]
    assert [i.name for i in collect_inputs([ins])] == ["a", "a_mask", "b", "b_mask", "lonely_mask"]
    # a shell glob names the masks explicitly: still masks
    files = sorted(ins.iterdir())
    assert [f.name for f in drop_paired_masks(files)] == ["a.png", "b.jpg", "lonely_mask.png"]
    jobs = attach_masks(collect_inputs([str(f) for f in files], drop_masks=True),
                        RunConfig(task="inpaint", simulate=True))
    assert [(i.name, i.mask.name if i.mask else None) for i in jobs] == \
        [("a", "a_mask.png"), ("b", "b_mask.png"), ("lonely_mask", None)]


def test_an_input_without_a_mask_is_refused_naming_it(tmp_path):
    ins = _folder(tmp_path, ("a.png", "b.png", "c.png"), ("a_mask.png",))
    inputs = collect_inputs([ins], drop_masks=True)
    with pytest.raises(GanpriorError) as e:
        attach_masks(inputs, RunConfig(task="inpaint"))
    assert str(e.value) == (f"inpaint needs a mask for input {ins / 'b.png'} (and 1 more of the 3 inputs): put "
                            f"b_mask.png beside it, or give --mask (a file, a folder of masks, center[:SIDE] or "
                            f"random[:FRACTION]) or --mask-paint COLOR, or use an image with transparent pixels; "
                            f"nothing was written")
    with pytest.raises(GanpriorError, match=r"no b_mask\.\* or b\.\* in the mask folder"):
        attach_masks(inputs, RunConfig(task="inpaint", mask=str(ins)))
    # simulated inputs without a mask get the centre box; a transparent input its transparency
    assert [i.mask for i in attach_masks(inputs, RunConfig(task="inpaint", simulate=True))][1:] == [None, None]
    rgba = np.dstack([np.full((16, 16, 3), 90, np.uint8), np.full((16, 16), 255, np.uint8)])
    write_png(ins / "b.png", rgba), write_png(ins / "c.png", rgba)
    assert [i.mask for i in attach_masks(inputs, RunConfig(task="inpaint"))][1:] == [None, None]


def test_a_mask_of_another_size_than_its_input_is_refused(tmp_path):
    a = _png(tmp_path / "a.png", (16, 12))
    _mask(tmp_path / "a_mask.png", (0, 4, 0, 4), size=(12, 16))  # turned
    message = f"mask {tmp_path / 'a_mask.png'} is 12x16, its input {a} 16x12: a per-image mask must have its " \
              f"input's size"
    with pytest.raises(GanpriorError) as e:
        attach_masks(collect_inputs([a]), RunConfig(task="inpaint"))
    assert str(e.value) == message
    with pytest.raises(GanpriorError) as e:  # the library's own read checks it too (workers, the API)
        load_inputs([a], "inpaint", 16)
    assert str(e.value) == message


def test_each_input_gets_its_own_mask_at_its_own_size(tmp_path):
    a, b = _png(tmp_path / "a.png", seed=1), _png(tmp_path / "b.png", seed=2)
    _mask(tmp_path / "a_mask.png", (2, 6, 2, 6))
    _mask(tmp_path / "b_mask.png", (8, 14, 9, 15))
    inputs = load_inputs(tmp_path, "inpaint", 16)
    assert inputs.names == ["a", "b"]  # the masks are not inputs
    for i, (y0, y1, x0, x1) in enumerate([(2, 6, 2, 6), (8, 14, 9, 15)]):
        expected = torch.ones(16, 16)
        expected[y0:y1, x0:x1] = 0
        assert torch.equal(inputs.masks[i, 0], expected)
        assert float(inputs.observed[i][:, y0:y1, x0:x1].abs().max()) == 0
    # a list of one mask per input, files or tensors (1 = known)
    known = torch.ones(1, 16, 16)
    known[:, :3] = 0
    listed = load_inputs([a, b], "inpaint", 16, mask=[tmp_path / "b_mask.png", known])
    assert torch.equal(listed.masks[0], inputs.masks[1]) and torch.equal(listed.masks[1], known)
    with pytest.raises(GanpriorError, match="got 1 masks for 2 inputs"):
        load_inputs([a, b], "inpaint", 16, mask=[known])


def test_a_resized_per_image_mask_keeps_no_pixel_the_hole_leaks_into(tmp_path):
    """An input larger than the prior is resized (antialiased): a pixel next to the hole mixes in the
    hole's content, so it is not known at the prior's size."""
    known = torch.ones(1, 64, 64)
    known[:, 20:30, 24:40] = 0
    small = fit_known_mask(known, 16)
    nearest = (fit_image(known, 16, mode="nearest") >= 0.5).float()
    assert small.sum() < nearest.sum()  # more cautious than nearest
    assert bool(((1 - small) >= (1 - nearest)).all())  # every nearest-missing pixel is missing
    # the content of the hole never reaches a kept pixel by more than 2 %
    image = torch.zeros(3, 64, 64)
    image[:, 20:30, 24:40] = 1.0  # white paint in the hole, black around it
    assert float(fit_image(image, 16)[:, small[0] > 0].max()) < 0.02
    assert torch.equal(fit_known_mask(known, 64), known)  # at its own size: unchanged


# -- --mask-paint -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, canonical", [
    ("white", "#ffffff:0.1"), ("WHITE:0.2", "#ffffff:0.2"), ("#ffffff:0.1", "#ffffff:0.1"), ("#f00", "#ff0000:0.1"),
    ("255,0,0:0.15", "#ff0000:0.15"), (" 0, 128 ,255 ", "#0080ff:0.1"), ("rgb(1,2,3):0", "#010203:0"),
    ("black:1", "#000000:1")])
def test_paint_specs_parse_to_one_canonical_setting(text, canonical):
    assert parse_paint(text).text() == canonical
    assert RunConfig(task="inpaint", mask_paint=text).validate().mask_paint == canonical


@pytest.mark.parametrize("text, why", [
    ("whit", "unknown colour 'whit'"), ("", "no colour given"), (":0.1", "no colour given"),
    ("white:", "tolerance '' is not a number"), ("white:abc", "tolerance 'abc' is not a number"),
    ("white:1.5", "tolerance must be in [0, 1], got 1.5"), ("white:-0.1", "tolerance must be in [0, 1], got -0.1"),
    ("white:nan", "tolerance must be in [0, 1], got nan"), ("white:inf", "tolerance must be in [0, 1]"),
    ("256,0,0", "R,G,B values must be in 0..255"), ("1,2", "R,G,B takes 3 numbers, got 2"),
    ("#ggg", "unknown colour '#ggg'"), ("white:0.1:2", "tolerance must be in [0, 1], got 2"),
    ("wh\nite:0.1", "unknown colour 'wh\\nite'")])
def test_bad_paint_specs_are_one_line_errors(text, why):
    with pytest.raises(GanpriorError) as e:
        parse_paint(text)
    assert why in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith(f"--mask-paint {text!r}: ")


def test_paint_is_exclusive_with_mask_and_needs_an_inpaint_of_damaged_inputs():
    with pytest.raises(GanpriorError, match="--mask and --mask-paint are exclusive"):
        RunConfig(task="inpaint", mask="center", mask_paint="white").validate()
    with pytest.raises(GanpriorError, match="--mask-paint marks the pixels to fill for inpaint; denoise has no"):
        RunConfig(task="denoise", mask_paint="white").validate()
    with pytest.raises(GanpriorError, match="--simulate takes clean inputs"):
        RunConfig(task="inpaint", mask_paint="white", simulate=True).validate()
    RunConfig(task="colorize+inpaint", mask_paint="red").validate()


def _flat_with_stroke(color=(0.3, 0.45, 0.6)) -> tuple[torch.Tensor, torch.Tensor]:
    """A flat 48x48 image and the same with an antialiased white stroke (drawn at 4x, LANCZOS down)."""
    rgb = tuple(round(c * 255) for c in color)
    big = Image.new("RGB", (192, 192), rgb)
    ImageDraw.Draw(big).line([(20, 30), (170, 150)], fill=(255, 255, 255), width=13)
    painted = big.resize((48, 48), Image.LANCZOS)
    as_t = lambda im: torch.from_numpy(np.asarray(im).astype(np.float32) / 255).permute(2, 0, 1)  # noqa: E731
    return as_t(Image.new("RGB", (48, 48), rgb)), as_t(painted)


def test_paint_mask_covers_the_antialiased_edge_and_nothing_far_from_it():
    clean, painted = _flat_with_stroke()
    known = paint_known(painted, "white")[0] > 0.5
    changed = (painted - clean).abs().amax(0)
    # every pixel the paint changed by more than 0.04, its edge included (LANCZOS's ringing leaves
    # pixels 3 px away up to 0.031 darker: measured)
    assert float(changed[known].max()) < 0.04
    threshold_only = ((painted - 1).pow(2).sum(0).sqrt() / 3 ** 0.5) > 0.1
    assert bool((threshold_only & (changed > 0.2)).any())  # (a plain threshold leaves the edge known)
    # and the mask is the stroke grown by a couple of pixels, not more
    assert int((~known).sum()) <= int((changed > 0.01).sum())  # (measured 271 missing, 328 changed > 0.01)
    with pytest.raises(GanpriorError, match=r"the input has no pixel within 0\.1 of the paint colour #ff0000"):
        paint_known(painted, "red")
    with pytest.raises(GanpriorError, match="every pixel is within 1 of the paint colour"):
        paint_known(painted, "white:1")


def _utkface_with_stroke() -> tuple[torch.Tensor, torch.Tensor, Path]:
    """A real 200x200 face (the first of UTKFace with almost no near-white pixel) and the same with
    an antialiased white stroke across it, as a user paints one (4x, LANCZOS down)."""
    folder = shared_path("data", "utkface")
    for path in sorted(folder.glob("*.jpg"))[:50]:
        im = Image.open(path).convert("RGB")
        a = np.asarray(im).astype(np.float32) / 255
        if (np.sqrt(((a - 1) ** 2).sum(-1) / 3) < 0.2).mean() < 1e-3:
            break
    w, h = im.size
    big = im.resize((4 * w, 4 * h), Image.LANCZOS)
    ImageDraw.Draw(big).line([(w * 0.75, h * 1.0), (w * 2.0, h * 2.4), (w * 3.0, h * 1.4)], fill=(255, 255, 255),
                             width=14, joint="curve")
    painted = big.resize((w, h), Image.LANCZOS)
    as_t = lambda x: torch.from_numpy(np.asarray(x).astype(np.float32) / 255).permute(2, 0, 1)  # noqa: E731
    return as_t(im), as_t(painted), path


def test_painted_white_on_a_real_face_leaves_no_paint_in_the_known_pixels():
    """The fast half of the halo check: the pixels a run keeps (and pastes back) carry no paint, at
    the input's size and at the prior's (64 px after the resize)."""
    clean, painted, _ = _utkface_with_stroke()
    known = paint_known(painted, "white")[0] > 0.5
    changed = (painted - clean).abs().amax(0)
    assert int((changed > 0.05).sum()) > 500  # a real stroke
    assert float(changed[known].max()) <= 0.05  # covers every pixel the paint changed by more than 0.05
    inputs = load_inputs([painted], "inpaint", 64, mask_paint="white")
    small_known = inputs.masks[0, 0] > 0.5
    truth = fit_image(clean, 64)
    gap = (inputs.observed[0] - truth)[:, small_known]
    assert float(gap.max()) < 0.05 and float(gap.abs().max()) < 0.05  # measured 0.0015 brighter, 0.023 off
    assert float(inputs.observed[0][:, ~small_known].abs().max()) == 0  # painted pixels are not observed
    # a plain colour threshold, resized nearest, would keep paint: a white halo of > 0.2
    plain = (((painted - 1).pow(2).sum(0).sqrt() / 3 ** 0.5) > 0.1).float()[None]
    plain_small = fit_image(plain, 64, mode="nearest")[0] > 0.5
    assert float((fit_image(painted, 64) - truth)[:, plain_small].max()) > 0.2


@pytest.mark.slow
def test_inpainting_a_painted_real_face_leaves_no_white_halo(tmp_path, capsys):
    """``ganprior inpaint painted.png --mask-paint white`` with the shipped utkface64 prior: along the
    stroke's edge no output pixel is brighter than the original by more than 0.2."""
    clean, painted, _ = _utkface_with_stroke()
    path = tmp_path / "painted.png"
    Image.fromarray((painted.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)).save(path)
    code, _, err = run_cli(["inpaint", path, "--mask-paint", "white", "--out", tmp_path / "out", "--steps", "150",
                            "--quiet"], capsys)
    assert code == 0, err
    out = _read(tmp_path / "out" / "painted.png")
    truth = fit_image(clean, 64)
    stroke = fit_image(((painted - clean).abs().amax(0) > 0.05).float()[None], 64, mode="bilinear")[0] > 0.25
    grown = torch.nn.functional.max_pool2d(stroke[None, None].float(), 5, stride=1, padding=2)[0, 0] > 0
    edge = grown & ~stroke  # two pixels outside the stroke's outline
    kept = load_inputs([painted], "inpaint", 64, mask_paint="white").masks[0, 0] > 0.5
    brighter = (out - truth).amax(0)
    print(f"edge pixels {int(edge.sum())} ({int((edge & kept).sum())} kept), max brighter {float(brighter[edge].max()):.3f}"
          f" (kept {float(brighter[edge & kept].max()):.4f}), mean {float(brighter[edge].mean()):.4f}")
    # the pixels kept (pasted back) carry no paint: measured 0.0029 brighter at most
    assert float(brighter[edge & kept].max()) <= 0.02
    # and no edge pixel is 0.2 brighter: measured 0.197, the prior's fill of a pixel next to the stroke
    # (a plain threshold mask, resized nearest, gives 0.263 and 8 such pixels)
    assert float(brighter[edge].max()) <= 0.2
    assert float(brighter[edge].mean()) <= 0.02  # no bias to white (measured 0.004)


# -- the command line -----------------------------------------------------------------------------

def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.integration
def test_a_folder_of_photos_with_their_masks_beside_them_is_one_job(tmp_path, capsys, tiny_checkpoint,
                                                                   count_inversions):
    ins = tmp_path / "in"
    ins.mkdir()
    a, b = _png(ins / "a.png", seed=1), _png(ins / "b.png", seed=2)
    ma, mb = _mask(ins / "a_mask.png", (2, 6, 2, 6)), _mask(ins / "b_mask.png", (8, 14, 9, 15))
    out = tmp_path / "out"
    argv = ["inpaint", ins, "--out", out, "--prior", tiny_checkpoint, *FAST]
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    m = json.loads((out / "manifest.json").read_text())
    assert [(i["name"], i["mask"], i["mask_sha256"]) for i in m["items"]] == \
        [("a", str(ma), _sha(ma)), ("b", str(mb), _sha(mb))]
    assert m["settings"]["mask"] is None and m["settings"]["mask_paint"] is None
    for name, src, (y0, y1, x0, x1) in [("a", a, (2, 6, 2, 6)), ("b", b, (8, 14, 9, 15))]:
        observed = _read(out / f"{name}_input.png")
        assert float(observed[:, y0:y1, x0:x1].max()) == 0  # its own hole
        keep = torch.ones(16, 16, dtype=torch.bool)
        keep[y0:y1, x0:x1] = False
        assert torch.equal(_read(out / f"{name}.png")[:, keep], _read(src)[:, keep])  # known pixels pasted back
    assert not (out / "a_mask.png").exists()

    # a resume redoes only the input whose mask changed (a per-image mask is part of its input)
    count_inversions.clear()
    _mask(mb, (0, 5, 0, 5))
    code, stdout, err = run_cli(argv[:-1], capsys)
    assert code == 0, err
    assert "done 1, skipped 1, failed 0" in stdout and count_inversions == [["b"]]
    m = json.loads((out / "manifest.json").read_text())
    assert m["items"][1]["mask_sha256"] == _sha(mb) and m["items"][1]["attempts"] == 2
    assert float(_read(out / "b_input.png")[:, 0:5, 0:5].max()) == 0
    # a mask that is gone, with no transparency to fall back on: refused before any work
    mb.unlink()
    assert_one_line_error(*run_cli(argv, capsys)[::2], f"inpaint needs a mask for input {b}: put b_mask.png")
    # whereas the one --mask FILE of a job is a setting: a changed one is refused
    single = _mask(tmp_path / "one.png", (2, 6, 2, 6))
    argv = ["inpaint", a, "--mask", single, "--out", tmp_path / "one", "--prior", tiny_checkpoint, *FAST]
    assert run_cli(argv, capsys)[0] == 0
    _mask(single, (0, 5, 0, 5))
    assert_one_line_error(*run_cli(argv, capsys)[::2], "holds a job with other settings (mask_sha256")


@pytest.mark.integration
def test_mask_folder_errors_and_no_overwrite_through_the_cli(tmp_path, capsys, tiny_checkpoint):
    ins, masks = tmp_path / "in", tmp_path / "masks"
    ins.mkdir(), masks.mkdir()
    a, b = _png(ins / "a.png"), _png(ins / "b.jpg", (20, 16))
    _mask(masks / "a.png", (2, 6, 2, 6))
    base = ["--prior", tiny_checkpoint, *FAST]
    out = tmp_path / "out"
    code, _, err = run_cli(["inpaint", ins, "--mask", masks, "--out", out, *base], capsys)
    assert_one_line_error(code, err, f"inpaint needs a mask for input {b}: no b_mask.* or b.* in the mask folder "
                                     f"{masks.resolve()}; nothing was written")
    assert not out.exists()
    _mask(masks / "b_mask.png", (2, 6, 2, 6), size=(16, 16))
    code, _, err = run_cli(["inpaint", ins, "--mask", masks, "--out", out, *base], capsys)
    assert_one_line_error(code, err, f"mask {masks / 'b_mask.png'} is 16x16, its input {b} 20x16: a per-image mask "
                                     f"must have its input's size")
    assert not out.exists()
    # a result would replace a mask (masks/a.png): refused, as for any file the run reads
    code, _, err = run_cli(["inpaint", a, "--mask", masks, "--out", masks, *base], capsys)
    assert_one_line_error(code, err, f"--out {masks} would overwrite {masks / 'a.png'}")
    code, _, err = run_cli(["inpaint", a, "--mask", masks, "--out", out, *base], capsys)
    assert code == 0, err
    m = json.loads((out / "manifest.json").read_text())
    assert m["settings"]["mask"] == str(masks.resolve()) and m["items"][0]["mask"] == str(masks / "a.png")


@pytest.mark.integration
@pytest.mark.parametrize("spec, message", [
    ("whit", "--mask-paint 'whit': unknown colour 'whit'"),
    ("white:1.5", "--mask-paint 'white:1.5': tolerance must be in [0, 1], got 1.5"),
    ("300,0,0:0.1", "R,G,B values must be in 0..255"),
    ("red", "has no pixel within 0.1 of the paint colour #ff0000 (--mask-paint)")])
def test_bad_paint_through_the_cli_is_a_one_line_error_before_any_work(spec, message, tmp_path, capsys,
                                                                       tiny_checkpoint):
    painted = np.full((16, 16, 3), 80, np.uint8)
    painted[4:9, 3:12] = 255
    path = write_png(tmp_path / "p.png", painted)
    out = tmp_path / "out"
    code, _, err = run_cli(["inpaint", path, "--mask-paint", spec, "--out", out, "--prior", tiny_checkpoint, *FAST],
                           capsys)
    assert_one_line_error(code, err, message)
    assert not out.exists()
    code, _, err = run_cli(["inpaint", path, "--mask-paint", "white", "--mask", "center", "--out", out, "--prior",
                            tiny_checkpoint, *FAST], capsys)
    assert_one_line_error(code, err, "--mask and --mask-paint are exclusive")


@pytest.mark.integration
def test_paint_through_the_cli_records_the_setting_and_fills_the_paint(tmp_path, capsys, tiny_checkpoint):
    clean = np.full((16, 16, 3), 80, np.uint8)
    painted = clean.copy()
    painted[4:9, 3:12] = 255
    path = write_png(tmp_path / "p.png", painted)
    out = tmp_path / "out"
    argv = ["inpaint", path, "--mask-paint", "WHITE:0.1", "--out", out, "--prior", tiny_checkpoint, *FAST]
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    m = json.loads((out / "manifest.json").read_text())
    assert m["settings"]["mask_paint"] == "#ffffff:0.1" and "mask" not in m["items"][0]
    observed = _read(out / "p_input.png")
    assert float(observed[:, 3:10, 2:13].max()) == 0  # the paint and the pixels touching it
    assert float(observed[:, 12:, :].min()) == pytest.approx(80 / 255, abs=1e-6)  # the rest is known
    # "white" is the same setting: the resume skips it; another tolerance is another job
    assert run_cli([*argv[:3], "white", *argv[4:]], capsys)[0] == 0
    assert_one_line_error(*run_cli([*argv[:3], "white:0.2", *argv[4:]], capsys)[::2],
                          "mask_paint '#ffffff:0.1' -> '#ffffff:0.2'")


@pytest.mark.integration
def test_the_engines_get_each_inputs_mask_as_bytes(tmp_path, tiny_checkpoint):
    """Both engines run process_items on WorkItems: a worker that cannot see the mask file gets its bytes."""
    from ganprior.jobs import WorkItem, job_settings, process_items
    a = _png(tmp_path / "a.png", seed=1)
    mask = _mask(tmp_path / "a_mask.png", (2, 6, 2, 6))
    config = RunConfig(task="inpaint", prior=str(tiny_checkpoint), steps=2, num_codes=2, layer=1, perceptual=0)
    settings = job_settings(config)
    item = WorkItem("a", str(a), a.read_bytes(), mask.read_bytes(), "/elsewhere/a_mask.png")
    mask.unlink()
    (result,) = process_items([item], settings)
    assert result.ok, result.error
    observed = torch.from_numpy(np.asarray(Image.open(__import__("io").BytesIO(result.files["a_input.png"]))
                                           .convert("RGB")).astype(np.float32) / 255).permute(2, 0, 1)
    assert float(observed[:, 2:6, 2:6].max()) == 0 and float(observed[:, 8:, 8:].min()) > 0
    bad = WorkItem("a", str(a), a.read_bytes(), b"not an image", "/elsewhere/a_mask.png")
    (result,) = process_items([bad], settings)
    assert not result.ok and "/elsewhere/a_mask.png" in result.error and "/tmp" not in result.error.split(":")[0]


# -- the API and the web app ---------------------------------------------------------------------

def test_the_api_takes_a_mask_folder_a_list_and_paint(tmp_path, tiny_prior):
    ins, masks = tmp_path / "in", tmp_path / "masks"
    ins.mkdir(), masks.mkdir()
    _png(ins / "a.png", seed=1), _png(ins / "b.png", seed=2)
    _mask(masks / "a.png", (2, 6, 2, 6)), _mask(masks / "b_mask.png", (8, 14, 9, 15))
    fast = dict(steps=1, num_codes=2, layer=1, perceptual=0)
    r = ganprior.restore(ins, "inpaint", tiny_prior, mask=str(masks), **fast)
    assert float(r.observed[0][:, 2:6, 2:6].abs().max()) == 0 and float(r.observed[1][:, 8:14, 9:15].abs().max()) == 0
    assert float(r.observed[0][:, 8:14, 9:15].min()) > 0
    painted = torch.full((3, 16, 16), 0.3)
    painted[:, 5:9, 2:14] = 1.0
    r = ganprior.restore(painted, "inpaint", tiny_prior, mask_paint="white", **fast)
    assert float(r.observed[0][:, 4:10, 1:15].abs().max()) == 0 and float(r.observed[0][:, 12:].min()) > 0.29
    with pytest.raises(GanpriorError, match="matched to inputs by file name"):
        ganprior.restore(painted, "inpaint", tiny_prior, mask=str(masks), **fast)
    with pytest.raises(GanpriorError, match="exclusive"):
        ganprior.restore(painted, "inpaint", tiny_prior, mask=torch.ones(1, 16, 16), mask_paint="white", **fast)


@pytest.mark.integration
def test_the_app_takes_damage_painted_in_a_colour(tmp_path, tiny_prior):
    from ganprior.app import handlers as h
    image = np.full((16, 16, 3), 70, np.uint8)
    image[3:7, 4:12] = 255
    editor = {"background": image, "layers": [], "composite": None}
    updates = list(h.restore_stream(editor, "inpaint", tiny_prior, "single", 0, "preset", 3, simulate=False,
                                    out_root=tmp_path, perceptual=0, mask_paint="white:0.1"))
    final = updates[-1]
    assert final.done and not final.error, final.status
    folder = Path(final.result).parent
    record = json.loads((folder / "metrics.json").read_text())
    assert record["settings"]["mask_paint"] == "#ffffff:0.1"
    observed = _read(folder / "input.png")
    assert float(observed[:, 2:8, 3:13].max()) == 0 and float(observed[:, 10:].min()) == pytest.approx(70 / 255)
    result = _read(folder / "result.png")
    assert torch.allclose(result[:, 10:], observed[:, 10:], atol=1 / 255)  # known pixels pasted back
    for kwargs, message in [(dict(mask_paint="whit"), "unknown colour 'whit'"),
                            (dict(mask_paint="white", simulate=True), "untick"),
                            (dict(mask_paint=None), "needs a mask: paint the area")]:
        args = {"simulate": False, "out_root": tmp_path, "perceptual": 0, **kwargs}
        last = list(h.restore_stream(editor, "inpaint", tiny_prior, "single", 0, "preset", 3, **args))[-1]
        assert last.error and message in last.status and "\n" not in last.status, last.status
    painted_editor = {"background": image, "layers": [np.full((16, 16, 4), 255, np.uint8)], "composite": None}
    last = list(h.restore_stream(painted_editor, "inpaint", tiny_prior, "single", 0, "preset", 3, simulate=False,
                                 out_root=tmp_path, mask_paint="white"))[-1]
    assert last.error and "not both" in last.status
