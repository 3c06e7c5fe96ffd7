"""Classical restoration of a task chain: each task's own inverse step (``Task.classical``), applied
in reverse order of the forward model (noise, then holes, then colour, then resolution, then blur),
and the named baselines worth reporting for a chain, from the tasks' declarations."""

from __future__ import annotations

import torch

from ..baselines.classical import check_image
from ..errors import GanpriorError
from .base import chain_of, task_names


def classical_options() -> tuple[str, ...]:
    """The keywords of ``classical_restore`` that pick a method (``denoiser``, ``upsampler``, ...)."""
    return tuple(dict.fromkeys(t.classical_option for t in chain_of(task_names()) if t.classical_option))


def default_methods(degradation) -> dict[str, str]:
    """The method each task of the chain uses when none is named."""
    return {t.classical_option: t.default_method() for t in degradation.chain if t.classical_option}


def classical_restore(y: torch.Tensor, degradation, *, guide: torch.Tensor | None = None,
                      guide_weight: float = 0.0, quick: bool = False, **methods: str) -> torch.Tensor:
    """Undo ``degradation`` (a task chain) with classical operators; returns (B, 3, R, R) in [0, 1].

    ``methods``: a method per task (``denoiser="nl-means"``, ``upsampler="lanczos"``, ...; each task's
    default otherwise). ``guide`` / ``guide_weight``: a clean estimate in the observation's space for
    the step that can take one (BM3D's pilot when denoising). ``quick``: each task's fast undo
    (``Task.quick``: Gaussian smoothing instead of BM3D), for an encoder's start."""
    check_image(y)
    if not degradation.tasks:
        raise GanpriorError("classical baselines need a named task chain, not a custom physics")
    unknown = sorted(set(methods) - set(classical_options()))
    if unknown:
        raise GanpriorError(f"classical_restore has no option {', '.join(unknown)}; "
                            f"choose from {', '.join(classical_options())}")
    chosen = {**default_methods(degradation), **{k: v for k, v in methods.items() if v is not None}}
    x = y
    for task in reversed(degradation.chain):
        x = task.quick(x, degradation) if quick else \
            task.classical(x, degradation, chosen.get(task.classical_option), guide=guide, guide_weight=guide_weight)
    return x.clamp(0, 1)


def baseline_variants(degradation) -> dict[str, dict]:
    """The named classical baselines worth reporting for a task chain -> ``classical_restore`` options:
    every combination of the tasks' methods, labelled in the order they are applied. A task with
    nothing to choose (colorization's gray input) is named only when nothing else is."""
    if not degradation.tasks:
        return {}
    combos: list[tuple[list[tuple[str, bool]], dict]] = [([], {})]
    for task in reversed(degradation.chain):
        combos = [(labels + [(label, bool(opts))], {**chosen, **opts})
                  for labels, chosen in combos for label, opts in task.baseline_variants().items()]
    variants = {}
    for labels, chosen in combos:
        named = [label for label, has_options in labels if has_options] or [label for label, _ in labels]
        variants[" + ".join(named)] = chosen
    return variants
