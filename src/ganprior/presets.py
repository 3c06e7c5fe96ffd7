"""Default method settings per task, for the 64 px DCGAN prior family.

Chosen on 6 of the 21 benchmark faces (every fourth; see BENCHMARKS.md): composing at layer 2
(8x8, 256 channels) with 20 codes gives most of the gain of deeper layers at a third of the cost,
and keeps enough of the prior's semantics to fill in what the observation lacks. Inpainting composes
at layer 1 (4x4, 512 channels; 30.6 dB vs 30.2 at layer 2 for a centre box), so the hole is filled
from the prior's semantics rather than from local texture, as in the paper. Denoising composes at
layer 1 with 10 codes (26.6 dB vs 26.0 at layer 2, 18.6 single code) so the prior cannot reproduce
the noise.
"""

from __future__ import annotations

METHOD_DEFAULTS = {
    "single": {"lr": 0.1, "steps": 300},
    "multi": {"lr": 0.03, "steps": 300, "num_codes": 20, "layer": 2},
    # PmSFC: R=6 subspaces x K=5 codes at layer 2 (the paper's R and K; its layer 3 of PGGAN is 8x8 too)
    "subspace": {"lr": 0.03, "steps": 300, "num_codes": 5, "num_subspaces": 6, "layer": 2},
}

# task (first of the canonical chain that has an entry) -> overrides of METHOD_DEFAULTS["multi"]
TASK_PRESETS = {
    "denoise": {"num_codes": 10, "layer": 1},
    "inpaint": {"layer": 1},
    "super-resolve": {"layer": 2},
    "colorize": {"layer": 2},
    "reconstruct": {"layer": 2},
}


def defaults_for(method: str, tasks: list[str], num_layers: int | None = None) -> dict:
    """Settings for ``method`` on a task chain; ``layer`` is clipped to the prior's layers."""
    out = dict(METHOD_DEFAULTS[method])
    if method in ("multi", "subspace"):
        for task in ("denoise", "inpaint", "super-resolve", "colorize", "reconstruct"):
            if task in tasks or (task == "reconstruct" and not tasks):
                preset = TASK_PRESETS[task]
                # a subspace's K codes are not mGANprior's N: only the layer carries over
                out.update(preset if method == "multi" else {"layer": preset["layer"]})
                break
        if num_layers is not None:
            out["layer"] = min(out["layer"], num_layers)
    return out
