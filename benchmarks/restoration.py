"""Restoration against what users would otherwise pick: every task, every method and prior, the
library's presets, classical baselines and a learned SR network, on held-out real faces.

Data (``--set``):

* ``heldout``: the 200 UTKFace images ``ganprior train`` held out (``holdout_files``), 64x64; never
  seen by ``utkface64``; taken every tenth first, so a partial run (``--images 20``) spans all ages;
* ``examples``: the 21 aligned faces of ../shared/data/mganprior-examples/face, brought to 64x64.

Each run is cached per (set, case, recipe) in ``benchmarks/results/restoration/<set>.json`` with
per-image metrics, and extended image by image (``--images`` raises the count; finished images are
never redone), so the long CPU job can be spread over several sessions. The report is rebuilt from
the cache.

Metrics: PSNR, SSIM, LPIPS-AlexNet and colorization AuC against the clean image; NIQE (lower is
better) on a 2x bicubic upscale, since NIQE needs 96 px blocks and the faces are 64 px; data
consistency as the PSNR between the result pushed through the degradation and the observation
(noise-free part for denoising, where a faithful fit sits near the noise level); seconds per image.

    python benchmarks/restoration.py --part all --images 200          # everything below but methods, into BENCHMARKS.md
    python benchmarks/restoration.py --part presets --images 200      # the default preset of every task
    python benchmarks/restoration.py --part baselines --images 200    # classical baselines + Real-ESRGAN
    python benchmarks/restoration.py --part methods --images 5        # every method x prior (library defaults)
    python benchmarks/restoration.py --part report                    # BENCHMARKS.md section, plot, sheets
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import ganprior
from ganprior.errors import GanpriorError
from ganprior.inputs import Inputs
from ganprior.io import fit_image, make_sheet, read_image, save_image, stack_rows
from ganprior.metrics import METRIC_KEYS, evaluate_images, psnr
from ganprior.tasks import build_degradation, parse_task
from ganprior.presets import STYLES, default_style, defaults_for, task_preset
from ganprior.priors.zoo import DEFAULT_PRIOR
from ganprior.subspaces import prior_fingerprint

import realistic
from sections import installed_fingerprint, write_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CACHE = RESULTS / "restoration"
IMAGES_OUT = RESULTS / ".cache" / "restoration"  # outputs of the first images, for sheets (not committed)
UTKFACE = ROOT.parent / "shared" / "data" / "utkface"
FACES = ROOT.parent / "shared" / "data" / "mganprior-examples" / "face"
PRIORS = ("utkface64", "dcgan-digiface64")
METHODS = ("single", "multi", "subspace", "dgp")
SHEET_IMAGES = 6
REALISTIC_IMAGES = 40  # --part all measures the realistic cases on this many held-out faces
warnings.filterwarnings("ignore")

# key -> (label, task, options)
CASES = {
    "reconstruct": ("reconstruction", "reconstruct", {}),
    "colorize": ("colorization", "colorize", {}),
    "sr4": ("super-resolution x4", "super-resolve", {"factor": 4}),
    "sr8": ("super-resolution x8", "super-resolve", {"factor": 8}),
    "inpaint-center": ("inpainting, centre box", "inpaint", {"mask": "center"}),
    "inpaint-random": ("inpainting, 80% of pixels missing", "inpaint", {"mask": "random:0.8"}),
    "denoise-0.1": ("denoising, sigma 0.1", "denoise", {"noise_sigma": 0.1}),
    "denoise-0.2": ("denoising, sigma 0.2", "denoise", {"noise_sigma": 0.2}),
    "deblur-1.5": ("deblurring, Gaussian sigma 1.5 px", "deblur", {"blur_sigma": 1.5}),
    "deblur-2.5": ("deblurring, Gaussian sigma 2.5 px", "deblur", {"blur_sigma": 2.5}),
    "chain": ("colorize + inpaint + x2 SR", "colorize+inpaint+super-resolve", {"factor": 2, "mask": "center"}),
}


# -- data -------------------------------------------------------------------------------------------

def load_set(name: str, limit: int | None) -> tuple[list[str], torch.Tensor]:
    if name == "heldout":
        if not UTKFACE.is_dir():
            sys.exit(f"{UTKFACE} not found: this benchmark needs ../shared beside the repository")
        from ganprior.training import holdout_files
        files = holdout_files(UTKFACE, 200)
        # interleaved (every tenth first): the list is sorted by file name, i.e. by age, so any prefix
        # that a partial run covers still spans all ages
        files = [f for k in range(10) for f in files[k::10]]
    else:
        files = sorted(FACES.glob("*.png"))
        if not files:
            sys.exit(f"no faces under {FACES}: this benchmark needs ../shared beside the repository")
    files = files[:limit]
    return [f.name for f in files], torch.stack([fit_image(read_image(f)[0], 64) for f in files])


def case_entry(case: str) -> tuple:
    """(label, task, options) of a case of ``CASES`` or of ``realistic.CASES``."""
    return CASES[case] if case in CASES else realistic.CASES[case][:3]


def task_options_of(case: str) -> dict:
    """A case's task options (``factor``, ``noise_sigma``, ``blur_sigma``, ...); its mask is an input."""
    return {k: v for k, v in case_entry(case)[2].items() if k != "mask"}


