"""Pinned outputs (diffusers-style): a few optimisation steps on the tiny random prior, compared with
numbers recorded from the code itself.

The other tests check properties (the loss goes down, shapes, batch independence); these catch a
silent change of *what* is computed: a default learning rate, a preset's composition layer or
method, the degradation chain, the post-processing. Each case asserts a 3x3 corner of the first
restored image and the final per-image loss.

When a change is meant to alter the results, print the new numbers with
``PYTHONPATH=src python -m tests.test_pinned`` and paste them in (saying why in the commit).
"""

from __future__ import annotations

import numpy as np
import torch

import ganprior
from ganprior.inversion import invert
from ganprior.physics.masks import center_box_mask
from ganprior.priors import DCGANPrior
from ganprior.priors.dcgan import DCGANDiscriminator
from ganprior.subspaces import Subspaces
from ganprior.tasks import build_degradation

ATOL = 1e-4
STEPS = 5
# a short two-stage DGP schedule with large rates, as test_dgp.py's FAST (3 + 3 iterations)
DGP_SCHEDULE = [dict(iterations=3, unfrozen_blocks=2, generator_lr=1e-2, latent_lr=5e-2, mse_weight=1.0),
                dict(iterations=3, unfrozen_blocks=3, generator_lr=1e-2, latent_lr=1e-2, mse_weight=1.0)]


def tiny_prior() -> DCGANPrior:
    """tests/conftest.py's ``tiny_prior``: 16x16 DCGAN, layers 1 (4x4, 8ch) and 2 (8x8, 4ch)."""
    torch.manual_seed(0)
    return DCGANPrior.random(latent_dim=8, width=4, resolution=16, seed=0)


def clean_images(n: int = 2) -> torch.Tensor:
    """Samples of another random generator: the tiny prior cannot reproduce them exactly."""
    other = DCGANPrior.random(latent_dim=8, width=4, resolution=16, seed=7)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        return other.to_unit(other.generate(torch.randn(n, 8, 1, 1, generator=g))).clamp(0, 1)


def chain():
    """Every kind of operator at once: gray, a centre hole, then 2x downsampling (16 -> 8 px)."""
    return build_degradation("colorize+inpaint+super-resolve", 16, factor=2, mask=center_box_mask(8))


def run_inversion(method: str):
    """``invert`` with the method's own defaults (learning rate; codes and layer from the chain's
    lead task, inpaint), only ``steps`` given."""
    prior, deg = tiny_prior(), chain()
    options = {}
    if method == "subspace":
        # fixed channel groups at layer 1 (the inpaint preset's layer): discovery is minutes of
        # training and is checked in test_subspaces.py
        options["subspaces"] = Subspaces(1, 6, np.array([0, 1, 2, 3, 4, 5, 0, 1]), np.zeros((8, 8)), np.zeros(1))
    return invert(deg.A(clean_images()), deg, prior, method=method, steps=STEPS, **options)


def run_dgp():
    prior, deg = tiny_prior(), chain()
    torch.manual_seed(0)
    prior.discriminator = DCGANDiscriminator(width=4, resolution=16, spectral=False).eval()
    return invert(deg.A(clean_images()), deg, prior, method="dgp", schedule=DGP_SCHEDULE, num_candidates=10)


def run_restore(task: str, **options):
    """The whole restore pipeline with the task's preset (``auto``), only ``steps`` given."""
    return ganprior.restore(clean_images(), task, tiny_prior(), simulate=True, steps=STEPS, **options)


def assert_pinned(result, corner, final_loss):
    torch.testing.assert_close(result.images[0, :, :3, :3], torch.tensor(corner), atol=ATOL, rtol=0)
    torch.testing.assert_close(result.history[-1], torch.tensor(final_loss), atol=ATOL, rtol=0)


