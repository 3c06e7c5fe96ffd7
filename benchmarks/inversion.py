"""Inversion benchmark on the 21 aligned faces of ../shared/data/mganprior-examples/face.

Parts (each caches its numbers in benchmarks/results/<part>.json; the report is rebuilt from all):

* grid:       PSNR/SSIM of single-code vs multi-code for N in {1,5,10,20,30} x layer in {1..4}, equal steps
* default:    single vs multi with the library defaults (300 steps), the headline comparison
* tasks:      every task (--simulate) beside the classical baseline a user would otherwise pick
* perceptual: reconstruction with and without the VGG16 perceptual term (PSNR, LPIPS)

Faces are brought to 64x64 by the library's default fit policy (centre crop, antialiased bicubic).

    python benchmarks/inversion.py --part all          # everything (about 70 min on 2 CPU cores)
    python benchmarks/inversion.py --part report       # rebuild BENCHMARKS.md from cached results
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

import ganprior
from ganprior.io import fit_image, read_image
from ganprior.losses import DEFAULT_PERCEPTUAL_WEIGHT, build_loss
from ganprior.metrics import evaluate_images, psnr, ssim
from ganprior.tasks import build_degradation

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FACES = ROOT.parent / "shared" / "data" / "mganprior-examples" / "face"
warnings.filterwarnings("ignore")


def load_faces(limit: int | None = None) -> tuple[list[str], torch.Tensor]:
    files = sorted(FACES.glob("*.png"))[:limit]
    if not files:
        sys.exit(f"no faces under {FACES}: this benchmark needs ../shared beside the repository")
    return [f.name for f in files], torch.stack([fit_image(read_image(f)[0], 64) for f in files])


def save(part: str, data) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{part}.json").write_text(json.dumps(data, indent=1))


def mean_metrics(x: torch.Tensor, ref: torch.Tensor) -> dict:
    """Mean PSNR, SSIM, LPIPS (AlexNet) and colorization AuC over the images."""
    ms = evaluate_images(x, ref)
    return {k: float(np.mean([m[k] for m in ms])) for k in ("psnr", "ssim", "lpips", "auc")}


def part_perceptual(prior, faces) -> None:
    """Reconstruction with pixel MSE only vs MSE + VGG16 perceptual term (library defaults otherwise)."""
    inputs = ganprior.load_inputs(faces, "reconstruct", 64, simulate=True)
    out = {}
    for name, weight in (("mse", 0.0), ("mse+perceptual", DEFAULT_PERCEPTUAL_WEIGHT)):
        r = ganprior.restore_batch(inputs, slice(None), prior, "reconstruct", loss=build_loss(perceptual_weight=weight))
        out[name] = {**mean_metrics(r.images, faces), "seconds": r.seconds, "weight": weight}
        print(name, out[name], flush=True)
    save("perceptual", out)


def run_method(prior, faces, method: str, steps: int, **kw) -> dict:
    deg = build_degradation("reconstruct", 64)
    r = ganprior.invert(faces, deg, prior, method=method, steps=steps, **kw)
    return {"psnr": float(psnr(r.images, faces).mean()), "ssim": float(ssim(r.images, faces).mean()),
            "psnr_each": psnr(r.images, faces).tolist(), "seconds": r.seconds}


def part_grid(prior, faces, steps: int) -> None:
    rows = [{"method": "single", "layer": None, "codes": 1, **run_method(prior, faces, "single", steps)}]
    print(rows[-1]["psnr"], flush=True)
    for layer in (1, 2, 3, 4):
        for n in (1, 5, 10, 20, 30):
            r = run_method(prior, faces, "multi", steps, num_codes=n, layer=layer)
            rows.append({"method": "multi", "layer": layer, "codes": n, **r})
            print(f"layer {layer} N {n}: {r['psnr']:.2f} dB {r['seconds']:.0f}s", flush=True)
    save("grid", {"steps": steps, "rows": rows})


def part_default(prior, faces) -> None:
    out = {m: run_method(prior, faces, m, None) for m in ("single", "multi")}
    out["steps"] = 300
    print({k: v["psnr"] for k, v in out.items() if k != "steps"}, flush=True)
    save("default", out)


def baseline(task: str, y: torch.Tensor, mask: torch.Tensor | None, sigma: float) -> dict[str, torch.Tensor]:
    """The classical answers of this historical table (``ganprior.baselines``; restoration.py has them all)."""
    from ganprior.baselines import colorize, denoise, fill, upsample
    if task == "super-resolve":
        return {"bicubic": upsample(y, 64, "bicubic"), "lanczos": upsample(y, 64, "lanczos")}
    if task == "inpaint":
        return {"biharmonic": fill(y, mask)}
    if task == "colorize":
        return {"gray input": colorize(y)}
    if task == "denoise":
        return {"non-local means": denoise(y, sigma, "nl-means")}
    return {}


TASK_CASES = [
    ("reconstruct", {}),
    ("colorize", {}),
    ("super-resolve", {"factor": 4}),
    ("super-resolve", {"factor": 8}),
    ("inpaint", {"mask": "center"}),
    ("inpaint", {"mask": "random:0.8"}),
    ("denoise", {"noise_sigma": 0.1}),
    ("colorize+inpaint+super-resolve", {"factor": 2, "mask": "center"}),
]


def part_tasks(prior, faces) -> None:
    rows = []
    for task, opts in TASK_CASES:
        inputs = ganprior.load_inputs(faces, task, 64, simulate=True, factor=opts.get("factor"),
                                      mask=opts.get("mask"), noise_sigma=opts.get("noise_sigma"))
        label = task + "".join(f" {k}={v}" for k, v in opts.items())
        r = ganprior.restore_batch(inputs, slice(None), prior, task, factor=opts.get("factor"),
                                   noise_sigma=opts.get("noise_sigma"))
        row = {"task": label, "ganprior": {**mean_metrics(r.images, faces),
                                           "seconds_per_image": r.seconds / len(faces)}, "baselines": {}}
        if "+" not in task:
            for name, x in baseline(task, inputs.observed, inputs.masks, opts.get("noise_sigma", 0.0)).items():
                row["baselines"][name] = mean_metrics(x, faces)
        print(label, row["ganprior"], row["baselines"], flush=True)
        rows.append(row)
    save("tasks", {"rows": rows, "steps": 300})


def report() -> None:
    def load(part):
        f = RESULTS / f"{part}.json"
        return json.loads(f.read_text()) if f.exists() else None

    grid, default, tasks = load("grid"), load("default"), load("tasks")
    perc = load("perceptual")
    lines = ["# Benchmarks", "",
             "All numbers: CPU (2 cores), prior `dcgan-digiface64` (64x64), the 21 aligned faces of "
             "`../shared/data/mganprior-examples/face` brought to 64x64 by the default fit policy (centre crop, "
             "antialiased bicubic). Faces are real photos; the prior was trained on synthetic DigiFace-1M "
             "faces, so these are out-of-distribution inversions.", "",
             "Reproduce: `.venv/bin/python benchmarks/inversion.py --part all` (about 70 min on 2 cores), "
             "or one `--part grid|default|tasks|perceptual`, then `--part report`. "
             "NIQE is not reported: it needs 96x96 blocks and these images are 64x64.", ""]
    if default:
        s, m = default["single"], default["multi"]
        lines += ["## Reconstruction: multi-code vs single-code, library defaults", "",
                  f"{default['steps']} Adam steps each (single: lr 0.1; multi: N=20 codes at layer 2, lr 0.03).", "",
                  "| method | PSNR (dB) | SSIM | seconds (21 images, batched) |", "|---|---|---|---|",
                  f"| single code | {s['psnr']:.2f} | {s['ssim']:.3f} | {s['seconds']:.0f} |",
                  f"| multi-code (mGANprior) | {m['psnr']:.2f} | {m['ssim']:.3f} | {m['seconds']:.0f} |", "",
                  f"Gain: **{m['psnr'] - s['psnr']:+.2f} dB** mean PSNR. Per image, multi-code wins on "
                  f"{sum(a > b for a, b in zip(m['psnr_each'], s['psnr_each']))} of 21 faces.", ""]
    if grid:
        rows = grid["rows"]
        single = rows[0]
        lines += [f"## Codes x composition layer ({grid['steps']} steps each, equal for all)", "",
                  f"Single code: {single['psnr']:.2f} dB / SSIM {single['ssim']:.3f}.", "",
                  "PSNR (dB) of multi-code:", "",
                  "| layer (size, channels) | N=1 | N=5 | N=10 | N=20 | N=30 |", "|---|---|---|---|---|---|"]
        layer_desc = {1: "1 (4x4, 512)", 2: "2 (8x8, 256)", 3: "3 (16x16, 128)", 4: "4 (32x32, 64)"}
        for layer in (1, 2, 3, 4):
            vals = [r for r in rows if r["layer"] == layer]
            lines.append(f"| {layer_desc[layer]} | " + " | ".join(f"{r['psnr']:.2f}" for r in vals) + " |")
        lines += ["", "![PSNR vs number of codes](benchmarks/inversion_grid.png)", ""]
        _plot_grid(rows)
    if tasks:
        lines += ["## Tasks (`--simulate`) against classical baselines", "",
                  "ganprior: library defaults (multi-code, 300 steps, task presets), pixel MSE loss. Metrics on the "
                  "clean 64x64 faces: PSNR (dB, higher better) / SSIM (higher better) / LPIPS-AlexNet (lower "
                  "better) / colorization AuC (%, higher better). Best PSNR per row in bold.", "",
                  "| task | method | PSNR | SSIM | LPIPS | AuC | s / image |", "|---|---|---|---|---|---|---|"]
        for row in tasks["rows"]:
            entries = [("ganprior", row["ganprior"])] + list(row["baselines"].items())
            best = max(v["psnr"] for _, v in entries)
            for i, (name, v) in enumerate(entries):
                p = f"**{v['psnr']:.2f}**" if v["psnr"] == best and len(entries) > 1 else f"{v['psnr']:.2f}"
                sec = f"{v['seconds_per_image']:.1f}" if "seconds_per_image" in v else "-"
                lines.append(f"| {row['task'] if i == 0 else ''} | {name} | {p} | {v['ssim']:.3f} | "
                             f"{v.get('lpips', float('nan')):.3f} | {v.get('auc', float('nan')):.2f} | {sec} |")
        lines += [""]
    if perc:
        a, b = perc["mse"], perc["mse+perceptual"]
        lines += ["## Perceptual loss (VGG16 conv4_3), reconstruction of the 21 faces", "",
                  "Library defaults (multi-code, N=20, layer 2, 300 steps); the only change is the loss.", "",
                  "| loss | PSNR (dB) | SSIM | LPIPS-AlexNet | seconds (21 images) |", "|---|---|---|---|---|",
                  f"| pixel MSE | {a['psnr']:.2f} | {a['ssim']:.3f} | {a['lpips']:.4f} | {a['seconds']:.0f} |",
                  f"| MSE + {b['weight']:g} x perceptual | {b['psnr']:.2f} | {b['ssim']:.3f} | {b['lpips']:.4f} | "
                  f"{b['seconds']:.0f} |", ""]
    notes = RESULTS / "notes.md"
    if notes.exists():
        lines += [notes.read_text().strip(), ""]
    # sections written by the other benchmark scripts (subspace.py, prior_quality.py)
    for section in ("pipeline.md", "restoration.md", "throughput.md", "subspace.md", "prior_quality.md", "dgp.md",
                    "defense.md", "editing.md", "reliability.md", "detect_faces.md", "photos.md",
                    "real_photo.md", "encoder_start.md", "time_to_quality.md"):
        if (RESULTS / section).exists():
            lines += [(RESULTS / section).read_text().strip(), ""]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(lines))
    print("wrote", ROOT / "BENCHMARKS.md")


def _plot_grid(rows) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=110)
    for layer in (1, 2, 3, 4):
        vals = [r for r in rows if r["layer"] == layer]
        ax.plot([r["codes"] for r in vals], [r["psnr"] for r in vals], marker="o", label=f"multi, layer {layer}")
    ax.axhline(rows[0]["psnr"], color="k", ls="--", label="single code")
    ax.set_xlabel("number of codes N")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Reconstruction of 21 real faces (64x64)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(ROOT / "benchmarks" / "inversion_grid.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", default="all",
                    choices=["all", "grid", "default", "tasks", "perceptual", "report"])
    ap.add_argument("--grid-steps", type=int, default=100)
    a = ap.parse_args()
    torch.set_num_threads(2)
    if a.part != "report":
        prior = ganprior.load_prior("dcgan-digiface64")  # the numbers above were measured on this prior
        _, faces = load_faces()
        if a.part in ("all", "default"):
            part_default(prior, faces)
        if a.part in ("all", "tasks"):
            part_tasks(prior, faces)
        if a.part in ("all", "perceptual"):
            part_perceptual(prior, faces)
        if a.part in ("all", "grid"):
            part_grid(prior, faces, a.grid_steps)
    report()


if __name__ == "__main__":
    main()
