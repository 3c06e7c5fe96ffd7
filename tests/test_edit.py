"""Editing inverted images: latent directions, style / feature mixing, code role maps, layer sweeps.

Tiny random priors (the conftest's 16x16 DCGAN, a 16x16 random StyleGAN2) and a few optimisation
steps: the tests check the plumbing (what is moved, composed and rendered), not image quality.
"""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ganprior.editing import (code_role_maps, edit_frames, feature_mix, layer_sweep, plot_layer_sweep, role_sheet,
                              strengths_for, style_mix, style_mix_grid)
from ganprior.editing.mixing import adain
from ganprior.errors import GanpriorError
from ganprior.inversion import MultiCode, SingleCode, invert
from ganprior.tasks import build_degradation
from ganprior.priors import DCGANPrior
from ganprior.priors.base import feature_map
from ganprior.priors.dcgan import DCGANDiscriminator
from ganprior.priors.stylegan2 import StyleGAN2Prior
from ganprior.subspaces import Subspaces

DGP_FAST = [dict(iterations=3, unfrozen_blocks=2, generator_lr=1e-2, latent_lr=5e-2, mse_weight=1.0),
            dict(iterations=3, unfrozen_blocks=3, generator_lr=1e-2, latent_lr=1e-2, mse_weight=1.0)]


def unit_direction(prior, seed=3):
    d = torch.randn(prior.latent_shape, generator=torch.Generator().manual_seed(seed))
    return d / d.norm()


@pytest.fixture(scope="module")
def prior():
    """The conftest's tiny DCGAN (a module-scoped copy, shared by the inversions below) with a random D."""
    p = DCGANPrior.random(latent_dim=8, width=4, resolution=16, seed=0)
    torch.manual_seed(0)
    p.discriminator = DCGANDiscriminator(width=4, resolution=16, spectral=False).eval()
    return p


@pytest.fixture(scope="module")
def targets(prior):
    other = DCGANPrior.random(latent_dim=8, width=4, resolution=16, seed=7)
    with torch.no_grad():
        return other.to_unit(other.generate(torch.randn(2, 8, 1, 1, generator=torch.Generator().manual_seed(5))))


@pytest.fixture(scope="module")
def results(prior, targets):
    """One two-image inversion per method, a few steps each."""
    deg = build_degradation("reconstruct", 16)
    groups = np.array([0, 1, 0, 1])  # layer 2 has 4 channels: two subspaces
    sub = Subspaces(2, 2, groups, np.zeros((4, 4)), np.zeros(1))
    return {
        "single": invert(targets, deg, prior, method="single", steps=3),
        "multi": invert(targets, deg, prior, method="multi", steps=3, num_codes=3, layer=2),
        "subspace": invert(targets, deg, prior, method="subspace", steps=3, subspaces=sub, num_codes=2, layer=2),
        "dgp": invert(targets, deg, prior, method="dgp", schedule=DGP_FAST, num_candidates=5),
    }


@pytest.fixture(scope="module")
def style_prior():
    return StyleGAN2Prior.random(resolution=16, z_dim=8, w_dim=8, channels=8, seed=0).use_latent_space("w+")


def pixel_distance(a, b):
    return (a - b).pow(2).flatten(1).mean(1).sqrt()


# -- edit_frames ---------------------------------------------------------------------------------------


def test_strengths_for():
    assert strengths_for(2.0, 5) == [-2.0, -1.0, 0.0, 1.0, 2.0]
    s = strengths_for(3.0, 7)
    assert s[3] == 0.0 and s == [-v for v in reversed(s)] and len(s) == 7
    assert strengths_for(1.0, 2) == [-1.0, 1.0]
    for bad in [(1.0, 1), (0.0, 5), (-1.0, 5), (float("nan"), 5), (1.0, 2.5)]:
        with pytest.raises(GanpriorError, match="steps|strength"):
            strengths_for(*bad)


