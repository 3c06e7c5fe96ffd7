"""as_operator: any deepinv Physics or callable as the solvers' forward model; invert takes them directly."""

import deepinv as dinv
import pytest
import torch

from ganprior import as_operator, invert
from ganprior.errors import GanpriorError
from ganprior.physics.operator import noise_level
from ganprior.physics.operator import as_operator as custom_degradation
from ganprior.tasks import build_degradation

R = 16


def blur(noise_model=None):
    return dinv.physics.BlurFFT(img_size=(3, R, R), filter=torch.ones(1, 1, 3, 3) / 9, noise_model=noise_model)


def half(x):
    """A plain callable forward model: 2x average pooling."""
    return torch.nn.functional.avg_pool2d(x, 2)


def test_deepinv_physics_is_wrapped():
    phys = dinv.physics.Downsampling(img_size=(3, R, R), factor=2, filter="bicubic")
    op = as_operator(phys, R)
    x = torch.rand(2, 3, R, R)
    torch.testing.assert_close(op.A(x), phys.A(x))
    assert op.tasks == [] and op.mask is None and op.noise_sigma == 0.0
    assert (op.observed_channels, op.observed_size, op.observed_shape) == (3, R // 2, (3, R // 2, R // 2))
    assert op.name == "Downsampling"
    x_hat = torch.rand(2, 3, R, R)
    assert op.postprocess(x_hat, op.A(x), color_space="lab") is x_hat
    gray = as_operator(dinv.physics.Decolorize(), R)
    assert gray.observed_shape == (1, R, R)


def test_plain_callable_is_wrapped():
    op = as_operator(half, R)
    x = torch.rand(1, 3, R, R)
    assert torch.equal(op.A(x), half(x)) and torch.equal(op.simulate(x, seed=3), half(x))
    assert op.observed_shape == (3, R // 2, R // 2) and op.noise_sigma == 0.0 and op.name == "half"


def test_an_operator_passes_through_unchanged():
    deg = build_degradation("inpaint", R, mask=torch.ones(1, R, R))
    assert as_operator(deg, R) is deg
    op = as_operator(half, R)
    assert as_operator(op, R) is op


@pytest.mark.parametrize("bad", [42, "blur", None])
def test_not_a_forward_model_is_a_one_line_error(bad):
    with pytest.raises(GanpriorError, match="deepinv Physics, a callable") as e:
        as_operator(bad, R)
    assert "\n" not in str(e.value)


def test_a_failing_forward_model_is_a_clear_error():
    def broken(x):
        raise RuntimeError("size mismatch\nsecond line")
    with pytest.raises(GanpriorError, match=r"fails on a \(1, 3, 16, 16\) image: RuntimeError: size mismatch$"):
        as_operator(broken, R)
    with pytest.raises(GanpriorError, match="must return a"):
        as_operator(lambda x: [x], R)


def test_noise_sigma_is_read_when_scalar():
    assert noise_level(blur(dinv.physics.GaussianNoise(sigma=0.1))) == pytest.approx(0.1)
    assert as_operator(blur(dinv.physics.GaussianNoise(sigma=0.1)), R).noise_sigma == pytest.approx(0.1)
    assert noise_level(blur(dinv.physics.GaussianNoise(sigma=torch.tensor([0.1, 0.2])))) == 0.0
    assert noise_level(blur(dinv.physics.PoissonNoise(gain=0.1))) == 0.0
    assert noise_level(blur()) == 0.0 and noise_level(half) == 0.0


@pytest.mark.parametrize("rng", [None, torch.Generator().manual_seed(123)])
def test_noisy_physics_simulate_is_seeded(rng):
    """The physics' own noise is drawn under the seed (it used to ignore it), whether or not the
    noise model carries its own generator, and neither the global stream nor that generator moves."""
    phys = blur(dinv.physics.GaussianNoise(sigma=0.1, rng=rng))
    op = as_operator(phys, R)
    x = torch.rand(2, 3, R, R)
    global_state = torch.get_rng_state()
    own_state = rng.get_state() if rng is not None else None
    a, b, c = op.simulate(x, seed=1), op.simulate(x, seed=1), op.simulate(x, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert 0.05 < float((a - phys.A(x)).std()) < 0.15  # the noise is the physics' own
    assert torch.equal(torch.get_rng_state(), global_state)
    if rng is not None:
        assert torch.equal(rng.get_state(), own_state)
    # restore(physics=...) goes through custom_degradation: seeded too
    deg = custom_degradation(phys, R)
    assert torch.equal(deg.simulate(x, 1), a)


@pytest.mark.parametrize("physics", [blur(), half], ids=["BlurFFT", "callable"])
def test_invert_takes_a_plain_physics_or_callable(tiny_prior, physics):
    with torch.no_grad():
        x = tiny_prior.to_unit(tiny_prior.generate(torch.randn(2, 8, 1, 1, generator=torch.Generator().manual_seed(5))))
    y = physics.A(x) if hasattr(physics, "A") else physics(x)
    r = invert(y, physics, tiny_prior, method="multi", steps=25, num_codes=3, layer=1)
    assert r.images.shape == (2, 3, R, R) and (r.history[-1] < r.history[0]).all()


def test_restore_takes_a_plain_callable_and_seeds_a_noisy_physics(tiny_prior):
    """restore(physics=...) used to fail with an internal error on a callable, and ignored the seed
    of a noisy physics' simulated input."""
    import ganprior
    x = torch.rand(2, 3, R, R)
    r = ganprior.restore(x, physics=half, prior=tiny_prior, simulate=True, steps=3, perceptual=0)
    assert r.images.shape == (2, 3, R, R) and r.observed.shape == (2, 3, R // 2, R // 2)
    noisy = blur(dinv.physics.GaussianNoise(sigma=0.1))
    a, b, c = (ganprior.restore(x, physics=noisy, prior=tiny_prior, simulate=True, steps=1, perceptual=0, seed=s)
               for s in (4, 4, 5))
    assert torch.equal(a.observed, b.observed) and not torch.equal(a.observed, c.observed)