def observe(case: str, images: torch.Tensor):
    """(inputs, degradation) of a case: simulated with seed 0 as ``ganprior TASK --simulate`` does, or
    for a realistic case made by the case's own tool (``realistic.CASES``)."""
    if case in realistic.CASES:
        _, task, options, make = realistic.CASES[case]
        names = [f"image{i}" for i in range(len(images))]
        inputs = Inputs(names=names, sources=names, observed=make(images), ground_truth=images, masks=None)
        return inputs, build_degradation(task, 64, **options)
    _, task, options = CASES[case]
    inputs = ganprior.load_inputs(images, task, 64, simulate=True, seed=0, **options)
    deg = build_degradation(task, 64, mask=inputs.masks, **task_options_of(case))
    return inputs, deg


# -- the cache --------------------------------------------------------------------------------------

def cache_path(set_name: str) -> Path:
    return CACHE / f"{set_name}.json"


def load_cache(set_name: str) -> dict:
    path = cache_path(set_name)
    return json.loads(path.read_text()) if path.exists() else {}


def save_cache(set_name: str, data: dict) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = cache_path(set_name).with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=0, sort_keys=True))
    os.replace(tmp, cache_path(set_name))


def niqe_upscaled(x: torch.Tensor) -> list[float | None]:
    up = torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)
    return [m["niqe"] for m in evaluate_images(up)]


def score(out: torch.Tensor, truth: torch.Tensor, observed: torch.Tensor, deg, identity: bool = False) -> dict[str, list]:
    cols = {k: [m[k] for m in evaluate_images(out, truth)] for k in METRIC_KEYS if k != "niqe"}
    cols["niqe"] = niqe_upscaled(out)
    if identity:  # dlib's face-recognition distance to the truth (ganprior.identity; ganprior[identity])
        from ganprior.identity import identity_distance
        cols["identity"] = identity_distance(out.clamp(0, 1), truth).tolist()
    with torch.no_grad():
        cols["data_psnr"] = psnr(deg.A(out).clamp(0, 1), observed.clamp(0, 1)).tolist()
    return cols


def identity_available() -> bool:
    try:
        from ganprior.identity import available
    except ImportError:
        return False
    return available()


def _empty_entry(fingerprint: str | None, case: str = "") -> dict:
    entry = {"names": [], "seconds": [], **{k: [] for k in (*METRIC_KEYS, "data_psnr")}}
    if case in realistic.CASES and case_entry(case)[1] == "super-resolve" and identity_available():
        entry["identity"] = []
    if fingerprint:
        entry["fingerprint"] = fingerprint
    return entry


def run_cached(set_name: str, case: str, recipe: str, names: list[str], images: torch.Tensor, batch: int,
               fn, fingerprint: str | None = None) -> None:
    """Extend ``cache[case][recipe]`` to the first ``len(names)`` images; ``fn(inputs, deg, sl)`` ->
    (outputs, seconds) for ``inputs[sl]``. An entry made with another ``fingerprint`` (the options a
    preset stood for then) is stale and starts over."""
    data = load_cache(set_name)
    entry = data.setdefault(case, {}).setdefault(recipe, _empty_entry(fingerprint, case))
    if entry.get("fingerprint") != fingerprint:
        print(f"{set_name} {case} {recipe}: the recipe changed since it was cached; measuring it again", flush=True)
        entry = data[case][recipe] = _empty_entry(fingerprint, case)
        save_cache(set_name, data)
    done = len(entry["names"])
    common = min(done, len(names))  # an entry may already hold more images than this run asks for
    if entry["names"][:common] != names[:common]:
        raise SystemExit(f"cache {cache_path(set_name)} [{case}][{recipe}] was made on other images; delete it")
    if done >= len(names):
        return
    inputs, deg = observe(case, images)
    for start in range(done, len(names), batch):
        sl = slice(start, min(start + batch, len(names)))
        out, seconds = fn(inputs, deg, sl)
        cols = score(out, inputs.ground_truth[sl], inputs.observed[sl], _slice_deg(deg, sl), "identity" in entry)
        data = load_cache(set_name)  # another process may have written other entries meanwhile
        data.setdefault(case, {})[recipe] = entry
        entry["names"] += names[sl]
        entry["seconds"] += [seconds / (sl.stop - sl.start)] * (sl.stop - sl.start)
        for k, v in cols.items():
            entry[k] += v
        save_cache(set_name, data)
        if sl.start < SHEET_IMAGES:
            keep = IMAGES_OUT / set_name / case
            keep.mkdir(parents=True, exist_ok=True)
            torch.save(out[: SHEET_IMAGES - sl.start].cpu(), keep / f"{recipe}-{sl.start}.pt")
        print(f"{set_name} {case:15s} {recipe:32s} {sl.stop:4d}/{len(names)}  "
              f"PSNR {np.mean(entry['psnr']):.2f}  LPIPS {np.mean(entry['lpips']):.4f}  "
              f"{seconds / (sl.stop - sl.start):.1f} s/img", flush=True)


