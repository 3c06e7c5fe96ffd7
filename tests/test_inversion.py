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


# -- code_steps: the codes move for the first steps, then only the composition's weights (#29) ---------

@pytest.mark.parametrize("method", ["multi", "subspace"])
def test_code_steps_freeze_the_codes_after_that_many_steps(tiny_prior, method):
    from ganprior.inversion import invert
    from ganprior.tasks import build_degradation
    y = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    deg = build_degradation("reconstruct", 16)
    extra = {"num_subspaces": 2, "num_codes": 2} if method == "subspace" else {"num_codes": 4}
    start = invert(y, deg, tiny_prior, method=method, steps=0, layer=1, **extra).params["codes"]
    moved = invert(y, deg, tiny_prior, method=method, steps=5, layer=1, code_steps=2, **extra)
    frozen = invert(y, deg, tiny_prior, method=method, steps=5, layer=1, code_steps=0, **extra)
    two = invert(y, deg, tiny_prior, method=method, steps=2, layer=1, **extra)
    # code_steps=0: the codes never move, the weights do
    assert torch.equal(frozen.params["codes"], start)
    weights = "importance" if method == "multi" else "weights"
    assert not torch.equal(frozen.params[weights], moved.params[weights])
    # code_steps=2: the codes after five steps are those after two
    assert not torch.equal(two.params["codes"], start)
    assert torch.equal(moved.params["codes"], two.params["codes"])
    # and the loss still falls with frozen codes
    assert frozen.history[-1].sum() < frozen.history[0].sum()


def test_frozen_codes_render_their_features_once_until_they_change(tiny_prior):
    from ganprior.inversion import MultiCode
    param = MultiCode(tiny_prior, 2, num_codes=3, layer=1, code_steps=0)
    live = param.head_features(2)
    param.on_step(0)
    assert not param.codes.requires_grad
    cached = param.head_features(2)
    assert torch.allclose(cached, live.detach()) and param.head_features(2) is cached
    with torch.no_grad():
        param.codes.add_(1.0)  # an edit of the codes in place: rendered again
    again = param.head_features(2)
    assert again is not cached and not torch.allclose(again, cached)
    param.codes.requires_grad_(True)  # moving codes are never served from the cache
    assert param.head_features(2).requires_grad


def test_the_feature_cache_follows_the_codes_tensor_not_its_address(tiny_prior):
    # an edit renders through functional_call with freshly allocated codes; the allocator may give
    # them the memory of codes rendered before. Modelled exactly: a second tensor over the same
    # storage, at the same in-place version, holding other values, must not be served stale features
    from torch.func import functional_call
    from ganprior.inversion import MultiCode
    param = MultiCode(tiny_prior, 1, num_codes=3, layer=1, code_steps=0)
    param.on_step(0)
    storage = param.codes.detach().clone().untyped_storage()
    alias = lambda: torch.empty(0).set_(storage, 0, param.codes.shape, param.codes.stride())  # version 1
    first = alias()
    params = {k: v.detach() for k, v in param.named_parameters()}
    before = functional_call(param, {**params, "codes": first}, ())
    alias().add_(1.0)  # new values in the same memory
    second = alias()
    assert second.data_ptr() == first.data_ptr() and second._version == first._version
    after = functional_call(param, {**params, "codes": second}, ())
    with torch.no_grad():
        param.codes.copy_(second)
    param._head_cache = None
    expected = param()
    torch.testing.assert_close(after, expected, atol=1e-6, rtol=0)
    assert not torch.allclose(after, before)


def test_code_steps_are_checked_in_one_line(tiny_prior):
    from ganprior.config import RunConfig
    from ganprior.inversion import MultiCode
    with pytest.raises(GanpriorError, match="code steps must be a whole number >= 0, got -1"):
        MultiCode(tiny_prior, 1, num_codes=2, layer=1, code_steps=-1)
    with pytest.raises(GanpriorError, match="--code-steps"):
        RunConfig.from_options("reconstruct", method="single", code_steps=3).resolved(4)


def test_the_seeded_pool_is_rendered_once_per_generator_weights(tiny_prior, monkeypatch):
    from ganprior.inversion import candidates
    from ganprior.inversion.candidates import best_codes
    from ganprior.tasks import build_degradation
    monkeypatch.setattr(candidates, "_POOL_RENDERS", type(candidates._POOL_RENDERS)())
    y = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    deg = build_degradation("reconstruct", 16)
    calls = []
    real = tiny_prior.generate
    monkeypatch.setattr(tiny_prior, "generate", lambda z: calls.append(len(z)) or real(z))
    first = best_codes(tiny_prior, y, deg, 3, num_candidates=20)
    assert sum(calls) == 20
    again = best_codes(tiny_prior, y[:1], deg, 3, num_candidates=20)  # another batch: no render
    assert sum(calls) == 20 and torch.equal(again[0], first[0])
    with torch.no_grad():  # the weights change in place (as DGP's fine-tuning does): rendered again
        next(tiny_prior.parameters()).mul_(1.5)
    best_codes(tiny_prior, y, deg, 3, num_candidates=20)
    assert sum(calls) == 40
    monkeypatch.setattr(candidates, "POOL_CACHE_BYTES", 0)  # too large to keep: rendered every time
    best_codes(tiny_prior, y, deg, 3, num_candidates=20)
    best_codes(tiny_prior, y, deg, 3, num_candidates=20)
    assert sum(calls) == 80


