"""Throughput of the multi-code preset: image-steps per second and the achieved share of the device's
peak FLOP/s, against the reference implementation's structure, in the same run.

Configurations (N = 20 codes at layer 2, pixel MSE, Adam, the library's multi-code preset):

* reference loop: what the mGANprior code does, one image at a time, each code sent through the
  generator's head on its own in a Python loop;
* batched: all images x codes in one forward per step (the library), at a fixed batch and at the
  batch ``ganprior.batching.auto_batch_size`` picks from free memory;
* bf16: the batched run under bf16 autocast, with its PSNR difference to fp32;
* compiled: the batched run through ``torch.compile`` (compile time reported apart).

FLOPs per image-step are counted with ``torch.utils.flop_counter`` over one forward + backward; the
device's peak is *measured* (large fp32 / bf16 matmuls with the same threads), so the share is of what
this device reaches on dense matmuls, not a datasheet number. Images are samples of the prior (their
content does not change the speed), so the script needs no data set.

    python benchmarks/throughput.py                   # CPU, about 10 min on 2 cores
    python benchmarks/throughput.py --device cuda     # on a GPU: records the device in BENCHMARKS.md
    python benchmarks/throughput.py --part report
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

import ganprior
from ganprior.batching import auto_batch_size, step_bytes_per_image
from ganprior.inversion import MultiCode, optimize
from ganprior.losses import PixelLoss
from ganprior.metrics import psnr

from sections import write_section

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "throughput_device.json"
PRESET_STEPS = 300  # the multi-code preset's steps, for the faces-per-hour figure


class ReferenceStyleMultiCode(MultiCode):
    """The reference code's structure: each code goes through the head on its own, in a Python loop."""

    def compose(self) -> torch.Tensor:
        b, n = self.codes.shape[:2]
        total = 0
        for k in range(n):
            feat = self.prior.head(self.codes[:, k], self.layer)
            total = total + feat * self.importance[:, k, :, None, None]
        return total


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} ({torch.get_num_threads()} threads)"


def peak_flops(device: torch.device, dtype: torch.dtype, sizes=(1024, 2048, 4096), seconds: float = 1.5,
               repeats: int = 3) -> float:
    """Measured dense-matmul FLOP/s: the best window over a few sizes and repeats (a shared machine's
    neighbours only ever slow a window down, so the best one is the closest to this device's peak)."""
    best = 0.0
    for size in sizes:
        a = torch.randn(size, size, device=device, dtype=dtype)
        b = torch.randn(size, size, device=device, dtype=dtype)
        a @ b
        sync(device)
        for _ in range(repeats):
            n, t0 = 0, time.perf_counter()
            while n == 0 or time.perf_counter() - t0 < seconds:
                a @ b
                n += 1
            sync(device)
            best = max(best, 2 * size ** 3 * n / (time.perf_counter() - t0))
    return best


def flops_per_image_step(prior, images: int, codes: int, layer: int) -> float:
    p = MultiCode(prior, images, num_codes=codes, layer=layer, seed=0)
    target = torch.rand(images, 3, prior.resolution, prior.resolution, device=prior.device)
    with FlopCounterMode(display=False) as counter:
        PixelLoss()(prior.to_unit(p()), target).sum().backward()
    return counter.get_total_flops() / images


def run(prior, faces, steps: int, batch: int, codes: int, layer: int, *, reference: bool = False,
        precision: str = "fp32", compile: bool = False) -> dict:
    loss, ident = PixelLoss(), (lambda x: x)
    outs, t0 = [], time.perf_counter()
    if compile:  # compile once on a short run, then time a fresh run (the compiled graph is cached)
        optimize(MultiCode(prior, min(batch, len(faces)), num_codes=codes, layer=layer, seed=0),
                 faces[:batch], ident, loss, steps=2, lr=0.03, compile=True)
        sync(faces.device)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for start in range(0, len(faces), batch):
        chunk = faces[start:start + batch]
        cls = ReferenceStyleMultiCode if reference else MultiCode
        p = cls(prior, len(chunk), num_codes=codes, layer=layer, seed=0)
        x, _ = optimize(p, chunk, ident, loss, steps=steps, lr=0.03, precision=precision, compile=compile)
        outs.append(x)
    sync(faces.device)
    dt = time.perf_counter() - t0
    x = torch.cat(outs)
    return {"seconds": dt, "image_steps_per_s": len(faces) * steps / dt, "psnr": float(psnr(x, faces).mean()),
            "batch": batch, "precision": precision, "compiled": compile,
            "compile_seconds": compile_s if compile else None}


