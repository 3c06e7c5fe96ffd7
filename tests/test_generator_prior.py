"""GeneratorPrior: any nn.Module generator as a prior, cut at named modules; frozen on wrapping."""

import re
import runpy
from pathlib import Path

import deepinv as dinv
import pytest
import torch
from torch import nn

import ganprior
from ganprior import GeneratorPrior, invert, load_prior
from ganprior.errors import GanpriorError

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "own_generator.py"


def toy_generator(seed=0) -> nn.Module:
    """The 'done when' generator: Linear(16 -> 3*16*16) + Tanh, as an image."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(16, 3 * 16 * 16), nn.Tanh(), nn.Unflatten(1, (3, 16, 16)))


def conv_generator(seed=0) -> nn.Module:
    """A small DCGAN-like generator: "1" (4x4, 8 ch) -> "2.0" (8x8, 4 ch, then an in-place ReLU) -> rgb."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Sequential(nn.Linear(8, 8 * 4 * 4), nn.Unflatten(1, (8, 4, 4))), nn.ReLU(),
                         nn.Sequential(nn.ConvTranspose2d(8, 4, 4, 2, 1), nn.ReLU(inplace=True)),
                         nn.Sequential(nn.ConvTranspose2d(4, 3, 4, 2, 1), nn.Tanh()))


def psnr(a, b):
    return float(10 * torch.log10(1 / (a - b).pow(2).mean()))


