import numpy as np
import pytest
import torch

from ganprior.errors import GanpriorError
from ganprior.priors import DCGANPrior, infer_model_type, load_prior
from ganprior.priors.zoo import DIGIFACE_WEIGHTS, prior_from_checkpoint
from ganprior.registry_files import fetch_package_file

from .conftest import shared_path


class TestDCGANStructure:
    def test_layers_and_shapes(self, tiny_prior):
        assert tiny_prior.composition_layers == {1: 8, 2: 4}
        assert len(tiny_prior.blocks) == 3
        z = torch.randn(2, 8, 1, 1)
        assert tiny_prior.head(z, 1).shape == (2, 8, 4, 4)
        assert tiny_prior.head(z, 2).shape == (2, 4, 8, 8)
        assert tiny_prior.generate(z).shape == (2, 3, 16, 16)

    def test_head_tail_consistent_at_every_layer(self, tiny_prior):
        z = torch.randn(3, 8, 1, 1)
        full = tiny_prior.generate(z)
        for layer in tiny_prior.composition_layers:
            torch.testing.assert_close(tiny_prior.tail(tiny_prior.head(z, layer), layer), full)

    def test_flat_latent_accepted(self, tiny_prior):
        z = torch.randn(2, 8, 1, 1)
        torch.testing.assert_close(tiny_prior.generate(z.flatten(1)), tiny_prior.generate(z))

    def test_random_prior_is_seeded_and_pinned(self, tiny_prior):
        z = torch.randn(1, 8, 1, 1, generator=torch.Generator().manual_seed(0))
        out = tiny_prior.generate(z)
        again = DCGANPrior.random(latent_dim=8, width=4, resolution=16, seed=0).generate(z)
        torch.testing.assert_close(out, again)
        assert out.min() >= -1 and out.max() <= 1
        assert out.std() > 0.3  # calibrated: images use the tanh range
        expected_first = torch.tensor([-0.0089, 0.0300, 0.0042, -0.0728])
        expected_last = torch.tensor([-0.1360, 0.3032, 0.1443, -0.3944])
        torch.testing.assert_close(out[0, 0, 0, :4], expected_first, atol=2e-4, rtol=0)
        torch.testing.assert_close(out[0, 2, -1, -4:], expected_last, atol=2e-4, rtol=0)

    def test_bad_layer(self, tiny_prior):
        with pytest.raises(GanpriorError, match="layer 5 is not a composition layer"):
            tiny_prior.head(torch.randn(1, 8, 1, 1), 5)

    def test_bad_resolution(self):
        with pytest.raises(GanpriorError, match="power of two"):
            DCGANPrior(resolution=48)

    def test_compose_features_weighted_sum(self, tiny_prior):
        f = torch.arange(2 * 3 * 4 * 1 * 1, dtype=torch.float).view(2, 3, 4, 1, 1)
        w = torch.ones(2, 3, 4)
        w[:, 1] = 2.0
        out = tiny_prior.compose_features(f, w)
        torch.testing.assert_close(out, f[:, 0] + 2 * f[:, 1] + f[:, 2])