def test_the_callback_sees_the_start_before_the_first_step(tiny_prior):
    from ganprior.inversion import invert
    from ganprior.tasks import build_degradation
    y = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    deg = build_degradation("reconstruct", 16)
    calls = []
    invert(y, deg, tiny_prior, method="multi", steps=3, layer=1, num_codes=2,
           callback=lambda step, total, loss, x: calls.append((step, total, loss.clone(), x.clone())))
    start = invert(y, deg, tiny_prior, method="multi", steps=0, layer=1, num_codes=2)
    assert [c[0] for c in calls] == [0, 1, 2, 3] and {c[1] for c in calls} == {3}
    assert torch.allclose(calls[0][3], start.raw, atol=1e-6)  # step 0: the start's images
    assert torch.allclose(calls[0][2], ((start.raw - y) ** 2).flatten(1).mean(1), atol=1e-6)


def test_the_encoder_sees_a_noisy_image_smoothed_not_bm3d(tiny_prior):
    from torchvision.transforms.functional import gaussian_blur
    from ganprior.inversion.encoder_start import encoder_input
    from ganprior.tasks import build_degradation
    from ganprior.tasks.classical import classical_restore
    y = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    deg = build_degradation("denoise", 16, noise_sigma=0.1)
    x0 = encoder_input(y, deg, tiny_prior)
    assert torch.allclose(x0, gaussian_blur(y, [7, 7], [1.0, 1.0]).clamp(0, 1), atol=1e-6)
    assert x0.std() < 0.6 * y.std()  # noise smoothed away
    # a chain's other steps keep their classical undo: the quick path of super-resolution is bicubic
    sr = build_degradation("super-resolve", 16, factor=2)
    small = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    assert torch.equal(classical_restore(small, sr, quick=True), classical_restore(small, sr))


def test_the_deepinv_reconstructor_takes_code_steps(tiny_prior):
    import deepinv as dinv
    from ganprior.models import MultiCode as MultiCodeModel
    y = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(sigma=0.0))
    fixed = MultiCodeModel(tiny_prior, num_codes=2, layer=1, steps=3, code_steps=0)
    fixed(y, physics)
    moving = MultiCodeModel(tiny_prior, num_codes=2, layer=1, steps=0)
    moving(y, physics)
    assert torch.equal(fixed.last_result.params["codes"], moving.last_result.params["codes"])  # never moved


def test_the_plateau_rule_on_known_losses():
    from ganprior.inversion.base import EarlyStop
    # image 0 keeps improving by 10% a step; image 1 stops improving after step 3 (0-based)
    h = torch.tensor([[1.0, 1.0], [0.9, 0.5], [0.81, 0.4], [0.729, 0.3], [0.656, 0.2995], [0.59, 0.2994]])
    rule = EarlyStop(None, torch.zeros(2, 1), lambda x: x, patience=2, min_improvement=0.01)
    assert rule.plateaued(1, h).tolist() == [False, False]  # 2 rows seen: not yet `patience` steps back
    assert rule.plateaued(3, h).tolist() == [False, False]  # 0.4 -> 0.3: still improving
    assert rule.plateaued(5, h).tolist() == [False, True]  # 0.3 -> 0.2994: 0.2% < 1% over 2 steps
    loose = EarlyStop(None, torch.zeros(2, 1), lambda x: x, patience=2, min_improvement=0.25)
    assert loose.plateaued(3, h).tolist() == [True, False]  # 0.81 -> 0.729 is 19% (< 25%); 0.5 -> 0.3 is 40%
    # a loss that rises is no improvement; an exact zero cannot improve
    assert rule.plateaued(2, torch.tensor([[0.5], [0.6], [0.7]])).tolist() == [True]
    assert rule.plateaued(2, torch.tensor([[0.0], [0.0], [0.0]])).tolist() == [True]
    x = torch.arange(2.0).view(2, 1, 1, 1).expand(2, 1, 2, 2)
    assert not rule.update(5, x, h) and rule.stopped_at.tolist() == [0, 6]
    assert torch.equal(rule.finish(x + 5)[1], x[1]) and torch.equal(rule.finish(x + 5)[0], x[0] + 5)


def test_patience_ends_the_run_once_every_image_stops_improving(tiny_prior):
    from ganprior.tasks import build_degradation
    y = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    deg = build_degradation("reconstruct", 16)
    kw = dict(method="single", steps=400, lr=0.05, seed=0)
    full = invert(y, deg, tiny_prior, **kw)
    assert full.stopped_at is None and full.steps == 400
    r = invert(y, deg, tiny_prior, patience=10, min_improvement=0.01, **kw)
    assert (r.stopped_at > 0).all() and r.steps == int(r.stopped_at.max()) < 400
    assert r.history.shape == (r.steps, 2)
    torch.testing.assert_close(r.history, full.history[:r.steps])  # the same run, cut short
    for i, at in enumerate(r.stopped_at.tolist()):  # stopped where its best gained < 1% over 10 steps
        best = full.history[:at, i].cummin(0).values
        assert best[-11] - best[-1] <= 0.01 * best[-11]
        assert at == 11 or (best[:-1][-11] - best[:-1][-1]) > 0.01 * best[:-1][-11]
    with pytest.raises(GanpriorError, match="patience must be a whole number of steps >= 1, got 0"):
        invert(y, deg, tiny_prior, patience=0, **kw)
    with pytest.raises(GanpriorError, match=r"min improvement must be in \[0, 1\)"):
        invert(y, deg, tiny_prior, patience=5, min_improvement=1.5, **kw)
