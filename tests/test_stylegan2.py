"""StyleGAN2 priors: parity with the original code bases, the Prior interface, safe loading."""

from __future__ import annotations

import argparse
import collections
import io
import os
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from ganprior.errors import GanpriorError
from ganprior.priors import DCGANPrior
from ganprior.priors.stylegan2 import (
    StyleGAN2Discriminator,
    StyleGAN2Generator,
    StyleGAN2Prior,
    generator_from_nvlabs,
    generator_from_rosinality,
    is_stylegan2_nvlabs_pickle,
    is_stylegan2_rosinality,
    load_nvlabs_prior,
    load_stylegan2,
    read_nvlabs_pickle,
    upsample2x,
)
from ganprior.safe_pickle import InertObject, restricted_load, safe_torch_load

from .conftest import shared_path

TOL = 1e-4


def ada_pkl():
    return shared_path("fixtures", "stylegan2-ada-pytorch", "network-snapshot-000000.pkl")


def ada_npz():
    return np.load(shared_path("fixtures", "stylegan2-ada-pytorch", "expected.npz"))


def ros_file(name):
    return shared_path("fixtures", "rosinality-stylegan2", name)


def ros_npz():
    return np.load(ros_file("expected.npz"))


def check(actual: torch.Tensor, expected: np.ndarray, what: str) -> None:
    expected = torch.from_numpy(np.asarray(expected))
    assert tuple(actual.shape) == tuple(expected.shape), what
    err = float((actual.detach().float() - expected).abs().max())
    assert err < TOL, f"{what}: max abs error {err:.3g}"


def layer_outputs(generator: StyleGAN2Generator, ws: torch.Tensor, noise_mode: str = "const") -> list:
    """Every synthesis layer output in order: ("conv"/"conv_up"/"rgb", block, tensor)."""
    out, x, skip = [], None, None
    for k, block in enumerate(generator.blocks):
        bws = ws[:, (0 if k == 0 else 2 * k - 1):][:, :block.num_ws]
        if block.conv_up is None:
            x = block.conv(block.const[None].expand(ws.shape[0], -1, -1, -1), bws[:, 0], noise_mode)
        else:
            x = block.conv_up(x, bws[:, 0], noise_mode)
            out.append(("conv_up", k, x))
            x = block.conv(x, bws[:, 1], noise_mode)
        out.append(("conv", k, x))
        rgb = block.to_rgb(x, bws[:, -1])
        skip = rgb if skip is None else upsample2x(skip, block.resample_filter) + rgb
        out.append(("rgb", k, skip))
    return out


@pytest.fixture(scope="module")
def ada_prior():
    return load_stylegan2(ada_pkl())


@pytest.fixture(scope="module")
def ros_train_prior():
    return load_stylegan2(ros_file("000000.pt"))


@pytest.fixture(scope="module")
def ros_converted_prior():
    return load_stylegan2(ros_file("stylegan2-converted-style.pt"))


@pytest.fixture
def tiny():
    return StyleGAN2Prior.random(resolution=16, z_dim=16, w_dim=16, channels=16, mapping_layers=2)


# -- parity: NVlabs stylegan2-ada-pytorch pickle ------------------------------------------------

