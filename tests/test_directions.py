"""Latent directions: InterFaceGAN boundaries, SeFa closed-form and GANSpace PCA directions,
saving / loading, and checking against priors. Tiny random priors only."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganprior.editing.directions import (Direction, active_space, closed_form_directions, fit_direction,
                                         latent_projection, load_direction, pca_directions)
from ganprior.errors import GanpriorError
from ganprior.priors import DCGANPrior
from ganprior.priors.base import Prior
from ganprior.priors.biggan import BigGANArchitecture, BigGANPrior
from ganprior.priors.pggan import PGGANPrior
from ganprior.priors.stylegan2 import StyleGAN2Prior, load_stylegan2

from .conftest import shared_path


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.reshape(-1).double(), b.reshape(-1).double()
    return float(a @ b / (a.norm() * b.norm()))


def assert_orthonormal(directions: list[Direction]) -> None:
    m = torch.stack([d.vector.reshape(-1).double() for d in directions])
    assert torch.allclose(m @ m.t(), torch.eye(len(directions), dtype=torch.float64), atol=1e-5)


def separable(n: int = 800, dim: int = 16, bias: float = 0.3, seed: int = 0):
    """Gaussian codes labelled by a known hyperplane ``<normal, x> + bias > 0``."""
    g = torch.Generator().manual_seed(seed)
    normal = F.normalize(torch.randn(dim, generator=g), dim=0)
    codes = torch.randn(n, dim, generator=g)
    return codes, (codes @ normal + bias > 0).long(), normal


@pytest.fixture(scope="module")
def stylegan2() -> StyleGAN2Prior:
    return StyleGAN2Prior.random(resolution=8, z_dim=12, w_dim=10, channels=8, seed=0)


@pytest.fixture(autouse=True)
def _w_space_reset(request):
    yield
    if "stylegan2" in request.fixturenames:
        request.getfixturevalue("stylegan2").use_latent_space("z")


def tiny_biggan() -> BigGANPrior:
    torch.manual_seed(0)
    arch = BigGANArchitecture(num_classes=5, embedding_dim=6, chunk_dim=3, stem_dim=3, bottom_width=4,
                              stage_channels=((16, 16), (16, 8)), attention=(False, False),
                              shortcut_convs=(True, True))
    return BigGANPrior(arch, name="tiny-biggan").eval()


def dcgan_with_spectrum(spectrum=(10.0, 3.0, 2.0, 1.0, 0.5, 0.2), seed: int = 0):
    """An 8x8 DCGAN whose first layer is A = U diag(spectrum) V^T, ``(4 ch * 16, 6)``: returns (prior, V)."""
    g = torch.Generator().manual_seed(seed)
    d = len(spectrum)
    prior = DCGANPrior(latent_dim=d, width=4, resolution=8).eval()
    v, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    u, _ = torch.linalg.qr(torch.randn(64, d, generator=g, dtype=torch.float64))
    a = u @ torch.diag(torch.tensor(spectrum, dtype=torch.float64)) @ v.t()     # (64, d)
    with torch.no_grad():
        prior.net[0][0].weight.copy_(a.t().reshape(d, 4, 4, 4).float())
    return prior, v


class LinearHeadPrior(Prior):
    """A custom prior (no known family) whose layer-1 head is the linear map of a weight ``(D, C, 4, 4)``."""

    name = "linear-head"

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = torch.nn.Parameter(weight.detach().clone())
        self.latent_shape = (weight.shape[0],)
        self.resolution = 4

    @property
    def composition_layers(self) -> dict[int, int]:
        return {1: self.weight.shape[1]}

    @property
    def blocks(self) -> list:
        return []

    def head(self, z: torch.Tensor, layer: int) -> torch.Tensor:
        return F.conv_transpose2d(z.reshape(z.shape[0], -1, 1, 1), self.weight)

    def tail(self, features, layer: int) -> torch.Tensor:
        return features[:, :3]


# -- InterFaceGAN ------------------------------------------------------------------------------

@pytest.mark.parametrize("classifier", ["svm", "logistic"])
def test_fit_direction_recovers_known_normal(classifier):
    codes, labels, normal = separable()
    d = fit_direction(codes.reshape(-1, 16, 1, 1), labels, name="smile", classifier=classifier,
                      meta={"attribute": "smile"})
    assert d.vector.shape == (16, 1, 1) and abs(float(d.vector.norm()) - 1) < 1e-6
    assert cos(d.vector, normal) > 0.95
    assert d.accuracy is not None and d.accuracy > 0.95
    assert d.source == "supervised" and d.space == "z" and d.name == "smile"
    # the intercept is on the unit normal's scale: the true boundary is <n, x> + 0.3 = 0
    assert abs(d.offset - 0.3) < 0.15
    assert d.meta["attribute"] == "smile" and d.meta["classifier"] == classifier
    assert d.meta["num_holdout"] == 160 and d.meta["num_train"] == 640   # 20 % of each class held out
    json.dumps(d.meta)


def test_fit_direction_seeded_and_without_holdout():
    codes, labels, _ = separable(seed=3)
    a = fit_direction(codes, labels, name="a", seed=1)
    b = fit_direction(codes, labels, name="b", seed=1)
    assert torch.equal(a.vector, b.vector) and a.accuracy == b.accuracy
    c = fit_direction(codes, labels, name="c", holdout_fraction=0)
    assert c.accuracy is None and c.meta["num_holdout"] == 0 and c.meta["train_accuracy"] > 0.95


def test_fit_direction_ordinal_tertiles_point_to_high_labels():
    g = torch.Generator().manual_seed(1)
    normal = F.normalize(torch.randn(12, generator=g), dim=0)
    codes = torch.randn(600, 12, generator=g)
    age = 40 + 15 * (codes @ normal) + torch.randn(600, generator=g)
    d = fit_direction(codes, age, name="age", attribute_kind="ordinal", classifier="logistic")
    low, high = np.quantile(age.numpy().astype(np.float64), [1 / 3, 2 / 3])
    assert d.meta["thresholds"] == pytest.approx([low, high])
    kept = int(((age <= low) | (age >= high)).sum())
    assert d.meta["num_codes"] == kept and d.meta["num_dropped"] == 600 - kept
    assert 390 <= kept <= 410                                   # the middle third is dropped
    assert cos(d.vector, normal) > 0.95                          # toward the high (old) labels
    assert d.accuracy > 0.95
    # explicit thresholds
    e = fit_direction(codes, age, name="age", attribute_kind="ordinal", thresholds=(30, 50))
    assert e.meta["thresholds"] == [30.0, 50.0]
    assert e.meta["num_codes"] == int(((age <= 30) | (age >= 50)).sum())
    assert cos(e.vector, normal) > 0.9


@pytest.mark.parametrize("codes, labels, message", [
    (torch.randn(50, 4), torch.zeros(50), "single class"),
    (torch.randn(50, 4), torch.tensor([1] * 5 + [0] * 45), "too few codes per class"),
    (torch.full((50, 4), float("nan")), torch.tensor([1, 0] * 25), "NaN"),
    (torch.randn(50, 4), torch.tensor([1, 0] * 20), "differ in length: 50 codes, 40 labels"),
    (torch.randn(50, 4), torch.arange(50) % 3, "binary labels must be 0 or 1"),
    (torch.randn(50), torch.tensor([1, 0] * 25), "codes must be (M, *latent_shape)"),
])
def test_fit_direction_errors(codes, labels, message):
    with pytest.raises(GanpriorError, match=re.escape(message)):
        fit_direction(codes, labels, name="x")


def test_fit_direction_argument_errors():
    codes, labels, _ = separable(n=60)
    with pytest.raises(GanpriorError, match="unknown classifier 'tree'"):
        fit_direction(codes, labels, name="x", classifier="tree")
    with pytest.raises(GanpriorError, match="low <= high"):
        fit_direction(codes, labels.float(), name="x", attribute_kind="ordinal", thresholds=(2, 1))
    with pytest.raises(GanpriorError, match="holdout_fraction"):
        fit_direction(codes, labels, name="x", holdout_fraction=1.0)


# -- SeFa -------------------------------------------------------------------------------------

def test_sefa_recovers_dominant_singular_vectors():
    prior, v = dcgan_with_spectrum()
    a = latent_projection(prior)
    assert a.shape == (64, 6)
    dirs = closed_form_directions(prior, k=3)
    assert [d.name for d in dirs] == ["sefa-0", "sefa-1", "sefa-2"]
    for i, d in enumerate(dirs):
        assert d.vector.shape == (6, 1, 1) and d.space == "z" and d.source == "closed-form"
        assert abs(cos(d.vector, v[:, i])) > 0.99
        flat = d.vector.reshape(-1)
        assert flat[flat.abs().argmax()] > 0                     # deterministic sign
    assert [d.meta["eigenvalue"] for d in dirs] == pytest.approx([100.0, 9.0, 4.0], rel=1e-4)
    assert dirs[0].meta["method"] == "sefa"
    assert_orthonormal(dirs)


def test_jacobian_fallback_matches_weight_projection():
    prior, v = dcgan_with_spectrum(seed=2)
    custom = LinearHeadPrior(prior.net[0][0].weight)
    a = latent_projection(custom)
    # same operator up to a permutation of the rows (both are (C*16, D) views of the same map)
    assert torch.allclose(a.t() @ a, latent_projection(prior).t() @ latent_projection(prior), atol=1e-4)
    jac, ref = closed_form_directions(custom, k=4), closed_form_directions(prior, k=4)
    for d, r in zip(jac, ref):
        assert d.meta["method"] == "jacobian" and d.vector.shape == (6,)
        assert abs(cos(d.vector, r.vector)) > 0.999
        assert d.meta["eigenvalue"] == pytest.approx(r.meta["eigenvalue"], rel=1e-4)
    assert_orthonormal(jac)


def test_jacobian_forced_on_dcgan_runs(tiny_prior):
    dirs = closed_form_directions(tiny_prior, k=2, method="jacobian")
    assert all(d.meta["method"] == "jacobian" and abs(float(d.vector.norm()) - 1) < 1e-6 for d in dirs)
    assert tiny_prior.training is False


def _check_sefa(prior: Prior, k: int, space: str, shape: tuple) -> list[Direction]:
    dirs = closed_form_directions(prior, k=k)
    values = [d.meta["eigenvalue"] for d in dirs]
    assert values == sorted(values, reverse=True) and values[-1] > 0
    assert all(d.space == space and d.vector.shape == shape for d in dirs)
    assert_orthonormal(dirs)
    return dirs


def test_sefa_on_each_family(tiny_prior, stylegan2):
    _check_sefa(tiny_prior, 3, "z", (8, 1, 1))
    pggan = PGGANPrior.random(latent_dim=8, stage_channels=(8, 4))
    assert latent_projection(pggan).shape == (8 * 16, 8)
    _check_sefa(pggan, 3, "z", (8,))
    biggan = tiny_biggan()
    # stem (16 ch x 4 x 4 rows, chunk 0) + per stage 2 norms x (gain, bias), each on its own chunk
    a = latent_projection(biggan)
    assert a.shape == (256 + 2 * (16 + 16) + 2 * (16 + 8), 9)
    assert a.shape[1] == 9 and torch.count_nonzero(a[:256, 3:]) == 0   # the stem reads only chunk 0
    _check_sefa(biggan, 3, "z", (9,))


def test_sefa_stylegan2_w_spaces_and_z_error(stylegan2):
    with pytest.raises(GanpriorError, match="z space.*use_latent_space"):
        closed_form_directions(stylegan2, k=2)
    stylegan2.use_latent_space("w")
    a = latent_projection(stylegan2)
    # affines: 4x4 conv + torgb, 8x8 conv_up + conv + torgb, all with 8 input channels
    assert a.shape == (5 * 8, 10)
    w_dirs = _check_sefa(stylegan2, 3, "w", (10,))
    stylegan2.use_latent_space("w+")
    wp_dirs = _check_sefa(stylegan2, 3, "w", (10,))               # w vectors, usable on w+
    assert all(torch.equal(a.vector, b.vector) for a, b in zip(w_dirs, wp_dirs))
    assert wp_dirs[0].as_latent(stylegan2).shape == (stylegan2.num_ws, 10)
    # the Jacobian of the first block w.r.t. a whole w+ code gives w+ directions
    jac = closed_form_directions(stylegan2, k=2, method="jacobian")
    assert all(d.space == "w+" and d.vector.shape == (4, 10) and d.meta["method"] == "jacobian" for d in jac)
    assert float(jac[0].vector[2:].abs().max()) == 0        # block 1 reads only ws[0:2]


def test_sefa_on_stylegan2_ada_fixture():
    prior = load_stylegan2(shared_path("fixtures", "stylegan2-ada-pytorch", "network-snapshot-000000.pkl"))
    with pytest.raises(GanpriorError, match="mapping network is nonlinear"):
        closed_form_directions(prior)
    prior.use_latent_space("w")
    dirs = _check_sefa(prior, 4, "w", (prior.latent_shape[0],))
    assert dirs[0].meta["projection_shape"][1] == prior.latent_shape[0]


def test_sefa_k_out_of_range(tiny_prior):
    with pytest.raises(GanpriorError, match="between 1 and the latent size 8"):
        closed_form_directions(tiny_prior, k=9)


# -- GANSpace ---------------------------------------------------------------------------------

def test_pca_z_space_ratios_and_determinism(tiny_prior):
    dirs = pca_directions(tiny_prior, k=4, num_samples=400, batch=150)
    ratios = [d.meta["explained_variance_ratio"] for d in dirs]
    assert ratios == sorted(ratios, reverse=True) and 0 < sum(ratios) <= 1
    assert all(d.space == "z" and d.vector.shape == (8, 1, 1) and d.source == "pca" for d in dirs)
    assert all(abs(float(d.vector.norm()) - 1) < 1e-6 for d in dirs)
    assert [d.name for d in dirs] == ["pca-0", "pca-1", "pca-2", "pca-3"]
    again = pca_directions(tiny_prior, k=4, num_samples=400, batch=150)
    assert all(torch.equal(a.vector, b.vector) for a, b in zip(dirs, again))
    other = pca_directions(tiny_prior, k=4, num_samples=400, batch=150, seed=1)
    assert not torch.equal(dirs[0].vector, other[0].vector)


def test_pca_of_linear_features_finds_the_singular_vectors():
    """For a linear head F = A z with z ~ N(0, I), the feature PCs regressed back to z are A's right
    singular vectors (the SeFa directions)."""
    prior, v = dcgan_with_spectrum(spectrum=(8.0, 4.0, 2.0, 1.0, 0.5, 0.25), seed=4)
    custom = LinearHeadPrior(prior.net[0][0].weight)
    dirs = pca_directions(custom, k=3, num_samples=1500, batch=500)
    for i, d in enumerate(dirs):
        assert abs(cos(d.vector, v[:, i])) > 0.98
    ratios = [d.meta["explained_variance_ratio"] for d in dirs]
    expected = np.array([64, 16, 4]) / (64 + 16 + 4 + 1 + 0.25 + 0.0625)
    assert ratios == pytest.approx(expected, abs=0.03)


def test_pca_w_space_matches_numpy(stylegan2):
    stylegan2.use_latent_space("w")
    dirs = pca_directions(stylegan2, k=3, num_samples=300, batch=100, seed=5)
    g = torch.Generator().manual_seed(5)
    w = torch.cat([stylegan2.sample_latent(100, g) for _ in range(3)]).double().numpy()
    w -= w.mean(axis=0)
    _, s, vt = np.linalg.svd(w, full_matrices=False)
    ratios = s ** 2 / (s ** 2).sum()
    for i, d in enumerate(dirs):
        assert d.space == "w" and d.vector.shape == (10,)
        assert abs(cos(d.vector, torch.from_numpy(vt[i]))) > 0.999
        assert d.meta["explained_variance_ratio"] == pytest.approx(ratios[i], rel=1e-4)
    stylegan2.use_latent_space("w+")
    wp = pca_directions(stylegan2, k=3, num_samples=300, batch=100, seed=5)
    assert all(b.space == "w" and abs(cos(a.vector, b.vector)) > 0.999 for a, b in zip(dirs, wp))


def test_pca_on_biggan_and_errors(tiny_prior):
    dirs = pca_directions(tiny_biggan(), k=2, num_samples=120, batch=60)
    assert all(d.vector.shape == (9,) and d.space == "z" for d in dirs)
    with pytest.raises(GanpriorError, match="num_samples must exceed k"):
        pca_directions(tiny_prior, k=5, num_samples=5)
    with pytest.raises(GanpriorError, match="k must be at least 1"):
        pca_directions(tiny_prior, k=0)


# -- files and compatibility -----------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    codes, labels, _ = separable(n=120)
    d = fit_direction(codes, labels, name="smile", meta={"prior": "dcgan", "attribute": "smile",
                                                          "np_value": np.float32(0.5)})
    path = d.save(tmp_path / "smile.npz")
    back = load_direction(path)
    assert torch.equal(back.vector, d.vector) and back.vector.dtype == torch.float32
    assert (back.name, back.space, back.source) == ("smile", "z", "supervised")
    assert back.accuracy == d.accuracy and back.offset == d.offset
    assert back.meta["attribute"] == "smile" and back.meta["np_value"] == 0.5
    assert back.meta["class_counts"] == d.meta["class_counts"]
    assert not list(tmp_path.glob("*.part"))


def test_load_external_boundary(tmp_path, tiny_prior, stylegan2):
    raw = np.arange(1, 9, dtype=np.float64).reshape(1, 8)
    np.save(tmp_path / "stylegan_ffhq_smile_boundary.npy", raw)
    d = load_direction(tmp_path / "stylegan_ffhq_smile_boundary.npy")
    assert d.name == "stylegan_ffhq_smile_boundary" and d.source == "external" and d.space == "z"
    assert d.vector.shape == (8,) and abs(float(d.vector.norm()) - 1) < 1e-6
    assert cos(d.vector, torch.from_numpy(raw)) > 1 - 1e-9
    assert d.meta["original_norm"] == pytest.approx(float(np.linalg.norm(raw)))
    # with a DCGAN prior: reshaped to its latent shape (8, 1, 1)
    assert load_direction(tmp_path / "stylegan_ffhq_smile_boundary.npy", tiny_prior).check(tiny_prior)
    # a (D,) boundary of w size on a StyleGAN2 prior in w+ space is a w direction
    np.save(tmp_path / "age.npy", np.ones(10, dtype=np.float32))
    stylegan2.use_latent_space("w+")
    w = load_direction(tmp_path / "age.npy", stylegan2)
    assert w.space == "w" and w.vector.shape == (10,)
    assert torch.allclose(w.as_latent(stylegan2), torch.full((4, 10), 1 / math.sqrt(10)))
    # a per-layer (1, num_ws, w_dim) boundary is a w+ direction
    np.save(tmp_path / "pose_wp.npy", np.arange(40, dtype=np.float32).reshape(1, 4, 10) + 1)
    wp = load_direction(tmp_path / "pose_wp.npy", stylegan2)
    assert wp.space == "w+" and wp.check(stylegan2).vector.shape == (4, 10)
    with pytest.raises(GanpriorError, match=r"pose_wp\.npy: a boundary must have shape \(1, D\) or \(D,\)"):
        load_direction(tmp_path / "pose_wp.npy")


def test_load_errors_name_the_file(tmp_path, tiny_prior):
    np.save(tmp_path / "wide.npy", np.ones((2, 8)))
    with pytest.raises(GanpriorError, match=r"wide\.npy.*\(1, D\) or \(D,\)"):
        load_direction(tmp_path / "wide.npy")
    np.save(tmp_path / "short.npy", np.ones((1, 5)))
    with pytest.raises(GanpriorError, match=r"short\.npy.*\(1, 8\) or \(8,\), got \(1, 5\)"):
        load_direction(tmp_path / "short.npy", tiny_prior)
    (tmp_path / "junk.npy").write_bytes(b"\x00\x01not an array at all" * 10)
    with pytest.raises(GanpriorError, match=r"junk\.npy: not a NumPy \.npy or \.npz array"):
        load_direction(tmp_path / "junk.npy")
    Direction("d", torch.ones(8)).save(tmp_path / "cut.npz")
    data = (tmp_path / "cut.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(GanpriorError, match=r"cut\.npz"):
        load_direction(tmp_path / "cut.npz")
    np.savez(tmp_path / "other.npz", weights=np.ones(3))
    with pytest.raises(GanpriorError, match=r"other\.npz is not a ganprior direction file"):
        load_direction(tmp_path / "other.npz")
    np.save(tmp_path / "zero.npy", np.zeros(8))
    with pytest.raises(GanpriorError, match=r"zero\.npy"):
        load_direction(tmp_path / "zero.npy")
    with pytest.raises(GanpriorError, match="direction file not found"):
        load_direction(tmp_path / "missing.npy")
    for f in ("wide", "short", "junk"):
        try:
            load_direction(tmp_path / f"{f}.npy", tiny_prior)
        except GanpriorError as e:
            assert "\n" not in str(e)


def test_check_and_as_latent(tiny_prior, stylegan2):
    d = Direction("d", torch.ones(8, 1, 1) * 2, offset=4.0)
    assert abs(float(d.vector.norm()) - 1) < 1e-6 and d.offset == pytest.approx(4 / math.sqrt(32))
    assert d.check(tiny_prior) is d and active_space(tiny_prior) == "z"
    with pytest.raises(GanpriorError, match=r"shape \(5,\) but prior 'dcgan-random' takes z codes of shape \(8, 1, 1\)"):
        Direction("e", torch.ones(5)).check(tiny_prior)
    with pytest.raises(GanpriorError, match="w-space direction but prior 'dcgan-random' uses z codes"):
        Direction("e", torch.ones(8), space="w").as_latent(tiny_prior)
    assert Direction("flat", torch.ones(8)).as_latent(tiny_prior).shape == (8, 1, 1)
    w = Direction("w", torch.arange(10.0) + 1, space="w")
    stylegan2.use_latent_space("w+")
    with pytest.raises(GanpriorError, match="as_latent"):
        w.check(stylegan2)
    wp = w.as_latent(stylegan2)
    assert wp.shape == (4, 10) and all(torch.equal(row, w.vector) for row in wp)
    with pytest.raises(GanpriorError, match=r"z-space direction.*uses w\+ codes.*use_latent_space\('z'\)"):
        Direction("z", torch.ones(12)).as_latent(stylegan2)
    stylegan2.use_latent_space("w")
    assert w.check(stylegan2) is w
    with pytest.raises(GanpriorError, match="the vector is zero"):
        Direction("zero", torch.zeros(3))
    with pytest.raises(GanpriorError, match="unknown latent space 'q'"):
        Direction("q", torch.ones(3), space="q")


def test_conditional_direction_projects_out_the_conditions():
    """InterFaceGAN conditional manipulation: the result is unit norm, orthogonal to every
    condition, and keeps the part of the direction outside their span."""
    from ganprior.editing import Direction, conditional_direction
    from ganprior.errors import GanpriorError
    e = torch.eye(4)
    age = Direction("age", e[0] + e[1], space="z", source="supervised", accuracy=0.9)
    gender = Direction("gender", e[1], space="z", source="supervised")
    other = Direction("other", e[1] + e[2], space="z", source="supervised")
    c = conditional_direction(age, gender)
    torch.testing.assert_close(c.vector, e[0])
    assert c.meta["conditioned_on"] == ["gender"] and abs(c.meta["cosine_to_conditions"]["gender"] - 2 ** -0.5) < 1e-6
    assert c.accuracy is None and c.meta["unconditioned_accuracy"] == 0.9
    two = conditional_direction(Direction("x", torch.ones(4), space="z"), gender, other)
    assert abs(float(two.vector.norm()) - 1) < 1e-6
    assert abs(float(two.vector @ e[1])) < 1e-6 and abs(float(two.vector @ e[2])) < 1e-6
    torch.testing.assert_close(two.vector, (e[0] + e[3]) / 2 ** 0.5)
    with pytest.raises(GanpriorError, match="span of its conditions"):
        conditional_direction(gender, other, Direction("e2", e[2], space="z"))
    with pytest.raises(GanpriorError, match="does not match"):
        conditional_direction(age, Direction("w", e[0], space="w"))
    with pytest.raises(GanpriorError, match="at least one condition"):
        conditional_direction(age)


# -- non-linear directions: MLP attribute models and their gradient flow ------------------------------

from ganprior.editing.nonlinear import (AttributeMLP, FlowDirection, conditional_flow,  # noqa: E402
                                        fit_flow_direction)


def ring(n: int = 1500, dim: int = 6, seed: int = 0):
    """Gaussian codes labelled by the radius of their first two components: no hyperplane separates
    them (a linear boundary is near chance), a small MLP does."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    r2 = x[:, 0] ** 2 + x[:, 1] ** 2
    return x, (r2 > r2.median()).long(), r2


