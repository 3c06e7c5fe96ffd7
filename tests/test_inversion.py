import numpy as np
import pytest
import torch

from ganprior.errors import GanpriorError
from ganprior.inversion import METHODS, invert
from ganprior.inversion.multi_code import MultiCode
from ganprior.physics.masks import center_box_mask
from ganprior.tasks import build_degradation
from ganprior.priors import DCGANPrior


def targets(prior, n=2, seed=5):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return prior.to_unit(prior.generate(torch.randn(n, 8, 1, 1, generator=g))).clamp(0, 1)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_loss_decreases(tiny_prior, method):
    y = targets(tiny_prior)
    options = {} if method == "single" else {"layer": 1, "num_codes": 4}  # single takes neither
    r = invert(y, build_degradation("reconstruct", 16), tiny_prior, method=method, steps=40, **options)
    assert r.history.shape == (40, 2)
    assert (r.history[-1] < 0.5 * r.history[0]).all()
    assert r.images.shape == (2, 3, 16, 16) and r.images.min() >= 0 and r.images.max() <= 1


def test_multi_code_beats_single_code(tiny_prior):
    samples = targets(tiny_prior, n=4)
    y = 0.5 * (samples[:2] + samples[2:])  # mixtures of two samples: off the prior's range
    deg = build_degradation("reconstruct", 16)
    single = invert(y, deg, tiny_prior, method="single", steps=60)
    multi = invert(y, deg, tiny_prior, method="multi", steps=60, num_codes=8, layer=2)
    assert multi.history[-1].mean() < 0.6 * single.history[-1].mean()


def test_repeatable_with_seed(tiny_prior):
    y = targets(tiny_prior)
    deg = build_degradation("reconstruct", 16)
    a = invert(y, deg, tiny_prior, steps=10, seed=3, num_codes=3, layer=1)
    b = invert(y, deg, tiny_prior, steps=10, seed=3, num_codes=3, layer=1)
    c = invert(y, deg, tiny_prior, steps=10, seed=4, num_codes=3, layer=1)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, c.images)


def test_batch_independent(tiny_prior):
    """An image's result does not depend on the batch it is inverted in."""
    y = targets(tiny_prior, n=3)
    deg = build_degradation("reconstruct", 16)
    together = invert(y, deg, tiny_prior, steps=15, num_codes=3, layer=2)
    alone = invert(y[1:2], deg, tiny_prior, steps=15, num_codes=3, layer=2)
    torch.testing.assert_close(together.images[1:2], alone.images, atol=1e-4, rtol=0)


def test_batched_composition_equals_per_code_loop(tiny_prior):
    m = MultiCode(tiny_prior, 2, num_codes=3, layer=1)
    with torch.no_grad():
        m.importance.uniform_(0, 1)
        manual = sum(tiny_prior.head(m.codes[:, k], 1) * m.importance[:, k, :, None, None] for k in range(3))
        torch.testing.assert_close(m.compose(), manual)


def test_reference_options(tiny_prior):
    m = MultiCode(tiny_prior, 1, num_codes=4, layer=1, importance_init="inverse", normalize=True, latent_init="zero")
    assert torch.all(m.importance == 0.25) and torch.all(m.codes == 0)
    with torch.no_grad():
        torch.testing.assert_close(m.compose(), tiny_prior.head(torch.zeros(1, 8, 1, 1), 1) / 4)
    y = targets(tiny_prior, 1)
    r = invert(y, build_degradation("reconstruct", 16), tiny_prior, method="single", optimizer="sgd", lr=1.0, steps=20)
    assert r.history[-1, 0] < r.history[0, 0]


def test_params_returned(tiny_prior):
    r = invert(targets(tiny_prior), build_degradation("reconstruct", 16), tiny_prior, steps=2, num_codes=5, layer=2)
    assert r.params["codes"].shape == (2, 5, 8, 1, 1)
    assert r.params["importance"].shape == (2, 5, 4)


def test_inpainting_fills_hole_from_prior(tiny_prior):
    y = targets(tiny_prior, 1)
    deg = build_degradation("inpaint", 16, mask=center_box_mask(16, 0.25))
    r = invert(deg.A(y), deg, tiny_prior, method="single", steps=80)
    hole = (1 - deg.mask).bool().expand_as(y)
    assert r.images[hole].std() > 0  # the hole is filled, not left black
    torch.testing.assert_close(r.images * deg.mask, y * deg.mask, atol=1e-6, rtol=0)  # known pixels pasted back


def test_nan_loss_is_a_clear_error(tiny_prior):
    y = targets(tiny_prior)
    nan_loss = lambda pred, target: (pred - target).flatten(1).mean(1) * float("nan")  # noqa: E731
    with pytest.raises(GanpriorError, match="NaN/inf at step 1"):
        invert(y, build_degradation("reconstruct", 16), tiny_prior, steps=5, loss=nan_loss)


@pytest.mark.parametrize("kw,msg", [({"method": "dgp9"}, "unknown method"), ({"steps": -1}, "steps must be"),
                                    ({"lr": -1.0}, "learning rate"), ({"optimizer": "lbfgs"}, "unknown optimizer"),
                                    ({"layer": 7}, "not a composition layer"), ({"num_codes": 0}, "codes must be")])
def test_bad_options(tiny_prior, kw, msg):
    with pytest.raises(GanpriorError, match=msg):
        invert(targets(tiny_prior), build_degradation("reconstruct", 16), tiny_prior, **{"steps": 2, **kw})


