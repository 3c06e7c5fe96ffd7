from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ganprior.priors import DCGANPrior

torch.set_num_threads(1)  # the tiny test models are dominated by per-op overhead

SHARED = Path(os.environ.get("GANPRIOR_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test with a clear reason when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not available: {p}")
    return p


@pytest.fixture
def tiny_prior() -> DCGANPrior:
    """16x16 DCGAN with random weights: layers 1 (4x4, 8ch) and 2 (8x8, 4ch)."""
    torch.manual_seed(0)
    return DCGANPrior.random(latent_dim=8, width=4, resolution=16, seed=0)


@pytest.fixture(scope="session")
def real_prior():
    from ganprior.priors import load_prior
    return load_prior("dcgan-digiface64")


@pytest.fixture
def tiny_checkpoint(tmp_path, tiny_prior) -> Path:
    """The tiny prior saved in the DCGAN tutorial layout, loadable with --prior PATH."""
    sd = {}
    for k, v in tiny_prior.state_dict().items():
        _, block, pos, rest = k.split(".", 3)
        sd[f"main.{int(block) * 3 + int(pos)}.{rest}"] = v
    path = tmp_path / "tiny_dcgan.pth"
    torch.save({"netG_state_dict": sd}, path)
    return path


def write_png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    from PIL import Image
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


@pytest.fixture
def face_pngs(tmp_path, tiny_prior) -> list[Path]:
    """Three 32x32 RGB images that are upsampled samples of the tiny prior (so they are reachable)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        x = tiny_prior.to_unit(tiny_prior.generate(torch.randn(3, 8, 1, 1, generator=g))).clamp(0, 1)
    x = torch.nn.functional.interpolate(x, size=32, mode="nearest")
    paths = []
    d = tmp_path / "faces"
    d.mkdir()
    for i in range(3):
        arr = (x[i].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        paths.append(write_png(d / f"img{i}.png", arr))
    return paths


def run_cli(argv, capsys):
    """Run the ``ganprior`` command in-process: (exit code, stdout, stderr)."""
    from ganprior import cli
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, pattern):
    """A user error: exit 2 and exactly one ``ganprior: error:`` line containing ``pattern``."""
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("ganprior: error:"), err
    assert "Traceback" not in err
    assert pattern in lines[0], lines[0]


def periodic_image(size: int = 64) -> "torch.Tensor":
    """A smooth, periodic (1, 3, size, size) image in (0.2, 0.8): a circular blur loses no border, so a
    deconvolution can undo all of it."""
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    t = 2 * torch.pi / size
    return torch.stack([0.5 + 0.3 * torch.sin(3 * t * xx) * torch.cos(2 * t * yy),
                        0.5 + 0.25 * torch.sin(5 * t * (xx + yy)),
                        0.5 + 0.2 * torch.cos(7 * t * yy)])[None]


@pytest.fixture
def count_inversions(monkeypatch):
    """Counts the images that reach the inversion (both engines call pipeline.restore_batch)."""
    import ganprior.pipeline
    real = ganprior.pipeline.restore_batch
    seen: list[list[str]] = []

    def counting(inputs, idx, *a, **k):
        seen.append(list(inputs.names[idx]))
        return real(inputs, idx, *a, **k)

    monkeypatch.setattr(ganprior.pipeline, "restore_batch", counting)
    return seen
