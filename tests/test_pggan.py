"""PGGAN prior: parity with the genforce / mGANprior reference outputs, layouts, discriminator, safety."""

import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganprior.errors import GanpriorError
from ganprior.priors import DCGANPrior
from ganprior.priors.pggan import (DownsampleConv2d, EqualizedConv2d, PGGANDiscriminator, PGGANPrior,
                                   UpsampleConv2d, genforce_stage_channels, is_pggan_state_dict, load_pggan,
                                   minibatch_stddev)

from .conftest import shared_path

FIXTURE = ("fixtures", "pggan-genforce")
PLAIN = "pggan_tiny32_generator.pth"
FUSED = "pggan_tiny32_fusedscale_generator.pth"
TOL = 1e-4


@pytest.fixture(scope="module")
def expected():
    return dict(np.load(shared_path(*FIXTURE, "expected.npz")))


def fixture_state_dict(filename):
    return torch.load(shared_path(*FIXTURE, filename), map_location="cpu", weights_only=True)


def max_abs(a, b):
    return (torch.as_tensor(a) - torch.as_tensor(b)).abs().max().item()


def to_genforce_layout(mganprior_sd):
    """The mGANprior key layout rewritten the way genforce/genforce's PGGANGenerator names and
    orders its tensors: ``.conv.weight`` -> ``.weight``, ``.wscale.bias`` -> ``.bias``, fused
    kernels from TF order (k, k, in, out) to transposed-conv order (in, out, k, k)."""
    out = {}
    for key, value in mganprior_sd.items():
        if key.endswith(".conv.weight"):
            out[key.replace(".conv.weight", ".weight")] = value
        elif key.endswith(".wscale.bias"):
            out[key.replace(".wscale.bias", ".bias")] = value
        elif key.endswith(".weight"):  # fused up-sampling kernel
            out[key] = value.permute(2, 3, 0, 1).contiguous()
        else:
            out[key] = value
    return out


