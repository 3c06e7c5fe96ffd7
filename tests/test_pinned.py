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
                  [[[0.488727, 0.531191, 0.521034], [0.395846, 0.706983, 0.613590], [0.469874, 0.641421, 0.459725]],
                   [[0.522651, 0.505820, 0.487930], [0.574315, 0.420131, 0.618864], [0.706483, 0.604484, 0.266978]],
                   [[0.502052, 0.482407, 0.515255], [0.805670, 0.838941, 0.435062], [0.713094, 0.414800, 0.218084]]],
                  [0.019193, 0.009867])


def test_multi_code_inversion():
    assert_pinned(run_inversion("multi"),
                  [[[0.553334, 0.746376, 0.595278], [0.301825, 0.929990, 0.208593], [0.416086, 0.963604, 0.671726]],
                   [[0.620019, 0.504621, 0.265130], [0.663073, 0.049947, 0.868320], [0.899697, 0.740527, 0.189513]],
                   [[0.515641, 0.297176, 0.436301], [0.789479, 0.302368, 0.389326], [0.855007, 0.153069, 0.198682]]],
                  [0.010550, 0.003921])


def test_subspace_inversion():
    assert_pinned(run_inversion("subspace"),
                  [[[0.511871, 0.723614, 0.522814], [0.409771, 0.876132, 0.325903], [0.370069, 0.794034, 0.473999]],
                   [[0.616454, 0.196154, 0.409869], [0.671407, 0.131826, 0.750205], [0.778640, 0.709010, 0.523720]],
                   [[0.524745, 0.224819, 0.593972], [0.813661, 0.551303, 0.274619], [0.815798, 0.247217, 0.263456]]],
                  [0.015077, 0.006732])


def test_dgp_inversion():
    assert_pinned(run_dgp(),
                  [[[0.472328, 0.996711, 0.246397], [0.083461, 0.999548, 0.015072], [0.334675, 0.472700, 0.919005]],
                   [[0.227340, 0.939185, 0.077302], [0.784286, 0.000435, 0.832857], [0.935507, 0.004618, 0.040281]],
                   [[0.214814, 0.071772, 0.012316], [0.263727, 0.005899, 0.426323], [0.597418, 0.005038, 0.999073]]],
                  [0.038389, 0.016844])


def test_restore_super_resolve_preset():
    assert_pinned(run_restore("super-resolve", factor=2),
                  [[[0.567072, 0.520571, 0.477413], [0.455284, 0.591951, 0.431063], [0.473172, 0.643430, 0.413725]],
                   [[0.390096, 0.395024, 0.415554], [0.303020, 0.201884, 0.509610], [0.374866, 0.340778, 0.216103]],
                   [[0.522405, 0.510917, 0.536470], [0.516650, 0.389677, 0.492060], [0.484107, 0.361325, 0.519627]]],
                  [0.020820, 0.010294])


def test_restore_colorize_preset():
    # the faithful preset's lr 0.08 (issue #29; it was 0.01)
    assert_pinned(run_restore("colorize"),
                  [[[0.423682, 0.577599, 0.608536], [0.276654, 0.627438, 0.317193], [0.320638, 0.267559, 0.619783]],
                   [[0.542785, 0.456250, 0.422780], [0.327137, 0.238679, 0.531708], [0.464978, 0.142517, 0.452345]],
                   [[0.479861, 0.316645, 0.501455], [0.454633, 0.599336, 0.503152], [0.588932, 0.195260, 0.389041]]],
                  [0.048207, 0.025674])


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
