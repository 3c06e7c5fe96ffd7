"""The first step of the editing commands (directions, edit, mix, roles, analyze): load the prior,
set its code space, and reconstruct the inputs through it with a progress bar."""

from __future__ import annotations

import argparse

from ..errors import GanpriorError
from .common import _Progress


def _load_prior(name, method: str | None = None, device: str = "cpu"):
    """The prior of a command: a name or checkpoint path, else the default for ``method``."""
    from ..priors import load_prior
    from ..priors.zoo import default_prior
    return load_prior(name or default_prior(method), device)


def _configure(prior, latent_space: str | None, default: str | None = None):
    """Apply --latent-space; without it, switch to ``default`` when the prior has that space."""
    from ..priors.zoo import configure_prior
    if latent_space is None and default is not None and default in getattr(prior, "latent_spaces", ("z",)):
        latent_space = default
    return configure_prior(prior, latent_space=latent_space)


def _perceptual(value):
    """--perceptual as ``restore`` takes it: 'auto' or a weight >= 0."""
    if value is None or str(value) == "auto":
        return "auto"
    try:
        weight = float(value)
    except ValueError:
        raise GanpriorError(f"--perceptual takes a weight >= 0 or 'auto', got {value!r}") from None
    if not weight >= 0:
        raise GanpriorError(f"--perceptual takes a weight >= 0 or 'auto', got {value!r}")
    return weight


def _reconstruct(a: argparse.Namespace, images: list, prior, method: str, desc: str, **options):
    """``restore(images, "reconstruct", prior, method)`` with a progress bar and the command's
    options; multi/subspace get --codes / --layer, dgp its own loss."""
    from ..api import restore
    opts = {k: v for k, v in options.items() if v is not None}
    if method == "dgp":
        opts["loss"] = getattr(a, "dgp_loss", "discriminator")
        if getattr(a, "candidates", None) is not None:
            opts["num_candidates"] = a.candidates
    else:
        opts["perceptual"] = _perceptual(getattr(a, "perceptual", "auto"))
    progress = _Progress(desc, None, a.quiet)
    try:
        return restore(images, "reconstruct", prior, method, steps=a.steps, seed=a.seed, device=a.device,
                       fit=getattr(a, "fit", "crop"), callback=progress, **opts)
    finally:
        progress.close()


def _print_notes(result, quiet: bool) -> None:
    if not quiet:
        for n in result.notes:
            print(f"note: {n}")
