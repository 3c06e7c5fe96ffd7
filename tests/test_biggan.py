"""BigGAN priors: parity with the original code's outputs, the Prior interface, and safe loading.

Parity fixtures (../shared/fixtures, skipped when absent) were produced by the original
implementations; see their README.md files:
* ``biggan-dgp``: DGP's BigGAN-PyTorch ``Generator``/``Discriminator`` (G_ema.pth, D.pth, config.json);
* ``pytorch-pretrained-biggan``: Hugging Face's BigGAN-deep (config.json, pytorch_model.bin).
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch

from ganprior.errors import GanpriorError
from ganprior.priors import DCGANPrior
from ganprior.priors.biggan import (BigGANArchitecture, BigGANPrior, infer_generator_architecture,
                                    is_biggan_state_dict, load_biggan)
from ganprior.priors.biggan_deep import (BigGANDeepArchitecture, BigGANDeepPrior, is_biggan_deep_folder,
                                         is_biggan_deep_state_dict,
                                         load_biggan_deep, truncation_statistics)

from .conftest import shared_path

TOL = 1e-4


def dgp_dir():
    return shared_path("fixtures", "biggan-dgp", "G_ema.pth").parent


def deep_dir():
    return shared_path("fixtures", "pytorch-pretrained-biggan", "pytorch_model.bin").parent


@pytest.fixture(scope="module")
def dgp_expected():
    return {k: torch.from_numpy(v) for k, v in np.load(dgp_dir() / "expected.npz").items()}


@pytest.fixture(scope="module")
def deep_expected():
    return {k: torch.from_numpy(v) for k, v in np.load(deep_dir() / "expected.npz").items()}


@pytest.fixture
def dgp_prior() -> BigGANPrior:
    return load_biggan(dgp_dir())


@pytest.fixture
def deep_prior() -> BigGANDeepPrior:
    return load_biggan_deep(deep_dir())


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def capture_stage_outputs(prior, prefix: str) -> dict:
    """Forward hooks naming our modules' outputs after the original modules they correspond to."""
    captured = {}

    def keep(name):
        return lambda module, inputs, output: captured.__setitem__(name, output.detach())

    prior.stem.linear.register_forward_hook(keep(f"{prefix}{'gen_z' if prefix else 'linear'}"))
    index = 0
    for i, stage in enumerate(prior.stages):
        if prefix:  # BigGAN-deep: generator.layers.{j}, the attention module has its own index
            stage.block.register_forward_hook(keep(f"{prefix}layers.{index}"))
            index += 1
            if stage.attention is not None:
                stage.attention.register_forward_hook(keep(f"{prefix}layers.{index}"))
                index += 1
        else:       # BigGAN-PyTorch: blocks.{i}.0 (block) and blocks.{i}.1 (attention)
            stage.block.register_forward_hook(keep(f"blocks.{i}.0"))
            if stage.attention is not None:
                stage.attention.register_forward_hook(keep(f"blocks.{i}.1"))
    return captured


def tiny_biggan(hierarchical: bool = True, attention: bool = True, seed: int = 0) -> BigGANPrior:
    """A random 32x32 BigGAN (no checkpoint needed)."""
    torch.manual_seed(seed)
    arch = BigGANArchitecture(num_classes=5, embedding_dim=6, chunk_dim=3 if hierarchical else 0,
                              stem_dim=3 if hierarchical else 7, bottom_width=4,
                              stage_channels=((32, 32), (32, 16), (16, 16)),
                              attention=(False, attention, False), shortcut_convs=(True, True, True))
    return BigGANPrior(arch, name="tiny-biggan").eval()


# -- parity: BigGAN-PyTorch / DGP ------------------------------------------------------------------