def _slice_deg(deg, sl: slice):
    """The degradation of images ``sl`` (per-image masks are sliced with them)."""
    if deg.mask is None or deg.mask.shape[0] == 1:
        return deg
    return build_degradation(deg.tasks, deg.resolution, mask=deg.mask[sl], **deg.options)


# -- recipes ----------------------------------------------------------------------------------------

def ganprior_fn(prior, case: str, **restore_options):
    """The library as a user calls it on the observations (the set's own simulation, so every recipe
    and baseline sees the same noise and masks)."""
    task = case_entry(case)[1]

    def fn(inputs, deg, sl):
        r = ganprior.restore(inputs.observed[sl], task, prior, seed=0,
                             mask=inputs.masks[sl] if inputs.masks is not None else None,
                             **task_options_of(case), **restore_options)
        return r.images.cpu(), r.seconds
    return fn


def baseline_fn(options: dict):
    from ganprior.tasks import classical_restore

    def fn(inputs, deg, sl):
        t0 = time.perf_counter()
        out = classical_restore(inputs.observed[sl].clamp(0, 1), _slice_deg(deg, sl), **options)
        return out, time.perf_counter() - t0
    return fn


def realesrgan_fn():
    from ganprior.baselines.realesrgan import realesrgan_x4

    def fn(inputs, deg, sl):
        t0 = time.perf_counter()
        out = realesrgan_x4(inputs.observed[sl].clamp(0, 1))
        if out.shape[-1] != 64:  # x8: Real-ESRGAN x4, then bicubic x2 (the network only comes in x4)
            out = torch.nn.functional.interpolate(out, size=64, mode="bicubic", align_corners=False).clamp(0, 1)
        return out, time.perf_counter() - t0
    return fn


# cache fingerprints keep the first 12 digits of the weights' digest (entries made before the digest
# was shared with sections.weights_record stay valid)
WEIGHTS_DIGITS = 12


def weights_id(prior) -> str:
    """A short digest of the prior's weights: an entry measured with other weights (a retrained
    ``utkface64``) is stale even though the prior's name is the same."""
    return prior_fingerprint(prior)[:WEIGHTS_DIGITS]


def _steps(steps: int | None) -> tuple[str, dict]:
    """Recipe-name suffix and option of a ``--steps`` override (kept apart in the cache)."""
    return (f"@{steps}", {"steps": steps}) if steps else ("", {})


def part_presets(set_name, names, images, batch, cases, styles, steps) -> None:
    prior = ganprior.load_prior(DEFAULT_PRIOR)
    weights = weights_id(prior)
    tag, extra = _steps(steps)
    for case in cases:
        for style in styles:
            recipe = {**task_preset(parse_task(CASES[case][1]), style), **extra}
            run_cached(set_name, case, f"preset:{style}{tag}", names, images, batch,
                       ganprior_fn(prior, case, preset=style, **extra),
                       fingerprint=json.dumps({"prior": DEFAULT_PRIOR, "weights": weights, **recipe,
                                               **observation_tag(case)}, sort_keys=True))


def part_methods(set_name, names, images, batch, cases, priors, methods, steps) -> None:
    tag, extra = _steps(steps)
    for name in priors:
        prior = ganprior.load_prior(name)
        weights = weights_id(prior)
        for case in cases:
            for method in methods:
                if method == "dgp" and prior.discriminator is None:
                    continue
                defaults = {} if method == "dgp" else defaults_for(
                    method, parse_task(CASES[case][1]), max(prior.composition_layers))
                run_cached(set_name, case, f"{name}:{method}{tag}", names, images, batch,
                           ganprior_fn(prior, case, method=method, preset="none", **extra),
                           fingerprint=json.dumps({"weights": weights, **defaults}, sort_keys=True))


# baselines see the observation as restore() does (and as an image file holds it): clipped to [0, 1]
BASELINE_INPUT = "observation clipped to [0, 1]"


def baseline_fingerprint(case: str) -> str:
    tag = observation_tag(case)
    return BASELINE_INPUT + "".join(f"; {k} {v}" for k, v in tag.items())