@pytest.fixture(scope="module")
def ring_flow():
    x, y, _ = ring()
    return fit_flow_direction(x, y, name="ring", epochs=60, hidden=(32, 32), lr=3e-3, weight_decay=0.0)


@pytest.mark.integration
def test_mlp_separates_what_a_linear_boundary_cannot(ring_flow):
    x, y, _ = ring()
    linear = fit_direction(x, y, name="ring", classifier="logistic")
    assert linear.accuracy < 0.65
    assert ring_flow.accuracy > 0.9 and ring_flow.accuracy > linear.accuracy + 0.25
    assert ring_flow.meta["target"] == "classes" and ring_flow.meta["num_holdout"] == 300
    assert ring_flow.shape == (6,) and ring_flow.space == "z" and ring_flow.source == "supervised"
    # deterministic for a seed
    again = fit_flow_direction(x, y, name="ring", epochs=60, hidden=(32, 32), lr=3e-3, weight_decay=0.0)
    assert again.accuracy == ring_flow.accuracy
    torch.testing.assert_close(again.logit(x[:50]), ring_flow.logit(x[:50]), atol=0, rtol=0)


@pytest.mark.integration
def test_mlp_regression_of_scores_keeps_the_split_and_orders_codes():
    x, y, r2 = ring()
    flow = fit_flow_direction(x, y, name="ring", scores=r2, score_center=float(r2.median()), epochs=60,
                              hidden=(32, 32), lr=3e-3, weight_decay=0.0)
    assert flow.meta["target"] == "scores" and flow.accuracy > 0.9
    # the logit grows with the score it regresses, also far from the boundary
    logit = flow.logit(x)
    assert float(torch.corrcoef(torch.stack([logit, r2]))[0, 1]) > 0.9
    # ordinal labels as scores: codes between the thresholds train the model, the held-out ones do not
    ages = 40 + 10 * x[:, 0]
    ordinal = fit_flow_direction(x, ages, name="age", attribute_kind="ordinal", thresholds=(35, 45), scores=ages,
                                 epochs=60, hidden=(16,), lr=3e-3)
    assert ordinal.accuracy > 0.95 and ordinal.meta["score_center"] == 40.0
    assert ordinal.meta["num_train"] > ordinal.meta["num_codes"] - ordinal.meta["num_holdout"]