def test_nvlabs_pickle_parity_generator(ada_prior):
    e = ada_npz()
    p, g = ada_prior, ada_prior.generator
    z = torch.from_numpy(e["z"])
    assert (p.resolution, p.channels, p.num_classes, p.num_ws, p.latent_shape) == (32, 3, None, 8, (64,))
    assert p.source_format == "nvlabs-pickle" and p.noise_mode == "const" and p.truncation_psi == 1.0
    with torch.no_grad():
        check(g.map(z), e["ws"], "ws")
        check(g.map(z, truncation_psi=0.7), e["ws_psi0.7"], "ws_psi0.7")
        check(p.w_avg, e["w_avg"], "w_avg")
        check(p.generate(z), e["img"], "img")
        # per-block feature maps and running skip-RGB images
        layers = layer_outputs(g, g.map(z))
        for kind, k, t in layers:
            res = 4 * 2 ** k
            if kind == "conv":
                check(t, e[f"G_ema.synthesis.b{res}_x"], f"b{res}_x")
            elif kind == "rgb":
                check(t, e[f"G_ema.synthesis.b{res}_img"], f"b{res}_img")
        # the same intermediates through the Prior's head
        for layer in p.composition_layers:
            x, skip, _ = p.head(z, layer)
            res = 4 * 2 ** (layer - 1)
            check(x, e[f"G_ema.synthesis.b{res}_x"], f"head x {layer}")
            check(skip, e[f"G_ema.synthesis.b{res}_img"], f"head skip {layer}")
        p.truncation_psi = 0.7
        try:
            check(p.generate(z), e["img_psi0.7"], "img_psi0.7")
        finally:
            p.truncation_psi = 1.0
        p.noise_mode = "none"
        try:
            check(p.generate(z), e["img_noise_none"], "img_noise_none")
        finally:
            p.noise_mode = "const"
        p.use_latent_space("w+")
        try:
            check(p.generate(torch.from_numpy(e["ws_plus"])), e["img_wplus"], "img_wplus")
        finally:
            p.use_latent_space("z")


def test_nvlabs_pickle_parity_non_ema_generator():
    e = ada_npz()
    g_prior = load_nvlabs_prior(ada_pkl(), network="G")
    with torch.no_grad():
        img = g_prior.generate(torch.from_numpy(e["z"]))
    check(img, e["img_G_nonema"], "img_G_nonema")
    assert float((img - torch.from_numpy(e["img"])).abs().max()) > 1e-2  # G and G_ema differ


def test_nvlabs_pickle_parity_discriminator(ada_prior):
    e = ada_npz()
    d = ada_prior.discriminator
    assert isinstance(d, StyleGAN2Discriminator)
    img = torch.from_numpy(e["img"])
    with torch.no_grad():
        check(d(img)[:, None], e["d_logits_img"], "d_logits_img")
        check(d(img)[:, None], e["D.b4_out"], "D.b4_out")
        check(d(torch.from_numpy(e["d_input_random"]))[:, None], e["d_logits_random"], "d_logits_random")
        feats = d.features(img)
        assert [tuple(f.shape) for f in feats] == [(8, 64, 16, 16), (8, 64, 8, 8), (8, 64, 4, 4)]
        for f, key in zip(feats, ("D.b32_x", "D.b16_x", "D.b8_x")):
            check(f, e[key], key)


# -- parity: rosinality checkpoints ---------------------------------------------------------------

@pytest.mark.parametrize("prior_fixture", ["ros_train_prior", "ros_converted_prior"])
def test_rosinality_parity_generator(prior_fixture, request):
    p = request.getfixturevalue(prior_fixture)
    g = p.generator
    e = ros_npz()
    z, z2 = torch.from_numpy(e["z"]), torch.from_numpy(e["z2"])
    assert (p.resolution, p.num_ws, p.composition_layers) == (64, 10, {1: 32, 2: 32, 3: 32, 4: 32})
    with torch.no_grad():
        check(g.mapping(z), e["w"], "w")
        check(g.map(z), e["latent"], "latent")
        check(p.generate(z), e["img"], "img")
        # intermediates of the img run, first sample: conv1, convs.{i}, to_rgb1, to_rgbs.{i}
        convs, rgbs = [], []
        for kind, _, t in layer_outputs(g, g.map(z[:1])):
            (rgbs if kind == "rgb" else convs).append(t)
        check(convs[0], e["g_ema.conv1"], "conv1")
        check(rgbs[0], e["g_ema.to_rgb1"], "to_rgb1")
        for i, t in enumerate(convs[1:]):
            check(t, e[f"g_ema.convs.{i}"], f"convs.{i}")
        for i, t in enumerate(rgbs[1:]):
            check(t, e[f"g_ema.to_rgbs.{i}"], f"to_rgbs.{i}")
        p.use_latent_space("w+")
        try:
            check(p.generate(torch.from_numpy(e["w_plus_input"])), e["img_wplus"], "img_wplus")
            mixed = torch.cat([g.map(z)[:, :4], g.map(z2)[:, 4:]], dim=1)
            check(p.generate(mixed), e["img_mix_inject4"], "img_mix_inject4")
        finally:
            p.use_latent_space("z")


