"""Adversarial defense with GAN priors (DGP's Sec. 4.3 on our 64 px faces), measured.

1. ``classifier``: a small CNN (``attributes.AttributeNet``) learns gender from UTKFace file names
   on the training split, the 23,047 images ``ganprior train`` used; the 200 held-out images
   (smallest SHA-256 of the file name) are never seen. Its weights are a benchmark asset,
   ``benchmarks/assets/gender64.safetensors`` (UTKFace licence: non-commercial research only, and
   so are these weights).
2. ``attack``: PGD, L-infinity 8/255, step 2/255, 10 iterations, random start, untargeted
   cross-entropy, against the classifier alone (the defense is not differentiated through: DGP's
   gray-box setting).
3. ``defend``: every defense sees only the attacked image and returns an image for the classifier:
   JPEG (quality 75), Gaussian blur (sigma 1), and reconstruction by multi-code and by DGP
   (``utkface64``), each stopping per image once the observation MSE is below 5e-3 ([0, 1] scale;
   ``--stop-mse``), so the prior rebuilds the face before it can rebuild the perturbation.
   Defenses run on the clean images too: a defense that costs clean accuracy is not free.

    python benchmarks/defense.py                   # all parts, about 40 min on 2 CPU cores
    python benchmarks/defense.py --part report     # rebuild the section from cached numbers
"""

from __future__ import annotations

import argparse
import io
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.transforms.functional import gaussian_blur

import ganprior
from ganprior.io import fit_image, make_sheet, read_image, save_image, stack_rows
from ganprior.tasks import build_degradation
from ganprior.training import holdout_files

from attributes import (UTKFACE, AttributeNet, evaluate, labels_of, load_attribute_net, metadata, need_data,
                        train_attribute_net)
from sections import stale_weights_note, weights_record, write_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ASSET = ROOT / "benchmarks" / "assets" / "gender64.safetensors"
EPS, STEP, ITERS = 8 / 255, 2 / 255, 10
STOP_MSE = 5e-3
warnings.filterwarnings("ignore")


def part_classifier(epochs: int) -> None:
    train_attribute_net(ASSET, part="all", age=False, epochs=epochs)


def accuracy(net: AttributeNet, x: torch.Tensor, labels: torch.Tensor) -> float:
    return evaluate(net, x, labels)["gender_accuracy"]