def genforce_state_dicts(resolution=16, z_dim=24, fmaps_base=256, fmaps_max=32, mbstd=True, seed=0):
    """A random genforce training dict, built from genforce's key names and shapes:
    generator ``layer{i}`` / ``output{s}`` (weight + bias), discriminator ``input{b}`` and
    ``layer{j}`` up to the logit ``layer{2S}``."""
    g = torch.Generator().manual_seed(seed)

    def nf(res):
        return min(fmaps_base // res, fmaps_max)

    def rand(*shape, scale=1.0):
        return torch.randn(shape, generator=g) * scale

    num_stages = int(math.log2(resolution)) - 1
    gen = {"lod": torch.zeros(())}
    for s in range(num_stages):
        res = 4 * 2 ** s
        first = rand(nf(4), z_dim, 4, 4) if s == 0 else rand(nf(res), nf(res // 2), 3, 3)
        gen.update({f"layer{2 * s}.weight": first, f"layer{2 * s}.bias": rand(nf(res), scale=0.1),
                    f"layer{2 * s + 1}.weight": rand(nf(res), nf(res), 3, 3),
                    f"layer{2 * s + 1}.bias": rand(nf(res), scale=0.1),
                    f"output{s}.weight": rand(3, nf(res), 1, 1), f"output{s}.bias": rand(3, scale=0.1)})
    disc = {"lod": torch.zeros(())}
    for b in range(num_stages):
        res = resolution >> b
        disc.update({f"input{b}.weight": rand(nf(res), 3, 1, 1), f"input{b}.bias": rand(nf(res), scale=0.1)})
        if res != 4:
            disc.update({f"layer{2 * b}.weight": rand(nf(res), nf(res), 3, 3),
                         f"layer{2 * b}.bias": rand(nf(res), scale=0.1),
                         f"layer{2 * b + 1}.weight": rand(nf(res // 2), nf(res), 3, 3),
                         f"layer{2 * b + 1}.bias": rand(nf(res // 2), scale=0.1)})
        else:
            disc.update({f"layer{2 * b}.weight": rand(nf(4), nf(4) + int(mbstd), 3, 3),
                         f"layer{2 * b}.bias": rand(nf(4), scale=0.1),
                         f"layer{2 * b + 1}.weight": rand(nf(2), nf(4) * 16),
                         f"layer{2 * b + 1}.bias": rand(nf(2), scale=0.1),
                         f"layer{2 * b + 2}.weight": rand(1, nf(2)),
                         f"layer{2 * b + 2}.bias": rand(1, scale=0.1)})
    return gen, disc


# -- parity with the original code -------------------------------------------------------------------
class TestParity:
    def test_plain_generator_images_and_every_intermediate(self, expected):
        prior = load_pggan(shared_path(*FIXTURE, PLAIN))
        assert (prior.resolution, prior.latent_shape, prior.fused_scale) == (32, (64,), False)
        z_pre = torch.from_numpy(expected["z_preprocessed"])
        with torch.no_grad():
            img = prior.generate(z_pre)
            assert max_abs(img, expected["img"]) < TOL
            # the first pixel norm makes the scale of z irrelevant: raw z gives the same image
            raw = prior.generate(torch.from_numpy(expected["z"]))
            assert max_abs(raw, expected["img_from_raw_z"]) < TOL
            assert max_abs(raw, expected["img"]) < TOL
            # mGANprior's Sequential split: seq_out_k is what composing_layer=k composes
            for k in range(1, 9):
                feats = prior.head(z_pre[:2], k)
                assert max_abs(feats, expected[f"seq_out_{k}_first2"]) < TOL, k
            assert max_abs(img[:2], expected["seq_out_9_first2"]) < TOL
        # genforce postprocess: clip((x+1)*255/2 + 0.5).astype(uint8), NHWC
        uint8 = (prior.to_unit(img) * 255 + 0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        diff = (uint8.int() - torch.from_numpy(expected["img_uint8_NHWC"]).int()).abs()
        assert diff.max() <= 1 and (diff == 0).float().mean() > 0.999

    def test_fused_scale_generator(self, expected):
        prior = load_pggan(shared_path(*FIXTURE, FUSED))
        assert prior.fused_scale and prior.resolution == 32
        with torch.no_grad():
            img = prior.generate(torch.from_numpy(expected["z_preprocessed"]))
        assert max_abs(img, expected["img_fusedscale"]) < TOL

    def test_lod_one_renders_the_16px_stage_upsampled(self, expected):
        prior = load_pggan(fixture_state_dict(PLAIN))
        prior.lod.fill_(1.0)
        assert prior.composition_layers == {k: 64 for k in range(1, 7)}
        with torch.no_grad():
            img = prior.generate(torch.from_numpy(expected["z_preprocessed"]))
        assert img.shape == (8, 3, 32, 32)
        assert max_abs(img, expected["img_lod1"]) < TOL

    def test_multi_code_composition_matches_pggan_multi_z(self, expected):
        from ganprior.inversion.multi_code import MultiCode
        prior = load_pggan(fixture_state_dict(PLAIN))
        # the reference: alpha per channel, sum over 3 codes, divided by the number of codes
        param = MultiCode(prior, 2, num_codes=3, layer=4, normalize=True)
        with torch.no_grad():
            param.codes.copy_(torch.from_numpy(expected["multiz_z"]))
            param.importance.copy_(torch.from_numpy(expected["multiz_alpha"]))
            assert max_abs(param(), expected["multiz_img"]) < TOL

    @pytest.mark.parametrize("filename,key", [(PLAIN, "img"), (FUSED, "img_fusedscale")])
    def test_genforce_training_dict_uses_generator_smooth(self, expected, filename, key):
        smooth = to_genforce_layout(fixture_state_dict(filename))
        raw_generator = {k: v + 1.0 if k.endswith("bias") else v for k, v in smooth.items()}
        _, disc = genforce_state_dicts(resolution=32, fmaps_base=1024, fmaps_max=64)
        prior = load_pggan({"generator": raw_generator, "discriminator": disc, "generator_smooth": smooth})
        assert prior.fused_scale == (filename == FUSED)
        with torch.no_grad():
            img = prior.generate(torch.from_numpy(expected["z_preprocessed"]))
        assert max_abs(img, expected[key]) < TOL
        assert isinstance(prior.discriminator, PGGANDiscriminator)


# -- structure --------------------------------------------------------------------------------------
class TestStructure:
    @pytest.mark.parametrize("filename", [PLAIN, FUSED])
    def test_head_tail_consistent_at_every_layer(self, filename):
        prior = load_pggan(shared_path(*FIXTURE, filename))
        assert prior.family == "pggan" and prior.latent_spaces == ("z",) and prior.num_classes is None
        assert prior.composition_layers == {1: 64, 2: 64, 3: 64, 4: 64, 5: 64, 6: 64, 7: 32, 8: 32}
        assert len(prior.blocks) == 9 and prior.discriminator is None
        z = torch.randn(3, 64, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            full = prior.generate(z)
            for layer, channels in prior.composition_layers.items():
                feats = prior.head(z, layer)
                size = 4 * 2 ** ((layer - 1) // 2)
                assert feats.shape == (3, channels, size, size)
                torch.testing.assert_close(prior.tail(feats, layer), full, rtol=0, atol=1e-6)
            torch.testing.assert_close(prior.generate(z[:, :, None, None]), full)
        with pytest.raises(GanpriorError, match="composition layer"):
            prior.head(z, 9)
        with pytest.raises(GanpriorError, match=r"latents of shape \(B, 64\)"):
            prior.generate(torch.randn(2, 32))

    @pytest.mark.parametrize("filename", [PLAIN, FUSED])
    def test_export_round_trips_both_layouts(self, filename):
        sd = fixture_state_dict(filename)
        prior = load_pggan(sd)
        back = prior.export_state_dict("mganprior")
        assert list(back) == list(sd)
        for key in sd:
            assert torch.equal(back[key], sd[key]), key
        genforce = to_genforce_layout(sd)
        back = load_pggan(genforce).export_state_dict("genforce")
        assert list(back) == list(genforce)
        for key in genforce:
            assert torch.equal(back[key], genforce[key]), key

    def test_fused_convs_equal_their_unfused_forms(self):
        torch.manual_seed(0)
        x = torch.randn(2, 4, 6, 6)
        up = UpsampleConv2d(4, 5)
        plain = EqualizedConv2d(4, 5, 3)
        with torch.no_grad():
            plain.weight.copy_(up.weight.transpose(0, 1).flip(2, 3))
            plain.bias.copy_(up.bias)
            torch.testing.assert_close(up(x), plain(F.interpolate(x, scale_factor=2)), rtol=0, atol=1e-5)
            down = DownsampleConv2d(4, 5)
            plain.weight.copy_(down.weight)
            plain.bias.copy_(down.bias)
            torch.testing.assert_close(down(x), F.avg_pool2d(plain(x), 2), rtol=0, atol=1e-5)

    @pytest.mark.parametrize("layer", range(1, 9))
    def test_multi_code_inversion_runs_at_every_layer(self, layer):
        from ganprior.inversion import invert
        from ganprior.tasks import build_degradation
        prior = load_pggan(shared_path(*FIXTURE, PLAIN))
        for p in prior.parameters():
            p.requires_grad_(False)
        y = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(layer))
        r = invert(y, build_degradation("reconstruct", prior.resolution), prior, method="multi",
                   steps=2, num_codes=2, layer=layer)
        assert r.images.shape == (1, 3, 32, 32) and torch.isfinite(r.images).all()
        assert r.params["importance"].shape == (1, 2, prior.composition_layers[layer])


# -- sniffing ---------------------------------------------------------------------------------------
def test_sniffing():
    gen, disc = genforce_state_dicts()
    assert is_pggan_state_dict(fixture_state_dict(PLAIN))
    assert is_pggan_state_dict(fixture_state_dict(FUSED))
    assert is_pggan_state_dict(gen)
    assert is_pggan_state_dict({"generator": gen, "discriminator": disc, "generator_smooth": gen})
    assert is_pggan_state_dict({"models": {"generator": gen, "discriminator": disc}})
    assert not is_pggan_state_dict(disc)
    assert not is_pggan_state_dict(DCGANPrior.random().state_dict())
    assert not is_pggan_state_dict({})


# -- discriminator ----------------------------------------------------------------------------------
class TestDiscriminator:
    def test_loads_strictly_with_expected_features_and_round_trips(self, tmp_path):
        gen, disc = genforce_state_dicts(resolution=16, z_dim=24, fmaps_base=256, fmaps_max=32)
        path = tmp_path / "pggan16_training.pth"
        torch.save({"generator": gen, "discriminator": disc, "generator_smooth": gen}, path)
        prior = load_pggan(path)
        assert prior.name == "pggan16_training"
        assert (prior.resolution, prior.latent_shape) == (16, (24,))
        assert prior.composition_layers == {1: 32, 2: 32, 3: 32, 4: 32, 5: 16, 6: 16}
        D = prior.discriminator
        assert isinstance(D, PGGANDiscriminator) and not D.training
        assert D.config == {"stage_channels": [16, 32, 32], "dense_channels": 32, "image_channels": 3,
                            "mbstd_group_size": 16, "fused_scale": False}
        back = D.export_state_dict()
        assert list(back) == list(disc)
        for key in disc:
            assert torch.equal(back[key], disc[key]), key
        # generator's own export also round-trips the genforce layout
        back = prior.export_state_dict("genforce")
        assert list(back) == list(gen) and all(torch.equal(back[k], gen[k]) for k in gen)

        with torch.no_grad():
            x = prior.generate(torch.randn(4, 24)).clamp(-1, 1)
            feats = D.features(x)
            assert [tuple(f.shape) for f in feats] == [(4, 32, 8, 8), (4, 32, 4, 4), (4, 32, 4, 4)]
            logits = D(x)
        assert logits.shape == (4,) and torch.isfinite(logits).all()
        with pytest.raises(GanpriorError, match=r"images of shape \(B, 3, 16, 16\)"):
            D(torch.zeros(1, 3, 32, 32))

    def test_without_minibatch_stddev(self):
        gen, disc = genforce_state_dicts(mbstd=False)
        D = load_pggan({"generator_smooth": gen, "discriminator": disc}).discriminator
        assert D.mbstd_group_size == 0
        with torch.no_grad():  # no batch statistics: each logit depends only on its own image
            x = torch.randn(3, 3, 16, 16)
            torch.testing.assert_close(D(x)[:1], D(x[:1]))

    def test_minibatch_stddev_matches_direct_computation(self):
        x = torch.randn(6, 5, 4, 4, generator=torch.Generator().manual_seed(0))
        out = minibatch_stddev(x, group_size=3)  # 3 groups of 2: sample i is in subgroup i % 2
        assert out.shape == (6, 6, 4, 4)
        torch.testing.assert_close(out[:, :5], x)
        for sub in range(2):
            members = x[sub::2]
            stat = torch.sqrt(members.var(dim=0, unbiased=False) + 1e-8).mean()
            torch.testing.assert_close(out[sub::2, 5], stat.expand(3, 4, 4))

    def test_unknown_missing_and_mismatched_keys_are_refused(self):
        gen, disc = genforce_state_dicts()
        with pytest.raises(GanpriorError, match=r"unexpected key\(s\) in PGGAN discriminator.*layer99.bias"):
            load_pggan({"generator": gen, "discriminator": {**disc, "layer99.bias": torch.zeros(1)}})
        broken = {k: v for k, v in disc.items() if k != "layer1.bias"}
        with pytest.raises(GanpriorError, match="missing key.*layer1.bias"):
            load_pggan({"generator": gen, "discriminator": broken})
        conditional = {**disc, "layer6.weight": torch.randn(4, 32), "layer6.bias": torch.zeros(4)}
        with pytest.raises(GanpriorError, match="class-conditional"):
            load_pggan({"generator": gen, "discriminator": conditional})
        _, disc32 = genforce_state_dicts(resolution=32)
        with pytest.raises(GanpriorError, match="do not belong together"):
            load_pggan({"generator": gen, "discriminator": disc32})


# -- bad and unsafe input ---------------------------------------------------------------------------
class _CodeExecutionPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class TestBadInput:
    def test_pickle_payload_is_refused_and_never_runs(self, tmp_path):
        marker = tmp_path / "payload_ran"
        path = tmp_path / "evil_generator.pth"
        sd = dict(fixture_state_dict(PLAIN))
        sd["lod"] = _CodeExecutionPayload(marker)
        torch.save(sd, path)
        with pytest.raises(GanpriorError, match="cannot read PGGAN checkpoint"):
            load_pggan(path)
        assert not marker.exists()

    def test_truncated_file(self, tmp_path):
        data = shared_path(*FIXTURE, PLAIN).read_bytes()
        path = tmp_path / "truncated_generator.pth"
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(GanpriorError, match=r"cannot read PGGAN checkpoint .*truncated_generator\.pth"):
            load_pggan(path)

    def test_missing_file_and_non_dict(self, tmp_path):
        with pytest.raises(GanpriorError, match="not found"):
            load_pggan(tmp_path / "absent.pth")
        torch.save([torch.zeros(2)], tmp_path / "list.pth")
        with pytest.raises(GanpriorError, match="does not hold a state dict"):
            load_pggan(tmp_path / "list.pth")

    def test_wrong_shape(self):
        sd = dict(fixture_state_dict(PLAIN))
        sd["layer3.conv.weight"] = torch.zeros(64, 32, 3, 3)
        with pytest.raises(GanpriorError, match=r"shape mismatch for layer3\.conv\.weight.*\(64, 32, 3, 3\).*\(64, 64, 3, 3\)"):
            load_pggan(sd)
        sd = dict(fixture_state_dict(FUSED))
        sd["layer4.weight"] = sd["layer4.weight"].permute(2, 3, 0, 1)  # torch order where TF order belongs
        with pytest.raises(GanpriorError, match=r"shape mismatch for layer4\.weight"):
            load_pggan(sd)

    def test_unknown_and_missing_keys(self):
        sd = dict(fixture_state_dict(PLAIN))
        with pytest.raises(GanpriorError, match=r"unexpected key\(s\).*extra\.weight"):
            load_pggan({**sd, "extra.weight": torch.zeros(1)})
        del sd["layer5.wscale.bias"]
        with pytest.raises(GanpriorError, match=r"missing key\(s\): layer5\.wscale\.bias"):
            load_pggan(sd)

    def test_not_a_pggan(self):
        with pytest.raises(GanpriorError, match="not a PGGAN generator checkpoint"):
            load_pggan(DCGANPrior.random().state_dict())

    def test_fractional_lod_is_refused(self):
        sd = dict(fixture_state_dict(PLAIN))
        sd["lod"] = torch.tensor(0.5)
        with pytest.raises(GanpriorError, match="lod=0.5.*fade-in"):
            load_pggan(sd)

    def test_missing_lod_means_fully_grown(self, expected):
        sd = {k: v for k, v in fixture_state_dict(PLAIN).items() if k != "lod"}
        with torch.no_grad():
            img = load_pggan(sd).generate(torch.from_numpy(expected["z_preprocessed"]))
        assert max_abs(img, expected["img"]) < TOL


def test_random_prior_layers():
    prior = PGGANPrior.random(latent_dim=16, stage_channels=(16, 16, 8), fused_scale=True)
    assert prior.resolution == 16 and prior.composition_layers == {1: 16, 2: 16, 3: 16, 4: 16, 5: 8, 6: 8}
    with torch.no_grad():
        assert prior.generate(prior.sample_latent(2)).shape == (2, 3, 16, 16)
    reloaded = load_pggan(prior.export_state_dict("mganprior"))
    assert reloaded.fused_scale
    z = torch.randn(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(reloaded.generate(z), prior.generate(z))


def test_genforce_stage_channels():
    assert genforce_stage_channels(32, fmaps_base=1024, fmaps_max=64) == [64, 64, 64, 32]  # the fixture
    assert genforce_stage_channels(256) == [512, 512, 512, 512, 256, 128, 64]
    assert len(genforce_stage_channels(1024)) == 9