class SideInputPrior(DCGANPrior):
    """A tiny DCGAN whose features carry a side input (like StyleGAN2's skip image): a per-sample
    colour offset computed from z in the head and added to the image in the tail."""

    def head(self, z, layer, labels=None):
        x = super().head(z, layer)
        return (x, torch.tanh(z.flatten(1)[:, :3]))

    def tail(self, features, layer):
        x, offset = features
        return super().tail(x, layer) + 0.1 * offset[:, :, None, None]


@pytest.fixture
def side_prior(tiny_prior):
    p = SideInputPrior(8, 4, 16)
    p.load_state_dict(tiny_prior.state_dict())
    for q in p.parameters():
        q.requires_grad_(False)
    return p.eval()


def test_structured_features_compose_like_single_code(side_prior):
    from ganprior.inversion.multi_code import MultiCode
    param = MultiCode(side_prior, 2, num_codes=3, layer=1)
    with torch.no_grad():
        param.codes.copy_(param.codes[:, :1].expand_as(param.codes))  # three copies of one code
        composed = param.compose()
        image = param()
        expected = side_prior.generate(param.codes[:, 0])
    assert isinstance(composed, tuple) and composed[1].shape == (2, 3)
    torch.testing.assert_close(image, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", ["multi", "subspace"])
def test_structured_features_every_method_and_interpolation(side_prior, method):
    from ganprior.editing import feature_interpolation
    from ganprior.subspaces import Subspaces
    y = torch.rand(2, 3, 16, 16)
    extra = {}
    if method == "subspace":
        groups = np.arange(4) % 2
        extra = {"subspaces": Subspaces(2, 2, groups, np.zeros((4, 4)), np.zeros(1)), "num_codes": 2}
    r = invert(y, build_degradation("reconstruct", 16), side_prior, method=method, steps=3, layer=2, **extra)
    assert torch.isfinite(r.images).all() and (r.history[-1] <= r.history[0]).all()
    frames = feature_interpolation(r.parameterization, 0, 1, frames=4)
    assert frames.shape == (4, 3, 16, 16)
    torch.testing.assert_close(frames[0], r.raw[0].clamp(0, 1), atol=1e-5, rtol=1e-5)


def test_self_expression_on_structured_features(side_prior):
    from ganprior.subspaces import learn_self_expression
    s, history = learn_self_expression(side_prior, 2, steps=3, batch_size=2)
    assert s.shape == (4, 4) and np.isfinite(history).all() and (s.diagonal() == 0).all()


# -- latent_init="best": per-image starts from a scored pool of prior samples --------------------------

def _pool_distances(prior, y, deg, pool):
    """Brute force: each image against each candidate, one at a time, through the image's own A."""
    out = torch.empty(y.shape[0], pool.shape[0])
    with torch.no_grad():
        for b in range(y.shape[0]):
            one = deg if deg.mask is None or deg.mask.shape[0] == 1 else build_degradation(
                deg.tasks, 16, mask=deg.mask[b:b + 1])
            for c, z in enumerate(pool):
                out[b, c] = (one.A(prior.to_unit(prior.generate(z[None]))) - y[b:b + 1]).pow(2).mean()
    return out


@pytest.mark.parametrize("per_image_mask", [False, True])
def test_best_codes_are_the_closest_candidates(tiny_prior, per_image_mask):
    from ganprior.inversion.candidates import best_codes
    x = targets(tiny_prior, n=3)
    if per_image_mask:
        mask = (torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0)) > 0.5).float()
        deg = build_degradation("inpaint", 16, mask=mask)
    else:
        deg = build_degradation("super-resolve", 16, factor=2)
    y = deg.A(x)
    codes = best_codes(tiny_prior, y, deg, 4, num_candidates=37, seed=2)
    pool = tiny_prior.sample_latent(37, torch.Generator().manual_seed(2))
    dist = _pool_distances(tiny_prior, y, deg, pool)
    assert codes.shape == (3, 4, 8, 1, 1)
    for b in range(3):
        expected = dist[b].argsort()[:4]
        torch.testing.assert_close(codes[b], pool[expected])


def test_best_start_beats_a_seeded_start_and_fills_every_method(tiny_prior):
    x = targets(tiny_prior, n=3, seed=11)
    deg = build_degradation("reconstruct", 16)
    first = {init: invert(x, deg, tiny_prior, method="single", steps=1, lr=1e-9, latent_init=init).history[0]
             for init in ("normal", "best")}
    # the seeded start is the first candidate of the pool, so the best start is at least as close
    assert (first["best"] < first["normal"]).all()
    r = invert(x, deg, tiny_prior, method="subspace", steps=1, lr=1e-9, latent_init="best", num_candidates=40,
               num_subspaces=2, num_codes=3)
    assert r.params["codes"].shape == (3, 2, 3, 8, 1, 1)
    assert len({tuple(c.flatten().tolist()) for c in r.params["codes"][0].flatten(0, 1)}) == 6  # 6 distinct


@pytest.mark.parametrize("kw,msg", [({"latent_init": "best", "num_candidates": 3, "num_codes": 5},
                                     "at least as many candidates"),
                                    ({"latent_init": "normal", "num_candidates": 9}, "applies with latent_init"),
                                    ({"latent_init": "uniform"}, "unknown latent init")])
def test_best_start_bad_options(tiny_prior, kw, msg):
    with pytest.raises(GanpriorError, match=msg):
        invert(targets(tiny_prior), build_degradation("reconstruct", 16), tiny_prior, method="multi", steps=1, **kw)