class TestCheckpoints:
    def test_tutorial_layout_round_trip(self, tiny_prior, tiny_checkpoint):
        loaded = prior_from_checkpoint(tiny_checkpoint)
        assert (loaded.latent_dim, loaded.width, loaded.resolution) == (8, 4, 16)
        z = torch.randn(2, 8, 1, 1)
        torch.testing.assert_close(loaded.generate(z), tiny_prior.generate(z))

    def test_own_layout_round_trip(self, tmp_path, tiny_prior):
        path = tmp_path / "own.pt"
        torch.save(tiny_prior.state_dict(), path)
        loaded = load_prior(str(path))
        z = torch.randn(2, 8, 1, 1)
        torch.testing.assert_close(loaded.generate(z), tiny_prior.generate(z))
        assert not any(p.requires_grad for p in loaded.parameters())

    def test_infer_model_type(self, tiny_prior):
        assert infer_model_type({"main.0.weight": torch.zeros(100, 512, 4, 4)}) == "dcgan"
        with pytest.raises(GanpriorError, match="unrecognised checkpoint layout"):
            infer_model_type({"foo.weight": torch.zeros(1)})

    def test_family_checks_run_in_a_fixed_order(self):
        from ganprior.priors.families import checks

        assert [name for name, _ in checks("file_check")] == ["ganprior", "biggan-deep", "biggan", "stylegan2-nvlabs"]
        assert [name for name, _ in checks("state_check")] == ["dcgan", "dcgan-ganprior", "pggan",
                                                               "stylegan2-rosinality", "biggan", "biggan-deep"]

    def test_a_family_rank_cannot_be_taken_twice(self):
        from ganprior.priors.families import FAMILIES, Check, CheckpointFamily, register_family

        clash = CheckpointFamily("clash", lambda path, checkpoint, name: None, state_check=Check(10, lambda sd: False))
        with pytest.raises(ValueError, match="rank 10 is taken by 'dcgan'"):
            register_family(clash)
        assert "clash" not in FAMILIES

    def test_not_a_checkpoint(self, tmp_path):
        bad = tmp_path / "bad.pth"
        bad.write_bytes(b"not a torch file")
        with pytest.raises(GanpriorError, match="cannot read prior checkpoint"):
            load_prior(str(bad))

    def test_missing_checkpoint_and_unknown_name(self, tmp_path):
        with pytest.raises(GanpriorError, match="not found"):
            load_prior(str(tmp_path / "nope.pth"))
        with pytest.raises(GanpriorError, match="unknown prior 'stylegan9'"):
            load_prior("stylegan9")


class TestZoo:
    def test_offline_without_cache_is_a_clear_error(self, tmp_path, monkeypatch):
        monkeypatch.setenv("GANPRIOR_CACHE", str(tmp_path))
        monkeypatch.setenv("GANPRIOR_OFFLINE", "1")
        monkeypatch.setattr("ganprior.registry_files._installed_copy", lambda spec: None)
        with pytest.raises(GanpriorError, match="GANPRIOR_OFFLINE"):
            fetch_package_file(DIGIFACE_WEIGHTS)

    def test_corrupt_cache_is_refetched_or_refused(self, tmp_path, monkeypatch):
        monkeypatch.setenv("GANPRIOR_CACHE", str(tmp_path))
        monkeypatch.setenv("GANPRIOR_OFFLINE", "1")
        monkeypatch.setattr("ganprior.registry_files._installed_copy", lambda spec: None)
        (tmp_path / "dcgan-digiface64.pt").write_bytes(b"truncated")
        with pytest.raises(GanpriorError):
            fetch_package_file(DIGIFACE_WEIGHTS)
        assert not (tmp_path / "dcgan-digiface64.pt").exists()  # the bad file is not kept


@pytest.mark.integration
class TestDigifaceParity:
    """The real embedded prior against ../shared/fixtures/dcgan-digiface (original implementation)."""

    def test_outputs_and_activations(self, real_prior):
        ref = np.load(shared_path("fixtures", "dcgan-digiface", "expected.npz"))
        z = torch.from_numpy(ref["z"])
        with torch.no_grad():
            np.testing.assert_allclose(real_prior.generate(z).numpy(), ref["out"], atol=1e-4)
            for layer, key in zip((1, 2, 3, 4), ("main.2_relu", "main.5_relu", "main.8_relu", "main.11_relu")):
                feats = real_prior.head(z, layer)
                np.testing.assert_allclose(feats.numpy(), ref[key], atol=1e-4, rtol=1e-4)
                torch.testing.assert_close(real_prior.tail(feats, layer), real_prior.generate(z))

    def test_registry_facts(self, real_prior):
        assert real_prior.resolution == 64
        assert real_prior.latent_shape == (100, 1, 1)
        assert real_prior.composition_layers == {1: 512, 2: 256, 3: 128, 4: 64}
