"""``ganprior mix``: invert two images and mix them: style mixing (StyleGAN2) or feature mixing."""

from __future__ import annotations

from pathlib import Path

from ..errors import GanpriorError
from .common import (HELP, STEPS_HELP, Parser, _check_steps, _out_folder, _recon_psnr, fit_parent, inversion_parent,
                     out_parent, prior_parent, run_parent)
from .reconstruction import _configure, _load_prior, _print_notes, _reconstruct


def _has_styles(prior) -> bool:
    """A prior with per-layer styles (StyleGAN2), as ``editing.mixing`` detects it."""
    return all(hasattr(prior, k) for k in ("codes_to_ws", "num_ws", "generator"))


def _default_crossovers(num_ws: int) -> list[int]:
    return sorted({min(num_ws - 1, max(1, round(num_ws * f))) for f in (0.25, 0.5, 0.75)})


def mix_cmd(argv: list[str]) -> int:
    import torch

    from ..editing import feature_mix, style_mix, style_mix_grid
    from ..editing.mixing import as_ws
    from ..io import make_sheet, save_image, stack_rows, write_json
    knobs = inversion_parent(
        method={"choices": ["multi", "single"],
                "help": "single: style mixing of w+ codes (StyleGAN2 only); multi: feature mixing "
                        "[single for StyleGAN2, else multi]"},
        codes={"help": "multi: N codes [preset, 20]"}, layer={"help": "multi: composition layer [preset]"},
        steps={"help": STEPS_HELP}, perceptual={"help": "perceptual weight of the loss, 'auto' or 0"})
    p = Parser(prog="ganprior mix", formatter_class=HELP,
               parents=[out_parent(), prior_parent(), knobs, fit_parent(), run_parent()],
               description="Invert two images and mix them: StyleGAN2 priors swap per-layer styles "
                           "(A's coarse layers, B's fine ones, and back); other priors mix the "
                           "composed features of multi-code inversions (A's structure with B's "
                           "statistics, and back).")
    p.add_argument("first", help="image A")
    p.add_argument("second", help="image B")
    p.add_argument("--crossover", type=int, nargs="+", default=None, metavar="L",
                   help="style mixing: layers [:L] from one image, [L:] from the other [a few evenly spaced]")
    p.add_argument("--mode", default="adain", choices=["adain", "channels"],
                   help="feature mixing: AdaIN (structure + channel statistics) or a channel split")
    p.add_argument("--fraction", type=float, default=0.5, help="--mode channels: share of channels from the first")
    a = p.parse_args(argv)
    _check_steps(a.steps)
    if not 0 <= a.fraction <= 1:
        raise GanpriorError(f"--fraction must be in [0, 1], got {a.fraction}")
    out = _out_folder(a.out)
    for f in (a.first, a.second):
        if not Path(f).is_file():
            raise GanpriorError(f"input not found: {f}")
    prior = _load_prior(a.prior, None, a.device)
    styles = _has_styles(prior)
    method = a.method or ("single" if styles else "multi")
    if method == "single" and not styles:
        raise GanpriorError(f"prior {prior.name!r} ({prior.family}) has no per-layer styles; style mixing "
                            "(--method single) needs a StyleGAN2 prior; use --method multi (feature mixing)")
    if method == "single":
        if a.codes is not None or a.layer is not None:
            raise GanpriorError("--codes and --layer apply to --method multi")
        prior = _configure(prior, "w+")
        crossovers = a.crossover or _default_crossovers(prior.num_ws)
        bad = [c for c in crossovers if not 0 <= c <= prior.num_ws]
        if bad:
            raise GanpriorError(f"--crossover takes layers 0..{prior.num_ws} for prior {prior.name!r}, got {bad[0]}")
        result = _reconstruct(a, [a.first, a.second], prior, "single", "single-code inversion (w+)")
        ws = as_ws(prior, result)
        ws_a, ws_b = ws[0:1], ws[1:2]
        mixes = {f"style_ab_{c:02d}.png": style_mix(prior, ws_a, ws_b, c)[0] for c in crossovers}
        mixes.update({f"style_ba_{c:02d}.png": style_mix(prior, ws_b, ws_a, c)[0] for c in crossovers})
        sheet = style_mix_grid(prior, torch.cat([ws_a, ws_b]), torch.cat([ws_b, ws_a]), crossovers)
        details = {"kind": "style", "crossovers": crossovers, "num_ws": prior.num_ws}
    else:
        if a.crossover is not None:
            raise GanpriorError("--crossover applies to style mixing (--method single, StyleGAN2 priors)")
        result = _reconstruct(a, [a.first, a.second], prior, "multi", "multi-code inversion",
                              num_codes=a.codes, layer=a.layer)
        ab = feature_mix(result, result, image_a=0, image_b=1, mode=a.mode, fraction=a.fraction)[0]
        ba = feature_mix(result, result, image_a=1, image_b=0, mode=a.mode, fraction=a.fraction)[0]
        mixes = {"mix_ab.png": ab, "mix_ba.png": ba}
        what = "stats" if a.mode == "adain" else f"{1 - a.fraction:.0%} ch"
        sheet = make_sheet([result.observed[0], result.images[0], ab, ba, result.images[1], result.observed[1]],
                           ["input A", "recon A", f"A + B {what}", f"B + A {what}", "recon B", "input B"], tile=96)
        details = {"kind": "feature", "mode": a.mode, "fraction": a.fraction if a.mode == "channels" else None,
                   "layer": result.parameterization.layer, "codes": int(result.parameterization.codes.shape[1])}
    scores = _recon_psnr(result)
    if method == "single":
        sheet = stack_rows([make_sheet([result.observed[0], result.images[0], result.images[1], result.observed[1]],
                                       ["input A", "recon A", "recon B", "input B"], tile=96), sheet])
    out.mkdir(parents=True, exist_ok=True)
    for i, tag in enumerate("ab"):
        save_image(result.observed[i].clamp(0, 1), out / f"input_{tag}.png")
        save_image(result.images[i], out / f"reconstruction_{tag}.png")
    for name, x in mixes.items():
        save_image(x, out / name)
    save_image(sheet, out / "sheet.png")
    write_json({"command": "mix", "inputs": [str(a.first), str(a.second)], "prior": prior.name, "method": method,
                "steps": result.steps, "seed": a.seed, "psnr": scores, "seconds": result.seconds, **details,
                "mixes": sorted(mixes)}, out / "mix.json")
    if not a.quiet:
        _print_notes(result, a.quiet)
        kind = "style mixes" if method == "single" else f"feature mixes ({a.mode})"
        print(f"wrote {len(mixes)} {kind}, the inputs and reconstructions, sheet.png and mix.json to {out}")
    return 0