def part_measure(device: str, images: int, steps: int, codes: int, layer: int, threads: int,
                 skip: set[str]) -> None:
    torch.set_num_threads(threads)
    dev = torch.device(device)
    prior = ganprior.load_prior("dcgan-digiface64", dev)
    with torch.no_grad():
        faces = prior.to_unit(prior.generate(prior.sample_latent(images, torch.Generator().manual_seed(0)).to(dev)))
        faces = faces.clamp(0, 1)
    auto = auto_batch_size(prior, images, "multi", num_codes=codes, layer=layer)
    flops = flops_per_image_step(prior, 2, codes, layer)
    peak32 = peak_flops(dev, torch.float32)
    # bf16 matmuls are emulated (slow) on CPUs without bf16 units: one small size is enough there
    peak16 = (peak_flops(dev, torch.bfloat16, sizes=(1024,) if dev.type == "cpu" else (1024, 2048, 4096))
              if "bf16" not in skip else None)
    res = {"device": device_name(dev), "device_type": dev.type, "torch": torch.__version__, "images": images,
           "steps": steps, "codes": codes, "layer": layer, "threads": threads,
           "bytes_per_image_step": step_bytes_per_image(prior, "multi", num_codes=codes, layer=layer),
           "auto_batch": auto, "flops_per_image_step": flops, "peak_flops_fp32": peak32, "peak_flops_bf16": peak16,
           "runs": {}}
    print(f"{res['device']}: {flops / 1e9:.2f} GFLOP per image-step, measured peak fp32 {peak32 / 1e9:.1f} GFLOP/s, "
          f"auto batch {auto}", flush=True)
    configs = {"reference loop": dict(reference=True, batch=1),
               "batched (4 images)": dict(batch=4),
               f"batched (auto: {auto})": dict(batch=auto),
               "batched bf16": dict(batch=auto, precision="bf16"),
               "batched compiled": dict(batch=auto, compile=True)}
    for name, cfg in configs.items():
        if ("bf16" in name and "bf16" in skip) or ("compiled" in name and "compile" in skip):
            continue
        r = run(prior, faces, steps, cfg.pop("batch"), codes, layer, **cfg)
        peak = max(peak32, peak16 or 0.0) if r["precision"] == "bf16" else peak32
        r["achieved_flops"] = flops * r["image_steps_per_s"]
        r["share_of_peak"] = r["achieved_flops"] / peak
        r["faces_per_hour"] = 3600 * r["image_steps_per_s"] / PRESET_STEPS
        res["runs"][name] = r
        print(name, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}, flush=True)
        OUT.write_text(json.dumps(res, indent=1))
    report()


def report() -> None:
    lines = ["## Throughput (multi-code preset)", ""]
    if not OUT.exists():
        write_section("throughput", lines + ["Not measured yet: `python benchmarks/throughput.py`.", ""])
        return
    r = json.loads(OUT.read_text())
    ref = r["runs"].get("reference loop")
    fp32 = next((v for k, v in r["runs"].items() if k.startswith("batched (auto")), None)
    lines += [f"Device: **{r['device']}**, torch {r['torch']}. {r['images']} faces, N = {r['codes']} codes at layer "
              f"{r['layer']}, {r['steps']} Adam steps of pixel MSE per configuration, all in one run. One image-step "
              f"(forward + backward of all N codes) is {r['flops_per_image_step'] / 1e9:.2f} GFLOP "
              f"(`torch.utils.flop_counter`) and keeps {r['bytes_per_image_step'] / 2 ** 20:.1f} MB for the backward "
              f"pass; the automatic batch size from free memory is {r['auto_batch']}. Peak: measured dense fp32 "
              f"matmul, {r['peak_flops_fp32'] / 1e9:.1f} GFLOP/s"
              + (f" (bf16: {r['peak_flops_bf16'] / 1e9:.1f})" if r.get("peak_flops_bf16") else "") + ". "
              "Faces per hour assume the preset's 300 steps. Reproduce: `.venv/bin/python benchmarks/throughput.py`"
              + (" (`--device cuda` on a GPU)." if r["device_type"] == "cpu" else "."), "",
              "| configuration | batch | image-steps / s | faces / hour | GFLOP/s | share of peak | PSNR (dB) | "
              "vs reference loop |", "|---|---|---|---|---|---|---|---|"]
    best_peak = max(r["peak_flops_fp32"], r.get("peak_flops_bf16") or 0.0)
    for name, v in r["runs"].items():
        # fp32 runs against the fp32 peak; bf16 runs against the device's best peak (an AVX2 CPU's
        # emulated bf16 matmul is far below its fp32 one, and bf16 convolutions take other paths)
        peak = best_peak if v["precision"] == "bf16" else r["peak_flops_fp32"]
        share = f"{100 * v['achieved_flops'] / peak:.1f}%"
        speed = f"{v['image_steps_per_s'] / ref['image_steps_per_s']:.2f}x" if ref else "-"
        extra = f" (+{v['compile_seconds']:.0f} s compile)" if v.get("compile_seconds") else ""
        lines.append(f"| {name}{extra} | {v['batch']} | {v['image_steps_per_s']:.1f} | {v['faces_per_hour']:.0f} | "
                     f"{v['achieved_flops'] / 1e9:.1f} | {share} | {v['psnr']:.2f} | {speed} |")
    if fp32 and "batched bf16" in r["runs"]:
        d = r["runs"]["batched bf16"]["psnr"] - fp32["psnr"]
        lines += ["", f"bf16 autocast changes the final PSNR by {d:+.3f} dB against fp32 at the same batch."]
    lines.append("")
    write_section("throughput", lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", default="measure", choices=["measure", "report"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--codes", type=int, default=20)
    ap.add_argument("--layer", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip", default="", help="comma list of bf16,compile to leave out")
    a = ap.parse_args()
    if a.part == "measure":
        part_measure(a.device, a.images, a.steps, a.codes, a.layer, a.threads, set(filter(None, a.skip.split(","))))
    else:
        report()


if __name__ == "__main__":
    main()
