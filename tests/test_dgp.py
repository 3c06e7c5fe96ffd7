"""DGP (Deep Generative Prior): latent + generator fine-tuning under a discriminator-feature loss.

A tiny random DCGAN (16x16, 3 blocks) with a random discriminator stands in for a trained prior.
The paper's rates (generator 1e-5..5e-5 over 1000+ steps) barely move it in a few dozen steps,
so the fitting tests use a short two-stage schedule with larger rates (``FAST``); the presets are
exercised by ``test_every_task``.
"""

import pytest
import torch

import ganprior
from ganprior.errors import GanpriorError
from ganprior.inversion import METHODS, SOLVERS, invert
from ganprior.inversion.dgp import (DELTA_PREFIX, DGPGenerator, DGPObjective, DGPSchedule, DGPStage,
                                    block_parameter_names, select_initial_codes)
from ganprior.losses import DiscriminatorFeatureLoss
from ganprior.physics.masks import center_box_mask, random_pixel_mask
from ganprior.tasks import build_degradation
from ganprior.presets import DGP_SCHEDULES, dgp_schedule_name
from ganprior.priors import DCGANPrior
from ganprior.priors.dcgan import DCGANDiscriminator

from .conftest import shared_path

FAST = [dict(iterations=30, unfrozen_blocks=2, generator_lr=1e-2, latent_lr=5e-2, mse_weight=1.0),
        dict(iterations=30, unfrozen_blocks=3, generator_lr=1e-2, latent_lr=1e-2, mse_weight=1.0)]


@pytest.fixture
def prior_with_d(tiny_prior):
    torch.manual_seed(0)
    tiny_prior.discriminator = DCGANDiscriminator(width=4, resolution=16, spectral=False).eval()
    return tiny_prior


def off_prior_targets(n=2, seed=5):
    """Samples of another random generator: the tiny prior cannot produce them exactly."""
    other = DCGANPrior.random(latent_dim=8, width=4, resolution=16, seed=7)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return other.to_unit(other.generate(torch.randn(n, 8, 1, 1, generator=g))).clamp(0, 1)


def mse(a, b):
    return (a - b).pow(2).flatten(1).mean(1)


def psnr(a, b):
    return 10 * torch.log10(1 / mse(a, b))


def test_registered_beside_the_composition_methods():
    assert "dgp" in SOLVERS and "dgp" not in METHODS  # METHODS holds the shared-loop parameterisations


def test_loss_goes_down_and_result_shapes(prior_with_d):
    y = off_prior_targets()
    r = invert(y, build_degradation("reconstruct", 16), prior_with_d, method="dgp", schedule=FAST,
               num_candidates=20)
    assert r.history.shape == (60, 2) and r.steps == 60
    assert (r.history[-1] < 0.5 * r.history[0]).all()
    assert r.images.shape == (2, 3, 16, 16) and 0 <= r.images.min() and r.images.max() <= 1
    assert r.params["codes"].shape == (2, 8, 1, 1)
    names, _ = block_parameter_names(prior_with_d, 3)
    assert sorted(k for k in r.params if k != "codes") == sorted(DELTA_PREFIX + n for n in names)
    assert all(r.params[DELTA_PREFIX + n].shape[0] == 2 for n in names)


@pytest.mark.integration
def test_fine_tuning_beats_single_code_at_equal_steps(prior_with_d):
    y = off_prior_targets()
    deg = build_degradation("reconstruct", 16)
    single = invert(y, deg, prior_with_d, method="single", steps=60)
    dgp = invert(y, deg, prior_with_d, method="dgp", schedule=FAST, num_candidates=20)
    # measured: single 10.0 / 12.9 dB, DGP 14.5 / 16.3 dB (multi-code, 8 codes at layer 2: 11.2 / 14.1)
    assert (psnr(dgp.images, y) > psnr(single.images, y) + 3.0).all()


def test_prior_and_discriminator_unchanged(prior_with_d):
    before = {k: v.clone() for k, v in prior_with_d.state_dict().items()}  # includes D and BN buffers
    prior_with_d.train()  # even a prior left in train mode keeps its BN statistics
    y = off_prior_targets()
    r = invert(y, build_degradation("reconstruct", 16), prior_with_d, method="dgp", schedule=FAST,
               num_candidates=20)
    after = prior_with_d.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert prior_with_d.training and prior_with_d.discriminator.training  # modes restored
    assert all(p.grad is None and p.requires_grad for p in prior_with_d.parameters())
    # the result is the prior's weights plus the deltas, which are not zero
    assert any(r.params[k].abs().max() > 1e-3 for k in r.params if k.startswith(DELTA_PREFIX))