class TestDGPParity:
    def test_generator_outputs_and_intermediates(self, dgp_prior, dgp_expected):
        e = dgp_expected
        captured = capture_stage_outputs(dgp_prior, "")
        with torch.no_grad():
            img = dgp_prior.generate(e["z"], labels=e["y"])
            assert max_abs(dgp_prior.class_embedding(e["y"]), e["shared_y"]) < TOL
        assert max_abs(img, e["img"]) < TOL
        assert max_abs(captured["linear"][:2], e["G.linear_first2"]) < TOL
        names = [k[2:-len("_first2")] for k in e if k.startswith("G.blocks.")]
        assert len(names) == 5
        for name in names:
            assert max_abs(captured[name][:2], e[f"G.{name}_first2"]) < TOL, name

    def test_generate_from_shared_embedding(self, dgp_prior, dgp_expected):
        # DGP calls G(z, G.shared(y)): the embedding is an input, so passing it gives the same image
        with torch.no_grad():
            img = dgp_prior.generate(dgp_expected["z"], embedding=dgp_expected["shared_y"])
        assert max_abs(img, dgp_expected["img"]) < TOL

    def test_discriminator_features_and_logits(self, dgp_prior, dgp_expected):
        e = dgp_expected
        D = dgp_prior.discriminator
        assert D is not None
        with torch.no_grad():
            feats = D.features(e["img"])
            assert len(feats) == 7
            for i, f in enumerate(feats):
                assert max_abs(f, e[f"d_h_list_{i}"]) < TOL, i
            assert max_abs(D(e["img"], e["y"]), e["d_logits"][:, 0]) < TOL
            assert max_abs(D(e["img"]), e["d_logits_no_y"][:, 0]) < TOL
            assert max_abs(D(e["d_input_random"], e["y"]), e["d_logits_random"][:, 0]) < TOL

    def test_inferred_architecture_agrees_with_config(self, dgp_prior):
        config = json.loads((dgp_dir() / "config.json").read_text())
        a = dgp_prior.arch
        assert a.resolution == dgp_prior.resolution == config["resolution"]
        assert a.width == config["G_ch"]
        assert a.embedding_dim == config["shared_dim"]
        assert a.num_classes == dgp_prior.num_classes == config["n_classes"]
        assert a.hierarchical == config["hier"]
        assert a.dim_z == config["_effective_dim_z"] and dgp_prior.latent_shape == (20,)
        assert a.chunk_dim == config["_z_chunk_size"]
        assert a.num_stages + 1 == config["_num_slots"]
        assert a.attention_resolutions == (int(config["G_attn"]),)
        assert (a.bn_eps, a.sn_eps) == (config["BN_eps"], config["SN_eps"])
        d = dgp_prior.discriminator.arch
        assert d.width == config["D_ch"] and d.wide == config["D_wide"]
        assert d.attention_resolutions == (int(config["D_attn"]),)
        assert d.num_classes == config["n_classes"]

    def test_loads_without_config_and_with_suffix(self, tmp_path, dgp_expected):
        # real DGP checkpoints come without config.json, possibly named G_ema_<suffix>.pth / D_<suffix>.pth
        shutil.copy(dgp_dir() / "G_ema.pth", tmp_path / "G_ema_best0.pth")
        shutil.copy(dgp_dir() / "D.pth", tmp_path / "D_best0.pth")
        for source in (tmp_path, tmp_path / "G_ema_best0.pth"):
            prior = load_biggan(source)
            assert prior.discriminator is not None
            with torch.no_grad():
                assert max_abs(prior.generate(dgp_expected["z"], dgp_expected["y"]), dgp_expected["img"]) < TOL
                logits = prior.discriminator(dgp_expected["img"], dgp_expected["y"])
            assert max_abs(logits, dgp_expected["d_logits"][:, 0]) < TOL
        assert load_biggan(tmp_path, name="mine").name == "mine"

    def test_generator_alone_and_tolerated_extra_keys(self, tmp_path, dgp_expected):
        sd = torch.load(dgp_dir() / "G_ema.pth", map_location="cpu", weights_only=True)
        # DGP's GBlock owns instance norms (in1/in2) and BigGAN-PyTorch may track more singular vectors
        for i in range(4):
            sd[f"blocks.{i}.0.in1.weight"] = torch.ones(1)
            sd[f"blocks.{i}.0.in2.bias"] = torch.zeros(1)
        sd["linear.u1"] = torch.randn(1, 2048)
        sd["linear.sv1"] = torch.ones(1)
        torch.save({f"module.{k}": v for k, v in sd.items()}, tmp_path / "G_ema.pth")
        prior = load_biggan(tmp_path / "G_ema.pth")
        assert prior.discriminator is None
        with torch.no_grad():
            assert max_abs(prior.generate(dgp_expected["z"], dgp_expected["y"]), dgp_expected["img"]) < TOL

    def test_no_train_mode_drift(self, dgp_prior, dgp_expected):
        # eval-mode SN reads the stored u0 without writing it; BN always uses the stored statistics
        before = {k: v.clone() for k, v in dgp_prior.state_dict().items()}
        dgp_prior.train()
        with torch.no_grad():
            for _ in range(2):
                img = dgp_prior.generate(dgp_expected["z"], dgp_expected["y"])
                dgp_prior.discriminator(img, dgp_expected["y"])
        assert max_abs(img, dgp_expected["img"]) < TOL
        for k, v in dgp_prior.state_dict().items():
            assert torch.equal(v, before[k]), k


