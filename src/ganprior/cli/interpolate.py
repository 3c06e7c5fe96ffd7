"""``ganprior interpolate``: invert two images and blend their composed features (PmSFC Fig. 6)."""

from __future__ import annotations

from pathlib import Path

from .common import HELP, Parser, inversion_parent, out_parent, prior_parent


def interpolate_cmd(argv: list[str]) -> int:
    from ..api import restore
    from ..editing import feature_interpolation, max_jump
    from ..io import make_sheet, save_gif, save_image, write_json
    knobs = inversion_parent(method={"default": "multi", "choices": ["multi", "subspace"]}, codes={}, layer={},
                             subspaces={}, steps={}, perceptual={})
    p = Parser(prog="ganprior interpolate", formatter_class=HELP,
               parents=[out_parent(None), prior_parent(None), knobs],
               description="Invert two images and blend their composed features at the "
                           "composition layer (PmSFC Fig. 6); writes frames, a GIF and smoothness.")
    p.add_argument("first")
    p.add_argument("second")
    p.add_argument("--frames", type=int, default=9)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    r = restore([a.first, a.second], "reconstruct", a.prior, a.method, steps=a.steps, num_codes=a.codes,
                layer=a.layer, num_subspaces=a.subspaces, perceptual=a.perceptual, seed=a.seed)
    frames = feature_interpolation(r.parameterization, frames=a.frames)
    out = Path(a.out)
    for i, f in enumerate(frames):
        save_image(f, out / f"frame_{i:03d}.png")
    save_gif(list(frames) + list(frames.flip(0)), out / "interpolation.gif")
    save_image(make_sheet(list(frames), [f"t={i / (a.frames - 1):.2f}" for i in range(a.frames)], tile=96),
               out / "strip.png")
    stats = {"method": a.method, "frames": a.frames, "max_jump_rmse": max_jump(frames, "pixel"),
             "max_jump_lpips": max_jump(frames, "lpips")}
    write_json(stats, out / "smoothness.json")
    print(f"largest step between frames: RMSE {stats['max_jump_rmse']:.4f}, LPIPS {stats['max_jump_lpips']:.4f}")
    print(f"wrote {a.frames} frames, interpolation.gif, strip.png and smoothness.json to {out}")
    return 0
