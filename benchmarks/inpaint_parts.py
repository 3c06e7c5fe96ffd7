"""Inpainting holes over facial parts (#27): does the fill draw the missing eye, nose or mouth?

For each hole (the built-in masks ``left-eye``, ``right-eye``, ``eyes``, ``nose``, ``mouth``,
``center`` and ``random:0.8``; ``physics.masks.PART_BOXES``), on held-out UTKFace faces
(``restoration.load_set("heldout")``), compares:

* ``biharmonic``: scikit-image's biharmonic fill of the observation;
* ``constant blend``: the faithful preset before #27, the prior's output blended with weight 0.5
  everywhere, ``C(y) + 0.5 (x - C(A x))``;
* ``preset``: the faithful preset as shipped: the same inversion, its blend weight chosen per pixel by
  the hole's depth (``tasks.inpaint.Inpaint.blend_weight``).

The two blends share one inversion (the prior's raw output is cached per hole and face range in
``benchmarks/results/.cache/inpaint_parts/``), so only the post-processing differs. Metrics: PSNR and
LPIPS (AlexNet) of the whole image, PSNR over the missing pixels (``hole``), and LPIPS of a box of at
least 32 x 32 px centred on the hole (``hole box``; AlexNet needs that much context).

    python benchmarks/inpaint_parts.py --first 0 --last 20                      # tuning faces
    python benchmarks/inpaint_parts.py --first 20 --last 60 --holes left-eye,mouth   # validation
    python benchmarks/inpaint_parts.py --first 0 --last 20 --sheet benchmarks/inpaint_semantic.png

Each run prints a markdown table (the section in benchmarks/results/restoration_notes.md).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch

import ganprior
from ganprior.baselines.classical import fill
from ganprior.io import save_image
from ganprior.metrics import lpips, psnr
from ganprior.physics.masks import builtin_mask
from ganprior.tasks import build_degradation

from restoration import RESULTS, load_set

warnings.filterwarnings("ignore")
CACHE = RESULTS / ".cache" / "inpaint_parts"
HOLES = ("left-eye", "right-eye", "eyes", "nose", "mouth", "center", "random:0.8")
OLD_BLEND = 0.5  # the faithful preset's constant weight before #27


def invert(hole: str, faces: torch.Tensor, first: int, last: int) -> dict:
    """The faithful preset's inversion of ``faces`` with ``hole`` (cached): raw output, observation."""
    path = CACHE / f"{hole.replace(':', '')}_{first}_{last}.pt"
    if path.exists():
        return torch.load(path)
    mask = builtin_mask(hole, 64, seed=0)[None]
    t = time.perf_counter()
    r = ganprior.restore(faces, "inpaint", mask=mask, simulate=True, seed=0, preset="faithful")
    out = {"raw": r.raw, "observed": r.observed, "truth": faces, "mask": mask,
           "sec": (time.perf_counter() - t) / len(faces)}
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save(out, path)
    return out


def hole_region(mask: torch.Tensor, min_side: int = 32) -> tuple[int, int, int, int]:
    """(top, left, h, w): the hole's bounding box grown to ``min_side`` around its centre."""
    miss = (mask[0, 0] < 0.5).nonzero()
    (t, l), (b, r) = miss.min(0).values.tolist(), miss.max(0).values.tolist()
    size = mask.shape[-1]
    h, w = max(b - t + 1, min_side), max(r - l + 1, min_side)
    top = int(round(min(max((t + b + 1) / 2 - h / 2, 0), size - h)))
    left = int(round(min(max((l + r + 1) / 2 - w / 2, 0), size - w)))
    return top, left, h, w