def test_rosinality_truncation_and_latent_avg(ros_train_prior, ros_converted_prior):
    e = ros_npz()
    z = torch.from_numpy(e["z"])
    # converted layout: latent_avg comes from the file
    assert ros_converted_prior.w_avg_source == "checkpoint"
    assert ros_converted_prior.source_format == "rosinality-converted"
    check(ros_converted_prior.w_avg, e["latent_avg"], "latent_avg")
    # train.py layout: no mean stored, so it is estimated (close to the true mean, not equal)
    assert ros_train_prior.w_avg_source == "estimated" and ros_train_prior.source_format == "rosinality-train"
    assert float((ros_train_prior.w_avg - torch.from_numpy(e["latent_avg"])).abs().max()) < 0.2
    for p in (ros_converted_prior, ros_train_prior):
        saved = p.w_avg.clone()
        p.w_avg.copy_(torch.from_numpy(e["latent_avg"]))  # the README's truncation_latent
        p.truncation_psi = 0.7
        try:
            with torch.no_grad():
                check(p.generate(z), e["img_trunc0.7"], "img_trunc0.7")
        finally:
            p.truncation_psi = 1.0
            p.w_avg.copy_(saved)


def test_rosinality_parity_non_ema_generator():
    e = ros_npz()
    ckpt = safe_torch_load(ros_file("000000.pt"), [argparse.Namespace])
    assert isinstance(ckpt["args"], argparse.Namespace) and ckpt["args"].size == 64
    g = generator_from_rosinality(ckpt["g"])
    with torch.no_grad():
        check(g(torch.from_numpy(e["z"][:2])), e["img_g_nonema"], "img_g_nonema")


@pytest.mark.parametrize("prior_fixture", ["ros_train_prior", "ros_converted_prior"])
def test_rosinality_parity_discriminator(prior_fixture, request):
    d = request.getfixturevalue(prior_fixture).discriminator
    e = ros_npz()
    img = torch.from_numpy(e["img"])
    with torch.no_grad():
        check(d(img)[:, None], e["d_logits_img"], "d_logits_img")
        check(d(torch.from_numpy(e["d_input_random"]))[:, None], e["d_logits_random"], "d_logits_random")
        check(d.from_rgb(img[:1]), e["d.convs.0"], "d.convs.0")
        feats = d.features(img)
        assert len(feats) == 4
        for i, f in enumerate(feats):
            check(f[:1], e[f"d.convs.{i + 1}"], f"d.convs.{i + 1}")
        check(d.epilogue_conv(feats[-1])[:1], e["d.final_conv"], "d.final_conv")


def test_rosinality_namespace_allowed_only_during_the_call(ros_train_prior):
    assert argparse.Namespace not in torch.serialization.get_safe_globals()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ros_file("000000.pt"), weights_only=True)


# -- the Prior interface ------------------------------------------------------------------------

@pytest.mark.parametrize("space", ["z", "w", "w+"])
def test_head_tail_consistency_every_layer(space, tiny, ada_prior):
    for p in (tiny, ada_prior):
        p.use_latent_space(space)
        try:
            codes = p.sample_latent(3, torch.Generator().manual_seed(1))
            assert tuple(codes.shape) == (3, *p.latent_shape)
            with torch.no_grad():
                full = p.generate(codes)
                assert full.shape == (3, 3, p.resolution, p.resolution)
                for layer, channels in p.composition_layers.items():
                    feats = p.head(codes, layer)
                    x, skip_rgb, remaining = feats
                    size = 4 * 2 ** (layer - 1)
                    assert x.shape == (3, channels, size, size)
                    assert skip_rgb.shape == (3, 3, size, size)
                    assert remaining.shape == (3, p.num_ws - 2 * layer + 1, p.generator.w_dim)
                    torch.testing.assert_close(p.tail(feats, layer), full, rtol=0, atol=1e-6)
        finally:
            p.use_latent_space("z")


