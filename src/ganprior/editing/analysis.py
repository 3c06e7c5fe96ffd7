"""Which layer and how many codes? A sweep of multi-code inversions (mGANprior, Gu et al. CVPR 2020, Fig. 10/11).

``layer_sweep`` inverts the same images with the multi-code method at every (composition layer,
number of codes N) setting, plus the single-code baseline once, and reports mean PSNR / SSIM and
time per setting; ``plot_layer_sweep`` draws PSNR against the layer (one line per N) and against N
(one line per layer), with the single-code baseline dashed.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Callable, Sequence

import torch

from ..errors import GanpriorError
from ..io import atomic_write
from ..metrics import psnr, ssim
from ..priors.base import Prior

# callback(index of the finished setting (1-based), number of settings, its entry)
SweepCallback = Callable[[int, int, dict], None]


def _score(images: torch.Tensor, restored: torch.Tensor, seconds: float) -> dict:
    return {"psnr": float(psnr(restored, images).mean()), "ssim": float(ssim(restored, images).mean()),
            "seconds": float(seconds)}


def layer_sweep(images: torch.Tensor, prior: Prior, *, layers: Sequence[int] | None = None,
                num_codes: Sequence[int] = (1, 5, 10, 20), steps: int = 100, task: str | list[str] = "reconstruct",
                seed: int = 0, callback: SweepCallback | None = None, lr: float | None = None,
                **task_options) -> dict:
    """Invert ``images`` with the multi-code method for every (layer, N) and the single-code baseline.

    Args:
        images: clean images ``(B, 3, R, R)`` in [0, 1] at the prior's resolution; the observations
            are ``A(images)`` of ``task`` (noise-free; ``denoise`` adds seeded noise as ``simulate``).
        layers: composition layers (default: all of ``prior.composition_layers``).
        num_codes: the N values; N = 1 at a layer is a single *feature* code (the head's output at
            that layer optimised through one code), not the single-code baseline.
        steps: optimisation steps of every inversion. lr: step size (default: the method's preset).
        task: task (chain) for ``ganprior.tasks.build_degradation``; ``task_options``
            (``factor``, ``mask``, ``noise_sigma``) are passed to it.
        seed: seeds every inversion (and the noise).
        callback: ``callback(done, total, entry)`` after each setting.

    Returns: ``{"task", "steps", "num_images", "layers", "num_codes", "single": entry, "runs": [entry]}``
    where an entry has ``psnr`` and ``ssim`` (means over images, against ``images``) and ``seconds``
    (optimisation time), and each run also ``layer`` and ``num_codes``.
    """
    from ..inversion import invert
    from ..tasks import build_degradation

    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3 \
            or tuple(images.shape[2:]) != (prior.resolution, prior.resolution):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise GanpriorError(f"layer sweep needs images (B, 3, {prior.resolution}, {prior.resolution}) in [0, 1], "
                            f"got {shape}")
    layers = sorted(prior.composition_layers) if layers is None else [prior.check_layer(int(k)) for k in layers]
    counts = [int(n) for n in num_codes]
    if not layers or not counts or min(counts) < 1:
        raise GanpriorError(f"layer sweep needs at least one layer and numbers of codes >= 1, got {layers}, {counts}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise GanpriorError(f"steps must be an integer >= 1, got {steps!r}")
    images = images.to(prior.device).float()
    degradation = build_degradation(task, prior.resolution, device=prior.device, **task_options)
    y = degradation.simulate(images, seed=seed)

    total = 1 + len(layers) * len(counts)
    single = invert(y, degradation, prior, method="single", steps=steps, lr=lr, seed=seed)
    entry = _score(images, single.images.to(images), single.seconds)
    if callback is not None:
        callback(1, total, {"method": "single", **entry})
    runs = []
    for layer in layers:
        for n in counts:
            r = invert(y, degradation, prior, method="multi", steps=steps, lr=lr, seed=seed, layer=layer, num_codes=n)
            run = {"layer": layer, "num_codes": n, **_score(images, r.images.to(images), r.seconds)}
            runs.append(run)
            if callback is not None:
                callback(1 + len(runs), total, {"method": "multi", **run})
    return {"task": degradation.name, "steps": steps, "num_images": int(images.shape[0]), "layers": layers,
            "num_codes": counts, "single": entry, "runs": runs}


def plot_layer_sweep(results: dict, path: str | os.PathLike, metric: str = "psnr") -> Path:
    """Write a PNG of a ``layer_sweep``: ``metric`` vs layer (one line per N) and vs N (one line per
    layer); the single-code baseline is a dashed line in both panels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if metric not in ("psnr", "ssim"):
        raise GanpriorError(f"metric must be psnr or ssim, got {metric!r}")
    try:
        runs, layers, counts, single = results["runs"], results["layers"], results["num_codes"], results["single"]
    except (KeyError, TypeError):
        raise GanpriorError("plot_layer_sweep needs the dict returned by layer_sweep") from None
    value = {(r["layer"], r["num_codes"]): r[metric] for r in runs}
    label = "PSNR (dB)" if metric == "psnr" else "SSIM"
    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    by_layer, by_count = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for n in counts:
        xs = [k for k in layers if (k, n) in value]
        by_layer.plot(xs, [value[k, n] for k in xs], marker="o", label=f"N = {n}")
    for k in layers:
        xs = [n for n in counts if (k, n) in value]
        by_count.plot(xs, [value[k, n] for n in xs], marker="o", label=f"layer {k}")
    for ax, xlabel in ((by_layer, "composition layer"), (by_count, "number of codes N")):
        ax.axhline(single[metric], linestyle="--", color="gray", label="single code")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    by_layer.set_xticks(list(layers))
    by_count.set_xticks(list(counts))
    fig.suptitle(f"multi-code inversion, {results.get('task', '')}, {results.get('steps', '?')} steps, "
                 f"{results.get('num_images', '?')} image(s)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    data = buffer.getvalue()
    return atomic_write(path, lambda f: f.write(data))


__all__ = ["layer_sweep", "plot_layer_sweep"]
