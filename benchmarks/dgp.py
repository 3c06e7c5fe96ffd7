"""DGP (deep generative prior) on held-out real faces with the `utkface64` prior and its discriminator.

Parts (numbers cached in benchmarks/results/dgp_<part>.json; the report is rebuilt from them):

* recon:    reconstruction PSNR/SSIM and seconds per image of DGP (the paper's schedule: 1,000 steps,
            discriminator features + MSE, progressive) against multi-code (N=20, layer 2) and
            single-code (300 steps each, the library defaults); also writes a sheet of DGP morphs
            and jitters of the reconstructed faces (benchmarks/dgp_editing.png).
* ablation: colorization like DGP's Table 4: the colorization schedule with the feature term set to
            MSE, VGG16 perceptual, discriminator features (all blocks tuned from the start), and
            discriminator features with the progressive schedule; PSNR and colorization AuC
            against the colour ground truth, output in Lab with L from the gray input.

Faces: the first images of the 200 held-out UTKFace faces (`ganprior.training.holdout_files`,
never trained on), 64x64.

    python benchmarks/dgp.py                       # all parts, about 2 h on 2 CPU cores
    python benchmarks/dgp.py --part report         # rebuild the section from cached numbers
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
from ganprior.editing import dgp_jitter, dgp_morph
from ganprior.io import fit_image, make_sheet, read_image, save_image, stack_rows, to_gray
from ganprior.metrics import colorization_auc, psnr, ssim
from ganprior.tasks import build_degradation
from ganprior.training import holdout_files

from sections import stale_weights_note, weights_record, write_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
UTKFACE = ROOT.parent / "shared" / "data" / "utkface"
PRIOR = "utkface64"
warnings.filterwarnings("ignore")

# (label, method, options)
RECON = (("single-code", "single", {"steps": 300}),
         ("multi-code N=20", "multi", {"steps": 300}),
         ("DGP", "dgp", {}))
# (label, loss, progressive)
ABLATION = (("MSE", "mse", True), ("perceptual (VGG16)", "perceptual", True),
            ("discriminator", "discriminator", False), ("discriminator + progressive", "discriminator", True))


def load_faces(count: int, spread: bool) -> torch.Tensor:
    """The first ``count`` held-out faces, or ``count`` evenly spread over the list (it is sorted by
    name, i.e. by age, so the first ones are all children and teenagers)."""
    if not UTKFACE.is_dir():
        sys.exit(f"{UTKFACE} not found: this benchmark needs ../shared beside the repository")
    files = holdout_files(UTKFACE, 200)
    files = files[::max(1, len(files) // count)][:count] if spread else files[:count]
    return torch.stack([fit_image(read_image(f)[0], 64) for f in files])


def run(prior, faces: torch.Tensor, task: str, batch: int, **options) -> tuple[torch.Tensor, float, list]:
    deg = build_degradation(task, 64)
    outs, seconds, results = [], 0.0, []
    for chunk in faces.split(batch):
        r = ganprior.invert(deg.A(chunk), deg, prior, **options)
        outs.append(r.images)
        seconds += r.seconds
        results.append(r)
    return torch.cat(outs), seconds, results


def part_recon(count: int, batch: int) -> None:
    prior = ganprior.load_prior(PRIOR)
    faces = load_faces(count, spread=False)
    rows, examples, dgp_results = {}, {"truth": faces[:6]}, None
    for label, method, options in RECON:
        out, seconds, results = run(prior, faces, "reconstruct", batch, method=method, **options)
        each = psnr(out, faces)
        rows[label] = {"psnr": float(each.mean()), "ssim": float(ssim(out, faces).mean()), "psnr_each": each.tolist(),
                       "seconds_per_image": seconds / len(faces), "steps": results[0].steps}
        examples[label] = out[:6]
        if method == "dgp":
            dgp_results = results[0]
        print(label, {k: v for k, v in rows[label].items() if k != "psnr_each"}, flush=True)
    (RESULTS / "dgp_recon.json").write_text(json.dumps({"images": count, "prior": PRIOR, **weights_record(prior), "rows": rows},
                                                            indent=1))
    sheet = [make_sheet(list(v), [k] + [""] * 5, tile=96) for k, v in examples.items()]
    save_image(stack_rows(sheet), ROOT / "benchmarks" / "dgp_recon_examples.png")
    editing_sheet(dgp_results)


def part_equal_steps(batch: int) -> None:
    """Multi-code given DGP's 1,000 steps too, added to the recon rows: DGP's gain is not just steps."""
    f = RESULTS / "dgp_recon.json"
    if not f.exists():
        sys.exit("run --part recon first")
    r = json.loads(f.read_text())
    prior = ganprior.load_prior(PRIOR)
    faces = load_faces(r["images"], spread=False)
    steps = r["rows"]["DGP"]["steps"]
    out, seconds, results = run(prior, faces, "reconstruct", batch, method="multi", steps=steps)
    each = psnr(out, faces)
    r["rows"][f"multi-code N=20, {steps} steps"] = {
        "psnr": float(each.mean()), "ssim": float(ssim(out, faces).mean()), "psnr_each": each.tolist(),
        "seconds_per_image": seconds / len(faces), "steps": steps}
    f.write_text(json.dumps(r, indent=1))


def editing_sheet(result) -> None:
    """Morphs between reconstructed faces 0-1 and 2-3 and jitters of faces 0 and 2 (std 0.3, 0.5)."""
    rows = []
    for a, b in ((0, 1), (2, 3)):
        frames = dgp_morph(result, frames=8, first_image=a, second_image=b)
        rows.append(make_sheet(list(frames), [f"morph {a}->{b}"] + [""] * 7, tile=96))
    for image in (0, 2):
        for std in (0.3, 0.5):
            samples = dgp_jitter(result, num_samples=7, std=std, image=image, seed=image)
            rows.append(make_sheet([result.images[image], *samples],
                                   [f"face {image}", f"jitter std {std}"] + [""] * 6, tile=96))
    save_image(stack_rows(rows), ROOT / "benchmarks" / "dgp_editing.png")


def part_ablation(count: int, batch: int, steps: int | None) -> None:
    prior = ganprior.load_prior(PRIOR)
    faces = load_faces(count, spread=True)
    rows, examples = {}, {"truth": faces[:6], "input": to_gray(faces[:6]).expand(-1, 3, -1, -1)}
    for label, loss, progressive in ABLATION:
        out, seconds, results = run(prior, faces, "colorize", batch, method="dgp", loss=loss,
                                    progressive=progressive, steps=steps)
        rows[label] = {"psnr": float(psnr(out, faces).mean()), "auc": float(colorization_auc(out, faces).mean()),
                       "seconds_per_image": seconds / len(faces), "steps": results[0].steps}
        examples[label] = out[:6]
        print(label, rows[label], flush=True)
    (RESULTS / "dgp_ablation.json").write_text(json.dumps({"images": count, "prior": PRIOR, **weights_record(prior), "rows": rows},
                                                            indent=1))
    sheet = [make_sheet(list(v), [k] + [""] * 5, tile=96) for k, v in examples.items()]
    save_image(stack_rows(sheet), ROOT / "benchmarks" / "dgp_ablation_examples.png")


def report() -> None:
    lines = ["## DGP: generator fine-tuning on held-out real faces", ""]
    f = RESULTS / "dgp_recon.json"
    if f.exists():
        r = json.loads(f.read_text())
        rows = r["rows"]
        dgp, multi = np.array(rows["DGP"]["psnr_each"]), np.array(rows["multi-code N=20"]["psnr_each"])
        lines += [f"Reconstruction of the first {r['images']} held-out UTKFace faces with `{r['prior']}` "
                  "(64x64, never trained on; the list is sorted by file name, so these are ages 1 to 20). DGP runs the paper's SR schedule (5 stages, 1,000 steps: "
                  "discriminator features + MSE, blocks unfrozen shallow to deep); multi-code and single-code "
                  "run the library defaults. Reproduce: `.venv/bin/python benchmarks/dgp.py --part recon`.", "",
                  *stale_weights_note(r, r["prior"]),
                  "| method | steps | PSNR (dB) | SSIM | s / image |", "|---|---|---|---|---|"]
        for label, row in rows.items():
            lines.append(f"| {label} | {row['steps']} | {row['psnr']:.2f} | {row['ssim']:.3f} | "
                         f"{row['seconds_per_image']:.1f} |")
        equal = [k for k in rows if k.startswith("multi-code N=20, ")]
        if equal:
            e = np.array(rows[equal[0]]["psnr_each"])
            lines += ["", f"At equal steps ({rows[equal[0]]['steps']}), DGP beats multi-code by "
                          f"{float((dgp - e).mean()):+.2f} dB, on {int((dgp > e).sum())} of {len(dgp)} faces."]
        lines += ["", f"With the defaults, DGP beats multi-code by {float((dgp - multi).mean()):+.2f} dB on average, on "
                      f"{int((dgp > multi).sum())} of {len(dgp)} faces.", "",
                  "![reconstructions](benchmarks/dgp_recon_examples.png)", "",
                  "Morphing (latent and fine-tuned weights interpolated together) and random jittering "
                  "(z* + std * n through each face's own fine-tuned generator) of those reconstructions:", "",
                  "![editing](benchmarks/dgp_editing.png)", ""]
    f = RESULTS / "dgp_ablation.json"
    if f.exists():
        r = json.loads(f.read_text())
        lines += [f"### Colorization ablation (DGP Table 4), {r['images']} held-out faces spread over all ages", "",
                  "The colorization schedule (5 stages; the paper's 1,400 steps rescaled to "
                  f"{next(iter(r['rows'].values()))['steps']}) with the feature term swapped; output in Lab "
                  "with L from the gray input, as DGP. AuC: the area under the cumulative ab-error curve "
                  "(0..150), higher is better. Reproduce: `.venv/bin/python benchmarks/dgp.py --part ablation`.", "",
                  *stale_weights_note(r, r["prior"]),
                  "| loss | PSNR (dB) | AuC (%) | s / image |", "|---|---|---|---|"]
        for label, row in r["rows"].items():
            lines.append(f"| {label} | {row['psnr']:.2f} | {row['auc']:.2f} | {row['seconds_per_image']:.1f} |")
        lines += ["", "![ablation](benchmarks/dgp_ablation_examples.png)", ""]
    write_section("dgp", lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", default="all", choices=["all", "recon", "equal", "ablation", "report"])
    ap.add_argument("--images", type=int, default=20, help="held-out faces for the reconstruction")
    ap.add_argument("--ablation-images", type=int, default=6, help="held-out faces for the ablation")
    ap.add_argument("--ablation-steps", type=int, default=600,
                    help="total steps of the colorization schedule (the paper's 1,400 cut for the CPU)")
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if a.part in ("all", "recon"):
        part_recon(a.images, a.batch)
    if a.part in ("all", "equal"):
        part_equal_steps(a.batch)
    if a.part in ("all", "ablation"):
        part_ablation(a.ablation_images, a.batch, a.ablation_steps)
    report()
    print(f"done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