# -- parity: Hugging Face BigGAN-deep --------------------------------------------------------------


class TestBigGANDeepParity:
    @pytest.mark.parametrize("t", ["0.4", "1.0", "0.123"])
    def test_images_at_truncations(self, deep_prior, deep_expected, t):
        deep_prior.truncation = float(t)
        with torch.no_grad():
            img = deep_prior.generate(deep_expected[f"noise_t{t}"], labels=deep_expected["class_labels"])
            # the original's input: one-hot class vectors
            img_onehot = deep_prior.generate(deep_expected[f"noise_t{t}"], labels=deep_expected["class_vector"])
        assert max_abs(img, deep_expected[f"img_t{t}"]) < TOL
        assert max_abs(img_onehot, deep_expected[f"img_t{t}"]) < TOL

    def test_intermediates_and_embedding(self, deep_prior, deep_expected):
        e = deep_expected
        assert deep_prior.truncation == 0.4
        captured = capture_stage_outputs(deep_prior, "generator.")
        with torch.no_grad():
            deep_prior.generate(e["noise_t0.4"], labels=e["class_labels"])
            assert max_abs(deep_prior.class_embedding(e["class_vector"]), e["embed_t0.4"]) < TOL
            assert max_abs(deep_prior.class_embedding(e["class_labels"]), e["embed_t0.4"]) < TOL
        names = [k[: -len("_t0.4_first")] for k in e if k.endswith("_t0.4_first")]
        assert len(names) == 10
        for name in names:
            assert max_abs(captured[name][:1], e[f"{name}_t0.4_first"]) < TOL, name

    def test_close_to_the_train_mode_first_call(self, deep_prior, deep_expected):
        # the HF loader leaves the model in train mode (one extra SN power step, ~3e-5 difference);
        # our eval-mode output stays within tolerance of what a HF user sees on the first call
        with torch.no_grad():
            img = deep_prior.generate(deep_expected["noise_t0.4"], labels=deep_expected["class_labels"])
        assert max_abs(img, deep_expected["img_t0.4_trainmode_firstcall"]) < TOL

    def test_config_and_layers(self, deep_prior):
        config = json.loads((deep_dir() / "config.json").read_text())
        assert deep_prior.resolution == config["output_dim"] == 64
        assert deep_prior.latent_shape == (config["z_dim"],)
        assert deep_prior.num_classes == config["num_classes"]
        ch = config["channel_width"]
        assert deep_prior.composition_layers == {i + 1: ch * out for i, (_, _, out) in enumerate(config["layers"])}
        assert deep_prior.arch.attention_position == config["attention_layer_position"]
        assert deep_prior.stages[5].attention is not None  # runs before config layer 6, i.e. ends stage 6
        assert deep_prior.family == "biggan-deep" and deep_prior.latent_spaces == ("z",)

    def test_truncation_selects_statistics(self):
        means = torch.arange(51.0)[:, None].repeat(1, 2)
        variances = means + 100
        m, v = truncation_statistics(means, variances, 0.4)
        assert torch.equal(m, torch.full((2,), 20.0)) and torch.equal(v, torch.full((2,), 120.0))
        assert torch.equal(truncation_statistics(means, variances, 1.0)[0], torch.full((2,), 50.0))
        # 0.123 -> coef 0.15 on row 6, 0.85 on row 7 (the original's weighting)
        torch.testing.assert_close(truncation_statistics(means, variances, 0.123)[0],
                                   torch.full((2,), 0.15 * 6 + 0.85 * 7))

    def test_truncation_validated_and_sampling_truncated(self, deep_prior):
        for bad in (0.0, 1.5, -0.2):
            with pytest.raises(GanpriorError, match="truncation must be in"):
                deep_prior.truncation = bad
        z = deep_prior.sample_latent(500, torch.Generator().manual_seed(0))
        assert z.shape == (500, 16) and z.abs().max() <= 2 * 0.4 + 1e-6 and z.std() > 0.2
        torch.testing.assert_close(z, deep_prior.sample_latent(500, torch.Generator().manual_seed(0)))

    def test_truncation_keyword(self):
        assert load_biggan_deep(deep_dir() / "pytorch_model.bin", truncation=0.7).truncation == 0.7