@pytest.mark.parametrize("task", ["reconstruct", "inpaint"])
def test_batch_independent(prior_with_d, task):
    """An image alone and in a batch of two gives the same result (per-image masks included)."""
    y = off_prior_targets()
    short = [dict(s, iterations=8) for s in FAST]
    if task == "inpaint":
        masks = torch.stack([center_box_mask(16), random_pixel_mask(16, 0.5, seed=1)])
        deg2, deg1 = (build_degradation("inpaint", 16, mask=masks), build_degradation("inpaint", 16, mask=masks[1:]))
        y = deg2.simulate(y)
    else:
        deg2 = deg1 = build_degradation("reconstruct", 16)
    both = invert(y, deg2, prior_with_d, method="dgp", schedule=short, num_candidates=30)
    alone = invert(y[1:], deg1, prior_with_d, method="dgp", schedule=short, num_candidates=30)
    torch.testing.assert_close(both.images[1:], alone.images, atol=1e-5, rtol=0)
    torch.testing.assert_close(both.history[:, 1:], alone.history, atol=1e-5, rtol=1e-5)
    for k in alone.params:
        torch.testing.assert_close(both.params[k][1:], alone.params[k], atol=1e-5, rtol=0)


def test_progressive_schedule_unfreezes_blocks_in_order(prior_with_d):
    y = off_prior_targets()
    deg = build_degradation("reconstruct", 16)
    stage1 = DGPStage(iterations=5, unfrozen_blocks=1, generator_lr=1e-2, latent_lr=1e-2, mse_weight=1.0)
    stage2 = DGPStage(iterations=5, unfrozen_blocks=2, generator_lr=1e-2, latent_lr=1e-2, mse_weight=1.0)
    names, owners = block_parameter_names(prior_with_d, 3)
    block = dict(zip(names, owners))

    def changed(result):
        return {block[k[len(DELTA_PREFIX):]] for k, v in result.params.items()
                if k.startswith(DELTA_PREFIX) and v.abs().max() > 0}

    def tuned(result):
        return {block[k[len(DELTA_PREFIX):]] for k in result.params if k.startswith(DELTA_PREFIX)}

    after1 = invert(y, deg, prior_with_d, method="dgp", schedule=[stage1], num_candidates=10)
    after2 = invert(y, deg, prior_with_d, method="dgp", schedule=[stage1, stage2], num_candidates=10)
    assert changed(after1) == tuned(after1) == {0}
    assert changed(after2) == tuned(after2) == {0, 1}  # block 2 (the output conv) never unfrozen
    # non-progressive: the final stage's blocks from the first step, for the same total length
    flat = invert(y, deg, prior_with_d, method="dgp", schedule=[stage1, stage2], progressive=False,
                  num_candidates=10)
    assert changed(flat) == {0, 1} and flat.steps == 10


def test_adam_group_rates_follow_the_stage(prior_with_d):
    """Stage rates per block: generator_lr * ratio**block for unfrozen blocks (DGP's lr_ratio)."""
    y = off_prior_targets(1)
    seen = []
    stage = DGPStage(iterations=1, unfrozen_blocks=2, generator_lr=1e-2, latent_lr=1e-3, block_lr_ratio=0.5,
                     mse_weight=1.0)
    r = invert(y, build_degradation("reconstruct", 16), prior_with_d, method="dgp", schedule=[stage],
               num_candidates=1, callback=lambda *a: seen.append(a[0]))
    assert seen == [1]
    deltas = {k[len(DELTA_PREFIX):]: v for k, v in r.params.items() if k.startswith(DELTA_PREFIX)}
    # beta1 = 0: the first Adam step moves every weight with a gradient by ~lr
    assert deltas["net.0.0.weight"].abs().max() == pytest.approx(1e-2, rel=1e-2)
    assert deltas["net.1.0.weight"].abs().max() == pytest.approx(5e-3, rel=1e-2)


