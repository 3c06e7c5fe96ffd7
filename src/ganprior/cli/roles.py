"""``ganprior roles``: what each code of a multi-code inversion is responsible for."""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import GanpriorError
from .common import (HELP, STEPS_HELP, Parser, _check_steps, _out_folder, _recon_psnr, fit_parent, inversion_parent,
                     out_parent, prior_parent, run_parent)
from .reconstruction import _load_prior, _print_notes, _reconstruct


def roles_cmd(argv: list[str]) -> int:
    from ..editing import code_role_maps, role_sheet
    from ..io import save_image, write_json
    knobs = inversion_parent(codes={"default": 20, "help": "N codes"}, layer={"help": "composition layer [preset]"},
                             steps={"help": STEPS_HELP},
                             perceptual={"help": "perceptual weight of the loss, 'auto' or 0"})
    p = Parser(prog="ganprior roles", formatter_class=HELP,
               parents=[out_parent(), prior_parent(), knobs, fit_parent(), run_parent()],
               description="Reconstruct an image with N codes (mGANprior), then show what each code "
                           "is responsible for: the change when its important channels are "
                           "switched off.")
    p.add_argument("input", help="image file")
    p.add_argument("--threshold", type=float, default=0.2, help="channel importance above which a channel is the code's")
    a = p.parse_args(argv)
    _check_steps(a.steps)
    if a.codes < 1 or not math.isfinite(a.threshold):
        raise GanpriorError(f"--codes must be >= 1 and --threshold a number, got {a.codes} and {a.threshold}")
    out = _out_folder(a.out)
    if not Path(a.input).is_file():
        raise GanpriorError(f"input not found: {a.input}")
    prior = _load_prior(a.prior, None, a.device)
    result = _reconstruct(a, [a.input], prior, "multi", "multi-code reconstruction", num_codes=a.codes, layer=a.layer)
    roles = code_role_maps(result, 0, a.threshold)
    sheet = role_sheet(result, 0, a.threshold)
    param = result.parameterization
    important = (param.importance.detach()[0] > a.threshold).sum(dim=1).tolist()
    per_code = [float(m.max()) * roles.scale for m in roles.maps]
    score = _recon_psnr(result)[0]
    out.mkdir(parents=True, exist_ok=True)
    save_image(result.observed[0].clamp(0, 1), out / "input.png")
    save_image(result.images[0], out / "reconstruction.png")
    save_image(sheet, out / "roles.png")
    write_json({"command": "roles", "input": str(a.input), "prior": prior.name, "method": "multi",
                "codes": a.codes, "layer": param.layer, "threshold": a.threshold, "steps": result.steps,
                "seed": a.seed, "psnr": score, "seconds": result.seconds, "scale": roles.scale,
                "per_code_max_difference": per_code, "important_channels": important}, out / "roles.json")
    if not a.quiet:
        _print_notes(result, a.quiet)
        top = max(range(len(per_code)), key=per_code.__getitem__)
        print(f"{a.codes} codes at layer {param.layer}: largest role code {top} (max difference "
              f"{per_code[top]:.3f}); {sum(1 for v in per_code if v == 0)} codes change nothing")
        print(f"wrote input.png, reconstruction.png, roles.png and roles.json to {out}")
    return 0