def test_single_code_inversion():
    assert_pinned(run_inversion("single"),
                  [[[0.488658, 0.531382, 0.521163], [0.395804, 0.707063, 0.616429], [0.468902, 0.637959, 0.458431]],
                   [[0.522790, 0.505856, 0.487855], [0.575900, 0.421339, 0.621157], [0.707059, 0.602958, 0.269399]],
                   [[0.502064, 0.482299, 0.515349], [0.807303, 0.840570, 0.430985], [0.714180, 0.415925, 0.218791]]],
                  [0.019337, 0.009932])


def test_multi_code_inversion():
    assert_pinned(run_inversion("multi"),
                  [[[0.550259, 0.759864, 0.597438], [0.311942, 0.930829, 0.193176], [0.408392, 0.958760, 0.680226]],
                   [[0.631230, 0.493427, 0.261249], [0.657700, 0.049863, 0.863568], [0.893667, 0.727334, 0.198204]],
                   [[0.522443, 0.289362, 0.439691], [0.781848, 0.309265, 0.400189], [0.855066, 0.152244, 0.207922]]],
                  [0.010633, 0.003950])


def test_subspace_inversion():
    assert_pinned(run_inversion("subspace"),
                  [[[0.510017, 0.718529, 0.530319], [0.409105, 0.865159, 0.336826], [0.373686, 0.799344, 0.469465]],
                   [[0.617966, 0.214797, 0.410216], [0.664369, 0.133575, 0.747743], [0.773642, 0.704537, 0.511329]],
                   [[0.524680, 0.236305, 0.593380], [0.815478, 0.559847, 0.289383], [0.817791, 0.261417, 0.251431]]],
                  [0.015087, 0.006785])


def test_dgp_inversion():
    assert_pinned(run_dgp(),
                  [[[0.405637, 0.997917, 0.454162], [0.071546, 0.999400, 0.005209], [0.134441, 0.544887, 0.979435]],
                   [[0.463200, 0.803739, 0.024841], [0.847324, 0.002065, 0.773857], [0.943352, 0.002929, 0.030229]],
                   [[0.255900, 0.013321, 0.026276], [0.304132, 0.000283, 0.562193], [0.899406, 0.000899, 0.997351]]],
                  [0.041116, 0.020942])


def test_restore_super_resolve_preset():
    assert_pinned(run_restore("super-resolve", factor=2),
                  [[[0.565317, 0.517191, 0.475872], [0.455482, 0.584265, 0.434324], [0.480731, 0.641683, 0.412737]],
                   [[0.395826, 0.403860, 0.432024], [0.305927, 0.195908, 0.512568], [0.370366, 0.328294, 0.223464]],
                   [[0.514904, 0.513893, 0.537845], [0.521854, 0.408040, 0.486531], [0.479782, 0.381112, 0.523995]]],
                  [0.020976, 0.010320])


def test_restore_colorize_preset():
    assert_pinned(run_restore("colorize"),
                  [[[0.439435, 0.569181, 0.595275], [0.282779, 0.573518, 0.355477], [0.339476, 0.212072, 0.612075]],
                   [[0.533534, 0.459480, 0.431817], [0.326899, 0.268723, 0.507306], [0.462291, 0.166071, 0.446187]],
                   [[0.486179, 0.322089, 0.489705], [0.439795, 0.586056, 0.528392], [0.553357, 0.219509, 0.440960]]],
                  [0.049712, 0.027256])


CASES = {
    "single": lambda: run_inversion("single"),
    "multi": lambda: run_inversion("multi"),
    "subspace": lambda: run_inversion("subspace"),
    "dgp": run_dgp,
    "super-resolve": lambda: run_restore("super-resolve", factor=2),
    "colorize": lambda: run_restore("colorize"),
}


if __name__ == "__main__":  # print the current numbers, to paste in after an intended change
    torch.set_num_threads(1)  # as tests/conftest.py
    for name, run in CASES.items():
        r = run()
        corner = [[[float(f"{v:.6f}") for v in row] for row in ch] for ch in r.images[0, :, :3, :3].tolist()]
        print(f"{name}:\n  {corner}\n  {[float(f'{v:.6f}') for v in r.history[-1].tolist()]}")