def part_baselines(set_name, names, images, cases) -> None:
    from ganprior.tasks import baseline_variants
    try:
        from ganprior.baselines.realesrgan import available
    except ImportError:
        def available():
            return False, "ganprior.baselines.realesrgan is missing"
    for case in cases:
        _, deg = observe(case, images[:1])
        for label, options in baseline_variants(deg).items():
            run_cached(set_name, case, f"baseline:{label}", names, images, 25, baseline_fn(options),
                       fingerprint=baseline_fingerprint(case))
        if deg.tasks == ["super-resolve"] and available()[0]:
            run_cached(set_name, case, "baseline:Real-ESRGAN x4plus", names, images, 25, realesrgan_fn(),
                       fingerprint=baseline_fingerprint(case))


def part_realistic(names, images, batch, cases) -> None:
    """The default preset and the baselines on the observations of ``realistic.CASES``; for
    super-resolution also the previous default (deepinv's operator as the forward model)."""
    from ganprior.tasks import baseline_variants
    from ganprior.baselines.realesrgan import available
    prior = ganprior.load_prior(DEFAULT_PRIOR)
    weights = weights_id(prior)
    for case in cases:
        _, task, options, _ = realistic.CASES[case]
        _, deg = observe(case, images[:1])
        for label, opts in baseline_variants(deg).items():
            run_cached("heldout", case, f"baseline:{label}", names, images, 25, baseline_fn(opts),
                       fingerprint=BASELINE_INPUT)
        if task == "super-resolve" and available()[0]:
            run_cached("heldout", case, "baseline:Real-ESRGAN x4plus", names, images, 25, realesrgan_fn(),
                       fingerprint=BASELINE_INPUT)
        if task == "denoise":  # a JPEG or a sensor's noise left as it is
            run_cached("heldout", case, "baseline:input as is", names, images, 25, lambda i, d, sl: (i.observed[sl], 0.0),
                       fingerprint=BASELINE_INPUT)
        style = default_style(task)
        recipe = task_preset(parse_task(task), style)
        fp = {"prior": DEFAULT_PRIOR, "weights": weights, **recipe}
        run_cached("heldout", case, f"preset:{style}", names, images, batch, ganprior_fn(prior, case, preset=style),
                   fingerprint=json.dumps({**fp, **observation_tag(case)}, sort_keys=True))
        if task == "super-resolve":
            run_cached("heldout", case, PREVIOUS_SR, names, images, batch,
                       ganprior_fn(prior, case, preset=style, kernel="deepinv"),
                       fingerprint=json.dumps({**fp, "kernel": "deepinv"}, sort_keys=True))


# the library's super-resolution before issue #27: the same preset through deepinv's Downsampling
PREVIOUS_SR = "previous:deepinv kernel"


def observation_tag(case: str) -> dict:
    """What a cached entry of ``case`` records about the forward model beyond its recipe: the
    super-resolution kernel (the default moved from deepinv's operator to PIL's bicubic)."""
    task = case_entry(case)[1]
    if "super-resolve" not in parse_task(task):
        return {}
    from ganprior.tasks.super_resolve import SuperResolve
    default = next(o.default for o in SuperResolve.options if o.name == "kernel")
    return {"kernel": task_options_of(case).get("kernel", default)}


def measured_now(data: dict) -> dict:
    """The cache without the entries measured through another forward model than the library's now
    (super-resolution through deepinv's operator, before the kernel was recorded): they are not
    reported as the library's numbers."""
    out = {}
    for case, rows in data.items():
        tag = observation_tag(case) if case in CASES else {}  # a realistic observation is made by its tool
        if not tag:
            out[case] = rows
            continue
        marks = [f'"{k}": "{v}"' for k, v in tag.items()] + [f"{k} {v}" for k, v in tag.items()]
        out[case] = {r: e for r, e in rows.items()
                     if r == PREVIOUS_SR or any(m in (e.get("fingerprint") or "") for m in marks)}
    return out


