"""Every supported checkpoint format: sniffed from its content, loaded by ``load_prior`` and
usable from the CLI (`inspect`, `--prior PATH` with every method). Parity lives in the per-family tests."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from ganprior.checkpoint_limits import check_torch_zip
from ganprior.cli import main
from ganprior.errors import GanpriorError
from ganprior.inversion import invert
from ganprior.tasks import build_degradation
from ganprior.priors import load_prior
from ganprior.priors.zoo import configure_prior, sniff_checkpoint
from ganprior.safe_pickle import restricted_load, safe_torch_load
from ganprior.subspaces import Subspaces

from .conftest import assert_one_line_error, run_cli, shared_path
from .crafted_checkpoints import CRAFTED, nvlabs_pickle_with_ops, write_crafted

FIXTURES = {
    # path under ../shared/fixtures: (format, family, resolution, has discriminator)
    "pggan-genforce/pggan_tiny32_generator.pth": ("pggan", "pggan", 32, False),
    "pggan-genforce/pggan_tiny32_fusedscale_generator.pth": ("pggan", "pggan", 32, False),
    "rosinality-stylegan2/000000.pt": ("stylegan2-rosinality", "stylegan2", 64, True),
    "rosinality-stylegan2/stylegan2-converted-style.pt": ("stylegan2-rosinality", "stylegan2", 64, True),
    "stylegan2-ada-pytorch/network-snapshot-000000.pkl": ("stylegan2-nvlabs", "stylegan2", 32, True),
    "biggan-dgp/G_ema.pth": ("biggan", "biggan", 64, True),
    "biggan-dgp": ("biggan", "biggan", 64, True),
    "pytorch-pretrained-biggan": ("biggan-deep", "biggan-deep", 64, False),
    "pytorch-pretrained-biggan/pytorch_model.bin": ("biggan-deep", "biggan-deep", 64, False),
}


@pytest.mark.integration
@pytest.mark.parametrize("rel", sorted(FIXTURES))
def test_sniff_load_and_inspect(rel, capsys):
    path = shared_path("fixtures", *rel.split("/"))
    fmt, family, resolution, has_d = FIXTURES[rel]
    assert sniff_checkpoint(path) == fmt
    prior = load_prior(path)
    assert (prior.family, prior.resolution, prior.discriminator is not None) == (family, resolution, has_d)
    assert not any(p.requires_grad for p in prior.parameters())
    assert main(["inspect", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == family and info["resolution"] == resolution
    assert {int(k): v for k, v in info["composition_layers"].items()} == prior.composition_layers
    assert (info["discriminator"] is not None) == has_d


@pytest.mark.integration
@pytest.mark.parametrize("rel", ["pggan-genforce/pggan_tiny32_generator.pth", "rosinality-stylegan2/000000.pt",
                                 "stylegan2-ada-pytorch/network-snapshot-000000.pkl", "biggan-dgp",
                                 "pytorch-pretrained-biggan"])
def test_subspace_method_runs_on_every_family(rel):
    prior = load_prior(shared_path("fixtures", *rel.split("/")))
    layer = sorted(prior.composition_layers)[1]
    channels = prior.composition_layers[layer]
    groups = np.arange(channels) % 2
    sub = Subspaces(layer, 2, groups, np.zeros((channels, channels)), np.zeros(1))
    y = torch.rand(1, 3, prior.resolution, prior.resolution)
    r = invert(y, build_degradation("inpaint", prior.resolution, mask=torch.ones(1, 1, prior.resolution,
                                                                                 prior.resolution)),
               prior, method="subspace", steps=2, layer=layer, subspaces=sub, num_codes=2)
    assert r.images.shape == y.shape and torch.isfinite(r.images).all()


@pytest.mark.integration
def test_cli_prior_path_every_family(tmp_path, capsys):
    face = tmp_path / "face.png"
    from PIL import Image
    Image.fromarray((np.random.default_rng(0).random((40, 40, 3)) * 255).astype(np.uint8)).save(face)
    runs = [("stylegan2-ada-pytorch/network-snapshot-000000.pkl", ["--latent-space", "w+", "--truncation", "0.7"]),
            ("biggan-dgp", ["--class", "3"]),
            ("pytorch-pretrained-biggan", ["--class", "7", "--truncation", "0.5"]),
            ("pggan-genforce/pggan_tiny32_fusedscale_generator.pth", [])]
    for rel, extra in runs:
        ckpt = shared_path("fixtures", *rel.split("/"))
        out = tmp_path / rel.replace("/", "_")
        code = main(["super-resolve", str(face), "--factor", "2", "--simulate", "--prior", str(ckpt), "--steps", "2",
                     "--codes", "2", "--out", str(out), "--quiet", *extra])
        assert code == 0, capsys.readouterr().err
        assert json.loads((out / "metrics.json").read_text())[0]["psnr"] > 0


def test_configure_prior_refuses_what_a_family_lacks():
    prior = load_prior(shared_path("fixtures", "pggan-genforce", "pggan_tiny32_generator.pth"))
    with pytest.raises(GanpriorError, match="latent spaces z, not 'w'"):
        configure_prior(prior, latent_space="w")
    with pytest.raises(GanpriorError, match="not class-conditional"):
        configure_prior(prior, class_index=1)
    with pytest.raises(GanpriorError, match="no truncation"):
        configure_prior(prior, truncation=0.5)
    big = load_prior(shared_path("fixtures", "biggan-dgp"))
    with pytest.raises(GanpriorError, match=r"out of range .*0\.\.9"):
        configure_prior(big, class_index=10)
    assert configure_prior(big, class_index=4).class_index == 4


def test_unknown_files_are_refused_clearly(tmp_path):
    junk = tmp_path / "model.pth"
    torch.save({"foo.weight": torch.zeros(3)}, junk)
    with pytest.raises(GanpriorError, match="unrecognised checkpoint layout"):
        load_prior(junk)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(GanpriorError, match="without a known checkpoint"):
        load_prior(empty_dir)
    assert main(["inspect", str(tmp_path / "missing.pth")]) == 2


# -- issue #26: what a checkpoint declares is checked before it is allocated ------------------------------

@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_checkpoint_is_a_one_line_error(name, tmp_path):
    path = write_crafted(tmp_path, name)
    with pytest.raises(GanpriorError, match=re.escape(CRAFTED[name][1])) as err:
        load_prior(path)
    assert "\n" not in str(err.value) and path.name in str(err.value)


@pytest.mark.integration
@pytest.mark.parametrize("name", ["zip_bomb.pth", "range.pkl", "classes_json.safetensors", "net_depth_short.pth",
                                  "net_depth_name.pth", "huge_shapes.pth"])
def test_inspect_gives_one_line_error_on_crafted_checkpoint(name, tmp_path, capsys):
    code, _, err = run_cli(["inspect", write_crafted(tmp_path, name)], capsys)
    assert_one_line_error(code, err, CRAFTED[name][1])


def test_zip_bomb_is_refused_from_its_declared_sizes(tmp_path):
    path = write_crafted(tmp_path, "zip_bomb.pth")
    size = path.stat().st_size
    with pytest.raises(GanpriorError, match=rf"inflate to 128\.0 MB from a file of {size:,} bytes \(more than 20x"):
        safe_torch_load(path)
    ok = tmp_path / "ok.pth"
    torch.save({"a": torch.ones(3)}, ok)
    total, sizes = check_torch_zip(ok)
    assert sizes["ok/data/0"] == 12 and total == sum(sizes.values()) < 2 * ok.stat().st_size


def test_zip_archive_shapes_torch_would_read_differently_are_refused(tmp_path):
    import warnings
    import zipfile
    dup = tmp_path / "dup.pth"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name it writes
        with zipfile.ZipFile(dup, "w") as zf:
            zf.writestr("archive/data.pkl", b"\x80\x02}.")
            zf.writestr("archive/data.pkl", b"\x80\x02}.")
    with pytest.raises(GanpriorError, match="two entries named 'archive/data.pkl'"):
        safe_torch_load(dup)
    nopkl = tmp_path / "nopkl.pth"
    with zipfile.ZipFile(nopkl, "w") as zf:
        zf.writestr("archive/version", "3\n")
        zf.writestr("other/data.pkl", b"\x80\x02}.")
    with pytest.raises(GanpriorError, match=r"a zip archive without archive/data\.pkl is not a torch\.save checkpoint"):
        safe_torch_load(nopkl)


def test_checkpoint_size_limit_is_configurable(tmp_path, monkeypatch, tiny_checkpoint):
    monkeypatch.setenv("GANPRIOR_MAX_CHECKPOINT_GB", "0.000001")  # 1 KB
    with pytest.raises(GanpriorError, match=r"bytes of data, over the 1,073 bytes limit \(raise it with "
                                            r"GANPRIOR_MAX_CHECKPOINT_GB\)"):
        load_prior(tiny_checkpoint)
    monkeypatch.setenv("GANPRIOR_MAX_CHECKPOINT_GB", "lots")
    with pytest.raises(GanpriorError, match="GANPRIOR_MAX_CHECKPOINT_GB must be a positive number of GB, got 'lots'"):
        load_prior(tiny_checkpoint)
    monkeypatch.setenv("GANPRIOR_MAX_CHECKPOINT_GB", "1")
    assert load_prior(tiny_checkpoint).resolution == 16


_NP_RECONSTRUCT = (getattr(np, "_core", None) or np.core).multiarray._reconstruct


class _Reduce:
    """Pickles as ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("obj, what", [
    (_Reduce(list, range(50_000_000)), "builtins.list to build 50,000,000 items"),
    (_Reduce(tuple, range(10 ** 30)), "builtins.tuple to build an unbounded number of items"),
    (_Reduce(bytes, 10 ** 9), "builtins.bytes to build 1,000,000,000 items"),
    (_Reduce(bytearray, 10 ** 9), "builtins.bytearray to build 1,000,000,000 items"),
    (_Reduce(np.ndarray, (10 ** 5, 10 ** 5)), "numpy.ndarray to build 10,000,000,000 items"),
    (_Reduce(_NP_RECONSTRUCT, np.ndarray, (10 ** 9,), b"b"), "numpy's array reconstruction to build 1,000,000,000 items"),
    ([_Reduce(set, range(400_000)) for _ in range(3)], "builtins.set to build 400,000 items"),  # the cap is per file
])
def test_restricted_unpickler_refuses_oversized_builds_before_running_them(obj, what):
    import io
    import pickle
    data = pickle.dumps(obj, protocol=4)
    with pytest.raises(GanpriorError, match=rf"refused to load crafted\.pkl: its pickle asks {re.escape(what)}, "
                                            r"beyond the 1,000,000 a checkpoint's pickle may build"):
        restricted_load(io.BytesIO(data), source="crafted.pkl")


