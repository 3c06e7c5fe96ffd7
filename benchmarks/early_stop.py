"""Would a plateau stop end the defaults early? (issue #29: "stopping when the data term stops improving")

Each task's default recipe runs for twice its steps on held-out UTKFace faces (``--simulate``), recording
every image's loss and the PSNR of its raw rendering (before post-processing) at every step. Each
plateau rule (``--patience W --min-improvement T``, ``inversion.base.EarlyStop.plateaued``) is then
replayed on those losses: the step at which it would end the batch (every image stopped) and the mean
PSNR of the images it would keep (each one's rendering at its own stop).

    PYTHONPATH=src .venv/bin/python benchmarks/early_stop.py --faces 8 --out benchmarks/results/early_stop.md
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import torch

import ganprior
from ganprior.config import RunConfig
from ganprior.inversion.base import EarlyStop
from ganprior.pipeline import Pipeline
from ganprior.training import holdout_files

UTKFACE = Path(__file__).resolve().parents[2] / "shared" / "data" / "utkface"
RUNS = (("reconstruct", {}), ("super-resolve", {"factor": 2}), ("super-resolve", {"factor": 4}),
        ("super-resolve", {"factor": 8}), ("colorize", {}), ("inpaint", {}), ("denoise", {"noise_sigma": 0.1}))
RULES = ((10, 0.01), (20, 0.01), (20, 0.005), (40, 0.01), (20, 0.02))
warnings.filterwarnings("ignore")


def trace(files: list[str], task: str, options: dict) -> dict:
    """The default recipe run for twice its steps: per-step losses and raw PSNRs ``(steps, B)``."""
    steps = Pipeline(RunConfig.from_options(task, **options)).config.steps
    losses, shots = [], []

    def keep(step, total, loss, x):
        if step:
            losses.append(loss.detach().cpu().clone())
            shots.append(x.detach().cpu().clamp(0, 1))
    r = ganprior.restore(files, task=task, simulate=True, batch_size=len(files), steps=2 * steps, callback=keep,
                         **options)
    psnr = torch.stack([-10 * torch.log10((x - r.ground_truth).pow(2).flatten(1).mean(1)) for x in shots])
    return {"default": steps, "loss": torch.stack(losses), "psnr": psnr}


def replay(t: dict, patience: int, tol: float) -> tuple[int, float]:
    """(the step the batch would end at, mean PSNR of the images kept at their stops)."""
    loss, psnr = t["loss"], t["psnr"]
    rule = EarlyStop(None, torch.zeros(loss.shape[1], 1), lambda x: x, patience=patience, min_improvement=tol)
    stop = torch.full((loss.shape[1],), loss.shape[0])
    for step in range(loss.shape[0]):
        new = rule.plateaued(step, loss) & (stop == loss.shape[0])
        stop[new] = step + 1
    kept = psnr[stop - 1, torch.arange(loss.shape[1])]
    return int(stop.max()), float(kept.mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, help="write the markdown table here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    files = [str(f) for f in holdout_files(UTKFACE, 200)[:a.faces]]
    head = "| task | default steps | raw PSNR at the default | at twice | " + \
        " | ".join(f"W {w}, {t:g}: stop / PSNR" for w, t in RULES) + " |"
    lines = [head, "|" + "---|" * (4 + len(RULES))]
    for task, options in RUNS:
        t = trace(files, task, options)
        d = t["default"]
        cells = [f"{s} / {p:.2f}" for s, p in (replay(t, w, tol) for w, tol in RULES)]
        name = task + "".join(f" {k}={v}" for k, v in options.items())
        lines.append(f"| {name} | {d} | {t['psnr'][d - 1].mean():.2f} | {t['psnr'][-1].mean():.2f} | "
                     + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    if a.out:
        a.out.write_text("\n".join(lines) + "\n")
    print(json.dumps({"faces": a.faces, "rules": RULES}))


if __name__ == "__main__":
    main()