# -- the Prior interface -------------------------------------------------------------------------


def tiny_biggan_deep(seed: int = 0) -> BigGANDeepPrior:
    """A random 16x16 BigGAN-deep with attention on the stem (config position 0), no checkpoint."""
    torch.manual_seed(seed)
    arch = BigGANDeepArchitecture(num_classes=7, z_dim=8, embedding_dim=8,
                                  blocks=((32, 8, 32, False), (32, 8, 16, True), (16, 4, 16, True)),
                                  attention_position=0, rgb_channels=4)
    return BigGANDeepPrior(arch, name="tiny-deep", truncation=0.5).eval()


@pytest.fixture(params=["tiny-hier", "tiny-flat", "tiny-deep", pytest.param("dgp", marks=pytest.mark.integration),
                        pytest.param("deep", marks=pytest.mark.integration)])
def any_prior(request):
    if request.param == "tiny-hier":
        return tiny_biggan()
    if request.param == "tiny-flat":
        return tiny_biggan(hierarchical=False, attention=False)
    if request.param == "tiny-deep":
        return tiny_biggan_deep()
    return load_biggan(dgp_dir()) if request.param == "dgp" else load_biggan_deep(deep_dir())


class TestPriorInterface:
    def test_head_tail_consistent_at_every_layer(self, any_prior):
        z = any_prior.sample_latent(3, torch.Generator().manual_seed(1))
        labels = torch.tensor([0, 2, 4])
        with torch.no_grad():
            full = any_prior.generate(z, labels)
            assert full.shape == (3, 3, any_prior.resolution, any_prior.resolution)
            assert full.abs().max() <= 1
            for layer, channels in any_prior.composition_layers.items():
                features = any_prior.head(z, layer, labels)
                assert isinstance(features, tuple) and len(features) == 2
                fmap, cond = features
                assert fmap.shape[:2] == (3, channels) and cond.shape[0] == 3
                torch.testing.assert_close(any_prior.tail(features, layer), full, atol=1e-6, rtol=0)

    def test_features_structure(self, any_prior):
        z = any_prior.sample_latent(2)
        layers = sorted(any_prior.composition_layers)
        assert layers == list(range(1, len(layers) + 1))
        sizes = []
        for layer in layers:
            fmap, cond = any_prior.head(z, layer)
            sizes.append(fmap.shape[-1])
            if isinstance(any_prior, BigGANPrior):
                # conditioning of the stages still to run: [class embedding, z chunk]
                a = any_prior.arch
                assert cond.shape == (2, a.num_stages - layer, a.embedding_dim + a.chunk_dim)
            else:
                assert cond.shape == (2, 2 * any_prior.latent_shape[0])
        assert sizes == sorted(sizes) and sizes[-1] == any_prior.resolution

    def test_class_index_labels_and_embedding_agree(self, any_prior):
        z = any_prior.sample_latent(2, torch.Generator().manual_seed(2))
        with torch.no_grad():
            any_prior.class_index = 3
            by_index = any_prior.generate(z)
            by_labels = any_prior.generate(z, labels=torch.tensor([3, 3]))
            by_embedding = any_prior.generate(z, embedding=any_prior.class_embedding(torch.tensor([3])))
            onehot = torch.zeros(2, any_prior.num_classes)
            onehot[:, 3] = 1
            by_weights = any_prior.generate(z, labels=onehot)
            other = any_prior.generate(z, labels=torch.tensor([1, 1]))
            any_prior.class_index = 0
            by_default = any_prior.generate(z)
        torch.testing.assert_close(by_index, by_labels)
        torch.testing.assert_close(by_index, by_embedding)
        torch.testing.assert_close(by_index, by_weights)
        assert (by_index - other).abs().max() > 1e-3
        assert (by_index - by_default).abs().max() > 1e-3

    def test_class_interpolation_by_embedding(self, any_prior):
        z = any_prior.sample_latent(1, torch.Generator().manual_seed(3))
        a, b = any_prior.class_embedding(torch.tensor([1])), any_prior.class_embedding(torch.tensor([2]))
        mix = torch.zeros(1, any_prior.num_classes)
        mix[0, 1] = mix[0, 2] = 0.5
        with torch.no_grad():
            torch.testing.assert_close(any_prior.generate(z, embedding=(a + b) / 2),
                                       any_prior.generate(z, labels=mix))
            torch.testing.assert_close(any_prior.generate(z, embedding=a),
                                       any_prior.generate(z, labels=torch.tensor([1])))

    def test_tail_accepts_averaged_conditioning(self, any_prior):
        # multi-code composition averages side inputs over codes; the tail must use what it gets
        z = any_prior.sample_latent(2, torch.Generator().manual_seed(4))
        with torch.no_grad():
            for layer in any_prior.composition_layers:
                (f1, c1), (f2, c2) = any_prior.head(z[:1], layer, torch.tensor([0])), \
                    any_prior.head(z[1:], layer, torch.tensor([1]))
                img = any_prior.tail(((f1 + f2) / 2, (c1 + c2) / 2), layer)
                assert torch.isfinite(img).all() and img.shape[0] == 1
                # identical codes: composition with weights summing to one gives the code's image
                torch.testing.assert_close(any_prior.tail((f1, (c1 + c1) / 2), layer),
                                           any_prior.generate(z[:1], torch.tensor([0])), atol=1e-6, rtol=0)

    def test_blocks_cover_the_generator(self, any_prior):
        blocks = any_prior.blocks
        assert len(blocks) == len(any_prior.composition_layers) + 2
        in_blocks = {id(p) for b in blocks for p in b.parameters()}
        rest = [n for n, p in any_prior.named_parameters() if id(p) not in in_blocks
                and not n.startswith("discriminator.")]
        assert rest == ["class_table.weight"]

    def test_attributes(self, any_prior):
        assert any_prior.family in ("biggan", "biggan-deep")
        assert any_prior.latent_spaces == ("z",)
        assert any_prior.channels == 3
        assert isinstance(any_prior.num_classes, int)
        assert any_prior.name in any_prior.describe()

    def test_bad_calls(self, any_prior):
        z = any_prior.sample_latent(2)
        with pytest.raises(GanpriorError, match="class index 9999 is out of range"):
            any_prior.class_index = 9999
        with pytest.raises(GanpriorError, match="takes latents of"):
            any_prior.generate(torch.randn(2, any_prior.latent_shape[0] + 1))
        with pytest.raises(GanpriorError, match="labels must lie in"):
            any_prior.generate(z, labels=torch.tensor([0, any_prior.num_classes]))
        with pytest.raises(GanpriorError, match="not both"):
            any_prior.generate(z, labels=torch.tensor([0, 1]), embedding=any_prior.class_embedding(torch.tensor([0])))
        with pytest.raises(GanpriorError, match="embedding must be"):
            any_prior.generate(z, embedding=torch.zeros(2, 3))
        with pytest.raises(GanpriorError, match="features must be the"):
            any_prior.tail(any_prior.head(z, 1)[0], 1)
        with pytest.raises(GanpriorError, match="conditioning"):
            fmap, cond = any_prior.head(z, 1)
            any_prior.tail((fmap, cond[:, :-1]), 1)
        with pytest.raises(GanpriorError, match="not a composition layer"):
            any_prior.head(z, 99)


