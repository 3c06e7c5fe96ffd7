"""Time to quality of a task's recipes (issue #29): each configuration restores the same held-out
UTKFace faces (``ganprior.training.holdout_files``, never seen by ``utkface64`` or its encoder), degraded
by the task's own forward model (``--simulate``), in batches of ``--batch``; it prints mean PSNR and
LPIPS of the final images and the median over batches of the seconds per image. The seconds are the
wall time of ``ganprior.restore`` less the time spent scoring the results (metrics are not part of a
restoration), on ``--threads`` threads.

    PYTHONPATH=src .venv/bin/python benchmarks/time_to_quality.py --task reconstruct \\
        --config '{"latent_init": "normal", "code_steps": null}' --config '{}'

``{}`` is the task's default preset; ``--options`` the task's own (``{"factor": 4}``). With ``--json
FILE`` each row is appended to FILE; ``--report FILE`` then writes the table of BENCHMARKS.md's "Time
to quality" from it (each task's default against the other configurations of the same task).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import ganprior
import ganprior.pipeline as pipeline
from ganprior.training import holdout_files

UTKFACE = Path(__file__).resolve().parents[2] / "shared" / "data" / "utkface"
warnings.filterwarnings("ignore")


class MetricClock:
    """Wraps the pipeline's scoring so its time can be taken out of a run's."""

    def __init__(self):
        self.seconds = 0.0
        self.inner = pipeline.evaluate_images
        pipeline.evaluate_images = self

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.inner(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def measure(files: list[str], task: str, options: dict, batch: int, clock: MetricClock) -> dict:
    """Mean PSNR / LPIPS over ``files`` and the median seconds per image over their batches."""
    metrics, per_image = [], []
    for i in range(0, len(files), batch):
        part = files[i:i + batch]
        clock.seconds = 0.0
        t0 = time.perf_counter()
        r = ganprior.restore(part, task=task, simulate=True, batch_size=batch, **options)
        per_image.append((time.perf_counter() - t0 - clock.seconds) / len(part))
        metrics += r.metrics
    return {"psnr": float(np.mean([m["psnr"] for m in metrics])),
            "lpips": float(np.mean([m["lpips"] for m in metrics])),
            "seconds": statistics.median(per_image), "faces": len(metrics)}


def report(rows: list[dict]) -> str:
    """Markdown table: per task (and task options), each other configuration against the default."""
    groups: dict[str, dict] = {}
    for r in rows:
        own = r.get("task_options", {k: v for k, v in r["options"].items() if k in ("factor", "noise_sigma")})
        name = r["task"] + "".join(f" {k}={v}" for k, v in own.items()) + \
            (f" ({r['faces_from']})" if r.get("faces_from", "utkface-holdout") != "utkface-holdout" else "")
        config = {k: v for k, v in r["options"].items() if k not in own}
        groups.setdefault(name, {"default": None, "others": []})
        if config:
            groups[name]["others"].append((config, r))
        else:
            groups[name]["default"] = r
    lines = ["| task | faces | configuration | PSNR | LPIPS | s / image | default now: PSNR | LPIPS | s / image "
             "| speed-up | equal quality |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, g in groups.items():
        d = g["default"]
        for config, r in g["others"]:
            if d is None:
                continue
            same = d["psnr"] >= r["psnr"] - 0.1 and d["lpips"] <= r["lpips"]
            lines.append(f"| {name} | {r['faces']} | `{json.dumps(config)}` | {r['psnr']:.2f} | {r['lpips']:.4f} | "
                         f"{r['seconds']:.2f} | {d['psnr']:.2f} | {d['lpips']:.4f} | {d['seconds']:.2f} | "
                         f"{r['seconds'] / d['seconds']:.1f}x | {'yes' if same else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="reconstruct")
    p.add_argument("--options", default="{}", help="the task's options as JSON, e.g. '{\"factor\": 4}'")
    p.add_argument("--config", action="append", default=None,
                   help="restore() options as JSON, repeatable ('{}' = the default preset)")
    p.add_argument("--faces", type=int, default=16)
    p.add_argument("--skip", type=int, default=0, help="start after this many held-out faces")
    p.add_argument("--folder", type=Path, help="faces from this folder (sorted) instead of the held-out UTKFace ones, "
                                               "e.g. ../shared/data/mganprior-examples/face")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, help="append each row to this JSON-lines file")
    p.add_argument("--report", type=Path, help="print the table of this JSON-lines file and exit")
    a = p.parse_args()
    if a.report:
        print(report([json.loads(line) for line in a.report.read_text().splitlines() if line.strip()]), end="")
        return
    torch.set_num_threads(a.threads)
    pool = sorted(p for p in a.folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")) if a.folder \
        else holdout_files(UTKFACE, 200)
    files = [str(f) for f in pool[a.skip:a.skip + a.faces]]
    clock = MetricClock()
    for text in a.config or ["{}"]:
        options = {**json.loads(a.options), **json.loads(text)}
        row = measure(files, a.task, options, a.batch, clock)
        row.update(task=a.task, options=options, task_options=json.loads(a.options),
                   faces_from=str(a.folder.name) if a.folder else "utkface-holdout")
        print(f"{a.task} {json.dumps(options):80s} PSNR {row['psnr']:.2f}  LPIPS {row['lpips']:.4f}  "
              f"{row['seconds']:.2f} s/img", flush=True)
        if a.json:
            with a.json.open("a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