def test_flow_path_raises_the_logit_monotonically(ring_flow):
    x, _, _ = ring(n=20, seed=5)
    strengths = [-1.0, -0.5, 0.0, 0.25, 0.5, 1.0]
    moved = ring_flow.move(x, strengths)
    assert moved.shape == (6, 20, 6)
    torch.testing.assert_close(moved[2], x, atol=0, rtol=0)  # strength 0 is the code itself
    logits = torch.stack([ring_flow.logit(m) for m in moved])
    assert (logits[1:] > logits[:-1]).all()
    # |s| is the path length: the code moves at most |s| (exactly |s| while the path is straight)
    dist = (moved - x).norm(dim=2)
    s = torch.tensor(strengths).abs()[:, None]
    assert (dist <= s + 1e-5).all() and (dist[[1, 3, 4]] > 0.9 * s[[1, 3, 4]]).all()
    # a finer step follows (nearly) the same path; strengths of one sign share one integration
    fine = dataclasses.replace(ring_flow, step=0.01).move(x, [1.0])[0]
    assert (fine - moved[5]).norm(dim=1).max() < 0.1
    torch.testing.assert_close(ring_flow.move(x, [0.5])[0], moved[4])
    # codes of any leading shape; unit tangents
    many = ring_flow.move(x.reshape(4, 5, 6), [0.5])
    torch.testing.assert_close(many.reshape(20, 6), moved[4])
    torch.testing.assert_close(ring_flow.field(x).norm(dim=1), torch.ones(20))