def pgd(net: nn.Module, x: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Untargeted L-infinity PGD with a random start; returns images in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    adv = (x + (torch.rand(x.shape, generator=g) * 2 - 1) * EPS).clamp(0, 1)
    for _ in range(ITERS):
        adv.requires_grad_(True)
        loss = nn.functional.cross_entropy(net(adv), labels)
        (grad,) = torch.autograd.grad(loss, adv)
        adv = (adv.detach() + STEP * grad.sign()).clamp(x - EPS, x + EPS).clamp(0, 1)
    return adv.detach()


def jpeg(x: torch.Tensor, quality: int = 75) -> torch.Tensor:
    out = []
    for img in x:
        buf = io.BytesIO()
        Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(buf, "JPEG",
                                                                                             quality=quality)
        buf.seek(0)
        out.append(torch.from_numpy(np.asarray(Image.open(buf).convert("RGB")).copy()).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def blur(x: torch.Tensor) -> torch.Tensor:
    return gaussian_blur(x, kernel_size=5, sigma=1.0)


def reconstruct(x: torch.Tensor, prior, method: str, batch: int,
                max_steps: int | None) -> tuple[torch.Tensor, list[int]]:
    """Reconstruct each image with ``prior``, stopping at observation MSE < STOP_MSE."""
    deg = build_degradation("reconstruct", 64)
    outs, steps = [], []
    for chunk in x.split(batch):
        r = ganprior.invert(chunk, deg, prior, method=method, steps=max_steps, stop_mse=STOP_MSE)
        outs.append(r.images)
        steps += [int(s) if s else r.steps for s in r.stopped_at]
    return torch.cat(outs), steps


def part_eval(limit: int, batch: int) -> None:
    need_data()
    net = load_attribute_net(ASSET)
    # evenly spread over the held-out list: it is sorted by name, i.e. by age
    files = holdout_files(UTKFACE, 200)[::max(1, 200 // limit)][:limit]
    x = torch.stack([fit_image(read_image(f)[0], 64) for f in files])
    labels = labels_of(files)[0]
    adv = pgd(net, x, labels)
    rows = {"clean": {"clean": accuracy(net, x, labels), "attacked": accuracy(net, adv, labels)}}
    print(rows, flush=True)
    prior = ganprior.load_prior("utkface64")
    defenses = {"JPEG q75": jpeg, "Gaussian blur sigma 1": blur,
                "multi-code (utkface64)": lambda v: reconstruct(v, prior, "multi", batch, 300),
                "DGP (utkface64)": lambda v: reconstruct(v, prior, "dgp", batch, None)}
    examples = {"clean": x[:6], "attacked": adv[:6]}
    for name, fn in defenses.items():
        row = {}
        for which, inp in (("clean", x), ("attacked", adv)):
            t0 = time.time()
            out = fn(inp)
            out, steps = out if isinstance(out, tuple) else (out, None)
            row[which] = accuracy(net, out, labels)
            row[f"{which}_seconds_per_image"] = (time.time() - t0) / len(inp)
            if steps is not None:
                row[f"{which}_mean_steps"] = float(np.mean(steps))
            if which == "attacked":
                examples[name] = out[:6]
        rows[name] = row
        print(name, row, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "defense.json").write_text(json.dumps({"images": len(files), "eps": "8/255", "pgd_steps": ITERS,
                                                       "stop_mse": STOP_MSE, "prior": "utkface64", **weights_record(prior),
                                                       "rows": rows}, indent=1))
    sheet = [make_sheet(list(v), [k] + [""] * 5, tile=96) for k, v in examples.items()]
    save_image(stack_rows(sheet), ROOT / "benchmarks" / "defense_examples.png")


def report() -> None:
    f = RESULTS / "defense.json"
    if not f.exists():
        return
    r = json.loads(f.read_text())
    meta = metadata(ASSET)
    lines = ["## Adversarial defense (DGP Sec. 4.3)", "",
             f"Gender classifier (`benchmarks/assets/gender64.safetensors`, a 4-block CNN trained on the UTKFace "
             f"training split, validation accuracy {float(meta.get('validation_gender_accuracy', 'nan')):.3f}; UTKFace "
             f"licence: non-commercial research only). {r['images']} held-out UTKFace faces at 64x64, attacked "
             f"with PGD (L-inf {r['eps']}, {r['pgd_steps']} steps of 2/255, random start) on the classifier. "
             f"Each defense sees the attacked (or the clean) image; the reconstructions stop per image once the "
             f"observation MSE is below {r['stop_mse']:g}. Reproduce: `.venv/bin/python benchmarks/defense.py`.", "",
             *stale_weights_note(r, r.get("prior", "utkface64")),
             "| input to the classifier | accuracy on clean | accuracy on attacked | s / image | mean steps (attacked) |",
             "|---|---|---|---|---|"]
    for name, row in r["rows"].items():
        label = "no defense" if name == "clean" else name
        sec = f"{row['attacked_seconds_per_image']:.2f}" if "attacked_seconds_per_image" in row else "-"
        steps = f"{row['attacked_mean_steps']:.0f}" if "attacked_mean_steps" in row else "-"
        lines.append(f"| {label} | {row['clean'] * 100:.1f}% | {row['attacked'] * 100:.1f}% | {sec} | {steps} |")
    lines += ["", "![defense](benchmarks/defense_examples.png)", ""]
    write_section("defense", lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", default="all", choices=["all", "classifier", "eval", "report"])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--images", type=int, default=40,
                    help="held-out images to attack and defend, spread over all ages (40: the CPU budget)")
    ap.add_argument("--batch", type=int, default=20, help="images per reconstruction batch")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()
    if a.part in ("all", "classifier"):
        part_classifier(a.epochs)
    if a.part in ("all", "eval"):
        part_eval(a.images, a.batch)
    report()
    print(f"done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