@pytest.mark.integration
class TestMultiCodeInversion:
    def test_every_layer_gives_finite_images(self, any_prior):
        from ganprior.inversion import invert
        from ganprior.tasks import build_degradation
        any_prior.requires_grad_(False)
        r_ = any_prior.resolution
        y = torch.rand(1, 3, r_, r_, generator=torch.Generator().manual_seed(0))
        for layer in any_prior.composition_layers:
            r = invert(y, build_degradation("reconstruct", r_), any_prior, method="multi", steps=2,
                       num_codes=2, layer=layer)
            assert r.images.shape == (1, 3, r_, r_), layer
            assert torch.isfinite(r.images).all(), layer


# -- sniffing ------------------------------------------------------------------------------------


class TestSniffing:
    def test_dcgan_and_other_objects_are_not_biggan(self):
        dcgan = DCGANPrior.random().state_dict()
        assert not is_biggan_state_dict(dcgan)
        assert not is_biggan_deep_state_dict(dcgan)
        for obj in (None, [], {"shared.weight": "x"}, torch.zeros(3)):
            assert not is_biggan_state_dict(obj) and not is_biggan_deep_state_dict(obj)

    def test_fixture_files(self, tmp_path):
        g = torch.load(dgp_dir() / "G_ema.pth", map_location="cpu", weights_only=True)
        d = torch.load(dgp_dir() / "D.pth", map_location="cpu", weights_only=True)
        hf = torch.load(deep_dir() / "pytorch_model.bin", map_location="cpu", weights_only=True)
        assert is_biggan_state_dict(g) and not is_biggan_deep_state_dict(g)
        assert not is_biggan_state_dict(d)
        assert is_biggan_deep_state_dict(hf) and not is_biggan_state_dict(hf)
        assert is_biggan_deep_folder(deep_dir()) and is_biggan_deep_folder(deep_dir() / "pytorch_model.bin")
        assert not is_biggan_deep_folder(dgp_dir())
        assert not is_biggan_deep_folder(tmp_path)
        assert not is_biggan_deep_folder(tmp_path / "absent")
        (tmp_path / "config.json").write_text("{not json")
        (tmp_path / "pytorch_model.bin").write_bytes(b"x")
        assert not is_biggan_deep_folder(tmp_path)

    def test_prefixed_hf_cache_names(self, tmp_path, deep_expected):
        shutil.copy(deep_dir() / "pytorch_model.bin", tmp_path / "biggan-deep-64-pytorch_model.bin")
        shutil.copy(deep_dir() / "config.json", tmp_path / "biggan-deep-64-config.json")
        prior = load_biggan_deep(tmp_path / "biggan-deep-64-pytorch_model.bin")
        with torch.no_grad():
            img = prior.generate(deep_expected["noise_t0.4"], deep_expected["class_labels"])
        assert max_abs(img, deep_expected["img_t0.4"]) < TOL


