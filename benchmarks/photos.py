"""Whole photos (issue #28): faces found, restored and pasted back, measured in the face regions of
composite photos whose ground truth is known; and the size rule (``MAX_FACE_RATIO``) measured.

The photos are made here, deterministically from ``--seed``, with ``detect_faces.py``'s composite
builder (imported from it): a real scene (the unique 256 px scenes of
``../shared/data/mganprior-examples/{gan_inversion,colorization,inpainting}``, one per photo, a random
4:3 crop, maybe mirrored, enlarged to 640 x 480) with 5 held-out UTKFace faces
(``ganprior.training.holdout_files(utkface, 200)``, never seen by ``utkface64``) of widths 24, 32,
48, 64 and 96 px, each turned by up to +-10 degrees and blended in through a feathered ellipse with
the hair, made 0 at the chip's edge (``soft_mask``), so the clean photo (the ground truth) has no
seam. A face's width and true box are the detector's box on its 200 px chip, scaled and moved with
it (see ``detect_faces.py``).

Each clean photo is degraded whole, like the tasks' own forward models:

* ``sr2``, ``sr4``: antialiased bicubic reduction (torch ``interpolate(antialias=True)``) of the
  whole photo (640 x 480 -> 320 x 240 or 160 x 120): what PIL and image editors do, and exactly the
  super-resolve task's default forward model (``physics.resize``, kernel ``bicubic``);
* ``dn0.1``, ``dn0.2``: seeded Gaussian noise of that sigma (the photo stays 640 x 480);
* ``gray``: Rec.601 luma (the colorize task's operator);

then clipped to [0, 1] and rounded to 8 bits, as a photo file would hold it, and given to
``ganprior.restore(observed, task, faces="detect", **options)`` with the default prior
(``utkface64``), the task's preset and its default steps.

The size rule. ``ganprior.faces.photo`` leaves a face to the background when the photo shows it more
than a limit of photo pixels per pixel of the crop the prior observes (64 px; 32 or 16 for x2 and x4
SR): each task's ``photo_face_ratio`` (``face_ratio_limit``), which ``MAX_FACE_RATIO`` overrides when
set. Super-resolution first tries a smaller factor for such a face (``Task.photo_options``: x4 ->
x2, a crop twice as large). "ours" is the library's default run, exactly as a user gets it. With
``--all TASK...`` those tasks also run with ``MAX_FACE_RATIO`` at infinity ("ours, all": every
detected face restored, at the run's own factor), which the size rule was measured with; the sweep
table applies limits to that run afterwards. Each face's ratio is recomputed from its landmarks at
the run's own crop, as ``load_photo`` does. A face the detector misses is the background in all.

Scored per pasted face, in its true box of the clean photo (output pixels): PSNR, SSIM and LPIPS
(AlexNet; a box under 64 px is first enlarged, bicubic, to 64 px on its shorter side, as LPIPS's
AlexNet needs) of ``PhotoResult.image``, of ``PhotoResult.background`` (bicubic for SR, BM3D for
denoising, the gray photo for colorize) and, for SR, of Real-ESRGAN x4plus (``ganprior.baselines.
realesrgan``, on the whole low-resolution photo; for x2 its x4 output reduced by 2, antialiased
bicubic. Tiles around the faces with 16 px of context, tried first to save time, moved a face's
PSNR by up to 2 dB against whole-photo inference, so the whole photo it is).
Detection: a detection matches a pasted face at IoU >= 0.4 (boxes in clean-photo pixels), the best
scoring one per face; recall per face width, precision per width bin of the detected boxes.

    PYTHONPATH=src .venv/bin/python benchmarks/photos.py --photos 8   # ~20 min on 2 idle CPU cores
    PYTHONPATH=src .venv/bin/python benchmarks/photos.py --photos 8 --report   # the .md, .json and sheets again from the cache

Runs are cached per (photo, task) under ``--cache`` (default /tmp/ganprior-photos), so an interrupted
run resumes; the sheets need that cache. UTKFace is licensed for non-commercial research only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
import detect_faces as df  # noqa: E402 - the composite builder

import ganprior  # noqa: E402
import ganprior.faces.photo as photo_mod  # noqa: E402
from ganprior.faces.align import UTKFACE as UTK_TEMPLATE, fit_similarity  # noqa: E402
from ganprior.io import to_gray  # noqa: E402
from ganprior.metrics import lpips, psnr, ssim  # noqa: E402
from ganprior.training import holdout_files  # noqa: E402

warnings.filterwarnings("ignore")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
UTKFACE = SHARED / "utkface"
EXAMPLES = SHARED / "mganprior-examples"
SCENE_DIRS = ("gan_inversion", "colorization", "inpainting")
RESULTS = Path(__file__).resolve().parent / "results"

SIZE = (640, 480)
WIDTHS = (24, 32, 48, 64, 96)
MAX_ANGLE = 10.0
MATCH_IOU = df.MATCH_IOU  # 0.4
LPIPS_MIN = 64
# the tasks declare their own size limits (Task.photo_face_ratio: 1.25, colorization 2.0), measured
# with ``--all``'s sweep; MAX_FACE_RATIO is None unless a benchmark sets it
SWEEP = (0.75, 1.0, 1.25, 1.5, 2.0, math.inf)  # size rules compared after the fact
RATIO_BINS = (0.0, 0.75, 1.0, 1.25, 1.5, 2.0, math.inf)
PRIOR_RES = 64
NOTES_MARK = "### Notes"
# the sheets: task, file, face widths shown (3 faces of each, the first photos')
SHEETS = (("sr4", "photos_sheet_sr4.png", (96, 48)), ("dn0.2", "photos_sheet_denoise0.2.png", (96, 48)),
          ("dn0.1", "photos_sheet_denoise0.1.png", (96, 64, 24)))

# key -> (label, task, options, factor)
TASKS = {
    "sr2": ("super-resolution x2", "super-resolve", {"factor": 2}, 2),
    "sr4": ("super-resolution x4", "super-resolve", {"factor": 4}, 4),
    "dn0.1": ("denoising, sigma 0.1", "denoise", {"noise_sigma": 0.1}, 1),
    "dn0.2": ("denoising, sigma 0.2", "denoise", {"noise_sigma": 0.2}, 1),
    "gray": ("colorization", "colorize", {}, 1),
}
BACKGROUND = {"super-resolve": "bicubic", "denoise": "BM3D", "colorize": "gray photo"}


def library_limit(task: str) -> float:
    """The largest face ratio the library restores for ``task`` by default (read before the run lifts
    it): the task's own ``photo_face_ratio`` where tasks declare one, else ``MAX_FACE_RATIO``."""
    if not hasattr(photo_mod, "face_ratio_limit"):
        return float(photo_mod.MAX_FACE_RATIO)
    saved, photo_mod.MAX_FACE_RATIO = photo_mod.MAX_FACE_RATIO, None
    try:
        return float(photo_mod.face_ratio_limit([task]))
    finally:
        photo_mod.MAX_FACE_RATIO = saved


