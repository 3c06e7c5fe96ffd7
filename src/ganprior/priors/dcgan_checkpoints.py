"""DCGAN checkpoint formats: the PyTorch tutorial layout, ganprior's own ``net.*`` layout, and the
safetensors prior file that ``ganprior train`` exports."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import GanpriorError
from .dcgan import DCGANDiscriminator, DCGANPrior
from .families import Check, CheckpointFamily, register_family, unwrap_state_dict


def load_safetensors_prior(path: str | os.PathLike, name: str | None = None) -> DCGANPrior:
    """A prior exported by ``ganprior train`` (``generator.*`` + optional ``discriminator.*``)."""
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


def is_ganprior_layout(state_dict: dict) -> bool:
    """ganprior's own DCGAN layout: every key ``net.{block}.{0 conv, 1 bn}.*``."""
    return "net.0.0.weight" in state_dict and all(k.startswith("net.") for k in state_dict)


def tutorial_from_ganprior_layout(state_dict: dict) -> dict:
    """``net.{block}.{pos}.*`` keys renamed to the tutorial's ``main.{3 block + pos}.*``."""
    tutorial = {}
    for k, v in state_dict.items():
        _, block, pos, rest = k.split(".", 3)
        tutorial[f"main.{int(block) * 3 + int(pos)}.{rest}"] = v
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