def realistic_table(data: dict) -> list[str]:
    """The default preset against every baseline on the realistic observations, per case."""
    rows = []
    for case, (label, task, _, _) in realistic.CASES.items():
        entries = data.get(case, {})
        preset = entries.get(f"preset:{default_style(task)}")
        if not preset or not preset["names"]:
            continue
        n = len(preset["names"])
        base = {k: v for k, v in entries.items() if k.startswith("baseline:") and len(v["names"]) >= n}
        ident = lambda e: fmt(float(np.mean(e["identity"][:n])), 3) if e.get("identity") else "-"  # noqa: E731
        line = (f"| {label} | {n} | {fmt(mean(preset, 'psnr'), 2)} / {fmt(mean(preset, 'lpips'), 3)} / "
                f"{ident(preset)} |")
        prev = entries.get(PREVIOUS_SR)
        line += (f" {np.mean(prev['psnr'][:n]):.2f} / {np.mean(prev['lpips'][:n]):.3f} / {ident(prev)} |"
                 if prev and len(prev["names"]) >= n else " - |")
        if base:
            ps = max(base, key=lambda k: np.mean(base[k]["psnr"][:n]))
            lp = min(base, key=lambda k: np.mean(base[k]["lpips"][:n]))
            gain = np.asarray(preset["psnr"], float) - np.asarray(base[ps]["psnr"][:n], float)
            better = np.asarray(preset["lpips"], float) < np.asarray(base[lp]["lpips"][:n], float)
            line += (f" {ps[9:]}: {np.mean(base[ps]['psnr'][:n]):.2f} / {ident(base[ps])} | "
                     f"{lp[9:]}: {np.mean(base[lp]['lpips'][:n]):.3f} | {gain.mean():+.2f} dB, ahead on "
                     f"{int((gain > 0).sum())} of {n} | {int(better.sum())} of {n} |")
        else:
            line += " - | - | - | - |"
        rows.append(line)
    if not rows:
        return []
    return ["### Degradations as users' images have them (issue #27)", "",
            "Held-out faces degraded by ordinary tools, not by ganprior's forward model "
            "(`benchmarks/realistic.py`: PIL, OpenCV, deepinv, JPEG, Poisson-Gaussian noise, a faded print), "
            "8-bit, then restored as a user would: the task and the options they can know (the factor, a noise "
            "level), never the kernel, so every low-resolution row runs the default kernel (PIL's antialiased "
            "bicubic) and the other tools' rows measure the mismatch. Reproduce: "
            "`.venv/bin/python benchmarks/restoration.py --part realistic --images 40`, then `--part report`. "
            "Identity: dlib's face-recognition distance to the truth (1 - cos, lower is better; "
            "`pip install 'ganprior[identity]'`). Previous: the same preset through deepinv's `Downsampling`, the "
            "library's forward model before #27.", "",
            "| degradation | images | default preset PSNR / LPIPS / identity | previous | best baseline in PSNR "
            "(PSNR / identity) | best in LPIPS | PSNR gain of the preset | LPIPS better on |",
            "|---|---|---|---|---|---|---|---|", *rows, "",
            "First held-out faces, x4 and x8 from PIL's bicubic (rows: Lanczos, Real-ESRGAN x4plus, the previous "
            "default through deepinv's operator, the default preset):", "",
            "![realistic super-resolution](benchmarks/restoration_realistic.png)", ""]


# -- report -----------------------------------------------------------------------------------------

def mean(entry, key):
    vals = [v for v in entry[key] if v is not None]
    return float(np.mean(vals)) if vals else None


def fmt(v, digits):
    return "-" if v is None else f"{v:.{digits}f}"


def best_baseline(rows: dict, key: str, lower: bool) -> tuple[str, dict] | None:
    base = {k: v for k, v in rows.items() if k.startswith("baseline:")}
    if not base:
        return None
    pick = (min if lower else max)(base, key=lambda k: mean(base[k], key))
    return pick, base[pick]


STALE_MARK = " †"
STALE_NOTE = ("† measured with earlier weights of the prior than the ones it ships now (the cache keeps them "
              "until the same command measures them again); not comparable with unmarked rows.")


def current_weights() -> dict[str, str]:
    """The digest of each prior's weights as installed now (rows measured on others are stale)."""
    return {name: installed_fingerprint(name)[:WEIGHTS_DIGITS] for name in PRIORS}


def is_stale(entry: dict | None, prior_name: str, current: dict[str, str]) -> bool:
    if entry is None or "fingerprint" not in entry:
        return False
    try:
        weights = json.loads(entry["fingerprint"]).get("weights")
    except (ValueError, AttributeError):
        return False
    return weights is not None and weights != current.get(prior_name)


