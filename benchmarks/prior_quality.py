"""Prior quality: `utkface64` against `dcgan-digiface64` on the 200 held-out UTKFace images.

A prior's quality shows where it must invent content, not where many codes can fit anything, so:

* reconstruction with a single code (how much of the real-face manifold the prior covers), PSNR/SSIM;
* multi-code x4 super-resolution and centre-box inpainting (`--simulate` style), PSNR against the truth.

Both priors run the same method, steps, learning rate, seeds and task presets. Held-out images:
`ganprior.training.holdout_files(../shared/data/utkface, 200)`, the same rule `ganprior train` used,
so `utkface64` never saw them. Also writes a sample grid of both priors.

    python benchmarks/prior_quality.py                      # about 45 min on 2 CPU cores
    python benchmarks/prior_quality.py --part report        # rebuild the section from cached numbers
    python benchmarks/prior_quality.py --part quick [--prior RUN/prior.safetensors]   # 1-min progress check
    python benchmarks/prior_quality.py --part fd [--prior RUN/prior.safetensors]      # sample realism, 2 min

``--part fd`` scores the samples themselves (not the inversions): the Frechet distance between the
pooled features of the benchmarks' attribute judge (``attributes.py``, a face CNN trained on half of
the training split) on 2,000 samples and on 2,000 training faces, with the distance between two
disjoint sets of 2,000 training faces as the floor. Lower is more realistic.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import torch
from torchvision.utils import make_grid

import ganprior
from ganprior.io import fit_image, make_sheet, read_image, save_image, stack_rows
from ganprior.metrics import psnr, ssim
from ganprior.tasks import build_degradation
from ganprior.training import holdout_files, list_images, split_holdout

from attributes import ASSETS, load_attribute_net, metadata
from sections import stale_weights_note, weights_record, write_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
UTKFACE = ROOT.parent / "shared" / "data" / "utkface"
PRIORS = ("utkface64", "dcgan-digiface64")
warnings.filterwarnings("ignore")

# (label, method, task, options)
CASES = (
    ("reconstruct, single code", "single", "reconstruct", {}),
    ("x4 super-resolution, multi-code", "multi", "super-resolve", {"factor": 4}),
    ("centre-box inpainting, multi-code", "multi", "inpaint", {"mask": "center"}),
)


def load_holdout(limit: int | None) -> torch.Tensor:
    if not UTKFACE.is_dir():
        sys.exit(f"{UTKFACE} not found: this benchmark needs ../shared beside the repository")
    files = holdout_files(UTKFACE, 200)[:limit]
    return torch.stack([fit_image(read_image(f)[0], 64) for f in files])


def run_case(prior, images, method, task, options, steps, batch) -> tuple[dict, torch.Tensor]:
    inputs = ganprior.load_inputs(images, task, 64, simulate=True, seed=0, **options)
    outs, seconds = [], 0.0
    for start in range(0, len(inputs), batch):
        r = ganprior.restore_batch(inputs, slice(start, start + batch), prior, task, method=method,
                                   steps=steps, factor=options.get("factor"))
        outs.append(r.images)
        seconds += r.seconds
    out = torch.cat(outs)
    return {"psnr": float(psnr(out, images).mean()), "ssim": float(ssim(out, images).mean()),
            "psnr_each": psnr(out, images).tolist(), "seconds": round(seconds, 1)}, out


def part_eval(limit: int | None, steps: dict, batch: int) -> None:
    images = load_holdout(limit)
    result = {"images": int(images.shape[0]), "steps": steps, "rows": {}}
    examples = {}
    for name in PRIORS:
        prior = ganprior.load_prior(name)
        if name == PRIORS[0]:  # the trained one (the other is a pinned package file)
            result.update(weights_record(prior))
        for label, method, task, options in CASES:
            m, out = run_case(prior, images, method, task, options, steps[method], batch)
            result["rows"].setdefault(label, {})[name] = m
            examples[(name, label)] = out[:6]
            print(f"{name:18s} {label:36s} {m['psnr']:.2f} dB  SSIM {m['ssim']:.3f}  {m['seconds']:.0f}s", flush=True)
    (RESULTS / "prior_quality.json").write_text(json.dumps(result, indent=1))
    rows = [make_sheet(list(images[:6]), [f"truth {i}" for i in range(6)], tile=96)]
    for label, *_ in CASES:
        for name in PRIORS:
            rows.append(make_sheet(list(examples[(name, label)]), [f"{name}: {label.split(',')[0]}"] + [""] * 5,
                                   tile=96))
    save_image(stack_rows(rows), ROOT / "benchmarks" / "prior_quality_examples.png")


def part_quick(prior_path: str | None) -> None:
    """Training progress check: single-code reconstruction, 150 steps, the last 20 held-out images
    (the first ones are used by benchmarks/subspace.py). ``prior_path``: a run's prior.safetensors."""
    if not UTKFACE.is_dir():
        sys.exit(f"{UTKFACE} not found: this benchmark needs ../shared beside the repository")
    files = holdout_files(UTKFACE, 200)[-20:]
    images = torch.stack([fit_image(read_image(f)[0], 64) for f in files])
    deg = build_degradation("reconstruct", 64)
    for name in (prior_path or PRIORS[0], PRIORS[1]):
        r = ganprior.invert(images, deg, ganprior.load_prior(name), method="single", steps=150)
        print(f"{name}: {float(psnr(r.images, images).mean()):.2f} dB ({r.seconds:.0f}s)", flush=True)