def test_tail_accepts_composed_features(tiny):
    """Multi-code composition weights the map and averages skip image and ws; the tail takes that."""
    p = tiny
    gen = torch.Generator().manual_seed(2)
    z = p.sample_latent(2, gen)
    for layer, channels in p.composition_layers.items():
        with torch.no_grad():
            feats = p.head(z, layer)
            # identical codes with importances summing to one reproduce the single-code image
            same = tuple(t[:1].expand(2, *t.shape[1:])[None] for t in feats)
            composed = p.compose_features(same, torch.full((1, 2, channels), 0.5))
            torch.testing.assert_close(p.tail(composed, layer), p.generate(z[:1]), rtol=0, atol=1e-5)
            # different codes: a valid, finite image
            mixed = p.compose_features(tuple(t[None] for t in feats), torch.rand(1, 2, channels, generator=gen))
            img = p.tail(mixed, layer)
        assert img.shape == (1, 3, p.resolution, p.resolution) and torch.isfinite(img).all()


def test_latent_spaces_and_sampling(tiny):
    p = tiny
    assert p.family == "stylegan2" and p.latent_spaces == ("z", "w", "w+")
    assert p.latent_space == "z" and p.latent_shape == (16,)
    p.latent_space = "w"
    assert p.latent_shape == (16,)
    p.use_latent_space("w+")
    assert p.latent_shape == (p.num_ws, 16) == (6, 16)
    ws = p.sample_latent(4, torch.Generator().manual_seed(0))
    assert ws.shape == (4, 6, 16) and torch.equal(ws, ws[:, :1].expand_as(ws))  # broadcast to every layer
    # w samples are mapped z, truncated towards w_avg
    p.use_latent_space("w")
    w1 = p.sample_latent(4, torch.Generator().manual_seed(0))
    p.truncation_psi = 0.5
    w_half = p.sample_latent(4, torch.Generator().manual_seed(0))
    torch.testing.assert_close(w_half, p.w_avg + 0.5 * (w1 - p.w_avg))
    p.truncation_psi = 1.0
    # a w code is the same image as its w+ broadcast and as the z it came from
    z = torch.randn(4, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        p.use_latent_space("z")
        from_z = p.generate(z)
        p.use_latent_space("w")
        torch.testing.assert_close(p.generate(w1), from_z)
        p.use_latent_space("w+")
        torch.testing.assert_close(p.generate(w1[:, None].expand(-1, 6, -1)), from_z)
    p.use_latent_space("z")
    with pytest.raises(GanpriorError, match="latent space"):
        p.use_latent_space("s")
    with pytest.raises(GanpriorError, match=r"\(B, 16\)"):
        p.generate(torch.zeros(2, 6, 16))
    assert p.blocks == list(p.generator.blocks) and len(p.blocks) == 3
    assert p.composition_layers == {1: 16, 2: 16}


def test_noise_modes(tiny):
    p = tiny
    z = p.sample_latent(2, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert p.noise_mode == "const"
        assert torch.equal(p.generate(z), p.generate(z))
        p.noise_mode = "random"
        a, b = p.generate(z), p.generate(z)
        assert not torch.equal(a, b)
        p.noise_mode = "none"
        none = p.generate(z)
        for m in p.generator.modules():
            if hasattr(m, "noise_strength"):
                m.noise_strength.data.zero_()
        p.noise_mode = "const"
        torch.testing.assert_close(p.generate(z), none)  # zero strength == no noise
    with pytest.raises(GanpriorError, match="noise mode"):
        p.noise_mode = "sometimes"


def test_tail_rejects_wrong_features(tiny):
    with pytest.raises(GanpriorError, match="feature_map, skip_rgb, remaining_ws"):
        tiny.tail(torch.zeros(1, 16, 4, 4), 1)
    x, skip, ws = tiny.head(tiny.sample_latent(1), 1)
    with pytest.raises(GanpriorError, match="remaining ws"):
        tiny.tail((x, skip, ws[:, 1:]), 1)
    with pytest.raises(GanpriorError, match="composition layer"):
        tiny.head(tiny.sample_latent(1), 3)


@pytest.mark.parametrize("space", ["z", "w", "w+"])
def test_multi_code_inversion_every_layer(space, ros_converted_prior):
    from ganprior.inversion import invert
    from ganprior.tasks import build_degradation

    p = ros_converted_prior
    p.requires_grad_(False)
    before = {k: v.clone() for k, v in p.state_dict().items()}
    y = torch.rand(1, 3, p.resolution, p.resolution, generator=torch.Generator().manual_seed(0))
    p.use_latent_space(space)
    try:
        for layer in p.composition_layers:
            r = invert(y, build_degradation("reconstruct", p.resolution), p, method="multi", steps=2,
                       num_codes=2, layer=layer)
            assert r.images.shape == (1, 3, p.resolution, p.resolution)
            assert torch.isfinite(r.images).all() and torch.isfinite(r.history).all()
            assert r.params["codes"].shape == (1, 2, *p.latent_shape)
    finally:
        p.use_latent_space("z")
    assert all(torch.equal(before[k], v) for k, v in p.state_dict().items())


def test_conditional_generator_and_discriminator():
    torch.manual_seed(0)
    table = {4: 8, 8: 8, 16: 8}
    g = StyleGAN2Generator(z_dim=8, w_dim=8, resolution=16, channels=table, mapping_layers=2, c_dim=3)
    p = StyleGAN2Prior(g.eval())
    assert p.num_classes == 3
    z = torch.randn(2, 8)
    with torch.no_grad():
        a = p.generate(z)
        p.class_index = 2
        b = p.generate(z)
        torch.testing.assert_close(p.tail(p.head(z, 2), 2), b)
    assert not torch.allclose(a, b)
    d = StyleGAN2Discriminator(resolution=16, channels=table, c_dim=3)
    with torch.no_grad():
        logits = d(b, torch.tensor([2, 2]))
    assert logits.shape == (2,) and torch.isfinite(logits).all()
    with pytest.raises(GanpriorError, match="needs labels"):
        d(b)


def test_discriminator_odd_batch_sizes(ada_prior):
    d = ada_prior.discriminator
    for n in (1, 3, 6):
        with torch.no_grad():
            out = d(torch.rand(n, 3, 32, 32) * 2 - 1)
        assert out.shape == (n,) and torch.isfinite(out).all()


# -- sniffing -----------------------------------------------------------------------------------

def test_old_nvlabs_module_path_still_imports():
    from ganprior.priors import stylegan2_nvlabs

    assert stylegan2_nvlabs.load_nvlabs_prior is load_nvlabs_prior
    assert stylegan2_nvlabs.read_nvlabs_pickle is read_nvlabs_pickle


def test_format_sniffing(tmp_path):
    dcgan_sd = DCGANPrior.random().state_dict()
    assert not is_stylegan2_rosinality(dcgan_sd)
    assert not is_stylegan2_rosinality({}) and not is_stylegan2_rosinality(None)
    dcgan_file = tmp_path / "dcgan.pth"
    torch.save(dcgan_sd, dcgan_file)
    assert not is_stylegan2_nvlabs_pickle(dcgan_file)
    plain = tmp_path / "dcgan.pkl"
    plain.write_bytes(pickle.dumps(dict(dcgan_sd)))
    assert not is_stylegan2_nvlabs_pickle(plain)
    assert not is_stylegan2_nvlabs_pickle(tmp_path / "missing.pkl")
    assert is_stylegan2_nvlabs_pickle(ada_pkl())
    assert not is_stylegan2_nvlabs_pickle(ros_file("000000.pt"))
    assert not is_stylegan2_nvlabs_pickle(ros_file("stylegan2-converted-style.pt"))
    ckpt = safe_torch_load(ros_file("stylegan2-converted-style.pt"))
    assert is_stylegan2_rosinality(ckpt) and is_stylegan2_rosinality(ckpt["g_ema"])
    assert not is_stylegan2_rosinality(ckpt["d"])


# -- security -----------------------------------------------------------------------------------

class _ShellPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def fake_persistence(monkeypatch):
    """Make ``torch_utils.persistence._reconstruct_persistent_obj`` picklable by reference, for writing
    NVlabs-style pickles in tests; returns a factory ``(meta) -> object that pickles as it``."""
    package = types.ModuleType("torch_utils")
    module = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # never called by the loader under test
        raise AssertionError("the original rebuild function must not run")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    package.persistence = module
    monkeypatch.setitem(sys.modules, "torch_utils", package)
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", module)

    class Persistent:
        def __init__(self, meta):
            self.meta = meta

        def __reduce__(self):
            return (_reconstruct_persistent_obj, (self.meta,))

    return Persistent


def _evil_source(marker) -> str:
    return f"import os\nos.system('touch {marker}')\nclass Generator:\n    pass\n"


def test_nvlabs_pickle_with_os_system_payload_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _ShellPayload(marker)}))
    assert not is_stylegan2_nvlabs_pickle(path)
    with pytest.raises(GanpriorError, match=r"posix\.system|nt\.system") as err:
        load_stylegan2(path)
    assert "\n" not in str(err.value)
    with pytest.raises(GanpriorError, match="allow-list"):
        restricted_load(io.BytesIO(path.read_bytes()))
    assert not marker.exists()


