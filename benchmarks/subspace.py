"""PmSFC benchmark: subspace composition against multi-code (mGANprior), an R x K sweep, and the
smoothness of feature-space interpolation. Prior: `dcgan-digiface64`, layer 2 (8x8, 256 channels).

Parts (each caches benchmarks/results/subspace_<part>.json; the report section is
benchmarks/results/subspace.md, which `benchmarks/inversion.py --part report` folds into BENCHMARKS.md):

* versus: reconstruction at equal steps (300) on the 21 faces and on 21 held-out UTKFace faces (the
          first 21, by name, of the 200 that `ganprior train`'s rule holds out): multi-code N=20 (the
          default) and subspace R=6 x K=5 (the default) on both sets; on the 21 faces also multi-code
          with as many parameters as the subspace method (N=12) and subspace with random channel
          groups of the same sizes (a control: does the discovered clustering matter?)
* rk:     R in {2, 4, 6, 8} x K in {1, 3, 5} on the first 8 of the 21 faces, 200 steps
* lr:     learning rate of both methods on every fourth of the 21 faces (the subset the multi-code
          defaults were tuned on), 300 steps: is the subspace method only losing for want of tuning?
* tuned:  the subspace method at its best learning rate from `lr` (0.1, now its default) on both
          sets of `versus`, with and without the discovered groups
* smooth: interpolation between 4 pairs of the 21 faces (9 frames), largest consecutive-frame jump
          in RMSE and LPIPS, multi vs subspace

    python benchmarks/subspace.py --part all        # about 60 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import ganprior
from ganprior.editing import feature_interpolation, max_jump
from ganprior.io import fit_image, read_image
from ganprior.metrics import psnr, ssim
from ganprior.tasks import build_degradation
from ganprior.subspaces import Subspaces, discover_subspaces
from ganprior.training import holdout_files

from sections import write_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED = ROOT.parent / "shared" / "data"
PRIOR = "dcgan-digiface64"
LAYER = 2
warnings.filterwarnings("ignore")


def load_set(name: str) -> torch.Tensor:
    if name == "faces21":
        files = sorted((SHARED / "mganprior-examples" / "face").glob("*.png"))
    else:
        files = holdout_files(SHARED / "utkface", 200)[:21]
    if not files:
        sys.exit(f"no images for {name} under {SHARED}: this benchmark needs ../shared beside the repository")
    return torch.stack([fit_image(read_image(f)[0], 64) for f in files])


def invert(prior, images, method, steps, lr=None, **kw):
    deg = build_degradation("reconstruct", 64)
    r = ganprior.invert(images, deg, prior, method=method, steps=steps, lr=lr, layer=LAYER, **kw)
    per_image = sum(p.numel() for p in r.parameterization.parameters()) // images.shape[0]
    return r, {"psnr": float(psnr(r.images, images).mean()), "ssim": float(ssim(r.images, images).mean()),
               "psnr_each": psnr(r.images, images).tolist(), "params_per_image": int(per_image),
               "seconds": round(r.seconds, 1)}


def random_groups(sub: Subspaces, seed: int = 0) -> Subspaces:
    """Same group sizes as ``sub``, channels assigned at random."""
    rng = np.random.default_rng(seed)
    groups = rng.permutation(sub.groups)
    return Subspaces(sub.layer, sub.num_subspaces, groups, sub.self_expression, sub.history)


def part_versus(prior) -> dict:
    sub = discover_subspaces(prior, LAYER, 6)
    out = {"steps": 300, "sets": {}}
    cases = [("multi N=20", "multi", {"num_codes": 20}),
             ("subspace R=6 K=5", "subspace", {"num_subspaces": 6, "num_codes": 5, "subspaces": sub}),
             ("multi N=12", "multi", {"num_codes": 12}),
             ("subspace R=6 K=5, random groups", "subspace",
              {"num_subspaces": 6, "num_codes": 5, "subspaces": random_groups(sub)})]
    for name in ("faces21", "utkface_holdout21"):
        images = load_set(name)
        rows = {}
        for label, method, kw in (cases if name == "faces21" else cases[:2]):
            _, rows[label] = invert(prior, images, method, 300, **kw)
            print(name, label, f"{rows[label]['psnr']:.2f} dB", rows[label]["params_per_image"], "params",
                  f"{rows[label]['seconds']:.0f}s", flush=True)
        out["sets"][name] = rows
    save("versus", out)
    return out


def part_rk(prior) -> dict:
    images = load_set("faces21")[:8]
    rows = []
    for r in (2, 4, 6, 8):
        sub = discover_subspaces(prior, LAYER, r)
        for k in (1, 3, 5):
            _, m = invert(prior, images, "subspace", 200, num_subspaces=r, num_codes=k, subspaces=sub)
            rows.append({"R": r, "K": k, **m})
            print(f"R={r} K={k}: {m['psnr']:.2f} dB, {m['params_per_image']} params, {m['seconds']:.0f}s", flush=True)
    multi = []
    for n in (6, 12, 20, 30):
        _, m = invert(prior, images, "multi", 200, num_codes=n)
        multi.append({"N": n, **m})
        print(f"multi N={n}: {m['psnr']:.2f} dB, {m['params_per_image']} params", flush=True)
    out = {"steps": 200, "images": 8, "rows": rows, "multi": multi}
    save("rk", out)
    return out


def part_lr(prior) -> dict:
    images = load_set("faces21")[::4]
    sub = discover_subspaces(prior, LAYER, 6)
    rows = []
    for lr in (0.01, 0.03, 0.1):
        for label, method, kw in (("multi N=20", "multi", {"num_codes": 20}),
                                  ("subspace R=6 K=5", "subspace", {"num_subspaces": 6, "num_codes": 5,
                                                                     "subspaces": sub})):
            _, m = invert(prior, images, method, 300, lr=lr, **kw)
            rows.append({"method": label, "lr": lr, **m})
            print(f"{label} lr {lr}: {m['psnr']:.2f} dB", flush=True)
    out = {"steps": 300, "images": int(images.shape[0]), "rows": rows}
    save("lr", out)
    return out


def part_tuned(prior) -> dict:
    sub = discover_subspaces(prior, LAYER, 6)
    out = {"steps": 300, "lr": 0.1, "sets": {}}
    for name in ("faces21", "utkface_holdout21"):
        images = load_set(name)
        rows = {}
        cases = [("subspace R=6 K=5, lr 0.1", sub)]
        if name == "faces21":
            cases.append(("subspace R=6 K=5, random groups, lr 0.1", random_groups(sub)))
        for label, groups in cases:
            _, rows[label] = invert(prior, images, "subspace", 300, lr=0.1, num_subspaces=6, num_codes=5,
                                    subspaces=groups)
            print(name, label, f"{rows[label]['psnr']:.2f} dB", flush=True)
        out["sets"][name] = rows
    save("tuned", out)
    return out


def part_smooth(prior) -> dict:
    images = load_set("faces21")
    pairs = [(0, 1), (2, 3), (4, 5), (6, 7)]
    out = {"frames": 9, "pairs": pairs, "methods": {}}
    for method in ("multi", "subspace"):
        firsts = torch.stack([images[a] for a, _ in pairs])
        seconds = torch.stack([images[b] for _, b in pairs])
        batch = torch.cat([firsts, seconds])
        r, m = invert(prior, batch, method, 300)
        jumps_px, jumps_lp, ends = [], [], []
        n = len(pairs)
        for i in range(n):
            frames = feature_interpolation(r.parameterization, i, n + i, frames=9)
            jumps_px.append(max_jump(frames, "pixel"))
            jumps_lp.append(max_jump(frames, "lpips"))
            # a perfectly even path would have every step 1/8 of the endpoint distance
            ends.append(float((frames[0] - frames[-1]).pow(2).mean().sqrt()) / 8)
        out["methods"][method] = {"max_jump_rmse": jumps_px, "max_jump_lpips": jumps_lp,
                                  "even_step_rmse": ends, "psnr": m["psnr"]}
        print(method, np.mean(jumps_px), np.mean(jumps_lp), np.mean(ends), flush=True)
    save("smooth", out)
    return out


def save(part: str, data) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"subspace_{part}.json").write_text(json.dumps(data, indent=1))


def load(part: str):
    f = RESULTS / f"subspace_{part}.json"
    return json.loads(f.read_text()) if f.exists() else None


def report() -> None:
    versus, rk, smooth, lrs, tuned = load("versus"), load("rk"), load("smooth"), load("lr"), load("tuned")
    lines = ["## PmSFC: subspace composition vs multi-code", "",
             f"Prior `{PRIOR}`, layer {LAYER} (8x8, 256 channels), pixel MSE, Adam lr 0.03 for both methods unless "
             "a row says otherwise, same seeds. Subspaces from `ganprior subspaces` defaults (3000 Adam steps, lambda 10, mu 1, "
             "seed 0). Parameters are counted per image (codes + importance / weight vectors). "
             "Reproduce: `.venv/bin/python benchmarks/subspace.py --part all` (about 60 min on 2 cores).", ""]
    if versus:
        lines += [f"### Equal steps ({versus['steps']})", "",
                  "| set | method | params / image | PSNR (dB) | SSIM | seconds |", "|---|---|---|---|---|---|"]
        names = {"faces21": "21 faces", "utkface_holdout21": "21 held-out UTKFace"}
        for key, rows in versus["sets"].items():
            rows = {**rows, **(tuned["sets"].get(key, {}) if tuned else {})}
            for i, (label, m) in enumerate(rows.items()):
                lines.append(f"| {names[key] if i == 0 else ''} | {label} | {m['params_per_image']} | "
                             f"{m['psnr']:.2f} | {m['ssim']:.3f} | {m['seconds']:.0f} |")
        lines += [""]
    if rk:
        ks = sorted({r["K"] for r in rk["rows"]})
        lines += [f"### R x K sweep ({rk['steps']} steps, first {rk['images']} of the 21 faces)", "",
                  "PSNR (dB), with parameters per image in brackets:", "",
                  "| R \\ K | " + " | ".join(f"K={k}" for k in ks) + " |", "|---" * (len(ks) + 1) + "|"]
        for r in sorted({row["R"] for row in rk["rows"]}):
            cells = [next(x for x in rk["rows"] if x["R"] == r and x["K"] == k) for k in ks]
            lines.append(f"| R={r} | " + " | ".join(f"{c['psnr']:.2f} ({c['params_per_image']})" for c in cells) + " |")
        lines += ["", "Multi-code on the same images and steps: " +
                  ", ".join(f"N={m['N']}: {m['psnr']:.2f} dB ({m['params_per_image']})" for m in rk["multi"]) + ".", ""]
    if lrs:
        lr_values = sorted({r["lr"] for r in lrs["rows"]})
        lines += [f"### Learning rate ({lrs['steps']} steps, every fourth of the 21 faces: {lrs['images']} images)", "",
                  "| method | " + " | ".join(f"lr {v:g}" for v in lr_values) + " |", "|---" * (len(lr_values) + 1) + "|"]
        for method in dict.fromkeys(r["method"] for r in lrs["rows"]):
            cells = [next(r for r in lrs["rows"] if r["method"] == method and r["lr"] == v) for v in lr_values]
            lines.append(f"| {method} | " + " | ".join(f"{c['psnr']:.2f}" for c in cells) + " |")
        lines += [""]
    if smooth:
        lines += [f"### Interpolation smoothness ({smooth['frames']} frames, {len(smooth['pairs'])} face pairs)", "",
                  "Largest distance between consecutive frames of a feature-space blend (lower = smoother). "
                  "An evenly paced path would have every step equal to 1/8 of the endpoints' distance.", "",
                  "| method | max jump RMSE | max jump LPIPS | even step RMSE | reconstruction PSNR |",
                  "|---|---|---|---|---|"]
        for method, m in smooth["methods"].items():
            lines.append(f"| {method} | {np.mean(m['max_jump_rmse']):.4f} | {np.mean(m['max_jump_lpips']):.4f} | "
                         f"{np.mean(m['even_step_rmse']):.4f} | {m['psnr']:.2f} |")
        lines += [""]
    write_section("subspace", lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", default="all", choices=["all", "versus", "rk", "lr", "tuned", "smooth", "report"])
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()
    if a.part != "report":
        prior = ganprior.load_prior(PRIOR)
        if a.part in ("all", "versus"):
            part_versus(prior)
        if a.part in ("all", "rk"):
            part_rk(prior)
        if a.part in ("all", "lr"):
            part_lr(prior)
        if a.part in ("all", "tuned"):
            part_tuned(prior)
        if a.part in ("all", "smooth"):
            part_smooth(prior)
    report()
    print(f"done in {time.time() - t0:.0f}s; section written to {RESULTS / 'subspace.md'}")


if __name__ == "__main__":
    main()
