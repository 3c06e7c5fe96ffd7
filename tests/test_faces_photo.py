"""Whole photos (issue #28): faces found, aligned, restored and pasted onto the photo's background."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganprior.config import RunConfig
from ganprior.errors import GanpriorError
from ganprior.faces.align import FFHQ
from ganprior.faces.detector import Face
from ganprior.inputs import Inputs
from ganprior.faces.photo import face_ratio_limit, load_photo, photo_files, restore_photo
from ganprior.pipeline import Pipeline

from .conftest import run_cli

FAST = dict(steps=2, perceptual=0.0)


class FixedDetector:
    """Returns the faces it was given (in the photo's pixels), whatever the image."""

    def __init__(self, faces):
        self.faces = faces
        self.seen: list[tuple] = []
        self.images: list[np.ndarray] = []

    def detect(self, image):
        self.seen.append(image.shape)
        self.images.append(image)
        return list(self.faces)


def face_at(cx: float, cy: float, width: float, score: float = 0.99) -> Face:
    """A face whose landmarks follow the FFHQ template in a crop of ``width`` pixels centred at (cx, cy)."""
    pts = (FFHQ.points - 0.5) * width + np.array([cx, cy])
    return Face(box=(cx - width / 3, cy - width / 3, cx + width / 3, cy + width / 3), landmarks=pts, score=score)


def smooth_photo(h: int = 90, w: int = 120) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.stack([0.3 + 0.4 * x, 0.2 + 0.5 * y, 0.5 + 0.3 * torch.sin(6 * x) * torch.cos(4 * y)]).clamp(0, 1)


def pipe_for(tiny_prior, task="reconstruct", **options) -> Pipeline:
    return Pipeline(RunConfig.from_options(task, method="single", faces="detect", **FAST, **options), prior=tiny_prior)


def test_output_is_the_photo_size_and_only_the_face_region_changes(tiny_prior):
    pipe = pipe_for(tiny_prior)
    photo = smooth_photo()
    det = FixedDetector([face_at(40, 45, 20)])
    p = load_photo(pipe, photo, detector=det)
    assert det.seen == [(90, 120, 3)]
    assert [c.shape for c in p.crops] == [(3, 16, 16)] and [f.restored for f in p.faces] == [True]
    r = restore_photo(pipe, p)
    assert r.image.shape == (3, 90, 120)
    assert torch.equal(r.background, photo)  # reconstruct's background is the photo itself
    changed = (r.image - photo).abs().sum(0) > 1e-6
    ys, xs = torch.nonzero(changed, as_tuple=True)
    assert changed.any()
    # only inside the face's aligned crop (20 px wide around (40, 45))
    assert xs.min() >= 40 - 11 and xs.max() <= 40 + 11 and ys.min() >= 45 - 11 and ys.max() <= 45 + 11
    assert r.faces[0]["restored"] is True and r.faces[0]["box"] == [round(40 - 20 / 3, 2), round(45 - 20 / 3, 2),
                                                                      round(40 + 20 / 3, 2), round(45 + 20 / 3, 2)]


def test_super_resolution_returns_the_photo_times_the_factor_on_a_bicubic_background(tiny_prior):
    from ganprior.baselines.classical import upsample
    pipe = pipe_for(tiny_prior, "super-resolve", factor=2)
    photo = smooth_photo(40, 60)
    p = load_photo(pipe, photo, detector=FixedDetector([face_at(20, 20, 8)]))
    assert [c.shape for c in p.crops] == [(3, 8, 8)]  # the observed crop of x2 on a 16 px prior
    r = restore_photo(pipe, p)
    assert r.image.shape == (3, 80, 120)
    assert torch.allclose(r.background, upsample(photo[None], (80, 120), "bicubic")[0])
    far = (slice(60, 80), slice(80, 120))  # away from the face: exactly the background
    assert torch.equal(r.image[:, far[0], far[1]], r.background[:, far[0], far[1]])


def test_a_blended_recipe_adds_the_prior_detail_to_the_background(tiny_prior):
    from ganprior.faces.align import paste_back
    from ganprior.faces.photo import _photo_to_result, detail_weight
    from ganprior.tasks import build_degradation
    from ganprior.tasks.blend import prior_detail
    pipe = pipe_for(tiny_prior, "super-resolve", factor=2, blend=0.5)
    assert detail_weight(pipe) == 0.5 and detail_weight(pipe_for(tiny_prior, "super-resolve", factor=2)) == 0.0
    assert detail_weight(pipe_for(tiny_prior, "colorize", blend=0.5)) == 0.0  # colour is the prior's whole output
    photo = smooth_photo(40, 60)
    p = load_photo(pipe, photo, detector=FixedDetector([face_at(20, 20, 8)]))
    r = restore_photo(pipe, p)
    # the same fit (seeded) gives the prior's image; its detail beyond bicubic, halved, is all that is added
    raw = pipe.run(Inputs(names=["f"], sources=["f"], observed=torch.stack(p.crops), ground_truth=None, masks=None)).raw
    detail = 0.5 * prior_detail(raw, build_degradation("super-resolve", 16, factor=2))
    M = _photo_to_result(p.faces[0].matrix, p.faces[0].crop_size, 16)
    expected = paste_back(r.background, detail[0], M, 2, additive=True)
    torch.testing.assert_close(r.image, expected, atol=1e-5, rtol=0)
    assert float((r.image - r.background).abs().max()) > 1e-3


def test_a_face_larger_than_the_super_resolution_crop_is_observed_at_a_smaller_factor(tiny_prior):
    from ganprior.faces.align import paste_back
    from ganprior.faces.photo import _photo_to_result, face_options
    from ganprior.tasks import build_degradation
    from ganprior.tasks.blend import prior_detail
    assert face_options(["super-resolve"], {"factor": 8}, 64) == [{}, {"factor": 4}, {"factor": 2}]
    assert face_options(["denoise"], {"noise_sigma": 0.1}, 64) == [{}]
    pipe = pipe_for(tiny_prior, "super-resolve", factor=4, blend=0.5)
    photo = smooth_photo(40, 60)
    # the x4 crop of a 16 px prior is 4 px: a 3 px face fits it, a 7 px one (ratio 1.75) would be
    # shrunk into it, so it is observed at x2, in an 8 px crop (ratio 0.88)
    small, large = face_at(12, 12, 3), face_at(40, 22, 7)
    p = load_photo(pipe, photo, detector=FixedDetector([small, large]))
    assert [(f.restored, f.crop_size, f.options) for f in p.faces] == [(True, 4, {}), (True, 8, {"factor": 2})]
    assert p.faces[1].ratio == pytest.approx(7 / 8, rel=0.02) and p.faces[1].span == pytest.approx(7, rel=0.02)
    r = restore_photo(pipe, p)
    assert r.image.shape == (3, 160, 240)
    assert "options" not in r.faces[0] and r.faces[1]["options"] == {"factor": 2}
    # each face is the fit of its own observation with its own factor, pasted at the photo's x4
    expected = r.background.clone()
    for face, factor in zip(p.faces, (4, 2)):
        run = pipe_for(tiny_prior, "super-resolve", factor=factor, blend=0.0)
        raw = run.run(Inputs(names=["f"], sources=["f"], observed=face.crop[None], ground_truth=None,
                             masks=None)).raw
        detail = 0.5 * prior_detail(raw, build_degradation("super-resolve", 16, factor=factor))
        expected = paste_back(expected, detail[0], _photo_to_result(face.matrix, face.crop_size, 16), 4,
                              additive=True)
    torch.testing.assert_close(r.image, expected.clamp(0, 1), atol=1e-5, rtol=0)


def test_a_black_and_white_photo_comes_back_black_and_white(tiny_prior):
    from ganprior.faces.photo import is_gray
    from ganprior.io import to_gray
    pipe = pipe_for(tiny_prior, "super-resolve", factor=2, blend=0.5)
    gray = to_gray(smooth_photo(40, 60)[None])[0].expand(3, -1, -1)
    det = FixedDetector([face_at(20, 20, 8)])
    r = restore_photo(pipe, load_photo(pipe, gray, detector=det))
    assert float((r.image - r.background).abs().max()) > 1e-3  # the face was restored
    assert float((r.image.amax(0) - r.image.amin(0)).max()) == 0  # and nothing is tinted
    colour = restore_photo(pipe, load_photo(pipe, smooth_photo(40, 60), detector=det)).image
    assert not is_gray(colour) and is_gray(gray) and is_gray(gray[:1])
    assert not is_gray(gray + torch.tensor([0.0, 0.0, 3 / 255])[:, None, None])


def test_noisy_photos_are_searched_on_their_denoised_background(tiny_prior, monkeypatch):
    import ganprior.faces.photo as photo_mod
    pipe = pipe_for(tiny_prior, "denoise", noise_sigma=0.2)
    clean = smooth_photo(40, 60)
    noisy = (clean + 0.2 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    calls = []
    real = photo_mod._background

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)
    monkeypatch.setattr(photo_mod, "_background", counting)
    det = FixedDetector([face_at(20, 20, 16)])
    p = load_photo(pipe, noisy, detector=det)
    assert p.background is not None and len(calls) == 1
    seen = torch.from_numpy(np.asarray(det.images[0], dtype=np.float32) / 255).permute(2, 0, 1)
    # the detector saw the denoised photo, far closer to the clean one than the noisy input is
    assert float((seen - clean).abs().mean()) < 0.5 * float((noisy - clean).abs().mean())
    r = restore_photo(pipe, p)
    assert len(calls) == 1  # the background is computed once
    assert torch.equal(r.background, p.background)


def test_faces_found_on_a_larger_restoration_are_mapped_to_the_photo():
    from ganprior.faces.photo import _found_on
    face = face_at(40, 20, 24)
    det = FixedDetector([face])
    (back,) = _found_on(det, torch.zeros(3, 80, 160), 40)  # a 4x restoration of a 40 px wide photo
    np.testing.assert_allclose(back.landmarks, (face.landmarks + 0.5) / 4 - 0.5)
    np.testing.assert_allclose(back.box, (np.asarray(face.box) + 0.5) / 4 - 0.5)


def test_a_photo_without_faces_gets_its_background_and_a_note(tiny_prior):
    pipe = pipe_for(tiny_prior, "denoise", noise_sigma=0.1)
    photo = (smooth_photo() + 0.1 * torch.randn(3, 90, 120, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    p = load_photo(pipe, photo, detector=FixedDetector([]), name="empty")
    r = restore_photo(pipe, p)
    assert r.faces == [] and r.steps == 0
    assert any("no face found in empty" in n for n in r.notes)
    assert (r.image - smooth_photo()).abs().mean() < (photo - smooth_photo()).abs().mean()  # BM3D denoised it


def test_a_face_much_larger_than_the_prior_is_left_to_the_background(tiny_prior):
    pipe = pipe_for(tiny_prior)
    big = face_at(60, 45, 16 * face_ratio_limit(['reconstruct']) * 2)
    p = load_photo(pipe, smooth_photo(), detector=FixedDetector([big, face_at(15, 15, 16)]))
    assert [f.restored for f in p.faces] == [False, True]
    assert "larger than the prior" in p.faces[0].reason and len(p.crops) == 1
    r = restore_photo(pipe, p)
    assert r.faces[0]["restored"] is False and r.faces[1]["restored"] is True


def test_a_face_cut_by_the_border_is_restored_without_dark_edges(tiny_prior):
    pipe = pipe_for(tiny_prior)
    photo = smooth_photo()
    p = load_photo(pipe, photo, detector=FixedDetector([face_at(3, 4, 20)]))
    crop = p.crops[0]
    assert torch.isfinite(crop).all() and crop.min() > 0.15  # replicated border, not black
    r = restore_photo(pipe, p)
    assert torch.isfinite(r.image).all()


def test_colorized_photo_keeps_the_photos_luminance(tiny_prior):
    from ganprior.io import to_gray
    pipe = pipe_for(tiny_prior, "colorize")
    gray = to_gray(smooth_photo()[None])[0]
    p = load_photo(pipe, gray, detector=FixedDetector([face_at(60, 45, 18)]))
    assert p.observed.shape == (1, 90, 120) and [c.shape for c in p.crops] == [(1, 16, 16)]
    r = restore_photo(pipe, p)
    assert torch.allclose(to_gray(r.image[None])[0], gray, atol=2e-2)


def test_inpainting_a_photo_takes_a_mask_of_its_size(tiny_prior, tmp_path):
    pipe = pipe_for(tiny_prior, "inpaint")
    photo = smooth_photo()
    mask = np.zeros((90, 120), np.uint8)
    mask[40:50, 35:45] = 255  # white = missing
    Image.fromarray(mask).save(tmp_path / "m.png")
    p = load_photo(pipe, photo, mask=tmp_path / "m.png", detector=FixedDetector([face_at(40, 45, 20)]))
    assert p.known.shape == (1, 90, 120) and p.known[0, 45, 40] == 0 and p.known[0, 0, 0] == 1
    crop_mask = p.faces[0].crop_mask
    assert crop_mask.shape == (1, 16, 16) and 0 < crop_mask.mean() < 1
    r = restore_photo(pipe, p)
    assert torch.equal(r.image[:, :20, :], photo[:, :20, :])
    Image.fromarray(mask[:50]).save(tmp_path / "small.png")
    with pytest.raises(GanpriorError, match="the mask is 120x50, the photo 120x90"):
        load_photo(pipe, photo, mask=tmp_path / "small.png", detector=FixedDetector([]))


def test_photo_files_are_the_result_the_input_and_a_sheet(tiny_prior):
    pipe = pipe_for(tiny_prior, "super-resolve", factor=2)
    r = restore_photo(pipe, load_photo(pipe, smooth_photo(40, 60), detector=FixedDetector([face_at(20, 20, 8)])))
    files = photo_files(r, result_name="p.png", input_name="p_input.png", sheet_name="p_sheet.png")
    import io
    sizes = {k: Image.open(io.BytesIO(v)).size for k, v in files.items()}
    assert sizes["p.png"] == (120, 80) and sizes["p_input.png"] == (60, 40)
    assert sizes["p_sheet.png"] == (2 * 120 + 4, 80)


def test_cli_faces_detect_writes_the_photo_and_its_faces(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    import ganprior.faces.photo as photo_module
    det = FixedDetector([face_at(40, 45, 20)])
    monkeypatch.setattr(photo_module, "get_detector", lambda *a, **k: det)
    arr = (smooth_photo().permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "group.png")
    out = tmp_path / "out"
    argv = ["reconstruct", tmp_path / "group.png", "--faces", "detect", "--out", out, "--prior", tiny_checkpoint,
            "--steps", "2", "--perceptual", "0", "--method", "single", "--quiet"]
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    assert Image.open(out / "group.png").size == (120, 90)
    (record,) = json.loads((out / "metrics.json").read_text())
    assert len(record["faces"]) == 1 and record["faces"][0]["restored"] is True
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["faces"] == "detect"
    assert manifest["items"][0]["metrics"]["faces"] == record["faces"]
    code, stdout, err = run_cli(argv[:-1], capsys)  # resumes like any job
    assert code == 0 and "skipped 1" in stdout


def test_the_api_takes_the_same_option(tiny_prior, monkeypatch):
    import ganprior
    import ganprior.faces.photo as photo_module
    det = FixedDetector([face_at(40, 45, 8)])  # 8 px: the x2 crop's own scale
    monkeypatch.setattr(photo_module, "get_detector", lambda *a, **k: det)
    photo = smooth_photo()
    (r,) = ganprior.restore(photo, task="super-resolve", factor=2, faces="detect", prior=tiny_prior, method="single",
                            **FAST)
    assert r.image.shape == (3, 180, 240) and r.faces[0]["restored"] is True
    # auto: an input no larger than twice the prior's resolution is an aligned crop, restored whole
    (small,) = ganprior.restore(photo[:, :32, :32], task="reconstruct", faces="auto", prior=tiny_prior,
                                method="single", **FAST)
    assert small.image.shape == (3, 16, 16) and small.faces == []
    # auto: a photo with faces is a photo ...
    det.faces = [face_at(40, 45, 20)]
    (group,) = ganprior.restore(photo, task="reconstruct", faces="auto", prior=tiny_prior, method="single", **FAST)
    assert group.image.shape == (3, 90, 120)
    # ... but one face filling the frame is a face crop, restored whole
    det.faces = [face_at(60, 45, 60)]
    (portrait,) = ganprior.restore(photo, task="reconstruct", faces="auto", prior=tiny_prior, method="single",
                                   **FAST)
    assert portrait.image.shape == (3, 16, 16) and len(portrait.faces) == 1


def test_a_big_photo_notes_the_smallest_face_looked_for(tiny_prior):
    class Budgeted(FixedDetector):
        min_face = 24

        def effective_min_face(self, h, w):
            return 41.0
    pipe = pipe_for(tiny_prior)
    p = load_photo(pipe, smooth_photo(), detector=Budgeted([face_at(40, 45, 20)]))
    assert any("faces under 41 px are not looked for in a 120x90 photo" in n for n in p.notes)


def test_realesrgan_background_of_a_super_resolved_photo(tiny_prior):
    from ganprior.baselines import realesrgan
    ok, why = realesrgan.available()
    if not ok:
        pytest.skip(why)
    pipe = pipe_for(tiny_prior, "super-resolve", factor=2, background="realesrgan")
    photo = smooth_photo(20, 28)
    r = restore_photo(pipe, load_photo(pipe, photo, detector=FixedDetector([])))
    x4 = realesrgan.realesrgan_x4(photo[None])
    expected = torch.nn.functional.interpolate(x4, size=(40, 56), mode="bicubic", antialias=True,
                                               align_corners=False).clamp(0, 1)[0]
    assert r.image.shape == (3, 40, 56) and torch.allclose(r.background, expected, atol=1e-5)


def test_realesrgan_tiles_match_the_whole_image_inside():
    from ganprior.baselines import realesrgan
    ok, why = realesrgan.available()
    if not ok:
        pytest.skip(why)
    x = smooth_photo(70, 90)[None]
    whole = realesrgan.realesrgan_x4(x)
    tiled = realesrgan.realesrgan_x4_tiled(x, tile=40, overlap=8)  # 3 x 4 pieces
    assert tiled.shape == whole.shape
    diff = (tiled - whole).abs()
    # measured 0.0057 mean, 0.059 at most: the overlap gives each piece the network's context (a piece
    # put in the wrong place differs by about the image's own contrast, 0.2 and more)
    assert diff.mean() < 0.01 and diff.max() < 0.1


@pytest.mark.parametrize("options, message", [
    (dict(task="denoise", background="lanczos", faces="detect"), "this task has none"),
    (dict(task="super-resolve", factor=2, background="lanczos"), "add --faces detect"),
])
def test_background_is_checked_before_any_work(options, message):
    task = options.pop("task")
    with pytest.raises(GanpriorError, match=message):
        RunConfig.from_options(task, **options).validate()


def test_each_task_declares_the_largest_face_it_restores(monkeypatch):
    import ganprior.faces.photo as photo_module
    assert face_ratio_limit(["super-resolve"]) == 1.25 and face_ratio_limit(["colorize"]) == 2.0
    assert face_ratio_limit(["colorize", "super-resolve"]) == 1.25  # a chain takes its strictest task
    monkeypatch.setattr(photo_module, "MAX_FACE_RATIO", 9.0)  # a benchmark lifts the rule
    assert face_ratio_limit(["denoise"]) == 9.0