def test_conditional_flow_and_keep_norm(ring_flow):
    x, _, _ = ring(n=10, seed=6)
    other = Direction("other", torch.tensor([1.0, 1.0, 0.5, 0.0, 0.0, 0.0]))
    cond = conditional_flow(ring_flow, other)
    assert cond.meta["conditioned_on"] == ["other"] and list(cond.conditions) == ["other"]
    moved = cond.move(x, [1.0, 2.0])
    v = cond.conditions["other"].net[0].weight[0]
    # a linear condition's logit is unchanged along the path (its gradient is projected out)
    torch.testing.assert_close(moved @ v, (x @ v).expand(2, -1), atol=1e-4, rtol=0)
    assert ((cond.logit(moved[1]) - cond.logit(x)) > 0).all()
    kept = dataclasses.replace(ring_flow, keep_norm=True).move(x, [2.0])[0]
    torch.testing.assert_close(kept.norm(dim=1), x.norm(dim=1), atol=1e-5, rtol=0)
    # an MLP condition is accepted too; conditions must match the flow
    assert list(conditional_flow(ring_flow, dataclasses.replace(ring_flow, name="twin")).conditions) == ["twin"]
    with pytest.raises(GanpriorError, match="does not match"):
        conditional_flow(ring_flow, Direction("short", torch.ones(5)))
    with pytest.raises(GanpriorError, match="at least one condition"):
        conditional_flow(ring_flow)