def test_restricted_unpickler_still_reads_real_data(tmp_path):
    import io
    import pickle
    obj = {"a": np.arange(6.0).reshape(2, 3), "s": {1, 2}, "f": frozenset([3]), "b": b"xy" * 10,
           "ba": bytearray(b"q" * 2_000_000),  # a copy of bytes the file holds: not counted against the cap
           "t": torch.arange(5.0), "scalar": np.float32(2.5)}
    for protocol in (2, 3, 4):
        out = restricted_load(io.BytesIO(pickle.dumps(obj, protocol=protocol)))
        assert np.array_equal(out["a"], obj["a"]) and out["s"] == {1, 2} and out["ba"] == obj["ba"]
        assert torch.equal(out["t"], obj["t"]) and out["scalar"] == 2.5


def test_pickle_opcode_cap(tmp_path, monkeypatch):
    import ganprior.safe_pickle as safe_pickle
    monkeypatch.setattr(safe_pickle, "MAX_PICKLE_OPS", 10_000)
    path = tmp_path / "ops.pkl"
    path.write_bytes(nvlabs_pickle_with_ops(20_000))
    with pytest.raises(GanpriorError, match=r"refused to load .*ops\.pkl: its pickle has more than 10,000 operations"):
        load_prior(path)
    path.write_bytes(nvlabs_pickle_with_ops(5_000))  # under the cap: read, then found not to be a network
    with pytest.raises(GanpriorError, match="no G_ema or G network"):
        load_prior(path)


