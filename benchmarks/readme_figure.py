"""The README's results figure: a few held-out UTKFace faces per task, as a user would see them.

    .venv/bin/python benchmarks/readme_figure.py      # -> docs/results.png (about 2 minutes on 2 cores)

Rows: one task each (the degradation made by the task's own operator, seed 0). Columns, per face:
the observation, the best classical restoration (the task's first baseline variant), ganprior's
default preset (`ganprior.restore(..., simulate=True)`), and the truth. Needs ../shared.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

import ganprior
from ganprior.io import fit_image, read_image, to_uint8
from ganprior.tasks import baseline_variants, build_degradation, classical_restore

ROOT = Path(__file__).resolve().parents[1]
UTKFACE = ROOT.parent / "shared" / "data" / "utkface"
FACES = 3
TILE = 96
# (label, task, options, classical variant label)
ROWS = [
    ("super-resolution x4", "super-resolve", {"factor": 4}),
    ("inpainting, centre box", "inpaint", {"mask": "center"}),
    ("colorization", "colorize", {}),
    ("denoising, sigma 0.1", "denoise", {"noise_sigma": 0.1}),
    ("deblurring, sigma 1.5 px", "deblur", {"blur_sigma": 1.5}),
]


def held_out_faces(n: int) -> torch.Tensor:
    from ganprior.training import holdout_files
    files = holdout_files(UTKFACE, 200)
    files = [files[k] for k in (7, 61, 140)][:n]  # three ages and looks, fixed once
    return torch.stack([fit_image(read_image(f)[0], 64) for f in files])


def tile(x: torch.Tensor) -> Image.Image:
    x = x.detach().float().cpu().clamp(0, 1)
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return Image.fromarray(to_uint8(F.interpolate(x[None], size=(TILE, TILE), mode="nearest")[0]))


def main() -> None:
    if not UTKFACE.is_dir():
        sys.exit(f"{UTKFACE} not found: this figure needs ../shared beside the repository")
    torch.set_num_threads(2)
    faces = held_out_faces(FACES)
    columns = ["input", "classical", "ganprior", "truth"]
    label_w, head_h, pad = 150, 18, 3
    width = label_w + FACES * (len(columns) * (TILE + pad) + 8)
    canvas = Image.new("RGB", (width, head_h + len(ROWS) * (TILE + pad)), "white")
    draw = ImageDraw.Draw(canvas)
    for f in range(FACES):
        for c, name in enumerate(columns):
            draw.text((label_w + f * (len(columns) * (TILE + pad) + 8) + c * (TILE + pad) + 4, 3), name,
                      fill=(0, 0, 0))
    for r, (label, task, options) in enumerate(ROWS):
        result = ganprior.restore(faces, task, simulate=True, seed=0, **options)
        task_opts = {k: v for k, v in options.items() if k != "mask"}
        deg = build_degradation(task, 64, mask=ganprior.load_inputs(faces, task, 64, simulate=True, seed=0,
                                                                     **options).masks, **task_opts)
        variant = next(iter(baseline_variants(deg).values()))
        classical = classical_restore(result.observed, deg, **variant)
        y0 = head_h + r * (TILE + pad)
        draw.text((4, y0 + TILE // 2 - 6), label, fill=(0, 0, 0))
        for f in range(FACES):
            x0 = label_w + f * (len(columns) * (TILE + pad) + 8)
            for c, img in enumerate([result.observed[f], classical[f], result.images[f], faces[f]]):
                canvas.paste(tile(img), (x0 + c * (TILE + pad), y0))
        print(f"{label}: PSNR {np.mean([m['psnr'] for m in result.metrics]):.2f} dB", flush=True)
    out = ROOT / "docs" / "results.png"
    canvas.save(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
