"""How close each start of an inversion is to the face, before (and optionally after) optimisation:
the encoder start (``--latent-init encoder``) against the best of 256 prior samples (``best``) and a
seeded sample (``normal``), on the first held-out UTKFace faces (``ganprior.training.holdout_files``,
never trained on by the prior or the encoder), reconstruction at 64 px.

    python benchmarks/encoder_start.py --encoder RUN/encoder.safetensors [--faces 20] [--steps 0 50]

Without ``--encoder`` the prior's shipped encoder is used (an error when it has none). Prints one
row per start and step count: mean PSNR and LPIPS of the raw rendering against the face, and the
seconds per image (start selection included). Single-thread torch, as on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from ganprior.inversion import invert
from ganprior.io import fit_image, read_image
from ganprior.metrics import lpips, psnr
from ganprior.priors import load_prior
from ganprior.tasks import build_degradation
from ganprior.training import holdout_files

ROOT = Path(__file__).resolve().parents[1]
UTKFACE = ROOT.parent / "shared" / "data" / "utkface"
warnings.filterwarnings("ignore")

# name -> invert options (the method's defaults otherwise: multi = 20 codes at layer 2, lr 0.03)
STARTS = {
    "single, normal": {"method": "single", "latent_init": "normal"},
    "single, best of 256": {"method": "single", "latent_init": "best", "num_candidates": 256},
    "single, encoder": {"method": "single", "latent_init": "encoder"},
    "multi, best 20 of 256": {"method": "multi", "latent_init": "best", "num_candidates": 256},
    "multi, encoder": {"method": "multi", "latent_init": "encoder"},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prior", default="utkface64")
    p.add_argument("--encoder", default=None, help="encoder file [the prior's shipped one]")
    p.add_argument("--faces", type=int, default=20)
    p.add_argument("--steps", type=int, nargs="+", default=[0])
    p.add_argument("--starts", nargs="+", default=list(STARTS), choices=list(STARTS), metavar="START",
                   help=f"which starts to measure [all: {', '.join(repr(k) for k in STARTS)}]")
    p.add_argument("--json", default=None, help="also write the rows here")
    a = p.parse_args()
    torch.set_num_threads(1)
    prior = load_prior(a.prior)
    files = holdout_files(UTKFACE, 200)[:a.faces]
    x = torch.stack([fit_image(read_image(f)[0], prior.resolution) for f in files])
    deg = build_degradation("reconstruct", prior.resolution)
    rows = []
    print(f"{len(files)} held-out faces, {a.prior}, reconstruction; PSNR/LPIPS of the raw rendering")
    print(f"{'start':24s} {'steps':>5s} {'PSNR':>7s} {'LPIPS':>7s} {'s/img':>7s}")
    for name in a.starts:
        options = STARTS[name]
        extra = {"encoder": a.encoder} if options["latent_init"] == "encoder" else {}
        for steps in a.steps:
            t0 = time.perf_counter()
            r = invert(deg.A(x), deg, prior, steps=steps, seed=0, **options, **extra)
            seconds = (time.perf_counter() - t0) / len(files)
            row = {"start": name, "steps": steps, "psnr": float(psnr(r.raw, x).mean()),
                   "lpips": float(np.mean(lpips(r.raw, x).tolist())), "seconds_per_image": seconds}
            rows.append(row)
            print(f"{name:24s} {steps:5d} {row['psnr']:7.2f} {row['lpips']:7.4f} {seconds:7.3f}", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
