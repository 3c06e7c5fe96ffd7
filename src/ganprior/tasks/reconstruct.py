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

    recipes = {
        "faithful": {"method": "multi", "perceptual": 0.0},
        "perceptual": {"method": "multi", "perceptual": "auto"},
    }
    # From the prior's encoder (issue #29): its code first at importance 1, the best 19 of 256 samples
    # at 0, and only the importances move (code_steps 0), so a step renders the tail only: a sixth of
    # the time for more PSNR than the seeded start's 300 joint steps (BENCHMARKS.md, "Time to quality";
    # benchmarks/time_to_quality.py). Moving the codes too (300 steps) reaches 32.96 dB / 0.012 on the
    # first 8 held-out faces, at seven times the time.
    encoder_recipes = {"faithful": {"method": "multi", "perceptual": 0.0, "latent_init": "encoder", "code_steps": 0}}
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
