"""What several ``ganprior`` commands share: parent parsers for their repeated flag groups, the
progress bar, PSNR labels, the metrics table, and the argument checks and message formatting.

Command modules import from here; this module imports no command module.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from ..errors import GanpriorError

HELP = argparse.ArgumentDefaultsHelpFormatter
FIT_CHOICES = ["crop", "pad", "stretch"]
PRIOR_HELP = "prior name or checkpoint path [utkface64]"
QUIET_HELP = "no progress bar or summary"
STEPS_HELP = "optimisation steps of the inversion [default: the method's, 300]"


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose mistakes (an unknown flag, a bad value, a missing argument) are one
    line, ``ganprior: error: ...`` with exit status 2 like every other error, not the usage text."""

    def error(self, message: str):
        raise GanpriorError(f"{message} (see '{self.prog} --help')")


# -- parent parsers (argparse parents=[...]): one flag group each -----------------------------------


def out_parent(help: str | None = "output folder") -> argparse.ArgumentParser:
    """``--out`` (required)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--out", required=True, help=help)
    return p


def prior_parent(help: str | None = PRIOR_HELP) -> argparse.ArgumentParser:
    """``--prior``: a prior name or checkpoint path (None: the command's default prior)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--prior", default=None, help=help)
    return p


def run_parent(*, seed_default: int = 0, seed_help: str | None = None,
               quiet_help: str | None = QUIET_HELP) -> argparse.ArgumentParser:
    """``--seed``, ``--device`` (cpu) and ``--quiet``."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--seed", type=int, default=seed_default, help=seed_help)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help=quiet_help)
    return p


def fit_parent(help: str | None = None) -> argparse.ArgumentParser:
    """``--fit``: how inputs are brought to the prior's size."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--fit", default="crop", choices=FIT_CHOICES, help=help)
    return p


# flag -> its fixed add_argument settings; a command gives the rest (help, default, choices)
_INVERSION_FLAGS = {"method": {"default": None}, "codes": {"type": int, "default": None},
                    "layer": {"type": int, "default": None}, "subspaces": {"type": int, "default": None},
                    "steps": {"type": int, "default": None}, "perceptual": {"default": "auto"}}


def inversion_parent(**flags: dict) -> argparse.ArgumentParser:
    """The inversion method knobs ``--method --codes --layer --subspaces --steps --perceptual``: a
    command names the ones it takes, each with the add_argument settings of its own (``{}``: none)."""
    unknown = set(flags) - set(_INVERSION_FLAGS)
    if unknown:
        raise ValueError(f"not an inversion flag: {', '.join(sorted(unknown))}")
    p = argparse.ArgumentParser(add_help=False)
    for name, fixed in _INVERSION_FLAGS.items():
        if name in flags:
            p.add_argument(f"--{name}", **{**fixed, **flags[name]})
    return p


def dgp_parent() -> argparse.ArgumentParser:
    """The DGP reconstruction that the DGP editing commands (jitter, morph, transfer) run first."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--task", default="reconstruct",
                   help="what the input is, as for 'ganprior TASK': reconstruct (a clean image), or a degraded "
                        "observation to restore first (colorize, super-resolve, inpaint, denoise, a chain)")
    p.add_argument("--steps", type=int, default=None,
                   help="DGP steps; the task's schedule is rescaled to them [default: the schedule's own, 1000]")
    p.add_argument("--dgp-loss", default="discriminator", choices=["discriminator", "mse", "perceptual"],
                   help="DGP's loss (discriminator features need a prior with a discriminator)")
    p.add_argument("--candidates", type=int, default=None,
                   help="random latents the initial z is picked from [500, as DGP]")
    p.add_argument("--simulate", action="store_true",
                   help="the input is clean: degrade it by --task first and report PSNR against it")
    p.add_argument("--factor", type=int, default=None, help="super-resolve factor")
    p.add_argument("--mask", default=None, help="inpaint: mask file (white = missing), center[:SIDE] or random[:F]")
    p.add_argument("--fit", default="crop", choices=FIT_CHOICES, help="how inputs are brought to the prior's size")
    return p


# -- argument checks ---------------------------------------------------------------------------------


def _out_folder(path) -> Path:
    """``--out`` as a folder path that this run can create or write (``io.check_out_folder``)."""
    from ..io import check_out_folder
    return check_out_folder(Path(path))


def _check_steps(steps: int | None) -> None:
    if steps is not None and steps < 1:
        raise GanpriorError(f"--steps must be >= 1, got {steps}")


# -- progress and reporting --------------------------------------------------------------------------


class _Progress:
    """A tqdm bar on stderr for ``restore``'s step callback, opened at the first step (so an early
    error stays one line); ``total`` covers every batch."""

    def __init__(self, desc: str, total: int | None, quiet: bool):
        self.desc, self.total, self.quiet, self.bar = desc, total, quiet, None

    def __call__(self, step, total, loss, x) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm
            self.bar = tqdm(total=self.total or total, desc=self.desc, unit="step", dynamic_ncols=True,
                            file=sys.stderr, mininterval=0.5)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{float(loss.mean()):.4f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def decode_training_images(files, resolution: int, out, *, quiet: bool, labels=None, classes=None):
    """``training.build_image_set`` of ``files`` at ``resolution`` (cached in the run folder ``out``)
    with a progress bar on stderr, and a note for the images that could not be read."""
    from tqdm import tqdm
    from ..training import build_image_set
    bar = None if quiet else tqdm(total=len(files), desc="decoding images", unit="img", file=sys.stderr,
                                  mininterval=0.5)

    def decoded(i, n):
        if bar is not None:
            bar.update(1)

    data = build_image_set(files, resolution, labels, classes, cache=out, progress=decoded)
    if bar is not None:
        bar.close()
    if data.skipped:
        print(f"note: skipped {len(data.skipped)} unreadable images (e.g. {data.skipped[0]})", file=sys.stderr)
    return data


def train_with_progress(trainer, steps: int, minutes: float | None, *, quiet: bool,
                        postfix: Callable[[dict], dict] | None = None) -> str:
    """Run a resumable training run (``training.loop.TrainingLoop``) to ``steps`` with a progress
    bar; SIGTERM stops it after the current step and Ctrl-C at once, both with a checkpoint.
    ``postfix(stats)``: what the bar shows of a step's statistics. Returns why it stopped."""
    import signal

    from tqdm import tqdm
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    old = signal.signal(signal.SIGTERM, on_signal)
    bar = None if quiet else tqdm(total=steps, initial=trainer.step, desc="training", unit="step",
                                  file=sys.stderr, mininterval=1.0, dynamic_ncols=True)

    def on_step(step, stats):
        if bar is not None:
            bar.update(1)
            if postfix is not None:
                bar.set_postfix(**postfix(stats))

    try:
        reason = trainer.train(steps, minutes, on_step=on_step, should_stop=lambda: stop["flag"])
    except KeyboardInterrupt:
        trainer.save()
        reason = "interrupt"
    finally:
        signal.signal(signal.SIGTERM, old)
        if bar is not None:
            bar.close()
    return reason