def test_nvlabs_payload_inside_persistent_state_is_refused(tmp_path, fake_persistence):
    marker = tmp_path / "pwned"
    path = tmp_path / "network-snapshot.pkl"
    meta = {"type": "class", "version": 6, "module_src": "", "class_name": "Generator",
            "state": {"_parameters": {}, "_buffers": {}, "_modules": {}, "z_dim": _ShellPayload(marker)}}
    path.write_bytes(pickle.dumps({"G_ema": fake_persistence(meta)}))
    with pytest.raises(GanpriorError, match="system"):
        load_stylegan2(path)
    assert not marker.exists()


def test_nvlabs_malicious_module_src_is_never_executed(tmp_path, fake_persistence):
    marker = tmp_path / "pwned"
    path = tmp_path / "network-snapshot.pkl"
    meta = {"type": "class", "version": 6, "module_src": _evil_source(marker), "class_name": "Generator",
            "state": {"training": False, "_parameters": {}, "_buffers": {}, "_modules": {}}}
    path.write_bytes(pickle.dumps({"G_ema": fake_persistence(meta)}))
    assert is_stylegan2_nvlabs_pickle(path)  # sniffing reads names only; the structure check comes at load
    with pytest.raises(GanpriorError, match="G_ema") as err:
        load_stylegan2(path)
    assert "\n" not in str(err.value)
    assert not marker.exists()


