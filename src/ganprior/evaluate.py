"""Score a results folder against a ground-truth folder (``ganprior evaluate``).

Results and ground truth are paired by file stem (``face1.png`` <-> ``face1.jpg``); a results folder
written by ganprior also holds ``NAME_input``/``NAME_sheet`` files and ``summary.png``, which are
skipped. Ground truth of another size is brought to the result's size by the fit policy (default:
centre crop, antialiased bicubic), the same way inputs are brought to a prior.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .errors import GanpriorError
from .io import IMAGE_EXTS, fit_image, read_image
from .metrics import evaluate_images

_SKIP_SUFFIXES = ("_input", "_sheet")


def _images(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise GanpriorError(f"not a folder: {folder}")
    return {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_EXTS}


def evaluate_folders(results_dir: str | os.PathLike, truth_dir: str | os.PathLike, *, fit: str = "crop",
                     niqe_params=None) -> tuple[list[dict], list[str]]:
    """-> (one record per paired image: image, psnr, ssim, lpips, niqe, auc; notes)."""
    results = {k: v for k, v in _images(Path(results_dir)).items()
               if k != "summary" and not k.endswith(_SKIP_SUFFIXES)}
    truths = _images(Path(truth_dir))
    pairs = [(stem, results[stem], truths[stem]) for stem in results if stem in truths]
    if not pairs:
        raise GanpriorError(f"no result in {results_dir} has a ground-truth image of the same name in {truth_dir}")
    notes = []
    unmatched = sorted(set(results) - set(truths))
    if unmatched:
        notes.append(f"{len(unmatched)} results have no ground truth and were skipped: {', '.join(unmatched[:5])}")
    records = []
    for stem, res_path, gt_path in pairs:
        x, _ = read_image(res_path)
        gt, _ = read_image(gt_path)
        gt = fit_image(gt, x.shape[-1], fit) if gt.shape != x.shape else gt
        if x.shape[-1] != x.shape[-2]:
            gt = torch.nn.functional.interpolate(gt[None], size=x.shape[-2:], mode="bicubic", antialias=True)[0]
        (m,) = evaluate_images(x[None], gt[None].clamp(0, 1), niqe_params=niqe_params, notes=notes)
        records.append({"image": res_path.name, **m})
    return records, list(dict.fromkeys(notes))
