"""Colour stains of colorization (#27): today's preset without and with the chroma fence.

Restores held-out UTKFace faces (``restoration.load_set("heldout")``, interleaved so any slice spans
all ages) from their Rec.601 gray images with the colorization preset, once with ``chroma_fence=0``
and once with the preset's fence, and prints PSNR, LPIPS, AuC, the stained area
(``metrics.chroma_stain``) and seconds per image, overall, per skin-tone group (UTKFace's race field:
White, Black, Asian, Indian, Others) and per age band. Both runs fit the same codes (the fence is
post-processing), so the difference is the fence alone.

    PYTHONPATH=src python benchmarks/colorize_stains.py --first 0 --last 20    # tuning faces
    PYTHONPATH=src python benchmarks/colorize_stains.py --first 20 --last 60   # validation faces
    PYTHONPATH=src python benchmarks/colorize_stains.py --first 0 --last 20 --sheet benchmarks/colorize_stains.png
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import ganprior
from ganprior.chroma import FENCE_SAMPLES
from ganprior.io import make_sheet, save_image, stack_rows
from ganprior.metrics import chroma_stain, colorization_auc, lpips, psnr
from restoration import load_set

RACES = ("White", "Black", "Asian", "Indian", "Others")


def run(images: torch.Tensor, fence: int) -> tuple[torch.Tensor, float]:
    t = time.perf_counter()
    r = ganprior.restore(images, "colorize", simulate=True, seed=0, chroma_fence=fence)
    return r.images, (time.perf_counter() - t) / len(images)


def groups(names: list[str]) -> list[tuple[str, np.ndarray]]:
    race = np.array([int(n.split("_")[2]) for n in names])
    age = np.array([int(n.split("_")[0]) for n in names])
    return ([("all", np.ones(len(names), bool))] + [(r, race == i) for i, r in enumerate(RACES)]
            + [("age < 18", age < 18), ("age 18-59", (age >= 18) & (age < 60)), ("age >= 60", age >= 60)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--first", type=int, default=20)
    ap.add_argument("--last", type=int, default=60)
    ap.add_argument("--sheet", help="write a before/after sheet of up to 6 faces here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    names, truth = load_set("heldout", args.last)
    names, truth = names[args.first:], truth[args.first:]
    outs = {tag: run(truth, fence) for tag, fence in (("before", 0), ("after", FENCE_SAMPLES))}
    scores = {tag: {"PSNR": psnr(x, truth), "LPIPS": lpips(x, truth), "AuC": colorization_auc(x, truth),
                    "stain %": chroma_stain(x, truth)} for tag, (x, _) in outs.items()}
    print(f"held-out faces {args.first + 1}-{args.last}; seconds per image before {outs['before'][1]:.2f}, "
          f"after {outs['after'][1]:.2f}")
    print("| group | n | " + " | ".join(f"{k} before / after" for k in scores["before"]) + " | stain lower on |")
    print("|---" * (3 + len(scores["before"])) + "|")
    for name, sel in groups(names):
        if not sel.any():
            continue
        t = torch.from_numpy(sel)
        cells = [f"{scores['before'][k][t].mean():.{4 if k == 'LPIPS' else 2}f} / "
                 f"{scores['after'][k][t].mean():.{4 if k == 'LPIPS' else 2}f}" for k in scores["before"]]
        lower = int((scores["after"]["stain %"][t] < scores["before"]["stain %"][t]).sum())
        print(f"| {name} | {int(sel.sum())} | " + " | ".join(cells) + f" | {lower} |")
    gain = scores["after"]["PSNR"] - scores["before"]["PSNR"]
    print(f"PSNR gain {gain.mean():.2f} ± {gain.std().item() / len(gain) ** 0.5:.2f} dB (s.e.), "
          f"higher on {int((gain > 0).sum())} of {len(gain)}")
    if args.sheet:
        drop = scores["before"]["stain %"] - scores["after"]["stain %"]
        pick = drop.argsort(descending=True)[:6].tolist()
        rows = [make_sheet([truth[i], outs["before"][0][i], outs["after"][0][i]],
                           [f"truth age {names[i].split('_')[0]}", f"before {scores['before']['stain %'][i]:.0f}%",
                            f"fenced {scores['after']['stain %'][i]:.0f}%"], tile=96, pad=2) for i in pick]
        sheet = stack_rows(rows[:3])
        if len(rows) > 3:
            right = stack_rows(rows[3:])
            right = torch.nn.functional.pad(right, (0, 0, 0, sheet.shape[1] - right.shape[1]), value=1.0)
            sheet = torch.cat([sheet, torch.ones(3, sheet.shape[1], 6), right], dim=2)
        save_image(sheet, args.sheet)


if __name__ == "__main__":
    main()