def test_nvlabs_real_network_with_malicious_module_src_loads_without_running_it(tmp_path, fake_persistence, ada_prior):
    """The fixture re-pickled with a payload in every ``module_src``: weights load, the source never runs."""
    marker = tmp_path / "pwned"
    snapshot = read_nvlabs_pickle(ada_pkl())

    def plain(value):
        if isinstance(value, InertObject):
            return fake_persistence({"type": "class", "version": 6, "module_src": _evil_source(marker),
                                     "class_name": value.class_name, "state": plain(value.state)})
        if isinstance(value, collections.OrderedDict):
            return collections.OrderedDict((k, plain(v)) for k, v in value.items())
        if isinstance(value, dict):  # EasyDict stand-ins become plain dicts
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(plain(v) for v in value)
        return value

    path = tmp_path / "evil-src.pkl"
    path.write_bytes(pickle.dumps(plain(snapshot), protocol=4))
    assert is_stylegan2_nvlabs_pickle(path)
    p = load_stylegan2(path)
    assert not marker.exists()
    z = torch.from_numpy(ada_npz()["z"])
    with torch.no_grad():
        torch.testing.assert_close(p.generate(z), ada_prior.generate(z), rtol=0, atol=0)


@pytest.mark.parametrize("zip_format", [True, False])
def test_rosinality_pt_with_os_system_payload_is_refused(tmp_path, zip_format):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    state = safe_torch_load(ros_file("stylegan2-converted-style.pt"))
    state["args"] = _ShellPayload(marker)
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    with pytest.raises(GanpriorError, match=r"refused.*system") as err:
        load_stylegan2(path)
    assert "\n" not in str(err.value)
    assert not marker.exists()


