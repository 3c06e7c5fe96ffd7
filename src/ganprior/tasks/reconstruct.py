"""Reconstruction: the observation is the clean image itself; what is tested is how well the prior
covers it. It adds nothing to a chain of other tasks."""

from __future__ import annotations

from .base import Task, register
from .super_resolve import SR_SCRIPT


@register
class Reconstruct(Task):
    name = "reconstruct"
    aliases = ("reconstruction", "invert")
    order = 0
    identity = True

    # The faithful preset starts from the prior's encoder where it has one (issue #29; config falls
    # back to a seeded start without): on the first 8 held-out faces, 300 steps, 32.96 dB / LPIPS
    # 0.012 against 31.11 / 0.024 from the seeded start (benchmarks/encoder_presets.py).
    recipes = {
        "faithful": {"method": "multi", "perceptual": 0.0, "latent_init": "encoder"},
        "perceptual": {"method": "multi", "perceptual": "auto"},
    }
    method_defaults = {"layer": 2}
    preset_rank = 50
    # The DGP repository has no reconstruction script: the SR script's schedule (a clean
    # full-resolution observation: D features plus MSE, progressive). Our choice, not the paper's.
    dgp_schedule = {"source": "ours: experiments/examples/run_SR.sh's schedule (no reconstruction script)",
                    **SR_SCRIPT, "candidate_std": 0.3}
    dgp_rank = 50

    def classical(self, x, degradation, method, *, guide=None, guide_weight=0.0):
        return x.clamp(0, 1)  # the input is the answer

    def baseline_variants(self) -> dict[str, dict]:
        return {}  # no classical baseline: the comparison is the prior's own coverage