@pytest.mark.parametrize("method", ["single", "multi", "subspace", "dgp"])
def test_strength_zero_reproduces_the_reconstruction(results, prior, method):
    r = results[method]
    frames = edit_frames(r, unit_direction(prior), [-2.0, 0.0, 2.0], image=1)
    assert frames.shape == (3, 3, 16, 16) and frames.min() >= 0 and frames.max() <= 1
    torch.testing.assert_close(frames[1], r.raw[1], atol=1e-5, rtol=0)
    assert (pixel_distance(frames[[0, 2]], frames[1:2]) > 1e-3).all()  # the edit changes the image
    # negative index counts from the end
    torch.testing.assert_close(edit_frames(r, unit_direction(prior), [0.0], image=-1)[0], r.raw[1], atol=1e-5, rtol=0)


def test_single_code_moves_the_code_and_distance_grows(results, prior):
    r = results["single"]
    d = unit_direction(prior)
    strengths = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]
    frames = edit_frames(r, d, strengths)
    z = r.params["codes"][0]
    with torch.no_grad():
        expected = prior.to_unit(prior.generate(torch.stack([z + s * d for s in strengths]))).clamp(0, 1)
    torch.testing.assert_close(frames, expected, atol=1e-5, rtol=0)
    dist = pixel_distance(frames, frames[:1])
    assert (dist[1:] > dist[:-1]).all(), dist
    neg = pixel_distance(edit_frames(r, d, [-s for s in strengths]), frames[:1])
    assert (neg[1:] > neg[:-1]).all(), neg


def test_multi_code_moves_every_code_and_keeps_importances(results, prior):
    r = results["multi"]
    param = r.parameterization
    d = unit_direction(prior)
    frames = edit_frames(r, d, [1.5], image=1)
    codes, importance = r.params["codes"][1], r.params["importance"][1]  # (N, 8, 1, 1), (N, C)
    assert codes.shape[0] == 3

    def render(moved):
        with torch.no_grad():
            feats = prior.head(moved, param.layer)
            composed = prior.compose_features(feats[None], importance[None])
            return prior.to_unit(prior.tail(composed, param.layer)).clamp(0, 1)

    torch.testing.assert_close(frames, render(codes + 1.5 * d), atol=1e-5, rtol=0)
    only_first = codes.clone()
    only_first[0] += 1.5 * d
    assert pixel_distance(frames, render(only_first)) > 1e-3  # not just one code
    assert param.codes.shape == (2, 3, 8, 1, 1)
    torch.testing.assert_close(param.codes.detach(), r.params["codes"])  # the result itself is untouched


def test_dgp_edits_render_through_the_fine_tuned_weights(results, prior):
    r = results["dgp"]
    gen = r.parameterization
    d = unit_direction(prior)
    frames = edit_frames(r, d, [1.0], image=0)
    z = r.params["codes"][0] + d
    with torch.no_grad():
        plain = prior.to_unit(prior.generate(z[None])).clamp(0, 1)
        tuned = prior.to_unit(gen.render(z[None][None], {n: w[:1] for n, w in zip(gen.weight_names, gen.weights)})[0])
    torch.testing.assert_close(frames, tuned.clamp(0, 1), atol=1e-5, rtol=0)
    assert pixel_distance(frames, plain) > 1e-3  # not the prior's own weights
    # a result without its generator attached is rebuilt from params with prior=
    detached = dataclasses.replace(r, parameterization=None)
    torch.testing.assert_close(edit_frames(detached, d, [1.0], prior=prior), frames, atol=1e-5, rtol=0)


def test_direction_forms(results, prior, style_prior):
    r = results["single"]
    d = unit_direction(prior)
    ref = edit_frames(r, d, [1.0])
    torch.testing.assert_close(edit_frames(r, SimpleNamespace(vector=d), [1.0]), ref)
    # a Direction-like object converts itself for the prior (and may refuse it)
    torch.testing.assert_close(edit_frames(r, SimpleNamespace(vector=-d, as_latent=lambda p: d), [1.0]), ref)

    def refuse(p):
        raise GanpriorError("direction 'age' is a w-space direction but prior 'dcgan-random' uses z codes")

    with pytest.raises(GanpriorError, match="w-space direction"):
        edit_frames(r, SimpleNamespace(vector=d, as_latent=refuse), [1.0])
    torch.testing.assert_close(edit_frames(r, d.flatten(), [1.0]), ref)  # (8,) fits (8, 1, 1)
    torch.testing.assert_close(edit_frames(r, d, torch.tensor([1.0])), ref)
    # a w vector on a w+ prior is broadcast over the layers
    param = SingleCode(style_prior, 1, seed=1)
    w = torch.randn(style_prior.generator.w_dim, generator=torch.Generator().manual_seed(2))
    wplus = w[None].expand(style_prior.num_ws, -1)
    torch.testing.assert_close(edit_frames(param, w, [0.5, 1.0]), edit_frames(param, wplus, [0.5, 1.0]))