def test_candidate_selection_picks_min_distance(prior_with_d):
    y = off_prior_targets()
    deg = build_degradation("super-resolve", 16, factor=2)
    obs = deg.simulate(y)
    objective = DGPObjective(prior_with_d, "discriminator")
    codes, dist = select_initial_codes(prior_with_d, obs, deg, objective, num_candidates=23, candidate_std=0.5,
                                       seed=3, chunk_size=5)
    assert dist.shape == (2, 23)
    pool = 0.5 * torch.randn((23, 8, 1, 1), generator=torch.Generator().manual_seed(3))
    # DGP ranks by the deepest 3 outputs; this discriminator has 2
    crit = DiscriminatorFeatureLoss(prior_with_d.discriminator, DiscriminatorFeatureLoss.deepest(2))
    with torch.no_grad():
        for b in range(2):  # one candidate at a time, unbatched
            d = torch.stack([crit(deg.A(prior_with_d.to_unit(prior_with_d.generate(z[None]))), obs[b:b + 1])[0]
                             for z in pool])
            torch.testing.assert_close(d, dist[b], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(codes[b], pool[int(d.argmin())])
    zero, _ = select_initial_codes(prior_with_d, obs, deg, objective, num_candidates=0)
    assert torch.equal(zero, torch.zeros(2, 8, 1, 1))


TASKS = [("reconstruct", {}), ("colorize", {}), ("super-resolve", {"factor": 4}),
         ("inpaint", {"mask": center_box_mask(16)}), ("denoise", {}),
         ("colorize+inpaint+super-resolve", {"factor": 2, "mask": center_box_mask(8)})]


@pytest.mark.parametrize("task,kw", TASKS, ids=[t for t, _ in TASKS])
def test_every_task(prior_with_d, task, kw):
    deg = build_degradation(task, 16, **kw)
    y = deg.simulate(off_prior_targets(), seed=1)
    r = invert(y, deg, prior_with_d, method="dgp", steps=6, num_candidates=10)  # the task's preset, rescaled
    assert r.images.shape == (2, 3, 16, 16) and torch.isfinite(r.images).all()
    assert r.history.shape == (6, 2) and torch.isfinite(r.history).all()


def test_restore_api_uses_the_discriminator_loss_by_default(prior_with_d):
    clean = off_prior_targets()
    r = ganprior.restore(clean, task="colorize", prior=prior_with_d, method="dgp", simulate=True, steps=4,
                         num_candidates=10, batch_size=1)
    assert r.images.shape == (2, 3, 16, 16) and len(r.metrics) == 2 and r.metrics[0]["psnr"] is not None
    assert r.params["codes"].shape == (2, 8, 1, 1)  # concatenated over the two batches
    deg = build_degradation("colorize", 16)
    direct = invert(deg.simulate(clean[1:]), deg, prior_with_d, method="dgp", loss="discriminator", steps=4,
                    num_candidates=10)
    torch.testing.assert_close(r.history[:, 1:], direct.history)  # restore gave DGP its own loss


@pytest.mark.integration
def test_no_discriminator_gives_clear_error(tiny_prior):
    y = off_prior_targets()
    deg = build_degradation("reconstruct", 16)
    with pytest.raises(GanpriorError, match="--dgp-loss mse"):
        invert(y, deg, tiny_prior, method="dgp", steps=2)
    r = invert(y, deg, tiny_prior, method="dgp", loss="mse", schedule=FAST, num_candidates=10)  # the ablation
    assert (r.history[-1] < r.history[0]).all()
    try:
        invert(y, deg, tiny_prior, method="dgp", loss="perceptual", steps=2, num_candidates=2)
    except GanpriorError:
        pass  # VGG16 weights unavailable: a clear error is the contract
    with pytest.raises(GanpriorError, match="unknown DGP loss"):
        invert(y, deg, tiny_prior, method="dgp", loss="hinge", steps=2)
    with pytest.raises(GanpriorError, match="Adam"):
        invert(y, deg, tiny_prior, method="dgp", loss="mse", optimizer="sgd", steps=2)
    with pytest.raises(GanpriorError, match="no option"):
        invert(y, deg, tiny_prior, method="dgp", loss="mse", steps=2, num_stages=3)
    with pytest.raises(GanpriorError, match="expects"):
        invert(y[:, :1], deg, tiny_prior, method="dgp", loss="mse", steps=2)


def test_editing_from_the_result(prior_with_d):
    y = off_prior_targets()
    r = invert(y, build_degradation("reconstruct", 16), prior_with_d, method="dgp", schedule=FAST,
               num_candidates=10)
    param = r.parameterization
    with torch.no_grad():
        torch.testing.assert_close(prior_with_d.to_unit(param()).clamp(0, 1), r.raw)
        rebuilt = DGPGenerator.from_params(prior_with_d, r.params)
        torch.testing.assert_close(prior_with_d.to_unit(rebuilt()).clamp(0, 1), r.raw, atol=1e-6, rtol=0)
    jit = param.jitter(0.3, 4, seed=0)
    assert jit.shape == (2, 4, 3, 16, 16)
    torch.testing.assert_close(param.jitter(0.0, 2)[:, 0], r.raw)
    frames = param.morph(0, 1, [0.0, 0.5, 1.0])
    assert frames.shape == (3, 3, 16, 16)
    torch.testing.assert_close(frames[0], r.raw[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(frames[2], r.raw[1], atol=1e-6, rtol=0)
    assert (frames[1] - frames[0]).abs().max() > 1e-3


def test_discriminator_feature_loss(prior_with_d):
    d = prior_with_d.discriminator
    loss = DiscriminatorFeatureLoss(d)
    a, b = off_prior_targets(2, seed=1), off_prior_targets(2, seed=2)
    out = loss(a, b)
    assert out.shape == (2,) and (out > 0).all() and torch.all(loss(a, a) == 0)
    torch.testing.assert_close(loss(a[1:], b[1:]), out[1:])  # per image
    with torch.no_grad():
        fa, fb = d.features(a * 2 - 1), d.features(b * 2 - 1)  # native range inside
    torch.testing.assert_close(out, sum((x - y).abs().mean(dim=(1, 2, 3)) for x, y in zip(fa, fb)))
    deepest = DiscriminatorFeatureLoss(d, blocks=[-1], weights=[2.0])
    torch.testing.assert_close(deepest(a, b), 2 * (fa[-1] - fb[-1]).abs().mean(dim=(1, 2, 3)))
    # gray and low-resolution observations are lifted to 3 channels at the discriminator's size
    assert loss(a[:, :1], b[:, :1]).shape == (2,) and loss(a[..., ::2, ::2], b[..., ::2, ::2]).shape == (2,)
    pairs = loss.pairwise(a, b)  # (targets, predictions)
    assert pairs.shape == (2, 2)
    torch.testing.assert_close(pairs[0, 1], loss(a[1:], b[:1])[0])
    with pytest.raises(GanpriorError, match="out of range"):
        DiscriminatorFeatureLoss(d, blocks=[5])(a, b)
    with pytest.raises(GanpriorError, match="no discriminator|needs a discriminator"):
        DiscriminatorFeatureLoss(None)


def test_presets_follow_the_scripts():
    for task in ("reconstruct", "colorize", "super-resolve", "inpaint", "denoise"):
        table = DGP_SCHEDULES[task]
        sched = DGPSchedule.preset(task)
        assert len({len(v) for v in table.values() if isinstance(v, list)}) == 1
        assert sched.stages and sched.total_steps >= 1000
    color = DGPSchedule.preset("colorize")
    assert [s.unfrozen_blocks for s in color.stages] == [2, 3, 4, 5, 6]
    assert [s.iterations for s in color.stages] == [200, 200, 300, 400, 300] and color.candidate_std == 0.5
    assert [s.mse_weight for s in DGPSchedule.preset("inpaint").stages] == [1, 1, 1, 1, 10]
    assert dgp_schedule_name(["super-resolve", "colorize", "inpaint"]) == "inpaint"
    scaled = DGPSchedule.preset("super-resolve").scaled_to(7)
    assert scaled.total_steps == 7 and [s.unfrozen_blocks for s in scaled.stages][-1] == 7
    assert DGPSchedule.preset("colorize").with_lr_scale(2).stages[0].generator_lr == pytest.approx(1e-4)
    with pytest.raises(GanpriorError, match="unknown DGP stage setting"):
        DGPSchedule.coerce([{"iterations": 1, "unfrozen_blocks": 1, "generator_lr": 1, "latent_lr": 1,
                             "G_lr": 2}], [])


@pytest.mark.integration
def test_biggan_fixture_prior():
    """A loaded family with a discriminator whose features end with a pooled (B, C) vector."""
    from ganprior.priors import load_prior
    prior = load_prior(shared_path("fixtures", "biggan-dgp"))
    before = {k: v.clone() for k, v in prior.state_dict().items()}
    with torch.no_grad():
        clean = prior.to_unit(prior.generate(torch.randn(2, 20, generator=torch.Generator().manual_seed(0))))
    deg = build_degradation("super-resolve", 64, factor=4)
    r = invert(deg.simulate(clean.clamp(0, 1)), deg, prior, method="dgp", steps=2, num_candidates=4)
    assert r.images.shape == (2, 3, 64, 64) and torch.isfinite(r.history).all()
    assert r.params["codes"].shape == (2, 20)
    assert all(torch.equal(before[k], v) for k, v in prior.state_dict().items())
    feats = prior.discriminator.features(clean * 2 - 1)
    assert feats[-1].ndim == 2  # the pooled vector, skipped by the loss
    assert DiscriminatorFeatureLoss(prior.discriminator)(clean, clean.flip(0)).shape == (2,)


def test_user_physics(prior_with_d):
    """A deepinv operator of the user's (here a blur) works too; candidates see it per image."""
    import deepinv as dinv
    from ganprior.physics.operator import as_operator as custom_degradation
    blur = dinv.physics.BlurFFT(img_size=(3, 16, 16), filter=torch.ones(1, 1, 3, 3) / 9)
    deg = custom_degradation(blur, 16)
    y = deg.A(off_prior_targets())
    r = invert(y, deg, prior_with_d, method="dgp", schedule=FAST, num_candidates=10)
    assert (r.history[-1] < r.history[0]).all() and r.images.shape == (2, 3, 16, 16)


@pytest.mark.integration
@pytest.mark.parametrize("method", ["dgp", "multi"])
def test_stop_mse_stops_each_image_at_the_threshold(prior_with_d, method):
    """Adversarial-defense early stop: an image stops once its observation MSE is below the
    threshold, keeps the image rendered then, and the run ends when every image has stopped."""
    y = off_prior_targets(n=2)
    deg = build_degradation("reconstruct", 16)
    kw = dict(schedule=FAST, num_candidates=20) if method == "dgp" else dict(steps=60, lr=0.05)
    full = invert(y, deg, prior_with_d, method=method, **kw)
    assert full.stopped_at is None
    # a threshold between the start and the end of the run: both images stop part-way
    threshold = float(mse(full.raw, y).max()) * 1.5
    r = invert(y, deg, prior_with_d, method=method, stop_mse=threshold, **kw)
    assert r.stopped_at.shape == (2,) and (r.stopped_at > 0).all()
    assert r.steps == int(r.stopped_at.max()) < 60 and r.history.shape == (r.steps, 2)
    assert (mse(r.raw, y) < threshold).all()
    # nothing reaches an impossible threshold: every step runs, no image is marked stopped
    never = invert(y, deg, prior_with_d, method=method, stop_mse=1e-12, **kw)
    assert never.steps == 60 and (never.stopped_at == 0).all()
    with pytest.raises(GanpriorError, match="stop MSE must be > 0"):
        invert(y, deg, prior_with_d, method=method, stop_mse=0.0, **kw)


def test_dgp_colorization_output_keeps_lab_lightness(prior_with_d):
    """DGP's colorization output is Lab with L from the gray input (a/b from the generator)."""
    from ganprior.metrics import rgb_to_lab
    truth = off_prior_targets(n=2)
    deg = build_degradation("colorize", 16)
    y = deg.A(truth)
    r = invert(y, deg, prior_with_d, method="dgp", schedule=FAST[:1], num_candidates=10)
    lightness_in = rgb_to_lab(y.expand(-1, 3, -1, -1))[:, 0]
    out = rgb_to_lab(r.images)
    # L in [0, 100]; only colours outside the sRGB gamut (clipped) move
    assert (out[:, 0] - lightness_in).abs().median() < 0.01
    luma = deg.postprocess(r.raw, y, color_space="luma")
    assert not torch.allclose(luma, r.images, atol=1e-3)  # not the mGANprior luma rule
    raw_ab, out_ab = rgb_to_lab(r.raw)[:, 1:], out[:, 1:]
    assert torch.corrcoef(torch.stack([raw_ab.flatten(), out_ab.flatten()]))[0, 1] > 0.9
