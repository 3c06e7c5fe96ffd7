"""Loading BigGAN-PyTorch / DGP checkpoints (a generator, and its discriminator beside it); the
"biggan" checkpoint family.

Checkpoint layout (plain ``torch.save(state_dict)``, read with ``weights_only=True``)
------------------------------------------------------------------------------------
``G_ema.pth`` / ``G.pth``::

    shared.weight (n_classes, shared_dim)                    class embedding
    linear.{weight, bias, u0, sv0}                           stem
    blocks.{i}.0.{conv1, conv2, conv_sc}.{weight, bias, u0, sv0}
    blocks.{i}.0.{bn1, bn2}.{stored_mean, stored_var}
    blocks.{i}.0.{bn1, bn2}.{gain, bias}.{weight, u0, sv0}   conditional gain / bias projections
    blocks.{i}.1.{gamma, theta.*, phi.*, g.*, o.*}           attention after stage i, if any
    output_layer.0.{gain, bias, stored_mean, stored_var}     output batch norm
    output_layer.2.{weight, bias, u0, sv0}                   to-RGB conv

``D.pth``: ``blocks.{i}.0.{conv1, conv2, conv_sc}.*``, ``blocks.{i}.1.*`` (attention),
``linear.*``, ``embed.{weight, u0, sv0}``. DGP's optional instance-norm keys
(``blocks.{i}.0.in1/in2.*``) and extra singular vectors (``u1``, ``sv1`` ...) are accepted and
ignored. The keys are renamed into our own layout on load.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import GanpriorError
from ..families import Check, CheckpointFamily, register_family
from .architecture import (GENERATOR_MARKERS, infer_discriminator_architecture, infer_generator_architecture,
                           is_biggan_state_dict)
from .discriminator import BigGANDiscriminator
from .files import read_json, read_state_dict
from .prior import BigGANPrior
from .renaming import load_translated, translate_keys

_GENERATOR_MODULES = [
    (r"shared", r"class_table"),
    (r"linear", r"stem.linear"),
    (r"blocks\.(\d+)\.0\.conv1", r"stages.\1.block.conv1"),
    (r"blocks\.(\d+)\.0\.conv2", r"stages.\1.block.conv2"),
    (r"blocks\.(\d+)\.0\.conv_sc", r"stages.\1.block.skip"),
    (r"blocks\.(\d+)\.0\.bn([12])\.gain", r"stages.\1.block.norm\2.gain_proj"),
    (r"blocks\.(\d+)\.0\.bn([12])\.bias", r"stages.\1.block.norm\2.bias_proj"),
    (r"blocks\.(\d+)\.0\.bn([12])", r"stages.\1.block.norm\2"),
    (r"blocks\.(\d+)\.1\.theta", r"stages.\1.attention.query"),
    (r"blocks\.(\d+)\.1\.phi", r"stages.\1.attention.key"),
    (r"blocks\.(\d+)\.1\.g", r"stages.\1.attention.value"),
    (r"blocks\.(\d+)\.1\.o", r"stages.\1.attention.out"),
    (r"blocks\.(\d+)\.1", r"stages.\1.attention"),
    (r"output_layer\.0", r"output.norm"),
    (r"output_layer\.2", r"output.to_rgb"),
]
_DISCRIMINATOR_MODULES = [
    (r"blocks\.(\d+)\.0\.conv1", r"stages.\1.block.conv1"),
    (r"blocks\.(\d+)\.0\.conv2", r"stages.\1.block.conv2"),
    (r"blocks\.(\d+)\.0\.conv_sc", r"stages.\1.block.skip"),
    (r"blocks\.(\d+)\.1\.theta", r"stages.\1.attention.query"),
    (r"blocks\.(\d+)\.1\.phi", r"stages.\1.attention.key"),
    (r"blocks\.(\d+)\.1\.g", r"stages.\1.attention.value"),
    (r"blocks\.(\d+)\.1\.o", r"stages.\1.attention.out"),
    (r"blocks\.(\d+)\.1", r"stages.\1.attention"),
    (r"linear", r"classifier"),
    (r"embed", r"class_projection"),
]
_LEAVES = {"weight": "weight", "bias": "bias", "u0": "sn_u", "stored_mean": "running_mean",
           "stored_var": "running_var", "gain": "gain", "gamma": "gamma"}
# logged singular values, extra singular vectors (num_SVs > 1 only matter for sv0's u0), and
# DGP's instance norms (used only with its use_in option) play no part in eval-mode outputs
_IGNORED = re.compile(r"(\.sv\d+|\.u[1-9]\d*)$|^blocks\.\d+\.0\.in[12]\.")


def load_biggan_discriminator(path: str | Path, resolution: int, config: dict | None = None) -> BigGANDiscriminator:
    """A ``D.pth`` (BigGAN-PyTorch / DGP layout) as a ``BigGANDiscriminator`` in eval mode."""
    path = Path(path)
    sd = read_state_dict(path, "BigGAN discriminator checkpoint")
    source = str(path)
    arch = infer_discriminator_architecture(sd, resolution, config, source)
    D = BigGANDiscriminator(arch)
    tensors, origin = translate_keys(sd, _DISCRIMINATOR_MODULES, _LEAVES, _IGNORED, source)
    load_translated(D, tensors, origin, source, _DISCRIMINATOR_MODULES, _LEAVES)
    return D.eval()


_GENERATOR_FILE = re.compile(r"G(_ema)?(_.+)?\.pth")


def _find_generator_file(folder: Path) -> Path:
    for name in ("G_ema.pth", "G.pth"):
        if (folder / name).is_file():
            return folder / name
    candidates = sorted(p for p in folder.glob("G_ema_*.pth") if p.is_file())
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise GanpriorError(f"{folder} holds several generators ({', '.join(p.name for p in candidates)}); "
                            "give the path of the one to load")
    raise GanpriorError(f"no BigGAN generator checkpoint (G_ema.pth, G.pth or G_ema_<suffix>.pth) in {folder}")


def load_biggan(path: str | Path, name: str | None = None) -> BigGANPrior:
    """Load a BigGAN-PyTorch / DGP generator (and its discriminator when one lies beside it).

    ``path``: a ``G_ema[_suffix].pth`` / ``G[_suffix].pth`` file or the folder holding it.
    The discriminator ``D[_suffix].pth`` in the same folder, if present, becomes
    ``prior.discriminator``. A ``config.json`` in the folder, if present, must agree with the
    weights and provides the batch-norm / spectral-norm epsilons. Returns the prior in eval mode.
    """
    path = Path(path)
    if path.is_dir():
        g_file = _find_generator_file(path)
    elif path.is_file():
        g_file = path
    else:
        raise GanpriorError(f"BigGAN checkpoint not found: {path}")
    folder = g_file.parent
    sd = read_state_dict(g_file, "BigGAN generator checkpoint")
    if not is_biggan_state_dict(sd):
        raise GanpriorError(f"{g_file} is not a BigGAN-PyTorch/DGP generator state dict (expected keys "
                            f"{', '.join(GENERATOR_MARKERS)})")
    config_file = folder / "config.json"
    config = read_json(config_file, "BigGAN config") if config_file.is_file() else None
    arch = infer_generator_architecture(sd, config, str(g_file))
    prior = BigGANPrior(arch, name=name or (folder.name if g_file.name.startswith("G") else g_file.stem))
    tensors, origin = translate_keys(sd, _GENERATOR_MODULES, _LEAVES, _IGNORED, str(g_file))
    load_translated(prior, tensors, origin, str(g_file), _GENERATOR_MODULES, _LEAVES)
    match = _GENERATOR_FILE.fullmatch(g_file.name)
    if match:
        d_file = folder / f"D{match.group(2) or ''}.pth"
        if d_file.is_file():
            prior.discriminator = load_biggan_discriminator(d_file, arch.resolution, config)
    return prior.eval()


def is_biggan_folder(path: Path) -> bool:
    """Whether ``path`` is a folder holding a BigGAN generator file (``G*.pth``)."""
    return path.is_dir() and any(path.glob("G*.pth"))


def _build(path, checkpoint, name: str) -> BigGANPrior:
    return load_biggan(path, name)


register_family(CheckpointFamily("biggan", _build, file_check=Check(30, is_biggan_folder),
                                 state_check=Check(50, is_biggan_state_dict)))