def test_flow_save_load_round_trip_and_checks(tmp_path, ring_flow, tiny_prior):
    flow = conditional_flow(dataclasses.replace(ring_flow, step=0.2, keep_norm=True),
                            Direction("other", torch.arange(6.0) + 1, offset=0.5))
    path = flow.save(tmp_path / "ring.npz")
    back = load_direction(path)
    assert isinstance(back, FlowDirection)
    assert (back.name, back.shape, back.step, back.keep_norm, back.accuracy) == ("ring", (6,), 0.2, True,
                                                                                  ring_flow.accuracy)
    assert list(back.conditions) == ["other"] and back.meta["target"] == "classes"
    x, _, _ = ring(n=8, seed=7)
    torch.testing.assert_close(back.move(x, [-1.0, 0.7]), flow.move(x, [-1.0, 0.7]), atol=0, rtol=0)
    assert path.stat().st_size < 20_000  # float16 weights
    # against a prior: the tiny DCGAN takes (8, 1, 1) codes
    with pytest.raises(GanpriorError, match=r"shape \(6,\)"):
        load_direction(path, tiny_prior)
    codes = torch.randn(300, 8, 1, 1, generator=torch.Generator().manual_seed(0))
    fit = fit_flow_direction(codes, (codes[:, 0, 0, 0] > 0).long(), name="c0", epochs=5, hidden=(8,))
    fit.save(tmp_path / "c0.npz")
    assert load_direction(tmp_path / "c0.npz", tiny_prior).check(tiny_prior).shape == (8, 1, 1)