# -- security and bad input ----------------------------------------------------------------------


class CodeExecution:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class TestSafeLoading:
    def test_pickled_code_in_pth_is_refused(self, tmp_path):
        marker = tmp_path / "pwned"
        folder = tmp_path / "ckpt"
        folder.mkdir()
        torch.save({"shared.weight": torch.zeros(2, 2), "payload": CodeExecution(marker)}, folder / "G_ema.pth")
        for source in (folder, folder / "G_ema.pth"):
            with pytest.raises(GanpriorError, match="refused") as info:
                load_biggan(source)
            assert "\n" not in str(info.value)
        assert not marker.exists()

    def test_pickled_code_in_discriminator_is_refused(self, tmp_path):
        marker = tmp_path / "pwned"
        shutil.copy(dgp_dir() / "G_ema.pth", tmp_path / "G_ema.pth")
        torch.save({"payload": CodeExecution(marker)}, tmp_path / "D.pth")
        with pytest.raises(GanpriorError, match="D.pth.*refused"):
            load_biggan(tmp_path)
        assert not marker.exists()

    def test_pickled_code_in_legacy_bin_is_refused(self, tmp_path):
        marker = tmp_path / "pwned"
        (tmp_path / "config.json").write_text(json.dumps({"z_dim": 16, "channel_width": 8, "layers": [[True, 1, 1]],
                                                          "attention_layer_position": 9}))
        torch.save({"embeddings.weight": torch.zeros(2, 2), "payload": CodeExecution(marker)},
                   tmp_path / "pytorch_model.bin", _use_new_zipfile_serialization=False)
        for source in (tmp_path, tmp_path / "pytorch_model.bin"):
            with pytest.raises(GanpriorError, match="refused") as info:
                load_biggan_deep(source)
            assert "\n" not in str(info.value)
        assert not marker.exists()

    def test_legacy_format_is_read_with_weights_only(self, tmp_path, deep_expected):
        # the fixture itself is a legacy (non-zip) file; re-saving in the zip format changes nothing
        sd = torch.load(deep_dir() / "pytorch_model.bin", map_location="cpu", weights_only=True)
        torch.save(sd, tmp_path / "pytorch_model.bin")
        shutil.copy(deep_dir() / "config.json", tmp_path / "config.json")
        with torch.no_grad():
            img = load_biggan_deep(tmp_path).generate(deep_expected["noise_t0.4"], deep_expected["class_labels"])
        assert max_abs(img, deep_expected["img_t0.4"]) < TOL


