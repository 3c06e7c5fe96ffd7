"""The reliability corpus's ``photo`` category (issue #28): odd whole photos through ``--faces detect``.

Each case runs ``ganprior TASK PHOTO --faces detect`` in-process with the tiny test prior and the
real detector. Its outcome must be a result (exit 0, nothing on stderr, every output decodable, the
restored photo at the input's size times the factor) or a one-line error with exit 2; anything else
(a traceback, an internal error, a partial file) is a failure.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .corpus import encode, exif_bytes, png_zero_bomb
from .conftest import count
from .test_fuzz import call_main

pytestmark = pytest.mark.integration

FAST = ["--steps", "1", "--perceptual", "0", "--method", "single", "--quiet", "--faces", "detect"]
# two loosely cropped faces (as tests/test_faces_detect.py): the demo's astronaut crop and a utkface64 sample
GROUP_FACES = [Path(__file__).resolve().parents[2] / "src" / "ganprior" / "demo" / "real" / "astronaut.png",
               Path(__file__).resolve().parents[1] / "data" / "prior_sample2.png"]


def _scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 200 / max(w, 1) + 30, y * 180 / max(h, 1) + 40, (x + y) * 90 / max(h + w, 1) + 60], -1)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def _group(h: int = 240, w: int = 320) -> Image.Image:
    """Two faces at 96 px on a smooth scene: faces the detector finds."""
    canvas = Image.fromarray(_scene(h, w))
    for i, f in enumerate(GROUP_FACES):
        face = Image.open(f).convert("RGB").resize((96, 96), Image.BICUBIC)
        canvas.paste(face, (30 + i * 160, 60))
    return canvas


def _cases(root: Path) -> list[tuple[str, list[str], str | None, float | None]]:
    """(name, argv before the fast flags, expected outcome or None for either, output scale or None)."""
    def put(name: str, data: bytes) -> str:
        p = root / name
        p.write_bytes(data)
        return str(p)

    group = _group()
    rgba = group.convert("RGBA")
    a = np.array(rgba)
    a[100:130, 60:90, 3] = 0  # a transparent hole in a face
    mask = np.zeros((240, 320), np.uint8)
    mask[100:130, 60:90] = 255
    rotated = group.transpose(Image.Transpose.ROTATE_90)  # stored turned, EXIF says turn it back
    frames = [group, group.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    return [
        ("group reconstruct", ["reconstruct", put("group.png", encode(group, "PNG"))], "result", 1),
        ("group x2", ["super-resolve", put("group_x2.png", encode(group, "PNG")), "--factor", "2"], "result", 2),
        ("group x4", ["super-resolve", put("group_x4.jpg", encode(group, "JPEG", quality=90)), "--factor", "4"],
         "result", 4),
        ("group denoise", ["denoise", put("group_noisy.png", encode(group, "PNG")), "--noise-sigma", "0.1"],
         "result", 1),
        ("group gray colorize", ["colorize", put("group_gray.png", encode(group.convert("L"), "PNG"))], "result", 1),
        ("group 16-bit", ["reconstruct", put("group16.png", encode(Image.fromarray(
            (np.asarray(group.convert("L"), np.uint16) * 257)), "PNG"))], "result", 1),
        ("group CMYK jpeg", ["reconstruct", put("group_cmyk.jpg", encode(group.convert("CMYK"), "JPEG"))],
         "result", 1),
        ("group EXIF rotated", ["reconstruct", put("group_exif.jpg", encode(rotated, "JPEG", exif=exif_bytes(8)))],
         "result", 1),
        ("group animated gif", ["reconstruct", put("group.gif", gif.getvalue())], "result", 1),
        ("inpaint transparency", ["inpaint", put("group_rgba.png", encode(Image.fromarray(a), "PNG"))], "result", 1),
        ("inpaint mask file", ["inpaint", put("group_m.png", encode(group, "PNG")), "--mask",
                               put("mask.png", encode(Image.fromarray(mask), "PNG"))], "result", 1),
        ("inpaint mask of another size", ["inpaint", put("group_m2.png", encode(group, "PNG")), "--mask",
                                          put("mask_small.png", encode(Image.fromarray(mask[:100]), "PNG"))],
         "error", None),
        ("inpaint built-in mask", ["inpaint", put("group_m3.png", encode(group, "PNG")), "--mask", "center"],
         "error", None),
        ("inpaint no mask", ["inpaint", put("group_nomask.png", encode(group, "PNG"))], "error", None),
        ("no face", ["reconstruct", put("scene.png", encode(Image.fromarray(_scene(150, 200)), "PNG"))], "result",
         1),
        ("no face x4", ["super-resolve", put("scene_x4.png", encode(Image.fromarray(_scene(60, 80)), "PNG")),
                        "--factor", "4"], "result", 4),
        ("1x1", ["reconstruct", put("dot.png", encode(Image.fromarray(_scene(1, 1)), "PNG"))], None, 1),
        ("2x2000 strip", ["reconstruct", put("strip.png", encode(Image.fromarray(_scene(2, 2000)), "PNG"))],
         "result", 1),
        ("3x3 x4", ["super-resolve", put("tiny.png", encode(Image.fromarray(_scene(3, 3)), "PNG")), "--factor",
                    "4"], "result", 4),
        ("face cut by the border", ["reconstruct", put("edge.png", encode(group.crop((60, 90, 320, 240)), "PNG"))],
         "result", 1),
        ("decompression bomb", ["reconstruct", put("bomb.png", png_zero_bomb(20000, 10000))], "error", None),
        ("truncated", ["reconstruct", put("cut.png", encode(group, "PNG")[:400])], "error", None),
        ("not an image", ["reconstruct", put("text.png", b"hello, not a picture\n")], "error", None),
    ]


def _outputs_ok(out: Path, argv: list[str], scale: float | None) -> list[str]:
    problems = []
    if not out.exists():
        return ["no output folder"]
    for p in sorted(out.iterdir()):
        if p.name.endswith(".part"):
            problems.append(f"temporary file left: {p.name}")
        elif p.suffix == ".png":
            try:
                with Image.open(p) as im:
                    im.load()
            except Exception as e:  # noqa: BLE001
                problems.append(f"undecodable {p.name}: {e}")
    records = json.loads((out / "metrics.json").read_text())
    if len(records) != 1 or "faces" not in records[0]:
        problems.append(f"metrics.json lacks the faces: {records}")
    stem = json.loads((out / "manifest.json").read_text())["items"][0]["name"]
    with Image.open(argv[1]) as src:
        from PIL import ImageOps
        w, h = ImageOps.exif_transpose(src).size
    with Image.open(out / f"{stem}.png") as im:
        if scale is not None and im.size != (round(w * scale), round(h * scale)):
            problems.append(f"result is {im.size}, the photo {w}x{h} times {scale}")
    return problems


def test_photo_corpus(fuzz_checkpoint, fuzz_tally, capfd, tmp_path, monkeypatch):
    monkeypatch.delenv("GANPRIOR_DEBUG", raising=False)
    root = tmp_path / "photos"
    root.mkdir()
    cases = _cases(root)
    tally = fuzz_tally.setdefault("photo", dict(cases=0, result=0, error=0, failure=0, seconds=0.0))
    failures = []
    for i, (name, argv, expect, scale) in enumerate(cases):
        out = tmp_path / f"out{i}"
        t0 = time.perf_counter()
        code, escaped, shown, stdout, stderr = call_main([*argv, "--out", str(out), "--prior", str(fuzz_checkpoint),
                                                          *FAST], capfd)
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        problems = [escaped] if escaped else []
        if shown:
            problems.append(f"warning printed: {shown[0]}")
        if code == 0 and not lines:
            outcome = "result"
            problems += _outputs_ok(out, argv, scale)
        elif code == 2 and len(lines) == 1 and lines[0].startswith("ganprior: error: "):
            outcome = "error"
        else:
            outcome = "failure"
            problems.append(f"exit {code}, {len(lines)} stderr lines: {stderr.strip()[-400:]}")
        if expect is not None and outcome in ("result", "error") and outcome != expect:
            problems.append(f"expected {expect}, got {outcome}: {lines[0] if lines else ''}")
        count(tally, "failure" if problems else outcome, time.perf_counter() - t0)
        if problems:
            failures.append(f"{name}: {'; '.join(problems)}")
    assert not failures, f"{len(failures)} of {len(cases)} photo cases failed:\n" + "\n".join(failures)


def test_the_group_photo_has_both_faces_found_and_restored(fuzz_checkpoint, capfd, tmp_path):
    """The detector finds the two faces of the corpus's group photo (the cases above rely on it)."""
    _group().save(tmp_path / "g.png")
    code, escaped, _, _, stderr = call_main(["reconstruct", str(tmp_path / "g.png"), "--out", str(tmp_path / "o"),
                                             "--prior", str(fuzz_checkpoint), *FAST], capfd)
    assert code == 0 and escaped is None, stderr
    (record,) = json.loads((tmp_path / "o" / "metrics.json").read_text())
    boxes = sorted(f["box"] for f in record["faces"])
    assert len(boxes) == 2, record["faces"]
    for (x0, y0, x1, y1), left in zip(boxes, (30, 190)):
        assert left - 10 <= x0 <= left + 48 and 50 <= y0 <= 120 and x1 <= left + 106