def scores(out: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> dict[str, list[float]]:
    out = out.clamp(0, 1)
    top, left, h, w = hole_region(mask)
    crop = lambda x: x[..., top:top + h, left:left + w]  # noqa: E731
    miss = (mask < 0.5).float().expand_as(out)
    with torch.no_grad():
        mse = ((out - truth) ** 2 * miss).flatten(1).sum(1) / miss.flatten(1).sum(1)
        return {"psnr": psnr(out, truth).tolist(), "lpips": lpips(out, truth).tolist(),
                "hole_psnr": (10 * torch.log10(1 / mse.clamp_min(1e-10))).tolist(),
                "hole_lpips": lpips(crop(out), crop(truth)).tolist()}


def fills(d: dict) -> dict[str, torch.Tensor]:
    """The three fills of one cached inversion."""
    x, y = d["raw"], d["observed"]
    mask = d["mask"].expand(x.shape[0], -1, -1, -1)
    deg = build_degradation("inpaint", 64, mask=d["mask"], blend=OLD_BLEND)
    old = (fill(y, mask) + OLD_BLEND * (x - fill(x * mask, mask))).clamp(0, 1)
    return {"biharmonic": fill(y, mask), "constant blend": old, "preset": deg.postprocess(x, y)}


def table(rows: list[tuple[str, str, dict, float]]) -> str:
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    lines = ["| hole | fill | PSNR | LPIPS | hole PSNR | hole-box LPIPS | s / image |",
             "|---|---|---|---|---|---|---|"]
    for hole, name, s, sec in rows:
        lines.append(f"| {hole} | {name} | {mean(s['psnr']):.2f} | {mean(s['lpips']):.4f} | {mean(s['hole_psnr']):.2f} "
                     f"| {mean(s['hole_lpips']):.4f} | {sec:.1f} |")
    return "\n".join(lines)


def wins(hole: str, s: dict) -> str:
    """Per-face count where the preset beats biharmonic in hole-box LPIPS and in PSNR."""
    p, b = s["preset"], s["biharmonic"]
    n = len(p["psnr"])
    lp = sum(a < c for a, c in zip(p["hole_lpips"], b["hole_lpips"]))
    ps = sum(a > c for a, c in zip(p["psnr"], b["psnr"]))
    return f"{hole}: preset ahead of biharmonic on {lp}/{n} faces in hole-box LPIPS, {ps}/{n} in PSNR"


def sheet(path: Path, results: dict, faces_per_hole: int) -> None:
    """Columns of faces, per hole; rows: masked input, biharmonic, constant blend, preset, truth."""
    blocks = []
    for hole, (d, out) in results.items():
        n = faces_per_hole
        m = d["mask"]
        masked = d["truth"][:n] * m + (1 - m) * torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1)
        rows = [masked, out["biharmonic"][:n], out["constant blend"][:n], out["preset"][:n], d["truth"][:n]]
        blocks.append(torch.cat([torch.cat(list(r), 2) for r in rows], 1))
    gap = torch.ones(3, blocks[0].shape[1], 4)
    grid = torch.cat([t for b in blocks for t in (b, gap)][:-1], 2)
    grid = torch.nn.functional.interpolate(grid[None], scale_factor=2, mode="nearest")[0]
    save_image(grid, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--last", type=int, default=20)
    ap.add_argument("--holes", default=",".join(HOLES))
    ap.add_argument("--sheet", type=Path, help="write a sheet of the first faces of each hole here")
    ap.add_argument("--sheet-faces", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    _, faces = load_set("heldout", a.last)
    faces = faces[a.first:]
    rows, results = [], {}
    for hole in a.holes.split(","):
        d = invert(hole, faces, a.first, a.last)
        out = fills(d)
        s = {k: scores(v, d["truth"], d["mask"]) for k, v in out.items()}
        for k in out:
            rows.append((hole, k, s[k], d["sec"] if k != "biharmonic" else 0.0))
        print(wins(hole, s), flush=True)
        results[hole] = (d, out)
    print(f"\nheld-out faces {a.first + 1}-{a.last}\n")
    print(table(rows))
    if a.sheet:
        sheet(a.sheet, {h: r for h, r in results.items() if not h.startswith("random")}, a.sheet_faces)
        print(f"\nsheet: {a.sheet}")


if __name__ == "__main__":
    main()