class TestBadInput:
    def test_missing_files(self, tmp_path):
        with pytest.raises(GanpriorError, match="BigGAN checkpoint not found"):
            load_biggan(tmp_path / "absent" / "G_ema.pth")
        with pytest.raises(GanpriorError, match="no BigGAN generator checkpoint"):
            load_biggan(tmp_path)
        with pytest.raises(GanpriorError, match="BigGAN-deep weights not found"):
            load_biggan_deep(tmp_path)
        shutil.copy(deep_dir() / "pytorch_model.bin", tmp_path / "pytorch_model.bin")
        with pytest.raises(GanpriorError, match="BigGAN-deep config not found"):
            load_biggan_deep(tmp_path)

    def test_several_generators_need_a_choice(self, tmp_path):
        for suffix in ("a", "b"):
            shutil.copy(dgp_dir() / "G_ema.pth", tmp_path / f"G_ema_{suffix}.pth")
        with pytest.raises(GanpriorError, match="several generators"):
            load_biggan(tmp_path)
        assert load_biggan(tmp_path / "G_ema_a.pth").discriminator is None

    @pytest.mark.parametrize("damage", ["random", "truncated", "empty"])
    def test_corrupt_files(self, tmp_path, damage):
        g = (dgp_dir() / "G_ema.pth").read_bytes()
        hf = (deep_dir() / "pytorch_model.bin").read_bytes()
        data = {"random": (os.urandom(3000), os.urandom(3000)), "truncated": (g[:5000], hf[:5000]),
                "empty": (b"", b"")}[damage]
        (tmp_path / "G_ema.pth").write_bytes(data[0])
        (tmp_path / "pytorch_model.bin").write_bytes(data[1])
        shutil.copy(deep_dir() / "config.json", tmp_path / "config.json")
        with pytest.raises(GanpriorError, match="cannot read BigGAN generator checkpoint") as info:
            load_biggan(tmp_path / "G_ema.pth")
        assert "\n" not in str(info.value)
        with pytest.raises(GanpriorError, match="cannot read BigGAN-deep checkpoint") as info:
            load_biggan_deep(tmp_path)
        assert "\n" not in str(info.value)
        (tmp_path / "config.json").write_text("{broken")
        with pytest.raises(GanpriorError, match="cannot read BigGAN-deep config"):
            load_biggan_deep(tmp_path)

    def test_not_a_biggan_checkpoint(self, tmp_path):
        torch.save(DCGANPrior.random().state_dict(), tmp_path / "G_ema.pth")
        with pytest.raises(GanpriorError, match="not a BigGAN-PyTorch/DGP generator state dict"):
            load_biggan(tmp_path)
        torch.save(torch.zeros(3), tmp_path / "G.pth")
        with pytest.raises(GanpriorError, match="does not hold a state dict"):
            load_biggan(tmp_path / "G.pth")
        shutil.copy(deep_dir() / "config.json", tmp_path / "config.json")
        torch.save(DCGANPrior.random().state_dict(), tmp_path / "pytorch_model.bin")
        with pytest.raises(GanpriorError, match="not a pytorch_pretrained_biggan state dict"):
            load_biggan_deep(tmp_path)

    def test_wrong_shapes_in_dgp_checkpoint(self, tmp_path):
        sd = torch.load(dgp_dir() / "G_ema.pth", map_location="cpu", weights_only=True)
        sd["blocks.1.0.conv2.weight"] = torch.randn(64, 32, 3, 3)
        torch.save(sd, tmp_path / "G_ema.pth")
        with pytest.raises(GanpriorError, match=r"blocks\.1\.0\.conv2\.weight has shape \(64, 32, 3, 3\)"):
            load_biggan(tmp_path)
        sd = torch.load(dgp_dir() / "G_ema.pth", map_location="cpu", weights_only=True)
        del sd["blocks.2.0.bn2.stored_var"]
        torch.save(sd, tmp_path / "G_ema.pth")
        with pytest.raises(GanpriorError, match=r"missing weights .*blocks\.2\.0\.bn2\.stored_var"):
            load_biggan(tmp_path)
        sd = torch.load(dgp_dir() / "G_ema.pth", map_location="cpu", weights_only=True)
        sd["linear.weight"] = torch.randn(2000, 4)
        torch.save(sd, tmp_path / "G_ema.pth")
        with pytest.raises(GanpriorError, match="not 128 x a square"):
            load_biggan(tmp_path)
        sd = torch.load(dgp_dir() / "G_ema.pth", map_location="cpu", weights_only=True)
        sd["blocks.0.0.bogus.weight"] = torch.zeros(1)
        torch.save(sd, tmp_path / "G_ema.pth")
        with pytest.raises(GanpriorError, match="unexpected key 'blocks.0.0.bogus.weight'"):
            load_biggan(tmp_path)

    def test_config_must_agree_with_weights(self, tmp_path):
        shutil.copy(dgp_dir() / "G_ema.pth", tmp_path / "G_ema.pth")
        config = json.loads((dgp_dir() / "config.json").read_text())
        for key, value in (("G_ch", 16), ("shared_dim", 32), ("G_attn", "64"), ("dim_z", 30)):
            (tmp_path / "config.json").write_text(json.dumps({**config, key: value}))
            with pytest.raises(GanpriorError, match=f"config.json says {key}"):
                load_biggan(tmp_path)
        config = infer_generator_architecture(
            torch.load(dgp_dir() / "G_ema.pth", map_location="cpu", weights_only=True), None)
        assert config.dim_z == 20

    def test_wrong_discriminator(self, tmp_path):
        shutil.copy(dgp_dir() / "G_ema.pth", tmp_path / "G_ema.pth")
        d = torch.load(dgp_dir() / "D.pth", map_location="cpu", weights_only=True)
        d = {k: v for k, v in d.items() if not k.startswith("blocks.4.")}
        torch.save(d, tmp_path / "D.pth")
        with pytest.raises(GanpriorError, match="has 4 blocks, but a 64x64 BigGAN discriminator has 5"):
            load_biggan(tmp_path)

    def test_wrong_shapes_in_deep_checkpoint(self, tmp_path):
        config = json.loads((deep_dir() / "config.json").read_text())
        sd = torch.load(deep_dir() / "pytorch_model.bin", map_location="cpu", weights_only=True)
        torch.save(sd, tmp_path / "pytorch_model.bin")
        (tmp_path / "config.json").write_text(json.dumps({**config, "channel_width": 16}))
        with pytest.raises(GanpriorError, match=r"config.json says layers\[0\] channels"):
            load_biggan_deep(tmp_path)
        (tmp_path / "config.json").write_text(json.dumps({**config, "output_dim": 128}))
        with pytest.raises(GanpriorError, match="config.json says output_dim = 128"):
            load_biggan_deep(tmp_path)
        (tmp_path / "config.json").write_text(json.dumps({**config, "attention_layer_position": 3}))
        with pytest.raises(GanpriorError, match="attention_layer_position"):
            load_biggan_deep(tmp_path)
        (tmp_path / "config.json").write_text(json.dumps(config))
        sd["generator.layers.2.conv_1.weight_orig"] = torch.randn(16, 16, 1, 1)
        torch.save(sd, tmp_path / "pytorch_model.bin")
        shape_error = r"generator\.layers\.2\.conv_1\.weight_orig has shape \(16, 16, 1, 1\)"
        with pytest.raises(GanpriorError, match=shape_error):
            load_biggan_deep(tmp_path)