# -- bad input ----------------------------------------------------------------------------------

def _write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", ["missing", "empty", "garbage", "truncated_pkl", "truncated_zip", "truncated_legacy",
                                  "plain_dict_pickle", "list_pickle", "dcgan_state_dict", "torch_tensor",
                                  "tensorflow_pickle"])
def test_bad_files_raise_clear_errors(case, tmp_path):
    if case == "missing":
        path, pattern = tmp_path / "nope.pkl", "not found"
    elif case == "empty":
        path, pattern = _write(tmp_path, "empty.pkl", b""), "empty"
    elif case == "garbage":
        path, pattern = _write(tmp_path, "garbage.pkl", bytes(range(256)) * 8), "cannot read|refused"
    elif case == "truncated_pkl":
        path, pattern = _write(tmp_path, "t.pkl", ada_pkl().read_bytes()[:200_000]), "truncated"
    elif case == "truncated_zip":
        data = ros_file("000000.pt").read_bytes()
        path, pattern = _write(tmp_path, "t.pt", data[: len(data) // 2]), "cannot read"
    elif case == "truncated_legacy":
        data = ros_file("stylegan2-converted-style.pt").read_bytes()
        path, pattern = _write(tmp_path, "t.pt", data[: len(data) // 2]), "cannot read"
    elif case == "plain_dict_pickle":
        path, pattern = _write(tmp_path, "d.pkl", pickle.dumps({"foo": 1, "G": 2})), "not a StyleGAN2 network pickle"
    elif case == "list_pickle":
        path, pattern = _write(tmp_path, "l.pkl", pickle.dumps([1, 2, 3])), "not a StyleGAN2 network pickle"
    elif case == "tensorflow_pickle":  # what a TF-era network pickle starts with
        path = _write(tmp_path, "tf.pkl", b"\x80\x02cdnnlib.tflib.network\nNetwork\nq\x00)\x81q\x01}b.")
        pattern = "TensorFlow-era"
    elif case == "dcgan_state_dict":
        path = tmp_path / "dcgan.pth"
        torch.save(DCGANPrior.random().state_dict(), path)
        pattern = "not a StyleGAN2 checkpoint"
    else:
        path = tmp_path / "tensor.pt"
        torch.save(torch.zeros(3), path)
        pattern = "not a StyleGAN2 checkpoint"
    with pytest.raises(GanpriorError, match=pattern) as err:
        load_stylegan2(path)
    assert str(err.value) and "\n" not in str(err.value)


def test_unsupported_nvlabs_structures_are_named():
    def node(cls, modules=None, **attrs):
        return InertObject(cls, {"_parameters": {}, "_buffers": {}, "_modules": modules or {}, **attrs})

    sg3 = node("Generator", {"synthesis": node("SynthesisNetwork", {"input": node("SynthesisInput")}),
                             "mapping": node("MappingNetwork")}, z_dim=512, w_dim=512, c_dim=0)
    with pytest.raises(GanpriorError, match="StyleGAN3"):
        generator_from_nvlabs(sg3)
    with pytest.raises(GanpriorError, match="not a Generator"):
        generator_from_nvlabs(node("Discriminator"))
    orig = node("Generator", {"synthesis": node("SynthesisNetwork", {"b4": node("SynthesisBlock", architecture="orig")},
                                                block_resolutions=[4]),
                              "mapping": node("MappingNetwork")})
    with pytest.raises(GanpriorError, match="'orig' generator architecture"):
        generator_from_nvlabs(orig)
