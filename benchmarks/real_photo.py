"""A real photo of several people (issue #28): restored whole, at its own size times the factor.

The photo is the group portrait of the Fifth Solvay Conference (Brussels, 1927; photograph by
Benjamin Couprie, public domain). The copy this was measured on is a 1600 x 806 colourised scan
(``solvay_conference.jpg`` in the public GitHub repository Vengador1987/Machine-Learning); only its
luminance is used, which is the black-and-white photograph again, so no colourist's work is
reproduced. Nothing here downloads it: give its path with ``--photo``. Any other group photo works
the same way (its own colours are then kept).

Two runs, as a user would make them:

* ``sr2``: the photo reduced by 2 (PIL's antialiased bicubic, 8 bits) is super-resolved with
  ``ganprior.restore(..., task="super-resolve", factor=2, faces="detect")`` and compared with the
  photo itself, in each detected face's box (boxes from the run, in output pixels), against
  bicubic (the run's background) and Real-ESRGAN x4plus on the whole reduced photo (reduced by 2);
* ``gray``: the black-and-white photo at full size is colourised (``task="colorize"``): the faces
  get the prior's colour, everything else stays gray. There is no ground truth; the sheet shows it.

Outputs (``--out``, default benchmarks/results): ``real_photo.md`` (the numbers), ``real_photo_sr2.png``
(the whole result and face tiles: input, bicubic, Real-ESRGAN, ours, the photo) and
``real_photo_colorize.png``.

    PYTHONPATH=src .venv/bin/python benchmarks/real_photo.py --photo /path/to/solvay_conference.jpg
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from photos import as_uint8, esrgan_whole, region_scores  # noqa: E402 - the composite benchmark's scoring

import ganprior  # noqa: E402
from ganprior.faces.photo import draw_faces, is_gray  # noqa: E402
from ganprior.io import read_image, to_gray  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TILE = 112


def load_clean(path: Path) -> torch.Tensor:
    """The photo (3, H, W) in [0, 1], cropped to even sides."""
    image, _ = read_image(path, 3)
    h, w = image.shape[-2:]
    return image[:, : h - h % 2, : w - w % 2]


def reduce(clean: torch.Tensor, factor: int) -> torch.Tensor:
    """PIL's antialiased bicubic reduction, rounded to 8 bits, as an image editor saves it."""
    im = Image.fromarray(as_uint8(clean))
    small = im.resize((im.width // factor, im.height // factor), Image.BICUBIC)
    return torch.from_numpy(np.asarray(small).copy()).permute(2, 0, 1).float() / 255


def tiles(images: list[torch.Tensor], box, scale: float) -> list[Image.Image]:
    """Square tiles around ``box`` (output pixels) of each image; ``scale``: the image's size over
    the output's (an input half the size is shown with nearest-neighbour pixels)."""
    x0, y0, x1, y1 = box
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 0.75 * max(x1 - x0, y1 - y0)
    out = []
    for im, s in zip(images, scale):
        region = tuple(round(v * s) for v in (cx - half, cy - half, cx + half, cy + half))
        out.append(Image.fromarray(as_uint8(im)).crop(region).resize((TILE, TILE), Image.NEAREST if s < 1
                                                                     else Image.BICUBIC))
    return out


def sheet(whole: Image.Image, rows: list[list[Image.Image]], cols: list[str], path: Path, caption: str) -> None:
    pad, label_h = 4, 16
    width = max(whole.width, len(cols) * (TILE + pad) + pad)
    height = whole.height + label_h * 2 + len(rows) * (TILE + pad) + pad
    out = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(out)
    d.text((pad, 2), caption, fill=(0, 0, 0))
    out.paste(whole, (0, label_h))
    y = label_h + whole.height
    for j, c in enumerate(cols):
        d.text((pad + j * (TILE + pad), y + 2), c, fill=(0, 0, 0))
    for i, row in enumerate(rows):
        for j, im in enumerate(row):
            out.paste(im, (pad + j * (TILE + pad), y + label_h + i * (TILE + pad)))
    out.save(path)


def pick(faces: list[dict], n: int) -> list[dict]:
    """``n`` restored faces spread over the photo, left to right."""
    done = sorted((f for f in faces if f["restored"]), key=lambda f: f["box"][0])
    if len(done) <= n:
        return done
    return [done[round(i * (len(done) - 1) / (n - 1))] for i in range(n)]


def run_sr(clean: torch.Tensor, factor: int, out: Path) -> dict:
    observed = reduce(clean, factor)
    t0 = time.perf_counter()
    result = ganprior.restore(observed, task="super-resolve", factor=factor, faces="detect")[0]
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    esr = esrgan_whole(observed, factor)
    if is_gray(observed):
        esr = to_gray(esr[None])[0].expand(3, -1, -1)
    esr_seconds = time.perf_counter() - t0
    cands = {"bicubic": result.background, "esrgan": esr, "ours": result.image}
    faces = []
    for f in result.faces:
        box = [v * factor for v in f["box"]]
        faces.append({"box": box, "restored": f["restored"], **region_scores(cands, clean, box)})
    restored = [f for f in faces if f["restored"]]
    summary = {"photo": list(clean.shape[-2:][::-1]), "input": list(observed.shape[-2:][::-1]),
               "faces_found": len(faces), "faces_restored": len(restored), "seconds": seconds,
               "esrgan_seconds": esr_seconds, "notes": result.notes}
    for name in cands:
        for m in ("psnr", "lpips"):
            summary[f"{name}_{m}"] = float(np.mean([f[name][m] for f in restored])) if restored else None
    for base in ("bicubic", "esrgan"):
        summary[f"ahead_psnr_{base}"] = sum(f["ours"]["psnr"] > f[base]["psnr"] for f in restored)
        summary[f"ahead_lpips_{base}"] = sum(f["ours"]["lpips"] < f[base]["lpips"] for f in restored)
    whole = draw_faces(observed, result.faces, (clean.shape[-1] // 2, clean.shape[-2] // 2))
    chosen = pick(result.faces, 6)
    rows = [tiles([observed, result.background, esr, result.image, clean], [v * factor for v in f["box"]],
                  [1 / factor, 1, 1, 1, 1]) for f in chosen]
    cols = ["input (nearest)", "bicubic", "Real-ESRGAN x4plus", "ours", "the photo"]
    sheet(whole, rows, cols, out / f"real_photo_sr{factor}.png",
          f"x{factor}: input {observed.shape[-1]}x{observed.shape[-2]} with its detections (green: restored, "
          f"orange: left to the background), then faces")
    summary["faces"] = faces
    return summary


def run_colorize(clean: torch.Tensor, out: Path) -> dict:
    gray = to_gray(clean[None])[0]
    t0 = time.perf_counter()
    result = ganprior.restore(gray, task="colorize", faces="detect")[0]
    seconds = time.perf_counter() - t0
    half = (clean.shape[-1] // 2, clean.shape[-2] // 2)
    whole = Image.fromarray(as_uint8(result.image)).resize(half, Image.BICUBIC)
    rows = [tiles([gray, result.image], f["box"], [1, 1]) for f in pick(result.faces, 6)]
    sheet(whole, rows, ["gray input", "ours"], out / "real_photo_colorize.png",
          "colorization of the black-and-white photo: faces coloured by the prior, the rest kept gray")
    return {"faces_found": len(result.faces), "faces_restored": sum(f["restored"] for f in result.faces),
            "seconds": seconds, "notes": result.notes}


def report(sr: dict, colour: dict, command: str) -> list[str]:
    w, h = sr["photo"]
    iw, ih = sr["input"]
    n = sr["faces_restored"]

    def row(name, key):
        return f"| {name} | {sr[key + '_psnr']:.2f} | {sr[key + '_lpips']:.3f} |"
    return ["## A real photo of several people (issue #28)", "",
            f"The Fifth Solvay Conference, 1927 (Benjamin Couprie, public domain), {w} x {h}, black and white "
            f"(the luminance of a colourised scan). Reproduce: `{command}` (see the script for where the photo comes "
            "from; nothing is downloaded).", "",
            f"**x2 super-resolution.** The photo reduced to {iw} x {ih} (PIL bicubic, 8 bits) and restored with "
            f"`--faces detect`: {sr['faces_found']} faces found, {n} restored, {sr['seconds']:.0f} s for the whole "
            f"photo on 2 CPU cores shared with other work (Real-ESRGAN x4plus: {sr['esrgan_seconds']:.0f} s). Mean over the restored faces' "
            "boxes against the photo itself:", "",
            "| | PSNR | LPIPS |", "|---|---|---|", row("bicubic (the background)", "bicubic"),
            row("Real-ESRGAN x4plus, whole photo", "esrgan"), row("ours", "ours"), "",
            f"Ours ahead of bicubic on {sr['ahead_psnr_bicubic']} of {n} faces in PSNR and {sr['ahead_lpips_bicubic']} "
            f"in LPIPS; of Real-ESRGAN on {sr['ahead_psnr_esrgan']} and {sr['ahead_lpips_esrgan']}.", "",
            "![the real photo, x2](benchmarks/results/real_photo_sr2.png)", "",
            f"**Colorization** of the black-and-white photo at full size: {colour['faces_found']} faces found, "
            f"{colour['faces_restored']} coloured, {colour['seconds']:.0f} s. Everything but the faces and the skin around them stays gray. "
            "", "![the real photo, colourised](benchmarks/results/real_photo_colorize.png)", ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photo", type=Path, required=True, help="the group photo (see the module's docstring)")
    ap.add_argument("--color", action="store_true", help="keep the photo's colours (default: its luminance)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if not args.photo.is_file():
        sys.exit(f"{args.photo} not found")
    torch.set_num_threads(2)
    clean = load_clean(args.photo)
    if not args.color:
        clean = to_gray(clean[None])[0].expand(3, -1, -1).contiguous()
    args.out.mkdir(parents=True, exist_ok=True)
    sr = run_sr(clean, 2, args.out)
    print(json.dumps({k: v for k, v in sr.items() if k != "faces"}, indent=1), flush=True)
    colour = run_colorize(clean, args.out)
    print(json.dumps(colour, indent=1), flush=True)
    command = "PYTHONPATH=src .venv/bin/python benchmarks/real_photo.py --photo solvay_conference.jpg" + (
        " --color" if args.color else "")
    (args.out / "real_photo.json").write_text(json.dumps({"sr2": sr, "colorize": colour}, indent=1))
    (args.out / "real_photo.md").write_text("\n".join(report(sr, colour, command)))
    print("wrote", args.out / "real_photo.md")


if __name__ == "__main__":
    main()
