"""DCGAN checkpoint formats: the PyTorch tutorial layout, ganprior's own ``net.*`` layout, and the
safetensors prior file that ``ganprior train`` exports."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

from ..checkpoint_limits import allocation_budget, check_safetensors, read_safetensors
from ..errors import GanpriorError
from .dcgan import DCGANDiscriminator, DCGANPrior
from .families import Check, CheckpointFamily, register_family, unwrap_state_dict


_G_FIELDS = {"latent_dim": 1, "width": 1, "resolution": 8, "channels": 1}  # required, with their minimum
_D_FIELDS = {"width": 1, "resolution": 8, "channels": 1}


def _json_entry(meta: dict, key: str, path: Path, kind: type):
    try:
        value = json.loads(meta[key])
    except ValueError as e:
        raise GanpriorError(f"{path}: metadata entry {key!r} is not valid JSON ({str(e).splitlines()[0][:120]})") \
            from None
    if not isinstance(value, kind):
        raise GanpriorError(f"{path}: metadata entry {key!r} is a JSON {type(value).__name__}, "
                            f"not {'an object' if kind is dict else 'a list'}")
    return value


def _architecture(meta: dict, key: str, path: Path, fields: dict[str, int]) -> dict:
    """The JSON architecture in metadata ``key``: an object whose size fields are integers."""
    config = _json_entry(meta, key, path, dict)
    for name in [*fields, "num_classes", "embed_dim"]:
        value = config.get(name)
        if name not in fields and value is None:
            continue
        low = fields.get(name, 0)
        if type(value) is not int or value < low:
            raise GanpriorError(f"{path}: metadata entry {key!r} has {name} {value!r}, not an integer >= {low}")
    return config


def read_prior_metadata(path: str | os.PathLike) -> tuple[dict, dict, dict | None, list[str]]:
    """``(metadata, generator config, discriminator config or None, class names)`` of a prior file
    exported by ``ganprior train``, checked (``check_safetensors``) without reading its tensors."""
    path = Path(path)
    if not path.is_file():
        raise GanpriorError(f"prior checkpoint not found: {path}")
    _, meta = check_safetensors(path, "prior file")
    if meta.get("format") != "ganprior-dcgan":
        raise GanpriorError(f"{path} is not a ganprior prior file (metadata format {meta.get('format')!r})")
    if "generator" not in meta:
        raise GanpriorError(f"{path}: metadata has no 'generator' entry")
    g_config = _architecture(meta, "generator", path, _G_FIELDS)
    d_config = _architecture(meta, "discriminator", path, _D_FIELDS) if "discriminator" in meta else None
    classes = _json_entry(meta, "classes", path, list) if "classes" in meta else []
    if not all(isinstance(c, str) for c in classes):
        raise GanpriorError(f"{path}: metadata entry 'classes' is not a list of class names")
    return meta, g_config, d_config, classes


def load_safetensors_prior(path: str | os.PathLike, name: str | None = None) -> DCGANPrior:
    """A prior exported by ``ganprior train`` (``generator.*`` + optional ``discriminator.*``)."""
    path = Path(path)
    meta, g_config, d_config, classes = read_prior_metadata(path)
    tensors = read_safetensors(path)
    try:
        with allocation_budget(path, what="prior file"):
            prior = DCGANPrior(g_config["latent_dim"], g_config["width"], g_config["resolution"],
                               g_config["channels"], name=name or path.stem,
                               num_classes=g_config.get("num_classes") or None,
                               embed_dim=g_config.get("embed_dim") or 0)
            prior.load_state_dict({k[len("generator."):]: v for k, v in tensors.items()
                                   if k.startswith("generator.")})
            if d_config is not None:
                D = DCGANDiscriminator(d_config["width"], d_config["resolution"], d_config["channels"],
                                       spectral=False, num_classes=d_config.get("num_classes") or None)
                D.load_state_dict({k[len("discriminator."):]: v for k, v in tensors.items()
                                   if k.startswith("discriminator.")})
                prior.discriminator = D.eval()
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        raise GanpriorError(f"{path}: weights do not match their recorded architecture: "
                            f"{str(e).splitlines()[0][:200]}") from None
    prior.classes = classes
    return prior.eval()


def is_ganprior_layout(state_dict: dict) -> bool:
    """ganprior's own DCGAN layout: every key ``net.{block}.{0 conv, 1 bn}.*``."""
    return "net.0.0.weight" in state_dict and all(isinstance(k, str) and k.startswith("net.") for k in state_dict)


def tutorial_from_ganprior_layout(state_dict: dict) -> dict:
    """``net.{block}.{pos}.*`` keys renamed to the tutorial's ``main.{3 block + pos}.*``; a key of
    another shape (``net.3``, ``net.x.0.weight``) is a one-line error naming it."""
    tutorial = {}
    for k, v in state_dict.items():
        m = re.fullmatch(r"net\.(\d+)\.([01])\.(\w+(?:\.\w+)*)", k)
        if not m:
            raise GanpriorError(f"unexpected key {k!r} in a ganprior-layout DCGAN checkpoint "
                                "(expected net.BLOCK.0.NAME or net.BLOCK.1.NAME)")
        if not isinstance(v, torch.Tensor):
            raise GanpriorError(f"entry {k!r} of a DCGAN checkpoint is a {type(v).__name__}, not a tensor")
        tutorial[f"main.{int(m.group(1)) * 3 + int(m.group(2))}.{m.group(3)}"] = v
    return tutorial


def _build_safetensors(path, checkpoint, name: str) -> DCGANPrior:
    return load_safetensors_prior(path, name)


def _build_tutorial(path, checkpoint, name: str) -> DCGANPrior:
    return DCGANPrior.from_state_dict(unwrap_state_dict(checkpoint), name=name)


def _build_ganprior_layout(path, checkpoint, name: str) -> DCGANPrior:
    return DCGANPrior.from_state_dict(tutorial_from_ganprior_layout(unwrap_state_dict(checkpoint)), name=name)


register_family(CheckpointFamily("ganprior", _build_safetensors,
                                 file_check=Check(10, lambda path: path.suffix == ".safetensors")))
register_family(CheckpointFamily("dcgan", _build_tutorial, state_check=Check(10, DCGANPrior.is_tutorial_state_dict)))
register_family(CheckpointFamily("dcgan-ganprior", _build_ganprior_layout, state_check=Check(20, is_ganprior_layout)))