@pytest.mark.parametrize("zip_format", [True, False])
def test_size_checks_keep_every_torch_save_file_readable(zip_format, tmp_path):
    import argparse
    import collections
    dtypes = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8, torch.uint8, torch.int16,
              torch.int32, torch.int64, torch.bool, torch.complex64, torch.complex128]
    obj = {str(d): torch.arange(12.0).to(d) for d in dtypes}
    p = torch.nn.Parameter(torch.ones(3))
    tagged = torch.ones(4)
    tagged.note = 3
    obj.update(param=p, tied=p, view=obj["torch.float32"][2:5], transposed=torch.zeros(2, 3).t(), tagged=tagged,
               od=collections.OrderedDict(a=torch.ones(2)), set={1, 2, 3}, args=argparse.Namespace(size=64),
               ba=bytearray(b"abc"), size=torch.Size([2, 3]), device=torch.device("cpu"), c=1 + 2j)
    path = tmp_path / "all.pth"
    torch.save(obj, path, _use_new_zipfile_serialization=zip_format)
    out = safe_torch_load(path, [argparse.Namespace])
    assert all(torch.equal(out[str(d)], obj[str(d)]) for d in dtypes)
    assert out["tagged"].note == 3 and out["args"].size == 64 and out["set"] == {1, 2, 3}
    assert out["tied"] is out["param"] and torch.equal(out["view"], torch.arange(2.0, 5.0))


def test_allocation_budget_refuses_before_allocating(tmp_path):
    from ganprior.checkpoint_limits import BUILD_ALLOWANCE, allocation_budget
    with allocation_budget(tmp_path / "x.pth", data_bytes=1000):
        torch.zeros(1000)
        torch.empty(10, 10).new_zeros((5, 5))
        with pytest.raises(GanpriorError, match=r"refused to build a prior from checkpoint .*x\.pth: the architecture "
                                                r".*\(a \(100000, 100000\) tensor reached it\)"):
            torch.empty(100_000, 100_000)  # 40 GB: refused, not attempted
        with pytest.raises(GanpriorError, match=r"a \(1, 70000000\) tensor"):
            torch.full((1, 70_000_000), 1.0, dtype=torch.float32)  # 280 MB, over the budget with what came before
    assert BUILD_ALLOWANCE < 280 * 2 ** 20
    torch.empty(1_000_000)  # outside the block nothing is counted