def report() -> None:
    current = current_weights()
    stale_seen = False
    lines = ["## Restoration against classical baselines (presets, every method and prior)", "",
             "Reproduce (one command, rebuilds this section in BENCHMARKS.md): "
             "`.venv/bin/python benchmarks/restoration.py --part all --images 200`; the methods grid: "
             "`--part methods --images 5`, then `--part report`. The cache keeps every finished image, so "
             "a larger `--images` only measures the new ones. "
             "PSNR/SSIM/AuC higher is better, LPIPS (AlexNet) and NIQE (2x bicubic upscale: NIQE needs 96 px) "
             "lower is better; data PSNR: the result pushed through the degradation against the observation "
             "(how faithful the fit is). Seconds per image on 2 CPU cores (batched).", ""]
    lines += realistic_table(load_cache("heldout"))
    for set_name, title in (("heldout", "200 held-out UTKFace faces"), ("examples", "the 21 example faces")):
        data = measured_now(load_cache(set_name))
        if not data:
            continue
        lines += [f"### {title}", "", "| task | recipe | images | PSNR | SSIM | LPIPS | NIQE | AuC | data PSNR | s / image |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for case, (label, *_) in CASES.items():
            rows = data.get(case, {})
            rows = {k: v for k, v in rows.items() if k.startswith(("preset:", "baseline:"))}  # methods: own table
            order = sorted(rows, key=lambda k: (not k.startswith("preset:"), k.startswith("baseline:"), k))
            for i, recipe in enumerate(order):
                e = rows[recipe]
                mark = STALE_MARK if is_stale(e, DEFAULT_PRIOR, current) else ""
                stale_seen |= bool(mark)
                lines.append(f"| {label if i == 0 else ''} | {recipe}{mark} | {len(e['names'])} | {fmt(mean(e, 'psnr'), 2)} "
                             f"| {fmt(mean(e, 'ssim'), 3)} | {fmt(mean(e, 'lpips'), 4)} | {fmt(mean(e, 'niqe'), 2)} "
                             f"| {fmt(mean(e, 'auc'), 2)} | {fmt(mean(e, 'data_psnr'), 2)} "
                             f"| {fmt(mean(e, 'seconds'), 2)} |")
        lines.append("")
        lines += verdict(data, current)
        methods, stale_methods = methods_table(data, current)
        lines += methods
        stale_seen |= stale_methods
        lines += [f"Examples, first {SHEET_IMAGES} faces (each row: one task and recipe; the default preset first, "
                  "then the baselines; the inpainting rows are where the preset can lose in PSNR):", "",
                  f"![restoration examples](benchmarks/restoration_{set_name}.png)", ""]
    for name, cases in CASE_SHEETS.items():
        if (ROOT / "benchmarks" / f"restoration_{name}.png").exists():
            lines += [f"{name.capitalize()}, first held-out faces (each row: the observation, the baselines, the "
                      f"presets, then the truth; cases {', '.join(cases)}; R-Lucy: Richardson-Lucy):", "",
                      f"![{name} examples](benchmarks/restoration_{name}.png)", ""]
    lines += ["Default preset against the best baseline, every task (PSNR and LPIPS):", "",
              "![restoration](benchmarks/restoration.png)", ""]
    if stale_seen:
        lines += [STALE_NOTE, ""]
    write_section("restoration", lines)
    plot()


def verdict(data: dict, current: dict[str, str]) -> list[str]:
    """Does the default preset of each task beat the best classical baseline (same images)?"""
    out = ["| task | default preset | vs best baseline | LPIPS | PSNR | PSNR gain per image |",
           "|---|---|---|---|---|---|"]
    for case, (label, task, _) in CASES.items():
        rows = data.get(case, {})
        style = default_style(task)
        preset = rows.get(f"preset:{style}")
        if preset is None:
            continue
        n = len(preset["names"])
        style += STALE_MARK if is_stale(preset, DEFAULT_PRIOR, current) else ""
        cmp = {k: v for k, v in rows.items() if k.startswith("baseline:") and len(v["names"]) >= n}
        if not cmp:
            out.append(f"| {label} | {style} | (no baseline) | {fmt(mean(preset, 'lpips'), 4)} | "
                       f"{fmt(mean(preset, 'psnr'), 2)} |")
            continue
        lp = min(cmp, key=lambda k: np.mean(cmp[k]["lpips"][:n]))
        ps = max(cmp, key=lambda k: np.mean(cmp[k]["psnr"][:n]))
        lp_b, ps_b = np.mean(cmp[lp]["lpips"][:n]), np.mean(cmp[ps]["psnr"][:n])
        lp_p, ps_p = mean(preset, "lpips"), mean(preset, "psnr")
        gain = np.asarray(preset["psnr"], float) - np.asarray(cmp[ps]["psnr"][:n], float)
        se = gain.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
        out.append(f"| {label} | {style} | {lp[9:]} / {ps[9:]} | {lp_p:.4f} vs {lp_b:.4f} "
                   f"{'**wins**' if lp_p < lp_b else 'loses'} | {ps_p:.2f} vs {ps_b:.2f} "
                   f"{'**wins**' if ps_p > ps_b else 'loses'} | {gain.mean():+.2f} ± {se:.2f} dB, "
                   f"higher on {int((gain > 0).sum())} of {n} |")
    return ["Default preset against the best baseline on each metric (same images; the last column: the "
            "preset's PSNR minus the baseline's, mean ± standard error over the images, and on how many "
            "images the preset is ahead):", "", *out, ""]


def methods_table(data: dict, current: dict[str, str]) -> tuple[list[str], bool]:
    """Every method x prior (library defaults, ``--part methods``) beside the default preset and the
    best baseline of each metric, all on the same first images of the grid; and whether a cell is
    stale (measured on other weights, marked with a dagger)."""
    grid = [f"{p}:{m}" for p in PRIORS for m in METHODS]
    present = [g for g in grid if any(g in data.get(c, {}) for c in CASES)]
    if not present:
        return [], False
    stale_seen = False
    out = ["| task | images | default preset | best baseline | " + " | ".join(present) + " |",
           "|---|---|---|---|" + "---|" * len(present)]
    for case, (label, task, _) in CASES.items():
        rows = data.get(case, {})
        cols = [rows.get(g) for g in present]
        counts = [len(e["names"]) for e in cols if e is not None]
        if not counts:
            continue
        n = min(counts)

        def cell(e, prior_name):
            nonlocal stale_seen
            if e is None or len(e["names"]) < n:
                return "-"
            mark = STALE_MARK if is_stale(e, prior_name, current) else ""
            stale_seen |= bool(mark)
            return f"{np.mean(e['psnr'][:n]):.2f} / {np.mean(e['lpips'][:n]):.3f}{mark}"
        preset = rows.get(f"preset:{default_style(task)}")
        base = {k: v for k, v in rows.items() if k.startswith("baseline:") and len(v["names"]) >= n}
        best = "-"
        if base:
            ps = max(base, key=lambda k: np.mean(base[k]["psnr"][:n]))
            lp = min(base, key=lambda k: np.mean(base[k]["lpips"][:n]))
            best = f"{np.mean(base[ps]['psnr'][:n]):.2f} / {np.mean(base[lp]['lpips'][:n]):.3f}"
        out.append(f"| {label} | {n} | {cell(preset, DEFAULT_PRIOR)} | {best} | "
                   + " | ".join(cell(e, g.split(":")[0]) for e, g in zip(cols, present)) + " |")
    return ["Every method on every shipped prior, with the library's method defaults (`preset none`: pixel MSE + "
            "VGG16 perceptual term, no blend; DGP: the task's schedule; `dcgan-digiface64` has no "
            "discriminator, so no DGP), PSNR / LPIPS on the same first images as the default preset and the "
            "best baseline of each metric:", "", *out, ""], stale_seen


def plot() -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    data = measured_now(load_cache("heldout"))
    if not data:
        return
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    cases = [c for c in CASES if c in data]
    for ax, key, title in ((axes[0], "psnr", "PSNR (dB), higher is better"),
                           (axes[1], "lpips", "LPIPS, lower is better")):
        kinds = ("preset", "baseline")
        for j, kind in enumerate(kinds):
            vals = []
            for case in cases:
                rows = {k: v for k, v in data[case].items() if k.startswith(kind + ":")}
                if kind == "preset":
                    rows = {k: v for k, v in rows.items() if k == f"preset:{default_style(CASES[case][1])}"}
                pick = [m for m in (mean(v, key) for v in rows.values()) if m is not None]  # skip empty entries
                vals.append((min if key == "lpips" else max)(pick) if pick else np.nan)
            ax.bar(np.arange(len(cases)) + 0.4 * j - 0.2, vals, width=0.4,
                   label="ganprior default preset" if kind == "preset" else "best classical baseline")
        ax.set_xticks(np.arange(len(cases)), cases, rotation=35, ha="right")
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(ROOT / "benchmarks" / "restoration.png", dpi=110)


# cases that also get a sheet of their own (benchmarks/restoration_<name>.png, held-out faces): the
# observation, every baseline and every preset, then the truth, one row each
CASE_SHEETS = {"deblur": ("deblur-1.5", "deblur-2.5")}
SHORT = {"baseline:richardson-lucy": "R-Lucy"}  # row labels fit 80 px tiles


def _outputs(set_name: str, case: str, recipe: str) -> torch.Tensor | None:
    """The kept outputs of a recipe on the first ``SHEET_IMAGES`` faces (None if not measured here)."""
    files = sorted((IMAGES_OUT / set_name / case).glob(f"{recipe}-*.pt"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    return torch.cat([torch.load(f) for f in files])[:SHEET_IMAGES] if files else None


def _row(images, label: str) -> torch.Tensor:
    return make_sheet(list(images), [label] + [""] * (len(images) - 1), tile=80)


REALISTIC_SHEET = ("sr4-pil-bicubic", "sr8-pil-bicubic")


def realistic_sheet() -> None:
    """benchmarks/restoration_realistic.png: the truth, then per case of ``REALISTIC_SHEET`` Lanczos,
    Real-ESRGAN, the previous default and the default preset (first held-out faces); kept unless
    every row's outputs are on this machine."""
    recipes = ("baseline:lanczos", "baseline:Real-ESRGAN x4plus", PREVIOUS_SR, "preset:faithful")
    outs = {(c, r): _outputs("heldout", c, r) for c in REALISTIC_SHEET for r in recipes}
    if any(o is None for o in outs.values()):
        return
    _, images = load_set("heldout", SHEET_IMAGES)
    rows = [_row(images, "truth")]
    for (case, recipe), out in outs.items():
        label = {"baseline:lanczos": "Lanczos", "baseline:Real-ESRGAN x4plus": "Real-ESRGAN",
                 PREVIOUS_SR: "previous", "preset:faithful": "ganprior"}[recipe]
        rows.append(_row(out, f"{case[:3]} {label}"))
    save_image(stack_rows(rows), ROOT / "benchmarks" / "restoration_realistic.png")


def sheets() -> None:
    """benchmarks/restoration_<set>.png: truth, default preset and baselines of every case. The kept
    outputs (``IMAGES_OUT``) are not committed, so the sheet is rewritten only when this machine holds
    the outputs of every case the cache has measured: a session that measured a few cases leaves the
    committed sheet alone instead of replacing it with a partial one. Then the sheets of
    ``CASE_SHEETS``."""
    for set_name in ("heldout", "examples"):
        data = measured_now(load_cache(set_name))
        if not data:
            continue
        _, images = load_set(set_name, SHEET_IMAGES)
        rows, missing = [], []
        for case, (label, task, _) in CASES.items():
            if not data.get(case):
                continue
            recipes = [f"preset:{default_style(task)}"] + sorted(k for k in data[case] if k.startswith("baseline:"))
            for recipe in recipes:
                out = _outputs(set_name, case, recipe)
                if out is None:
                    missing.append(f"{case} {recipe}")
                    continue
                rows.append(_row(out, f"{case}: {recipe}"))
        if missing:
            print(f"restoration_{set_name}.png kept: no outputs here for {len(missing)} measured recipes "
                  f"({', '.join(missing[:3])}, ...); `--part all` remakes them")
        elif rows:
            rows.insert(0, _row(images, "truth"))
            save_image(stack_rows(rows), ROOT / "benchmarks" / f"restoration_{set_name}.png")
    realistic_sheet()
    data = measured_now(load_cache("heldout"))
    for name, cases in CASE_SHEETS.items():
        rows = []
        for case in cases:
            from ganprior.tasks import baseline_variants
            _, images = load_set("heldout", SHEET_IMAGES)
            inputs, deg = observe(case, images)
            recipes = [f"baseline:{label}" for label in baseline_variants(deg)]  # in the task's order
            recipes += [f"preset:{style}" for style in STYLES]
            outs = {r: _outputs("heldout", case, r) for r in recipes if r in data.get(case, {})}
            if any(o is None for o in outs.values()) or not outs:
                continue
            n = min(len(o) for o in outs.values())
            images, inputs = images[:n], inputs.observed[:n]
            tag = CASES[case][2].get("blur_sigma", case)
            rows.append(_row(inputs.clamp(0, 1), f"{tag}: input"))
            rows += [_row(o[:n], f"{tag}: {SHORT.get(r, r.split(':', 1)[1])}") for r, o in outs.items()]
            rows.append(_row(images, f"{tag}: truth"))
        if rows:
            save_image(stack_rows(rows), ROOT / "benchmarks" / f"restoration_{name}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", required=True, choices=["all", "presets", "baselines", "methods", "realistic", "report"],
                    help="all: baselines and presets on both sets (held-out: --images), then the report "
                         "folded into BENCHMARKS.md")
    ap.add_argument("--set", default="heldout", choices=["heldout", "examples"])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ",".join(CASES))
    ap.add_argument("--styles", default=",".join(STYLES))
    ap.add_argument("--priors", default=",".join(PRIORS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--steps", type=int, default=None,
                    help="override the recipes' steps (a smoke run; cached under recipe@steps)")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.part == "realistic" and a.cases == ",".join(CASES):
        a.cases = ",".join(realistic.CASES)
    cases = [c for c in a.cases.split(",") if c]
    known = realistic.CASES if a.part == "realistic" else CASES
    unknown = [c for c in cases if c not in known]
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}")
    try:
        if a.part == "all":
            for set_name in ("heldout", "examples"):
                names, images = load_set(set_name, a.images if set_name == "heldout" else None)
                part_baselines(set_name, names, images, cases)
                part_presets(set_name, names, images, a.batch, cases, a.styles.split(","), a.steps)
            names, images = load_set("heldout", min(a.images, REALISTIC_IMAGES))
            part_realistic(names, images, a.batch, list(realistic.CASES))
        if a.part in ("report", "all"):
            report()
            sheets()
            if a.part == "all":  # fold the section into BENCHMARKS.md
                import subprocess
                subprocess.run([sys.executable, str(ROOT / "benchmarks" / "inversion.py"), "--part", "report"],
                               check=True)
            return
        names, images = load_set(a.set, a.images)
        if a.part == "realistic":
            part_realistic(names, images, a.batch, cases)
        elif a.part == "presets":
            part_presets(a.set, names, images, a.batch, cases, a.styles.split(","), a.steps)
        elif a.part == "baselines":
            part_baselines(a.set, names, images, cases)
        else:
            part_methods(a.set, names, images, a.batch, cases, a.priors.split(","), a.methods.split(","), a.steps)
    except GanpriorError as e:
        sys.exit(f"restoration.py: {e}")


if __name__ == "__main__":
    main()