def test_flow_bad_files_and_arguments(tmp_path, ring_flow):
    path = ring_flow.save(tmp_path / "ring.npz")
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    broken = {k: v for k, v in arrays.items() if k != "model.net.2.weight"}
    np.savez(tmp_path / "missing.npz", **broken)
    with pytest.raises(GanpriorError, match=r"missing\.npz.*'model\.net\.2\.weight' is missing"):
        load_direction(tmp_path / "missing.npz")
    np.savez(tmp_path / "wrong.npz", **{**arrays, "model.net.0.weight": np.zeros((3, 3), np.float16)})
    with pytest.raises(GanpriorError, match=r"wrong\.npz.*expected float \(32, 6\)"):
        load_direction(tmp_path / "wrong.npz")
    info = json.loads(str(arrays["meta"]))
    del info["shape"]
    np.savez(tmp_path / "noshape.npz", **{**arrays, "meta": np.array(json.dumps(info))})
    with pytest.raises(GanpriorError, match="metadata is incomplete"):
        load_direction(tmp_path / "noshape.npz")
    for message in (str(e.value) for e in [pytest.raises(GanpriorError, load_direction, tmp_path / "wrong.npz")]):
        assert "\n" not in message
    with pytest.raises(GanpriorError, match="flow step"):
        dataclasses.replace(ring_flow, step=0)
    with pytest.raises(GanpriorError, match="reads 6 values"):
        FlowDirection("bad", AttributeMLP(6, (4,)), shape=(7,))
    with pytest.raises(GanpriorError, match="finite numbers"):
        ring_flow.move(torch.zeros(2, 6), [float("nan")])
    with pytest.raises(GanpriorError, match=r"moves codes of shape \(\.\.\., 6\)"):
        ring_flow.move(torch.zeros(2, 5), [1.0])
    x, y, r2 = ring(n=100)
    with pytest.raises(GanpriorError, match="one finite number per code"):
        fit_flow_direction(x, y, name="r", scores=r2[:50])
    with pytest.raises(GanpriorError, match="epochs"):
        fit_flow_direction(x, y, name="r", epochs=0)
    with pytest.raises(GanpriorError, match="binary labels must be 0 or 1"):
        fit_flow_direction(x, r2, name="r")