def test_edit_errors(results, prior):
    r = results["single"]
    d = unit_direction(prior)
    with pytest.raises(GanpriorError, match=r"direction of shape \(7,\) does not fit"):
        edit_frames(r, torch.ones(7), [1.0])
    with pytest.raises(GanpriorError, match="image index 2 is out of range for a reconstruction of 2"):
        edit_frames(r, d, [1.0], image=2)
    with pytest.raises(GanpriorError, match="strengths"):
        edit_frames(r, d, [])
    with pytest.raises(GanpriorError, match="NaN"):
        edit_frames(r, torch.full((8, 1, 1), float("nan")), [1.0])
    multi = dataclasses.replace(results["multi"], parameterization=None)
    with pytest.raises(GanpriorError, match="no parameterization attached"):
        edit_frames(multi, d, [1.0])
    with pytest.raises(GanpriorError, match="only single-code and DGP results"):
        edit_frames(multi, d, [1.0], prior=prior)
    # a single-code result is rebuilt from its params
    single = dataclasses.replace(r, parameterization=None)
    torch.testing.assert_close(edit_frames(single, d, [0.0, 1.0], prior=prior), edit_frames(r, d, [0.0, 1.0]))


# -- style mixing --------------------------------------------------------------------------------------


def test_style_mix_crossover_ends_are_the_two_images(style_prior):
    g = torch.Generator().manual_seed(0)
    ws_a, ws_b = style_prior.sample_latent(2, g), style_prior.sample_latent(2, g)
    with torch.no_grad():
        img_a = style_prior.to_unit(style_prior.generate(ws_a)).clamp(0, 1)
        img_b = style_prior.to_unit(style_prior.generate(ws_b)).clamp(0, 1)
    n = style_prior.num_ws
    torch.testing.assert_close(style_mix(style_prior, ws_a, ws_b, 0), img_b)
    torch.testing.assert_close(style_mix(style_prior, ws_a, ws_b, n), img_a)
    mid = style_mix(style_prior, ws_a, ws_b, n // 2)
    assert mid.shape == (2, 3, 16, 16)
    assert (pixel_distance(mid, img_a) > 1e-3).all() and (pixel_distance(mid, img_b) > 1e-3).all()
    # w codes (B, w_dim) are broadcast over layers; a batch of one is broadcast over the other batch
    w = ws_a[:, 0]
    torch.testing.assert_close(style_mix(style_prior, w, ws_b, n // 2),
                               style_mix(style_prior, w[:, None].expand(-1, n, -1), ws_b, n // 2))
    torch.testing.assert_close(style_mix(style_prior, ws_a[:1], ws_b, n)[1], img_a[0])
    # single-code inversions are accepted through their parameterisation
    param = SingleCode(style_prior, 2)
    with torch.no_grad():
        param.codes.copy_(ws_a)
    torch.testing.assert_close(style_mix(style_prior, param, ws_b, n), img_a)
    sheet = style_mix_grid(style_prior, ws_a, ws_b, [2, 4], tile=32)
    assert sheet.shape[0] == 3 and sheet.shape[2] > 4 * 32 and 0 <= sheet.min() and sheet.max() <= 1


def test_style_mix_errors(style_prior, prior):
    ws = style_prior.sample_latent(1)
    with pytest.raises(GanpriorError, match="has no per-layer styles"):
        style_mix(prior, torch.zeros(1, 8), torch.zeros(1, 8), 1)
    with pytest.raises(GanpriorError, match="crossover must be"):
        style_mix(style_prior, ws, ws, style_prior.num_ws + 1)
    with pytest.raises(GanpriorError, match="styles for"):
        style_mix(style_prior, torch.zeros(1, 3, 8), ws, 1)
    with pytest.raises(GanpriorError, match="one code per image"):
        style_mix(style_prior, MultiCode(style_prior, 1, num_codes=2, layer=1), ws, 1)


# -- feature mixing ------------------------------------------------------------------------------------


def test_feature_mix_adain_gives_b_statistics(results):
    r = results["multi"]
    param = r.parameterization
    mixed, feats = feature_mix(r, r, image_a=0, image_b=1, return_features=True)
    assert mixed.shape == (1, 3, 16, 16) and mixed.min() >= 0 and mixed.max() <= 1
    with torch.no_grad():
        composed = feature_map(param.compose())
    fa, fb, fm = composed[0], composed[1], feature_map(feats)[0]  # (C, H, W)
    torch.testing.assert_close(fm.mean(dim=(1, 2)), fb.mean(dim=(1, 2)), atol=1e-5, rtol=0)
    sa, sb, sm = (f.std(dim=(1, 2), unbiased=False) for f in (fa, fb, fm))
    ok = (sa > 1e-2) & (sb > 1e-2)
    assert ok.sum() >= 2, (sa, sb)
    torch.testing.assert_close(sm[ok], sb[ok], rtol=1e-3, atol=1e-5)
    # normalised structure is A's: the correlation with A's map is 1 per channel
    za = (fa - fa.mean(dim=(1, 2), keepdim=True))[ok].flatten(1)
    zm = (fm - fm.mean(dim=(1, 2), keepdim=True))[ok].flatten(1)
    torch.testing.assert_close(torch.nn.functional.cosine_similarity(za, zm, dim=1), torch.ones(int(ok.sum())))
    with torch.no_grad():
        rendered = param.prior.to_unit(param.prior.tail(feats, param.layer)).clamp(0, 1)
    torch.testing.assert_close(mixed, rendered)
    # A with itself reproduces A
    torch.testing.assert_close(feature_mix(r, r, layer=2, image_a=1, image_b=1)[0], r.raw[1], atol=1e-5, rtol=0)
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(adain(x, x), x)


def test_feature_mix_channels(results):
    r = results["multi"]
    param = r.parameterization
    for fraction, expected in ((1.0, r.raw[0]), (0.0, r.raw[1])):
        mixed = feature_mix(r, r, image_a=0, image_b=1, mode="channels", fraction=fraction)
        torch.testing.assert_close(mixed[0], expected, atol=1e-5, rtol=0)
    with torch.no_grad():
        composed = feature_map(param.compose())
    _, feats = feature_mix(r, r, image_a=0, image_b=1, mode="channels", fraction=0.5, return_features=True)
    fm = feature_map(feats)[0]
    torch.testing.assert_close(fm[:2], composed[0, :2])
    torch.testing.assert_close(fm[2:], composed[1, 2:])
    _, feats = feature_mix(r, r, image_a=0, image_b=1, mode="channels", fraction=0.25, order="importance",
                           return_features=True)
    top = int(param.importance.detach()[0].abs().sum(0).argmax())
    fm = feature_map(feats)[0]
    for c in range(4):
        torch.testing.assert_close(fm[c], composed[0 if c == top else 1, c])


def test_feature_mix_errors(results):
    with pytest.raises(GanpriorError, match="needs a composing method"):
        feature_mix(results["single"], results["multi"])
    with pytest.raises(GanpriorError, match="at layer 2, not layer 1"):
        feature_mix(results["multi"], results["multi"], layer=1)
    with pytest.raises(GanpriorError, match="image B index 5 is out of range"):
        feature_mix(results["multi"], results["multi"], image_b=5)
    with pytest.raises(GanpriorError, match="unknown feature mix mode"):
        feature_mix(results["multi"], results["multi"], mode="swap")
    with pytest.raises(GanpriorError, match="multi-code result"):
        feature_mix(results["subspace"], results["subspace"], mode="channels", order="importance")
    # subspace results compose too
    mixed = feature_mix(results["subspace"], results["multi"], image_a=1, image_b=0)
    assert mixed.shape == (1, 3, 16, 16)


# -- code role maps ------------------------------------------------------------------------------------


def test_code_role_maps(results, prior):
    r = results["multi"]
    maps, rendered = roles = code_role_maps(r, image=1, threshold=0.2)
    assert maps.shape == (3, 16, 16) and rendered.shape == (3, 3, 16, 16)
    assert maps.min() >= 0 and maps.max() == 1 and roles.scale > 0
    assert all(float(m.max()) > 0 for m in maps)  # every importance starts at 1/3 > 0.2
    torch.testing.assert_close(roles.reconstruction, r.raw[1], atol=1e-5, rtol=0)
    # the map is the colour-averaged change, scaled by the one maximum over all maps
    diff = (rendered - roles.reconstruction).abs().mean(1)
    torch.testing.assert_close(maps * roles.scale, diff, atol=1e-6, rtol=0)

    # a code with no importance above the threshold explains nothing: an all-zero map
    param = MultiCode(prior, 1, num_codes=3, layer=1, seed=4)
    with torch.no_grad():
        param.importance.fill_(0.5)
        param.importance[0, 1] = 0.1
        param.importance[0, 2, :3] = 0.2  # exactly the threshold: kept
    maps, rendered = roles = code_role_maps(param, threshold=0.2)
    assert maps.shape == (3, 16, 16)
    assert float(maps[1].abs().max()) == 0.0
    torch.testing.assert_close(rendered[1], roles.reconstruction)
    assert float(maps[0].max()) > 0 and float(maps[2].max()) > 0
    assert float(maps.max()) == 1.0

    sheet = role_sheet(r, image=0, tile=24)
    assert sheet.shape[0] == 3 and sheet.shape[2] > 4 * 24 and 0 <= sheet.min() and sheet.max() <= 1
    assert role_sheet(r, tile=24, show_rendered=False, color=False).shape[1] < sheet.shape[1]


def test_code_role_maps_need_multi_code(results):
    for method in ("single", "subspace", "dgp"):
        with pytest.raises(GanpriorError, match="need a multi-code result"):
            code_role_maps(results[method])
    with pytest.raises(GanpriorError, match="out of range"):
        code_role_maps(results["multi"], image=3)


# -- layer sweep ---------------------------------------------------------------------------------------


def test_layer_sweep_and_plot(tiny_prior, tmp_path):
    with torch.no_grad():
        images = tiny_prior.to_unit(tiny_prior.generate(torch.randn(2, 8, 1, 1))).clamp(0, 1)
    calls = []
    out = layer_sweep(images, tiny_prior, num_codes=(1, 2), steps=3, callback=lambda *a: calls.append(a))
    assert out["layers"] == [1, 2] and out["num_codes"] == [1, 2] and out["steps"] == 3
    assert out["num_images"] == 2 and out["task"] == "reconstruct"
    assert [(run["layer"], run["num_codes"]) for run in out["runs"]] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    for entry in [out["single"], *out["runs"]]:
        assert np.isfinite(entry["psnr"]) and 0 < entry["psnr"] < 100
        assert -1 <= entry["ssim"] <= 1 and entry["seconds"] >= 0
    assert [c[:2] for c in calls] == [(k, 5) for k in range(1, 6)]
    assert calls[0][2]["method"] == "single" and calls[-1][2]["layer"] == 2
    path = plot_layer_sweep(out, tmp_path / "sweep" / "layers.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    with pytest.raises(GanpriorError, match="not a composition layer"):
        layer_sweep(images, tiny_prior, layers=[5], num_codes=(1,), steps=1)
    with pytest.raises(GanpriorError, match="layer sweep needs images"):
        layer_sweep(images[:, :, :8], tiny_prior, steps=1)


def test_style_mix_on_the_stylegan2_fixture_checkpoint():
    """Style mixing runs on a real checkpoint layout (NVlabs ada pickle, random weights)."""
    from ganprior.priors.stylegan2 import load_stylegan2

    from .conftest import shared_path
    prior = load_stylegan2(shared_path("fixtures", "stylegan2-ada-pytorch", "network-snapshot-000000.pkl"))
    prior.use_latent_space("w+")
    g = torch.Generator().manual_seed(1)
    ws_a, ws_b = prior.sample_latent(1, g), prior.sample_latent(1, g)
    with torch.no_grad():
        img_a = prior.to_unit(prior.generate(ws_a)).clamp(0, 1)
        img_b = prior.to_unit(prior.generate(ws_b)).clamp(0, 1)
    torch.testing.assert_close(style_mix(prior, ws_a, ws_b, 0), img_b)
    torch.testing.assert_close(style_mix(prior, ws_a, ws_b, prior.num_ws), img_a)
    mid = style_mix(prior, ws_a, ws_b, prior.num_ws // 2)
    assert mid.shape == img_a.shape and (mid - img_a).abs().max() > 1e-3 and (mid - img_b).abs().max() > 1e-3


# -- non-linear (flow) directions ------------------------------------------------------------------


@pytest.fixture(scope="module")
def flow(prior):
    """An MLP flow for the tiny prior's (8, 1, 1) codes: the attribute is the sign of z0 * z1."""
    from ganprior.editing import fit_flow_direction
    z = torch.randn(600, 8, 1, 1, generator=torch.Generator().manual_seed(0))
    return fit_flow_direction(z, (z[:, 0, 0, 0] * z[:, 1, 0, 0] > 0).long(), name="xor", epochs=20, hidden=(16, 16),
                              lr=3e-3)


@pytest.mark.parametrize("method", ["single", "multi", "subspace", "dgp"])
def test_flow_edit_strength_zero_is_the_reconstruction(results, flow, method):
    r = results[method]
    frames = edit_frames(r, flow, [-1.0, 0.0, 1.0], image=1)
    torch.testing.assert_close(frames[1], r.raw[1], atol=1e-5, rtol=0)
    assert (pixel_distance(frames[[0, 2]], frames[1:2]) > 1e-4).all()


def test_flow_edit_moves_each_code_along_its_own_path(results, prior, flow):
    single, multi = results["single"], results["multi"]
    s = [-1.0, 0.5, 1.0]
    code = single.parameterization.codes.detach()[0]
    moved = flow.move(code, s)
    with torch.no_grad():
        expected = prior.to_unit(prior.generate(moved)).clamp(0, 1)
    torch.testing.assert_close(edit_frames(single, flow, s, image=0), expected, atol=1e-5, rtol=0)
    assert (flow.logit(moved).diff().sign() == torch.tensor([1.0, 1.0])).all()
    # multi-code: all N codes move, each by its own path (not one shared vector), importances kept
    param = multi.parameterization
    codes = param.codes.detach()[1]                     # (N, 8, 1, 1)
    paths = flow.move(codes, [1.0])[0]
    steps = (paths - codes).flatten(1)
    assert not torch.allclose(steps[0], steps[1], atol=1e-3)
    own = {n: p.detach()[1:2] for n, p in param.named_parameters()}
    own["codes"] = paths[None]
    with torch.no_grad():
        expected = prior.to_unit(torch.func.functional_call(param, own, ())).clamp(0, 1)
    torch.testing.assert_close(edit_frames(multi, flow, [1.0], image=1), expected, atol=1e-5, rtol=0)


def test_flow_edit_errors(results, flow):
    import dataclasses

    from ganprior.editing import AttributeMLP, FlowDirection
    wrong = FlowDirection("wide", AttributeMLP(5, (4,)), shape=(5, 1, 1))
    with pytest.raises(GanpriorError, match=r"shape \(5, 1, 1\)"):
        edit_frames(results["single"], wrong, [1.0])
    with pytest.raises(GanpriorError, match="w-space flow"):
        edit_frames(results["single"], dataclasses.replace(flow, space="w"), [1.0])
    with pytest.raises(GanpriorError, match="finite numbers"):
        edit_frames(results["single"], flow, [float("inf")])