LIMITS = {key: library_limit(task) for key, (_, task, _, _) in TASKS.items()}


# -- photos ---------------------------------------------------------------------------------------

def scene_files() -> list[Path]:
    """The unique scenes (by file name), interleaved over their folders so any prefix mixes them."""
    seen, groups = set(), []
    for d in SCENE_DIRS:
        for sub in sorted(p for p in (EXAMPLES / d).iterdir() if p.is_dir()):
            files = [p for p in sorted(sub.iterdir()) if p.suffix.lower() in (".png", ".jpg", ".jpeg")
                     and p.name not in seen]
            seen.update(p.name for p in files)
            groups.append(files)
    out = []
    for k in range(max(len(g) for g in groups)):
        out += [g[k] for g in groups if k < len(g)]
    return out


_ELLIPSE = df.feather_mask  # detect_faces' feathered ellipse around the face, its hair and chin


def soft_mask(n: int, box: np.ndarray) -> Image.Image:
    """``detect_faces.feather_mask``'s feathered ellipse times a ramp that is 0 at the chip's edge:
    the ellipse can reach past the chip's top and bottom, and cut off there it would leave a straight
    seam in the clean photo. (Shrinking the ellipse to fit the chip instead cuts off the hair and
    costs the detector faces.)"""
    blur = 0.04 * n
    inner = Image.new("L", (n, n), 0)
    ImageDraw.Draw(inner).rectangle((2 * blur, 2 * blur, n - 1 - 2 * blur, n - 1 - 2 * blur), fill=255)
    ramp = np.asarray(inner.filter(ImageFilter.GaussianBlur(blur)), dtype=np.float32) / 255
    return Image.fromarray((np.asarray(_ELLIPSE(n, box), dtype=np.float32) * ramp + 0.5).astype(np.uint8))


