"""Write a prior's own samples as PNG files: a training folder for ``ganprior train-encoder`` that
carries only the prior's licence (``dcgan-digiface64``'s shipped encoder was trained on one).

    PYTHONPATH=src .venv/bin/python benchmarks/prior_samples.py --prior dcgan-digiface64 --count 23000 \\
        --seed 12345 --out digiface-samples
    ganprior train-encoder digiface-samples --prior dcgan-digiface64 --out RUN --license "MIT ..."

Samples ``z ~ N(0, I)`` are drawn in batches of 250 from one ``torch.Generator`` seeded with
``--seed``, so the same command writes the same files (``s00000.png``, ...); a count that is not a
multiple of ``--batch`` draws its last batch differently.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image

from ganprior.priors import load_prior


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prior", default="dcgan-digiface64")
    ap.add_argument("--count", type=int, default=23000)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    prior = load_prior(a.prior)
    g = torch.Generator().manual_seed(a.seed)
    n = 0
    with torch.no_grad():
        while n < a.count:
            z = prior.sample_latent(min(a.batch, a.count - n), g)
            x = (prior.to_unit(prior.generate(z)).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
            for img in x:
                Image.fromarray(img).save(a.out / f"s{n:05d}.png")
                n += 1
    print(f"wrote {n} samples of {a.prior} to {a.out}")


if __name__ == "__main__":
    main()
