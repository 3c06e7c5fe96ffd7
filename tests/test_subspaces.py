import numpy as np
import pytest
import torch

from ganprior import cli
from ganprior.errors import GanpriorError
from ganprior.inversion import invert
from ganprior.inversion.subspace import SubspaceCode
from ganprior.physics.masks import center_box_mask
from ganprior.tasks import build_degradation
from ganprior.subspaces import Subspaces, cluster_channels, discover_subspaces


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANPRIOR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_spectral_clustering_recovers_blocks():
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1, 2], 5)
    a = rng.uniform(0, 0.05, (15, 15))
    a[truth[:, None] == truth[None, :]] += 1.0
    a = (a + a.T) / 2
    perm = rng.permutation(15)
    labels = cluster_channels(a[np.ix_(perm, perm)], 3, seed=0)
    found = labels[np.argsort(perm)]
    # same partition as the truth, whatever the label names
    assert all(len(set(found[truth == g])) == 1 for g in range(3)) and len(set(found)) == 3
    with pytest.raises(GanpriorError, match="number of subspaces"):
        cluster_channels(a, 16)


def test_discovery_is_repeatable_and_cached(tiny_prior, cache):
    a = discover_subspaces(tiny_prior, 2, 2, steps=30, seed=3)
    assert a.path is not None and a.path.exists() and a.path.with_suffix(".png").exists()
    assert np.all(np.diag(a.self_expression) == 0)
    assert sorted(set(a.groups.tolist())) == [0, 1] and len(a.groups) == 4
    b = discover_subspaces(tiny_prior, 2, 2, steps=30, seed=3, cache=False)
    np.testing.assert_array_equal(a.self_expression, b.self_expression)
    np.testing.assert_array_equal(a.groups, b.groups)
    c = discover_subspaces(tiny_prior, 2, 2, steps=30, seed=3)  # from the cache file
    np.testing.assert_array_equal(c.self_expression, a.self_expression)
    assert c.path == a.path


@pytest.mark.integration
def test_self_expression_learns_on_a_wide_layer(tiny_prior, cache):
    sub = discover_subspaces(tiny_prior, 1, 2, steps=150, lr=1e-2, sparsity_weight=0.01, cache=False)
    assert sub.history[-1] < sub.history[0]
    assert np.abs(sub.self_expression).sum() > 0


def subspaces_for(prior, layer=1):
    c = prior.composition_layers[layer]
    groups = np.array([0, 1] * (c // 2))
    return Subspaces(layer, 2, groups, np.zeros((c, c)), np.zeros(1))


def test_composition_matches_equations(tiny_prior):
    sub = subspaces_for(tiny_prior)
    m = SubspaceCode(tiny_prior, 2, layer=1, subspaces=sub, num_codes=3)
    with torch.no_grad():
        m.weights.uniform_(0.2, 1.5)
        got = m.compose()
        w = torch.tanh(m.weights)
        expected = torch.zeros_like(got)
        for r in range(2):
            mask = torch.as_tensor(sub.groups == r, dtype=torch.float32)[None, :, None, None]
            num = sum(tiny_prior.head(m.codes[:, r, k], 1) * mask * w[:, k, :, None, None] for k in range(3))
            expected += num * mask
        expected = expected / w.sum(1)[..., None, None]
        torch.testing.assert_close(got, expected)
    assert m.codes.shape == (2, 2, 3, 8, 1, 1) and m.weights.shape == (2, 3, 8)


@pytest.mark.parametrize("task", ["reconstruct", "colorize+inpaint"])
def test_subspace_method_runs_every_task(tiny_prior, task):
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        x = tiny_prior.to_unit(tiny_prior.generate(torch.randn(2, 8, 1, 1, generator=g))).clamp(0, 1)
    deg = build_degradation(task, 16, mask=center_box_mask(16))
    r = invert(deg.A(x), deg, tiny_prior, method="subspace", steps=40, layer=1, subspaces=subspaces_for(tiny_prior))
    assert (r.history[-1] < r.history[0]).all()
    assert set(r.params) == {"codes", "weights"}


def test_wrong_layer_subspaces(tiny_prior):
    with pytest.raises(GanpriorError, match="found for layer 1"):
        SubspaceCode(tiny_prior, 1, layer=2, subspaces=subspaces_for(tiny_prior, 1))


@pytest.mark.integration
def test_cli_subspaces_and_method(tmp_path, capsys, cache, tiny_checkpoint, face_pngs):
    code = cli.main(["subspaces", "--prior", str(tiny_checkpoint), "--layer", "2", "--num-subspaces", "2",
                     "--steps", "3000", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "2 subspaces" in out and "cached:" in out
    code = cli.main(["reconstruct", str(face_pngs[0]), "--simulate", "--out", str(tmp_path / "o"), "--prior",
                     str(tiny_checkpoint), "--method", "subspace", "--subspaces", "2", "--layer", "2", "--codes", "2",
                     "--steps", "3", "--quiet", "--perceptual", "0"])
    assert code == 0, capsys.readouterr().err
    code = cli.main(["subspaces", "--prior", str(tiny_checkpoint), "--layer", "2", "--num-subspaces", "9"])
    assert code == 2 and "number of subspaces" in capsys.readouterr().err


def test_self_expression_is_shared_across_subspace_counts(tiny_prior, cache, monkeypatch):
    discover_subspaces(tiny_prior, 1, 2, steps=20)
    import ganprior.subspaces as mod

    def fail(*a, **k):
        raise AssertionError("S was trained again")

    monkeypatch.setattr(mod, "learn_self_expression", fail)
    three = discover_subspaces(tiny_prior, 1, 3, steps=20)
    assert sorted(set(three.groups.tolist())) == [0, 1, 2]


def test_feature_interpolation_endpoints_and_smoothness(tiny_prior):
    from ganprior.editing import feature_interpolation, max_jump
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        x = tiny_prior.to_unit(tiny_prior.generate(torch.randn(2, 8, 1, 1, generator=g))).clamp(0, 1)
    r = invert(x, build_degradation("reconstruct", 16), tiny_prior, method="multi", steps=5, layer=1, num_codes=3)
    frames = feature_interpolation(r.parameterization, frames=5)
    assert frames.shape == (5, 3, 16, 16)
    torch.testing.assert_close(frames[0], r.raw[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(frames[-1], r.raw[1], atol=1e-5, rtol=0)
    fine = max_jump(feature_interpolation(r.parameterization, frames=9))
    assert 0 < fine < max_jump(frames)  # more frames, smaller steps
    single = invert(x, build_degradation("reconstruct", 16), tiny_prior, method="single", steps=2)
    with pytest.raises(GanpriorError, match="composing method"):
        feature_interpolation(single.parameterization)


@pytest.mark.integration
def test_cli_interpolate(tmp_path, capsys, tiny_checkpoint, face_pngs):
    import json
    code = cli.main(["interpolate", str(face_pngs[0]), str(face_pngs[1]), "--out", str(tmp_path / "i"), "--prior",
                     str(tiny_checkpoint), "--steps", "3", "--layer", "1", "--codes", "2", "--frames", "4",
                     "--perceptual", "0"])
    assert code == 0, capsys.readouterr().err
    stats = json.loads((tmp_path / "i" / "smoothness.json").read_text())
    assert stats["frames"] == 4 and stats["max_jump_rmse"] > 0 and stats["max_jump_lpips"] >= 0
    assert len(list((tmp_path / "i").glob("frame_*.png"))) == 4
    assert (tmp_path / "i" / "interpolation.gif").exists() and (tmp_path / "i" / "strip.png").exists()
