"""``ganprior analyze``: PSNR/SSIM of multi-code inversions per composition layer and code count
(mGANprior Fig. 10/11)."""

from __future__ import annotations

import sys

from ..errors import GanpriorError
from .common import (HELP, Parser, _check_steps, _out_folder, fit_parent, inversion_parent, out_parent, prior_parent,
                     run_parent)
from .reconstruction import _load_prior


def _int_list(text: str, option: str) -> list[int]:
    """A comma-separated list of integers (``option`` names it in the error)."""
    try:
        values = [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        values = []
    if not values:
        raise GanpriorError(f"{option} takes integers separated by commas (e.g. 1,2,3), got {text!r}")
    return values


def analyze_cmd(argv: list[str]) -> int:
    import torch

    from ..editing import layer_sweep, plot_layer_sweep
    from ..io import expand_inputs, fit_image, read_image, write_json
    from ..physics.masks import builtin_mask
    from ..tasks import parse_task
    from ..tasks.super_resolve import check_factor
    p = Parser(prog="ganprior analyze", formatter_class=HELP,
               parents=[out_parent(), prior_parent(),
                        inversion_parent(steps={"default": 100, "help": "steps of every inversion"}),
                        fit_parent(), run_parent()],
               description="Invert the images with N codes composed at each layer (and one single "
                           "code as the baseline); report PSNR/SSIM per setting (mGANprior "
                           "Fig. 10/11).")
    p.add_argument("inputs", nargs="+", help="clean image files or folders")
    p.add_argument("--layers", default=None, help="composition layers, e.g. 1,2,3 [all of the prior's]")
    p.add_argument("--codes", default="1,5,10,20", help="numbers of codes N")
    p.add_argument("--task", default="reconstruct",
                   help="the degradation the clean inputs are put through first (as 'ganprior TASK --simulate')")
    p.add_argument("--factor", type=int, default=None, help="super-resolve factor")
    p.add_argument("--mask", default=None, help="inpaint: center[:SIDE] or random[:FRACTION] [center]")
    p.add_argument("--noise-sigma", type=float, default=None, help="denoise: noise std [0.1]")
    p.add_argument("--lr", type=float, default=None, help="step size [the method's preset]")
    a = p.parse_args(argv)
    _check_steps(a.steps)
    counts = _int_list(a.codes, "--codes")
    layers = None if a.layers is None else _int_list(a.layers, "--layers")
    out = _out_folder(a.out)
    tasks = parse_task(a.task)
    files = expand_inputs(a.inputs)
    prior = _load_prior(a.prior, None, a.device)
    images = torch.stack([fit_image(read_image(f, 3)[0], prior.resolution, a.fit) for f in files])
    mask = None
    if "inpaint" in tasks:
        size = prior.resolution
        if "super-resolve" in tasks:
            size //= check_factor(a.factor, prior.resolution)
        mask = builtin_mask(a.mask or "center", size, a.seed)
    total = 1 + len(layers or prior.composition_layers) * len(counts)
    bar = None
    if not a.quiet:
        from tqdm import tqdm
        bar = tqdm(total=total, desc="layer sweep", unit="setting", file=sys.stderr, dynamic_ncols=True)

    def progress(done, n, entry):
        if bar is not None:
            bar.update(1)
            where = "single" if entry["method"] == "single" else f"layer {entry['layer']} N={entry['num_codes']}"
            bar.set_postfix_str(f"{where}: {entry['psnr']:.2f} dB")

    try:
        sweep = layer_sweep(images, prior, layers=layers, num_codes=counts, steps=a.steps, task=tasks, seed=a.seed,
                            callback=progress, lr=a.lr, factor=a.factor, mask=mask, noise_sigma=a.noise_sigma)
    finally:
        if bar is not None:
            bar.close()
    out.mkdir(parents=True, exist_ok=True)
    write_json({"command": "analyze", "prior": prior.name, "inputs": [str(f) for f in files], "seed": a.seed,
                **sweep}, out / "layers.json")
    plot_layer_sweep(sweep, out / "layers.png")
    if not a.quiet:
        print(f"{'setting':22s} {'PSNR':>7s} {'SSIM':>7s} {'seconds':>8s}")
        rows = [("single code", sweep["single"])]
        rows += [(f"layer {r['layer']}, N = {r['num_codes']}", r) for r in sweep["runs"]]
        for label, r in rows:
            print(f"{label:22s} {r['psnr']:7.2f} {r['ssim']:7.4f} {r['seconds']:8.2f}")
        best = max(sweep["runs"], key=lambda r: r["psnr"])
        print(f"best: layer {best['layer']}, N = {best['num_codes']} ({best['psnr']:.2f} dB); "
              f"wrote layers.json and layers.png to {out}")
    return 0