def _recon_psnr(result) -> list[float | None]:
    """PSNR of each reconstruction against its input (None when not finite)."""
    from ..metrics import psnr
    return [float(v) if v.isfinite() else None for v in psnr(result.images, result.observed)]


def _psnr_label(value) -> str:
    """A sheet label for a reconstruction and its PSNR (None: unknown)."""
    return "reconstruction" if value is None else f"recon {value:.2f}dB"


def _fmt(v) -> str:
    if v is None:
        return "-"
    return (f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}") if isinstance(v, float) else str(v)


def print_table(records: list[dict], key: str) -> None:
    """Per-image metrics, and their mean over the images that have each one."""
    from ..metrics import METRIC_KEYS
    cols = [k for k in METRIC_KEYS if any(r.get(k) is not None for r in records)] or ["psnr"]
    print(f"{key:28s} " + " ".join(f"{c:>7s}" for c in cols))
    for r in records:
        print(f"{Path(r[key]).name[:28]:28s} " + " ".join(f"{_fmt(r.get(c)):>7s}" for c in cols))
    means = []
    for c in cols:
        vals = [r[c] for r in records if r.get(c) is not None]
        means.append(_fmt(sum(vals) / len(vals)) if vals else "-")
    print(f"{'mean':28s} " + " ".join(f"{m:>7s}" for m in means))


def _one_line(message: str) -> str:
    """A message as one line: line breaks (a file name may hold them) are shown escaped."""
    return message.replace("\r", "\\r").replace("\n", "\\n")