def test_wrapping_infers_the_image_and_freezes_the_generator():
    G = toy_generator()
    assert all(p.requires_grad for p in G.parameters()) and G.training
    prior = GeneratorPrior(G, latent_shape=(16,), output_range=(-1, 1))
    assert (prior.resolution, prior.channels, prior.latent_shape) == (16, 3, (16,))
    assert not any(p.requires_grad for p in G.parameters()) and not G.training
    assert prior.blocks == list(G.children()) and prior.composition_layers == {}
    z = torch.randn(2, 16)
    assert torch.equal(prior.generate(z), G(z))
    # output_range maps linearly onto [0, 1]
    wide = GeneratorPrior(toy_generator(), latent_shape=(16,), output_range=(-2, 2))
    torch.testing.assert_close(wide.to_unit(torch.tensor([-2.0, 0.0, 2.0])), torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(wide.from_unit(wide.to_unit(z)), z)


def test_done_when_deblurring_with_a_toy_generator():
    """The example of the brief: SingleCode on a user generator and a deepinv blur beats the blurred
    input by a wide margin (measured: 13.7 dB blurred -> ~100 dB, the code is recovered)."""
    G = toy_generator()
    prior = ganprior.GeneratorPrior(G, latent_shape=(16,), output_range=(-1, 1))
    with torch.no_grad():
        x = prior.to_unit(G(torch.randn(1, 16, generator=torch.Generator().manual_seed(1))))
    physics = dinv.physics.BlurFFT(img_size=(3, 16, 16),
                                   filter=dinv.physics.functional.blur.gaussian_blur(sigma=(1.5, 1.5)))
    y = physics(x)
    x_hat = ganprior.models.SingleCode(prior, steps=200)(y, physics)
    assert x_hat.shape == (1, 3, 16, 16)
    assert psnr(y, x) < 16 and psnr(x_hat, x) > psnr(y, x) + 20
    assert all(p.grad is None for p in G.parameters())


def test_docs_example_runs(capsys):
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    before, after = (float(v) for v in re.findall(r"([\d.]+) dB", out))
    assert after > before + 20


@pytest.fixture
def split_prior():
    return GeneratorPrior(conv_generator(), latent_shape=(8,), split_points=["1", "2.0"])


def test_head_and_tail_at_a_named_split_point_reproduce_forward(split_prior):
    assert split_prior.composition_layers == {1: 8, 2: 4}
    assert split_prior.layer_of("2.0") == 2
    z = torch.randn(3, 8)
    with torch.no_grad():
        full = split_prior.generator(z)
        for layer, shape in ((1, (3, 8, 4, 4)), (2, (3, 4, 8, 8))):
            feats = split_prior.head(z, layer)
            assert feats.shape == shape
            assert torch.equal(split_prior.tail(feats, layer), full)
        # tail really uses the features it is given: other features, another image
        assert not torch.equal(split_prior.tail(split_prior.head(z.flip(0), 1), 1), full)


def test_tail_keeps_the_given_features_despite_in_place_ops(split_prior):
    """Module "2.0" is followed by ReLU(inplace=True): the features passed in must not change."""
    feats = torch.randn(2, 4, 8, 8)
    before = feats.clone()
    split_prior.tail(feats, 2)
    assert torch.equal(feats, before)


@pytest.mark.parametrize("layer", [1, "2.0"])
def test_multi_code_runs_at_a_split_point(split_prior, layer):
    with torch.no_grad():
        x = split_prior.to_unit(split_prior.generate(torch.randn(2, 8, generator=torch.Generator().manual_seed(3))))
    model = ganprior.models.MultiCode(split_prior, steps=30, num_codes=3, layer=layer, lr=0.05)
    x_hat = model(x, lambda t: t)
    r = model.last_result
    assert x_hat.shape == (2, 3, 16, 16) and (r.history[-1] < 0.5 * r.history[0]).all()
    assert r.params["importance"].shape == (2, 3, split_prior.composition_layers[r.parameterization.layer])
    assert all(p.grad is None for p in split_prior.generator.parameters())


def test_composition_without_a_split_point_is_a_clear_error():
    prior = GeneratorPrior(toy_generator(), latent_shape=(16,))
    for make in (lambda: ganprior.models.MultiCode(prior), lambda: ganprior.models.Subspace(prior)):
        with pytest.raises(GanpriorError, match="split_points"):
            make()
    with pytest.raises(GanpriorError, match="split_points"):
        invert(torch.rand(1, 3, 16, 16), lambda t: t, prior, method="multi", steps=1)


def test_dgp_without_a_discriminator_fits_with_mse():
    G = toy_generator()
    prior = GeneratorPrior(G, latent_shape=(16,))
    with torch.no_grad():
        x = prior.to_unit(G(torch.randn(2, 16, generator=torch.Generator().manual_seed(2))))
    physics = dinv.physics.Downsampling(img_size=(3, 16, 16), factor=2, filter="bicubic")
    model = ganprior.models.DGP(prior, steps=20, num_candidates=8)
    x_hat = model(physics.A(x), physics)
    r = model.last_result
    assert x_hat.shape == (2, 3, 16, 16) and (r.history[-1] < r.history[0]).all()
    assert any(k.startswith("generator_delta.") for k in r.params)  # the generator's weights were tuned
    assert all(p.grad is None for p in G.parameters())  # ... as per-image copies, not G's own


class TwoPaths(nn.Module):
    """The image depends on z through `mid` and around it: `mid` is not a cut."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(4, 3 * 4 * 4)
        self.mid = nn.Identity()

    def forward(self, z):
        h = self.stem(z).view(-1, 3, 4, 4)
        return self.mid(h) + h


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Linear(48, 48)
        self.stem = nn.Linear(4, 48)

    def forward(self, z):
        return self.block(self.block(self.stem(z))).view(-1, 3, 4, 4)


@pytest.mark.parametrize("make, match", [
    (lambda: GeneratorPrior(toy_generator(), latent_shape=(15,)), "fails on a code of shape"),
    (lambda: GeneratorPrior(nn.Linear(4, 6), latent_shape=(4,)), "square images"),
    (lambda: GeneratorPrior(toy_generator(), latent_shape=(16,), resolution=32), "not 32"),
    (lambda: GeneratorPrior(toy_generator(), latent_shape=(16,), output_range=(1, -1)), "high > low"),
    (lambda: GeneratorPrior(toy_generator(), latent_shape=(16,), split_points=["body"]), "not a module"),
    (lambda: GeneratorPrior(toy_generator(), latent_shape=(16,), split_points=["0"]), r"\(B, C, H, W\)"),
    (lambda: GeneratorPrior(TwoPaths(), latent_shape=(4,), split_points=["mid"]), "not a cut"),
    (lambda: GeneratorPrior(Twice(), latent_shape=(4,), split_points=["block"]), "runs 2 times"),
    (lambda: GeneratorPrior(toy_generator(), latent_shape=(16,), discriminator=nn.Linear(2, 2)), "features"),
    (lambda: GeneratorPrior("G", latent_shape=(16,)), "nn.Module"),
])
def test_bad_generators_are_one_line_errors(make, match):
    with pytest.raises(GanpriorError, match=match) as e:
        make()
    assert "\n" not in str(e.value)


def test_load_prior_freezes_and_points_plain_modules_to_generator_prior(tiny_prior):
    assert all(p.requires_grad for p in tiny_prior.parameters())
    assert load_prior(tiny_prior) is tiny_prior
    assert not any(p.requires_grad for p in tiny_prior.parameters()) and not tiny_prior.training
    with pytest.raises(GanpriorError, match="GeneratorPrior"):
        load_prior(toy_generator())


def test_inversion_leaves_an_unfrozen_prior_without_gradients(tiny_prior):
    """A Prior built by hand (not through load_prior) still requires grad: invert must not fill
    its .grad, and gives its flags back as they were."""
    y = torch.rand(1, 3, 16, 16)
    for method, options in (("single", {}), ("multi", {"num_codes": 2, "layer": 1})):
        invert(y, lambda t: t, tiny_prior, method=method, steps=3, **options)
    assert all(p.grad is None for p in tiny_prior.parameters())
    assert all(p.requires_grad for p in tiny_prior.parameters())
