"""Each task's default preset with its default start against the encoder start (issue #29), on the
first held-out UTKFace faces (``ganprior.training.holdout_files``, never seen by ``utkface64`` or its
encoder), degraded by the task's own forward model (``--simulate``): mean PSNR and LPIPS of the final
images, and seconds per image (2 threads).

    PYTHONPATH=src .venv/bin/python benchmarks/encoder_presets.py --task super-resolve --options '{"factor": 4}' --faces 12 --steps 50 100 300
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import ganprior
from ganprior.training import holdout_files

UTKFACE = Path(__file__).resolve().parents[2] / "shared" / "data" / "utkface"
warnings.filterwarnings("ignore")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="reconstruct")
    p.add_argument("--options", default="{}", help="the task's options as JSON, e.g. '{\"factor\": 4}'")
    p.add_argument("--faces", type=int, default=8)
    p.add_argument("--steps", type=int, nargs="+", default=[300])
    a = p.parse_args()
    torch.set_num_threads(2)
    files = [str(f) for f in holdout_files(UTKFACE, 200)[:a.faces]]
    for start in ("default", "encoder"):
        for steps in a.steps:
            kw = dict(json.loads(a.options), steps=steps)
            if start == "encoder":
                kw["latent_init"] = "encoder"
            t0 = time.perf_counter()
            r = ganprior.restore(files, task=a.task, simulate=True, **kw)
            sec = (time.perf_counter() - t0) / len(files)
            psnr = np.mean([m["psnr"] for m in r.metrics])
            lp = np.mean([m["lpips"] for m in r.metrics])
            print(f"{a.task} {start:8s} steps {steps:4d}  PSNR {psnr:.2f}  LPIPS {lp:.4f}  {sec:.2f} s/img", flush=True)


if __name__ == "__main__":
    main()