# -- the loader registry and the package's layering -----------------------------------------------------

def test_a_new_kind_is_one_registration(tmp_path, monkeypatch, tiny_prior):
    from ganprior.editing.directions import registry
    monkeypatch.setattr(registry, "FILE_KINDS", list(registry.FILE_KINDS))
    monkeypatch.setattr(registry, "COMPUTED_FORMS", dict(registry.COMPUTED_FORMS))

    def seeded(stored, prior):  # an archive that holds only a seed: the direction it draws
        seed = int(stored.content["seed"])
        return Direction(f"seed-{seed}", torch.randn(8, generator=torch.Generator().manual_seed(seed)))

    registry.register_file_kind("seeded", lambda stored: "seed" in stored.files, seeded)
    np.savez(tmp_path / "s.npz", seed=np.array(3))
    assert load_direction(tmp_path / "s.npz").name == "seed-3"
    assert registry.resolve_direction(str(tmp_path / "s.npz"), tiny_prior).name == "seed-3"
    np.savez(tmp_path / "x.npz", x=np.ones(2))  # claimed by no kind: the same one-line error as before
    with pytest.raises(GanpriorError, match=r"x\.npz is not a ganprior direction file: it needs 'vector' and "
                                            r"'meta' entries, found x$"):
        load_direction(tmp_path / "x.npz")

    registry.register_computed_form("axis", lambda prior, k: [Direction(f"axis-{i}", torch.eye(8)[i])
                                                              for i in range(k)])
    assert registry.resolve_direction("axis:2", tiny_prior).name == "axis-2"
    with pytest.raises(GanpriorError, match="axis:I takes a component index"):
        registry.resolve_direction("axis:x", tiny_prior)


def test_direction_modules_import_one_way():
    """records <- base <- labels <- the kinds <- registry: each module imports only lower layers."""
    import ast
    from pathlib import Path

    import ganprior.editing.directions as package
    layer = {"records": 0, "base": 1, "labels": 2, "linear": 3, "sefa": 3, "pca": 3, "external": 3, "flow": 3,
             "registry": 4}
    folder = Path(package.__file__).parent
    assert {p.stem for p in folder.glob("*.py")} == {*layer, "__init__"}
    for name, level in layer.items():
        siblings = set()
        for node in ast.walk(ast.parse((folder / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                siblings |= {node.module} if node.module else {a.name for a in node.names}
        assert all(layer[s] < level for s in siblings), (name, sorted(siblings))