def make_photos(n: int, seed: int) -> list[dict]:
    """``n`` clean composites: {scene, clean (H, W, 3) uint8, boxes {width: box}}."""
    # detect_faces.paste_faces reads both at call time: turn faces by up to +-10 degrees, blend them
    # through a mask that is 0 at the chip's edge
    df.MAX_ANGLE = MAX_ANGLE
    df.feather_mask = soft_mask
    rng = np.random.default_rng(seed)
    faces = df.reference_faces(holdout_files(UTKFACE, 200))
    scenes = scene_files()
    photos = []
    for i in range(n):
        path = scenes[i % len(scenes)]
        img = df.scene_photo(np.asarray(Image.open(path).convert("RGB")), rng, SIZE)
        truth = df.paste_faces(img, faces, WIDTHS, rng)  # widest first
        photos.append({"scene": f"{path.parent.parent.name}/{path.parent.name}/{path.name}",
                       "clean": np.asarray(img).copy(),
                       "boxes": dict(zip(sorted(WIDTHS, reverse=True), [b.tolist() for b in truth]))})
    return photos


def as_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float() / 255


def as_uint8(x: torch.Tensor) -> np.ndarray:
    x = x.detach().float().cpu().clamp(0, 1)
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return (x.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def degrade(clean: torch.Tensor, key: str, seed: int) -> torch.Tensor:
    """The observation of ``clean`` (3, H, W) for task ``key``, clipped and rounded to 8 bits."""
    _, task, options, factor = TASKS[key]
    if task == "super-resolve":
        # antialiased bicubic, centred on the pixel grid as a camera's or an editor's reduction is
        y = F.interpolate(clean[None], size=(clean.shape[-2] // factor, clean.shape[-1] // factor), mode="bicubic",
                          antialias=True, align_corners=False)[0]
    elif task == "denoise":
        g = torch.Generator().manual_seed(seed)
        y = clean + options["noise_sigma"] * torch.randn(clean.shape, generator=g)
    else:
        y = to_gray(clean[None])[0]
    return torch.round(y.clamp(0, 1) * 255) / 255


# -- scoring --------------------------------------------------------------------------------------

def int_box(box, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return (max(0, math.floor(x0)), max(0, math.floor(y0)), min(width, math.ceil(x1)), min(height, math.ceil(y1)))


def region_scores(candidates: dict[str, torch.Tensor], truth: torch.Tensor, box) -> dict[str, dict]:
    """PSNR, SSIM, LPIPS of each (3, H, W) candidate against ``truth`` in ``box`` (clean pixels)."""
    x0, y0, x1, y1 = int_box(box, truth.shape[-1], truth.shape[-2])
    names = list(candidates)
    cand = torch.stack([candidates[k][:, y0:y1, x0:x1] for k in names]).float().clamp(0, 1)
    ref = truth[:, y0:y1, x0:x1][None].expand_as(cand).float()
    p, s = psnr(cand, ref), ssim(cand, ref)
    h, w = cand.shape[-2:]
    if min(h, w) < LPIPS_MIN:
        k = LPIPS_MIN / min(h, w)
        size = (max(LPIPS_MIN, round(h * k)), max(LPIPS_MIN, round(w * k)))
        cand = F.interpolate(cand, size=size, mode="bicubic", align_corners=False).clamp(0, 1)
        ref = F.interpolate(ref, size=size, mode="bicubic", align_corners=False).clamp(0, 1)
    lp = lpips(cand, ref)
    return {k: {"psnr": float(p[i]), "ssim": float(s[i]), "lpips": float(lp[i])} for i, k in enumerate(names)}


def face_ratio(landmarks, crop_size: int) -> float:
    """Photo pixels per observed-crop pixel, as ``load_photo`` computes it."""
    M = fit_similarity(np.asarray(landmarks, dtype=np.float64), UTK_TEMPLATE.landmarks(crop_size))
    return 1.0 / float(np.sqrt(abs(np.linalg.det(M[:, :2]))))


def match(detections: list[dict], truth: dict[int, list[float]], factor: int) -> tuple[dict, list[dict]]:
    """Each true face's best-scoring detection at IoU >= MATCH_IOU (index or None); the unmatched."""
    boxes = np.array([[v * factor for v in d["box"]] for d in detections]).reshape(-1, 4)
    scores = np.array([d["score"] for d in detections])
    used = np.zeros(len(detections), bool)
    out = {}
    for width in sorted(truth, reverse=True):
        hits = np.flatnonzero(df.iou(np.array(truth[width]), boxes) >= MATCH_IOU) if len(boxes) else np.array([], int)
        hits = hits[~used[hits]]
        if hits.size:
            best = int(hits[np.argmax(scores[hits])])
            used[best] = True
            out[width] = best
        else:
            out[width] = None
    return out, [detections[i] for i in np.flatnonzero(~used)]


def esrgan_whole(observed: torch.Tensor, factor: int) -> torch.Tensor:
    """Real-ESRGAN x4plus of the whole photo, reduced to ``factor`` (antialiased bicubic)."""
    from ganprior.baselines.realesrgan import realesrgan_x4
    out = realesrgan_x4(observed[None])
    if factor != 4:
        out = F.interpolate(out, size=(observed.shape[-2] * factor, observed.shape[-1] * factor), mode="bicubic",
                            antialias=True, align_corners=False).clamp(0, 1)
    return out[0]


def esrgan(observed: torch.Tensor, factor: int) -> tuple[torch.Tensor, float]:
    """Real-ESRGAN of the whole photo at ``factor`` and the seconds it took."""
    t0 = time.perf_counter()
    out = esrgan_whole(observed, factor)
    return out, time.perf_counter() - t0


# -- one run --------------------------------------------------------------------------------------

def run_one(photo: dict, index: int, key: str, seed: int, cache: Path, lifted: bool = False) -> dict:
    """Restore one degraded photo as the library does by default (and, ``lifted``, once more with
    every detected face restored); score every pasted face."""
    label, task, options, factor = TASKS[key]
    clean = as_tensor(photo["clean"])
    observed = degrade(clean, key, seed * 1000 + index)
    photo_mod.MAX_FACE_RATIO = None
    t0 = time.perf_counter()
    result = ganprior.restore(observed, task=task, faces="detect", **options)[0]
    seconds = time.perf_counter() - t0
    cands = {"background": result.background, "ours": result.image}
    if lifted:
        photo_mod.MAX_FACE_RATIO = math.inf
        try:
            cands["ours_all"] = ganprior.restore(observed, task=task, faces="detect", **options)[0].image
        finally:
            photo_mod.MAX_FACE_RATIO = None
    crop_size = PRIOR_RES // factor
    dets = [{"box": d["box"], "score": d["score"], "restored": d["restored"],
             "ratio": face_ratio(d["landmarks"], crop_size)} for d in result.faces]
    truth = {int(k): v for k, v in photo["boxes"].items()}
    matched, false = match(dets, truth, factor)
    esr, esr_seconds = (None, 0.0)
    if task == "super-resolve":
        esr, esr_seconds = esrgan(observed, factor)
        cands["esrgan"] = esr
    faces = []
    for width, box in sorted(truth.items()):
        scores = region_scores(cands, clean, box)
        d = dets[matched[width]] if matched[width] is not None else None
        faces.append({"width": width, "input_width": width / factor, "box": [round(v, 2) for v in box],
                      "found": d is not None, "score": d["score"] if d else None,
                      "restored": bool(d and d["restored"]), "ratio": d["ratio"] if d else None, **scores})
    rec = {"photo": index, "scene": photo["scene"], "task": key, "seconds": seconds, "steps": result.steps,
           "restored": sum(d["restored"] for d in dets), "esrgan_seconds": esr_seconds, "faces": faces,
           "false": [{"box": [v * factor for v in d["box"]], "score": d["score"], "ratio": d["ratio"]} for d in false],
           "notes": result.notes}
    np.savez_compressed(cache / f"{index}-{key}.npz", image=as_uint8(result.image), background=as_uint8(result.background),
                        observed=as_uint8(observed), esrgan=as_uint8(esr) if esr is not None else np.zeros(0, np.uint8))
    return rec


# -- aggregation ----------------------------------------------------------------------------------

def rule(face: dict, threshold: float, metric: str) -> float:
    """A face's score in the lifted run under the size rule ``threshold``: restored if found with
    ratio <= threshold, else the background."""
    use = face["found"] and face["ratio"] <= threshold
    return face["ours_all" if use else "background"][metric]


def mean_se(values) -> tuple[float, float]:
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0


def variants(faces: list[dict]) -> list[str]:
    """The restorations the faces were scored for: the library's default, and the lifted run."""
    return ["ours"] + (["ours_all"] if faces and "ours_all" in faces[0] else [])


def score(face: dict, variant: str, metric: str) -> float:
    """A face's score in ``variant``; the lifted run's undetected faces are its background."""
    if variant == "ours_all":
        return rule(face, math.inf, metric)
    return face[variant][metric]


def summarize(records: list[dict]) -> dict:
    out = {"limits": LIMITS, "tasks": {}, "ratio": {}, "targets": {}, "sweep": {}}
    for key in TASKS:
        recs = [r for r in records if r["task"] == key]
        if not recs:
            continue
        factor = TASKS[key][3]
        rows = {}
        groups = {str(w): [f for r in recs for f in r["faces"] if f["width"] == w] for w in WIDTHS}
        groups["input >= 24 px"] = [f for r in recs for f in r["faces"] if f["input_width"] >= 24]
        groups["input < 24 px"] = [f for r in recs for f in r["faces"] if f["input_width"] < 24]
        groups["all"] = [f for r in recs for f in r["faces"]]
        for name, faces in groups.items():
            if not faces:
                continue
            row = {"faces": len(faces), "found": sum(f["found"] for f in faces),
                   "restored": sum(f["restored"] for f in faces),
                   "ratio_median": float(np.median([f["ratio"] for f in faces if f["found"]]))
                   if any(f["found"] for f in faces) else None}
            for m in ("psnr", "ssim", "lpips"):
                row[m] = {"background": mean_se(f["background"][m] for f in faces)[0]}
                if "esrgan" in faces[0]:
                    row[m]["esrgan"] = mean_se(f["esrgan"][m] for f in faces)[0]
                for v in variants(faces):
                    row[m][v] = mean_se(score(f, v, m) for f in faces)[0]
            rows[name] = row
        # detection precision per width bin of the detections (geometric midpoints between widths)
        edges = [0] + [math.sqrt(a * b) for a, b in zip(WIDTHS, WIDTHS[1:])] + [math.inf]
        precision = {}
        for w, lo, hi in zip(WIDTHS, edges, edges[1:]):
            tp = sum(1 for r in recs for f in r["faces"] if f["found"] and lo <= (f["box"][2] - f["box"][0]) < hi)
            fp = sum(1 for r in recs for d in r["false"] if lo <= d["box"][2] - d["box"][0] < hi)
            precision[str(w)] = {"tp": tp, "fp": fp}
        out["tasks"][key] = {"label": TASKS[key][0], "factor": factor, "photos": len(recs), "rows": rows,
                             "limit": LIMITS[key],
                             "false_positives": sum(len(r["false"]) for r in recs), "precision_bins": precision,
                             "seconds_per_photo": float(np.median([r["seconds"] for r in recs])),
                             "restored_per_photo": float(np.mean([r["restored"] for r in recs])),
                             "esrgan_seconds_per_photo": float(np.median([r["esrgan_seconds"] for r in recs]))}
        # targets: input >= 24 px, paired differences per rule
        big = groups["input >= 24 px"]
        if big and key != "gray":
            t = {}
            for v in variants(big):
                for base in ("background", "esrgan"):
                    if base not in big[0]:
                        continue
                    for m in ("psnr", "lpips"):
                        d = [score(f, v, m) - f[base][m] for f in big]
                        t[f"{v} - {base} {m}"] = {"mean": mean_se(d)[0], "se": mean_se(d)[1], "n": len(d),
                                                  "better": sum((x > 0) if m == "psnr" else (x < 0) for x in d)}
            out["targets"][key] = t
        # the size rule swept: mean scores of every pasted face (end to end) under each limit
        if "ours_all" not in variants(groups["all"]):
            continue
        out["sweep"][key] = {("none" if math.isinf(th) else f"{th:g}"): {
            m: mean_se(rule(f, th, m) for f in groups["all"])[0] for m in ("psnr", "ssim", "lpips")}
            for th in SWEEP}
        out["sweep"][key]["background"] = {m: mean_se(f["background"][m] for f in groups["all"])[0]
                                           for m in ("psnr", "ssim", "lpips")}
    # ratio table: found faces, the default run (ours) - background per ratio bin
    for key in list(TASKS) + ["all"]:
        faces = [(f, r["task"]) for r in records for f in r["faces"] if f["found"] and (key == "all" or r["task"] == key)]
        if key == "all":
            faces = [(f, k) for f, k in faces if k != "gray"]  # colorization has its own scale of gains
        if not faces:
            continue
        bins = {}
        for lo, hi in zip(RATIO_BINS, RATIO_BINS[1:]):
            sel = [f for f, _ in faces if lo < f["ratio"] <= hi]
            name = f"{lo:g}-{hi:g}" if math.isfinite(hi) else f">{lo:g}"
            if not sel:
                bins[name] = {"n": 0}
                continue
            dp = [f["ours"]["psnr"] - f["background"]["psnr"] for f in sel]
            dl = [f["ours"]["lpips"] - f["background"]["lpips"] for f in sel]
            ds = [f["ours"]["ssim"] - f["background"]["ssim"] for f in sel]
            bins[name] = {"n": len(sel), "restored": sum(f["restored"] for f in sel), "d_psnr": mean_se(dp), "d_ssim": mean_se(ds), "d_lpips": mean_se(dl),
                          "psnr_better": sum(x > 0 for x in dp), "lpips_better": sum(x < 0 for x in dl)}
        out["ratio"][key] = bins
    return out


# -- sheets ---------------------------------------------------------------------------------------

def face_crop(img: np.ndarray, box, tile: int, nearest: bool = False) -> Image.Image:
    x0, y0, x1, y1 = box
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 0.8 * max(x1 - x0, y1 - y0)
    region = (round(cx - half), round(cy - half), round(cx + half), round(cy + half))
    return Image.fromarray(img).crop(region).resize((tile, tile), Image.NEAREST if nearest else Image.BICUBIC)


def make_sheet(records: list[dict], photos: list[dict], key: str, cache: Path, path: Path, widths=(96, 64),
               rows: int = 6, tile: int = 128) -> bool:
    per = max(1, rows // len(widths))
    picks = [p for w in widths for p in [(r, f) for r in records if r["task"] == key
                                         for f in r["faces"] if f["width"] == w][:per]]
    if not picks:
        return False
    cols = ["input", f"background ({BACKGROUND[TASKS[key][1]]})"]
    if TASKS[key][1] == "super-resolve":
        cols.append("Real-ESRGAN x4plus")
    cols += ["ours", "ground truth"]
    label_h, pad, info_w = 16, 4, 150
    sheet = Image.new("RGB", (info_w + len(cols) * (tile + pad) + pad, label_h + len(picks) * (tile + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for j, c in enumerate(cols):
        draw.text((info_w + pad + j * (tile + pad), 2), c, fill=(0, 0, 0))
    for i, (r, f) in enumerate(picks):
        file = cache / f"{r['photo']}-{key}.npz"
        if not file.exists():
            return False
        data = np.load(file)
        obs = np.asarray(Image.fromarray(data["observed"]).resize(SIZE, Image.NEAREST))
        ims = [face_crop(obs, f["box"], tile, nearest=True), face_crop(data["background"], f["box"], tile)]
        if TASKS[key][1] == "super-resolve":
            ims.append(face_crop(data["esrgan"], f["box"], tile))
        ims += [face_crop(data["image"], f["box"], tile), face_crop(photos[r["photo"]]["clean"], f["box"], tile)]
        y = label_h + pad + i * (tile + pad)
        for j, im in enumerate(ims):
            sheet.paste(im, (info_w + pad + j * (tile + pad), y))
        ratio = f"ratio {f['ratio']:.2f}" if f["found"] else "not found"
        rule_txt = "" if not f["found"] else "restored" if f["restored"] else "left to the background"
        lines = [f"photo {r['photo']}, {f['width']} px face", f"input {f['input_width']:g} px", ratio, rule_txt,
                 f"LPIPS bg {f['background']['lpips']:.3f}", f"LPIPS ours {f['ours']['lpips']:.3f}",
                 f"PSNR bg {f['background']['psnr']:.2f}", f"PSNR ours {f['ours']['psnr']:.2f}"]
        for k, t in enumerate(lines):
            draw.text((4, y + 2 + 14 * k), t, fill=(0, 0, 0))
    sheet.save(path)
    return True


# -- report ---------------------------------------------------------------------------------------

def fmt(v, digits=2):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def report(results: dict) -> list[str]:
    s = results["summary"]
    cmd = results["command"]
    limits = ", ".join(f"{TASKS[k][0]} {v:g}" for k, v in results["limits"].items())
    lines = ["## Whole photos: faces found, restored and pasted back (issue #28)", "",
             f"{results['photos']} composite photos of {SIZE[0]} x {SIZE[1]} (seed {results['seed']}): a real 256 px "
             f"scene enlarged, with 5 held-out UTKFace faces of widths {', '.join(map(str, WIDTHS))} px (clean photo) "
             f"pasted through a feathered ellipse, turned by up to +-{MAX_ANGLE:g} degrees. Each photo degraded whole "
             "(SR: centred antialiased bicubic, the task's default kernel; noise: seeded Gaussian; gray: "
             "Rec.601 luma; 8-bit), then "
             "`ganprior.restore(photo, task, faces=\"detect\", ...)`, default prior `utkface64`, task preset, default "
             f"steps and the library's size rule (\"ours\"; limits {limits}; super-resolution observes a face above "
             "the limit at a smaller factor when that brings it under). \"ours, all\" (tasks run with `--all`): "
             "`MAX_FACE_RATIO` lifted, every detected face restored at the run's own factor. Scores in each pasted "
             "face's true box of the clean photo; an undetected face scores its background. Real-ESRGAN x4plus runs "
             "on the whole low-resolution photo (for x2 its x4 output is reduced by 2, antialiased bicubic).",
             "", f"Reproduce: `{cmd}` (the cache under /tmp resumes an interrupted run; `--report` rebuilds this file "
             f"and the sheets from it). Measured on 2 CPU cores shared with other work: total "
             f"{results['total_seconds'] / 60:.1f} min (restoring, Real-ESRGAN and scoring, summed over the runs).", ""]
    lines += ["### Per task and face width", "",
              "Cells: background / Real-ESRGAN (SR only) / ours / ours, all (where run). PSNR and SSIM higher is "
              "better, LPIPS lower. `found`: detected (IoU >= 0.4); `restored`: restored by the default run; ratio: "
              "median photo px per pixel of the run's own crop, over the found faces. Seconds: the whole default "
              "`ganprior.restore` call (detection, background, faces).", ""]
    for key, t in s["tasks"].items():
        sr = t["factor"] > 1
        lines += [f"#### {t['label']} ({t['photos']} photos; median {t['seconds_per_photo']:.1f} s per photo with "
                  f"{t['restored_per_photo']:.1f} faces restored; background: {BACKGROUND[TASKS[key][1]]}; "
                  f"limit {t['limit']:g}"
                  + (f"; Real-ESRGAN median {t['esrgan_seconds_per_photo']:.1f} s per photo" if sr else "") + ")", "",
                  "| clean px | input px | faces | found | restored | ratio | PSNR | SSIM | LPIPS |", "|---" * 9 + "|"]
        for name, row in t["rows"].items():
            def cell(m, digits):
                v = row[m]
                vals = [v["background"]] + ([v["esrgan"]] if sr else []) + [v["ours"]] + (
                    [v["ours_all"]] if "ours_all" in v else [])
                return " / ".join(fmt(x, digits) for x in vals)
            inp = f"{int(name) / t['factor']:g}" if name.isdigit() else ""
            bold = "**" if not name.isdigit() else ""
            lines.append(f"| {bold}{name}{bold} | {inp} | {row['faces']} | {row['found']} | {row['restored']} | "
                         f"{fmt(row['ratio_median'])} | {cell('psnr', 2)} | {cell('ssim', 3)} | {cell('lpips', 3)} |")
        prec = t["precision_bins"]
        lines += ["", "Detection precision by detected width (clean px): " + ", ".join(
            f"{w}: {p['tp']}/{p['tp'] + p['fp']}" for w, p in prec.items()) + f"; false positives: {t['false_positives']} "
                  f"in {t['photos']} photos.", ""]
    lines += ["### Ours minus the background, by face ratio", "",
              "Ratio: photo pixels per pixel of the run's own crop (64 px; 32 for x2, 16 for x4). "
              "Mean ± standard error over the found faces (a face left to the background counts 0); `restored`: "
              "by the default run; `better`: faces where ours beats the background. "
              "`pooled` pools SR and denoising (not colorization, whose background is the gray photo).", ""]
    for key, bins in s["ratio"].items():
        label = "SR + denoising, pooled" if key == "all" else TASKS[key][0]
        lines += [f"#### {label}", "", "| ratio | faces | restored | Δ PSNR (dB) | PSNR better | Δ SSIM | Δ LPIPS | "
                  "LPIPS better |", "|---" * 8 + "|"]
        for name, b in bins.items():
            if not b["n"]:
                lines.append(f"| {name} | 0 | | | | | | |")
                continue
            lines.append(f"| {name} | {b['n']} | {b['restored']} | {b['d_psnr'][0]:+.2f} ± {b['d_psnr'][1]:.2f} | {b['psnr_better']}/{b['n']} | "
                         f"{b['d_ssim'][0]:+.3f} ± {b['d_ssim'][1]:.3f} | {b['d_lpips'][0]:+.3f} ± {b['d_lpips'][1]:.3f} | "
                         f"{b['lpips_better']}/{b['n']} |")
        lines.append("")
    lines += sweep_lines(s["sweep"]) if s["sweep"] else []
    lines += ["", "### Issue #28's targets (faces >= 24 px in the input photo)", "",
              "Paired differences per face, mean ± standard error (PSNR: ours minus baseline, higher is better; "
              "LPIPS: ours minus baseline, lower is better), and on how many faces ours is ahead.", "",
              "| task | comparison | n | Δ PSNR | ahead | Δ LPIPS | ahead |", "|---" * 7 + "|"]
    names = {"ours": "ours", "ours_all": "ours, all"}
    for key, t in s["targets"].items():
        for v in names:
            for base in ("background", "esrgan"):
                p, l_ = t.get(f"{v} - {base} psnr"), t.get(f"{v} - {base} lpips")
                if not p:
                    continue
                name = names[v] + " vs " + {"background": BACKGROUND[TASKS[key][1]], "esrgan": "Real-ESRGAN"}[base]
                lines.append(f"| {TASKS[key][0]} | {name} | {p['n']} | {p['mean']:+.2f} ± {p['se']:.2f} | "
                             f"{p['better']}/{p['n']} | {l_['mean']:+.3f} ± {l_['se']:.3f} | {l_['better']}/{l_['n']} |")
    lines.append("")
    shown = [(key, name) for key, name, _ in SHEETS if key in s["tasks"] and (RESULTS / name).exists()]
    if shown:
        lines += ["### Sheets", "", "Faces of the first photos: input, background, Real-ESRGAN (SR), ours, ground truth.", ""]
        lines += [f"![{TASKS[key][0]}](benchmarks/results/{name})" for key, name in shown] + [""]
    return lines


def sweep_lines(sweep: dict) -> list[str]:
    """The size rule swept over the lifted runs."""
    sweep_keys = list(next(iter(sweep.values())))
    lines = ["### The size rule swept: every pasted face under each limit", "",
              "The tasks run with `--all`: mean PSNR / LPIPS over all pasted faces of a task (found or not) when "
              "faces up to that ratio (at the run's own factor) are restored and the rest keep the background; "
              "`none`: every found face restored; `background`: no face.", "",
              "| limit | " + " | ".join(TASKS[k][0] for k in sweep) + " |", "|---" * (len(sweep) + 1) + "|"]
    for th in sweep_keys:
        lines.append(f"| {th} | " + " | ".join(f"{v[th]['psnr']:.2f} / {v[th]['lpips']:.4f}" for v in sweep.values())
                     + " |")
    return lines


def rounded(value):
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--all", nargs="*", default=[], choices=list(TASKS), metavar="TASK",
                    help="also run these tasks with every detected face restored (the size rule's sweep)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/ganprior-photos"))
    ap.add_argument("--report", action="store_true", help="only rebuild the .md/.json/sheets from the cache")
    args = ap.parse_args()
    if not UTKFACE.is_dir() or not EXAMPLES.is_dir():
        sys.exit(f"{UTKFACE} or {EXAMPLES} not found: this benchmark needs ../shared beside the repository; skipped")
    torch.set_num_threads(2)
    start = time.perf_counter()
    cache = args.cache / f"seed{args.seed}-v2"  # v2: "ours" is the default run, "ours_all" the lifted one
    cache.mkdir(parents=True, exist_ok=True)
    rec_file = cache / "records.json"
    records = json.loads(rec_file.read_text()) if rec_file.exists() else []
    photos = make_photos(args.photos, args.seed)
    print(f"{len(photos)} photos built in {time.perf_counter() - start:.0f} s", flush=True)
    if not args.report:
        for i, photo in enumerate(photos):
            for key in args.tasks:
                if any(r["photo"] == i and r["task"] == key for r in records):
                    continue
                t0 = time.perf_counter()
                rec = run_one(photo, i, key, args.seed, cache, lifted=key in args.all)
                rec["unit_seconds"] = time.perf_counter() - t0  # restoring, Real-ESRGAN and scoring
                records.append(rec)
                rec_file.write_text(json.dumps(rounded(records)))
                f = rec["faces"]
                print(f"photo {i} {key:6s} {rec['seconds']:6.1f} s  found {sum(x['found'] for x in f)}/5  "
                      f"restored {rec['restored']}  fp {len(rec['false'])}  "
                      + "  ".join(f"{x['width']}:{x['background']['lpips']:.3f}->{x['ours']['lpips']:.3f}"
                                  + (f"(r{x['ratio']:.2f})" if x['found'] else "") for x in f), flush=True)
    records = [r for r in records if r["photo"] < args.photos]
    lifted = sorted({r["task"] for r in records if r["faces"] and "ours_all" in r["faces"][0]})
    results = {"photos": args.photos, "seed": args.seed, "limits": LIMITS,
               "command": f"PYTHONPATH=src .venv/bin/python benchmarks/photos.py --photos {args.photos} --seed {args.seed}"
                          + (f" --all {' '.join(lifted)}" if lifted else ""),
               "total_seconds": sum(r.get("unit_seconds", r["seconds"] + r["esrgan_seconds"]) for r in records),
               "summary": summarize(records), "records": records}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "photos.json").write_text(json.dumps(rounded(results), indent=1))
    for key, name, widths in SHEETS:
        if make_sheet(records, photos, key, cache, RESULTS / name, widths=widths):
            print("wrote", RESULTS / name)
    # hand-written notes below NOTES_MARK in the existing photos.md are kept
    md = RESULTS / "photos.md"
    old = md.read_text() if md.exists() else ""
    lines = report(results)
    if NOTES_MARK in old:
        lines += [old[old.index(NOTES_MARK):].strip(), ""]
    md.write_text("\n".join(lines))
    print("wrote", RESULTS / "photos.md", f"({(time.perf_counter() - start) / 60:.1f} min this run)")


if __name__ == "__main__":
    main()