FD_IMAGES = 2000


def _judge_features(net, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([net.pooled(b) for b in images.split(250)]).double()


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to the rows of ``a`` and ``b``."""
    ma, mb = a.mean(0), b.mean(0)
    ca, cb = torch.cov(a.T), torch.cov(b.T)
    va, ua = torch.linalg.eigh(ca)
    root_a = ua @ torch.diag(va.clamp_min(0).sqrt()) @ ua.T
    cross = torch.linalg.eigvalsh(root_a @ cb @ root_a).clamp_min(0).sqrt().sum()
    return float((ma - mb).pow(2).sum() + ca.trace() + cb.trace() - 2 * cross)


def part_fd(prior_path: str | None) -> None:
    """Sample realism: Frechet distance in the judge's features, samples vs training faces."""
    if not UTKFACE.is_dir():
        sys.exit(f"{UTKFACE} not found: this benchmark needs ../shared beside the repository")
    train = split_holdout(list_images(UTKFACE), 200)[0]
    picks = train[::len(train) // (2 * FD_IMAGES)][:2 * FD_IMAGES]  # fixed rule: evenly spaced in name order
    net = load_attribute_net(ASSETS / "attributes-judge64.safetensors")
    real = _judge_features(net, torch.stack([fit_image(read_image(f)[0], 64) for f in picks]))
    ref, other = real[0::2], real[1::2]
    result = {"images": FD_IMAGES, "floor": frechet_distance(other, ref), "priors": {}}
    names = (prior_path, *PRIORS) if prior_path else PRIORS
    for name in names:
        prior = ganprior.load_prior(name)
        with torch.no_grad():
            z = prior.sample_latent(FD_IMAGES, torch.Generator().manual_seed(0))
            x = torch.cat([prior.to_unit(prior.generate(c)).clamp(0, 1) for c in z.split(250)])
        result["priors"][str(name)] = frechet_distance(_judge_features(net, x), ref)
        print(f"{name}: FD {result['priors'][str(name)]:.3f} (floor {result['floor']:.3f})", flush=True)
        if name == PRIORS[0]:
            result.update(weights_record(prior))
    if prior_path is None:
        (RESULTS / "prior_fd.json").write_text(json.dumps(result, indent=1))


def part_samples() -> None:
    tiles = []
    for name in PRIORS:
        prior = ganprior.load_prior(name)
        with torch.no_grad():
            z = prior.sample_latent(32, torch.Generator().manual_seed(0))
            x = prior.to_unit(prior.generate(z)).clamp(0, 1)
        tiles.append(make_grid(x, nrow=8, padding=2, pad_value=1))
    save_image(torch.cat([tiles[0], torch.ones(3, 8, tiles[0].shape[2]), tiles[1]], dim=1),
               ROOT / "benchmarks" / "prior_samples.png")


def training_lines() -> list[str]:
    """How long the shipped `utkface64` trained, from its file's metadata."""
    from ganprior.priors.zoo import WEIGHTS_DIR
    meta = metadata(WEIGHTS_DIR / "utkface64.safetensors")
    step, seconds = int(meta["step"]), float(meta["train_seconds"])
    return [f"Training of the shipped `utkface64` (`ganprior train`, recipe and data in its model card "
            f"`src/ganprior/weights/MODEL_CARD.md`): {step:,} steps of batch 32 in {seconds / 3600:.1f} h of "
            "training time on 2 shared CPU cores (no GPU), 1-2 threads, spread over several sessions with "
            "`--resume` / `--init`.", ""]


def report() -> None:
    f = RESULTS / "prior_quality.json"
    lines = ["## Face priors: `utkface64` vs `dcgan-digiface64` on held-out real faces", ""]
    if f.exists():
        r = json.loads(f.read_text())
        lines += [f"{r['images']} held-out UTKFace images (never trained on; rule: the 200 smallest SHA-256 of "
                  f"the file name), 64x64. Both priors get the same steps: {r['steps']['single']} for single-code, "
                  f"{r['steps']['multi']} for multi-code (CPU budget), library defaults otherwise (single: lr 0.1; "
                  "multi: N=20 at layer 2, lr 0.03, task presets). PSNR in dB against the clean image. Reproduce: `.venv/bin/python benchmarks/prior_quality.py`.", "",
                  *stale_weights_note(r, PRIORS[0]),
                  "| task | " + " | ".join(f"{p} PSNR / SSIM" for p in PRIORS) + " | gain (dB) | wins |",
                  "|---|---|---|---|---|"]
        for label, by_prior in r["rows"].items():
            a, b = by_prior[PRIORS[0]], by_prior[PRIORS[1]]
            wins = sum(x > y for x, y in zip(a["psnr_each"], b["psnr_each"]))
            lines.append(f"| {label} | {a['psnr']:.2f} / {a['ssim']:.3f} | {b['psnr']:.2f} / {b['ssim']:.3f} | "
                         f"{a['psnr'] - b['psnr']:+.2f} | {wins} of {len(a['psnr_each'])} |")
        lines += ["", "![examples](benchmarks/prior_quality_examples.png)", ""]
    f = RESULTS / "prior_fd.json"
    if f.exists():
        r = json.loads(f.read_text())
        lines += ["Sample realism (`--part fd`): Frechet distance between the attribute judge's pooled features of "
                  f"{r['images']:,} samples (seed 0) and of {r['images']:,} training faces; two disjoint sets of "
                  f"{r['images']:,} training faces are {r['floor']:.3f} apart. Lower is better.", "",
                  *stale_weights_note(r, PRIORS[0]),
                  "| prior | " + " | ".join(f"`{p}`" for p in r["priors"]) + " |",
                  "|---|" + "---|" * len(r["priors"]),
                  "| Frechet distance | " + " | ".join(f"{v:.2f}" for v in r["priors"].values()) + " |", ""]
    lines += training_lines()
    lines += ["Samples (top: `utkface64`, bottom: `dcgan-digiface64`; same 32 codes):", "",
              "![samples](benchmarks/prior_samples.png)", ""]
    write_section("prior_quality", lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", default="all", choices=["all", "eval", "samples", "quick", "fd", "report"])
    ap.add_argument("--prior", default=None,
                    help="--part quick / fd: a prior file to check beside the named ones (not recorded)")
    ap.add_argument("--images", type=int, default=None, help="first N held-out images (default all 200)")
    ap.add_argument("--single-steps", type=int, default=300, help="steps of single-code reconstruction")
    ap.add_argument("--multi-steps", type=int, default=100, help="steps of the multi-code tasks")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()
    if a.part == "quick":
        part_quick(a.prior)
        return
    if a.part == "fd" and a.prior:
        part_fd(a.prior)
        return
    if a.part in ("all", "fd"):
        part_fd(None)
    if a.part in ("all", "samples"):
        part_samples()
    if a.part in ("all", "eval"):
        part_eval(a.images, {"single": a.single_steps, "multi": a.multi_steps}, a.batch)
    report()
    print(f"done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
