"""BigGAN-PyTorch / DGP architectures inferred from a checkpoint's tensor shapes.

The architecture is inferred from the tensor shapes (stages and their channels, attention
positions, embedding size, hierarchical chunk size, so the effective ``dim_z``); a
``config.json`` beside the weights (BigGAN-PyTorch constructor arguments) is optional: when
present its values must agree with the weights, and it supplies ``BN_eps`` / ``SN_eps``.
"""

from __future__ import annotations

import math

import torch

from ...errors import GanpriorError
from .discriminator import DiscriminatorArchitecture
from .generator import BigGANArchitecture

GENERATOR_MARKERS = ("shared.weight", "linear.weight", "blocks.0.0.conv1.weight", "output_layer.2.weight")


def is_biggan_state_dict(obj) -> bool:
    """Whether ``obj`` is a BigGAN-PyTorch / DGP generator state dict (``G_ema.pth`` / ``G.pth``)."""
    if not isinstance(obj, dict):
        return False
    if obj and all(isinstance(k, str) and k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return all(isinstance(obj.get(k), torch.Tensor) for k in GENERATOR_MARKERS)


def _count_blocks(state_dict: dict) -> int:
    n = 0
    while f"blocks.{n}.0.conv1.weight" in state_dict:
        n += 1
    return n


def _tensor(state_dict: dict, key: str, ndim: int, source: str) -> torch.Tensor:
    value = state_dict.get(key)
    if not isinstance(value, torch.Tensor):
        raise GanpriorError(f"{source}: missing weight {key!r}")
    if value.ndim != ndim:
        raise GanpriorError(f"{source}: {key} has shape {tuple(value.shape)}, expected {ndim} dimensions")
    return value


def infer_generator_architecture(state_dict: dict, config: dict | None = None,
                                 source: str = "BigGAN checkpoint") -> BigGANArchitecture:
    """The generator architecture from the tensor shapes, checked against ``config`` if given."""
    sd = state_dict
    if "blocks.0.0.bn1.gain.weight" in sd and "shared.weight" not in sd:
        raise GanpriorError(f"{source}: generators without a shared class embedding (G_shared=False) "
                            "are not supported")
    if any(".bn." in k or k.endswith("accumulation_counter") for k in sd):
        raise GanpriorError(f"{source}: checkpoints trained with --mybn (standing statistics) are not supported")
    table = _tensor(sd, "shared.weight", 2, source)
    num_classes, embedding_dim = table.shape
    n = _count_blocks(sd)
    if n == 0:
        raise GanpriorError(f"{source}: missing weight 'blocks.0.0.conv1.weight'")
    stage_channels, attention, skips = [], [], []
    for i in range(n):
        w = _tensor(sd, f"blocks.{i}.0.conv1.weight", 4, source)
        stage_channels.append((int(w.shape[1]), int(w.shape[0])))
        attention.append(f"blocks.{i}.1.gamma" in sd)
        skips.append(f"blocks.{i}.0.conv_sc.weight" in sd)
    kernel_size = int(_tensor(sd, "blocks.0.0.conv1.weight", 4, source).shape[-1])
    cond_dim = int(_tensor(sd, "blocks.0.0.bn1.gain.weight", 2, source).shape[1])
    chunk_dim = cond_dim - embedding_dim
    if chunk_dim < 0:
        raise GanpriorError(f"{source}: conditional batch norms take {cond_dim} inputs, fewer than the "
                            f"class embedding's {embedding_dim}")
    stem = _tensor(sd, "linear.weight", 2, source)
    stem_out, stem_dim = int(stem.shape[0]), int(stem.shape[1])
    c0 = stage_channels[0][0]
    bottom_width = math.isqrt(stem_out // c0) if stem_out % c0 == 0 else 0
    if bottom_width < 1 or c0 * bottom_width ** 2 != stem_out:
        raise GanpriorError(f"{source}: linear.weight has {stem_out} outputs, not {c0} x a square bottom size")
    if chunk_dim and stem_dim != chunk_dim:
        raise GanpriorError(f"{source}: hierarchical z chunks are {chunk_dim} long but linear.weight "
                            f"takes {stem_dim}")
    bn_eps, sn_eps = 1e-5, 1e-6   # BigGAN-PyTorch / DGP command-line defaults
    if config:
        bn_eps = float(config.get("BN_eps", bn_eps))
        sn_eps = float(config.get("SN_eps", sn_eps))
    arch = BigGANArchitecture(num_classes=int(num_classes), embedding_dim=int(embedding_dim),
                              chunk_dim=chunk_dim, stem_dim=stem_dim, bottom_width=bottom_width,
                              stage_channels=tuple(stage_channels), attention=tuple(attention),
                              shortcut_convs=tuple(skips), kernel_size=kernel_size,
                              bn_eps=bn_eps, sn_eps=sn_eps)
    if config:
        _check_generator_config(arch, config, source)
    return arch


def _attention_set(value) -> set[int]:
    return {int(item) for item in str(value).split("_") if item.strip().isdigit() and int(item) > 0}


def _disagree(source: str, key: str, configured, inferred):
    raise GanpriorError(f"{source}: config.json says {key} = {configured!r} but the weights give {inferred!r}")


def _check_generator_config(arch: BigGANArchitecture, config: dict, source: str) -> None:
    """Every architecture value the config states must match the weights."""
    c = config
    if "G_shared" in c and not c["G_shared"]:
        raise GanpriorError(f"{source}: config.json has G_shared = false, which is not supported")
    checks = {"resolution": arch.resolution, "G_ch": arch.width, "n_classes": arch.num_classes,
              "hier": arch.hierarchical, "bottom_width": arch.bottom_width, "G_kernel_size": arch.kernel_size}
    for key, inferred in checks.items():
        if key in c and c[key] != inferred:
            _disagree(source, key, c[key], inferred)
    if "dim_z" in c:
        # with hierarchical z, BigGAN-PyTorch rounds dim_z down to a multiple of the slot count
        slots = arch.num_stages + 1
        effective = int(c["dim_z"]) // slots * slots if arch.hierarchical else int(c["dim_z"])
        if effective != arch.dim_z:
            _disagree(source, "dim_z (effective)", effective, arch.dim_z)
    if "shared_dim" in c:
        configured = int(c["shared_dim"]) or int(c.get("dim_z", arch.embedding_dim))
        if configured != arch.embedding_dim:
            _disagree(source, "shared_dim", configured, arch.embedding_dim)
    if "G_attn" in c:
        possible = {arch.bottom_width * 2 ** (i + 1) for i in range(arch.num_stages)}
        configured = _attention_set(c["G_attn"]) & possible
        if configured != set(arch.attention_resolutions):
            _disagree(source, "G_attn", c["G_attn"], "_".join(map(str, arch.attention_resolutions)) or "none")


def infer_discriminator_architecture(state_dict: dict, resolution: int, config: dict | None = None,
                                     source: str = "BigGAN discriminator") -> DiscriminatorArchitecture:
    """The discriminator architecture from tensor shapes; the image ``resolution`` (the generator's)
    decides downsampling, as in BigGAN-PyTorch's ``D_arch``."""
    sd = state_dict
    n = _count_blocks(sd)
    if n == 0 or "linear.weight" not in sd or "embed.weight" not in sd:
        raise GanpriorError(f"{source} is not a BigGAN-PyTorch discriminator state dict "
                            "(expected blocks.0.0.conv1.weight, linear.weight, embed.weight)")
    channels, attention, skips = [], [], []
    for i in range(n):
        w1 = _tensor(sd, f"blocks.{i}.0.conv1.weight", 4, source)
        w2 = _tensor(sd, f"blocks.{i}.0.conv2.weight", 4, source)
        channels.append((int(w1.shape[1]), int(w1.shape[0]), int(w2.shape[0])))
        attention.append(f"blocks.{i}.1.gamma" in sd)
        skips.append(f"blocks.{i}.0.conv_sc.weight" in sd)
    if resolution == 32:
        downsample = (True, True) + (False,) * (n - 2)
        expected_blocks = 4
    else:
        downsample = (True,) * (n - 1) + (False,)
        expected_blocks = int(math.log2(resolution)) - 1
    if n != expected_blocks:
        raise GanpriorError(f"{source} has {n} blocks, but a {resolution}x{resolution} BigGAN discriminator "
                            f"has {expected_blocks}")
    linear = _tensor(sd, "linear.weight", 2, source)
    if linear.shape[0] != 1:
        raise GanpriorError(f"{source}: only discriminators with one output are supported "
                            f"(linear.weight is {tuple(linear.shape)})")
    num_classes = int(_tensor(sd, "embed.weight", 2, source).shape[0])
    sn_eps = float(config.get("SN_eps", 1e-6)) if config else 1e-6
    arch = DiscriminatorArchitecture(resolution=resolution, num_classes=num_classes,
                                     block_channels=tuple(channels), downsample=downsample,
                                     attention=tuple(attention), shortcut_convs=tuple(skips),
                                     kernel_size=int(sd["blocks.0.0.conv1.weight"].shape[-1]), sn_eps=sn_eps)
    if config:
        checks = {"D_ch": arch.width, "D_wide": arch.wide, "n_classes": arch.num_classes,
                  "output_dim": 1, "D_kernel_size": arch.kernel_size}
        for key, inferred in checks.items():
            if key in config and config[key] != inferred:
                _disagree(source, key, config[key], inferred)
        if "D_attn" in config:
            possible = set(arch._output_sizes()) | ({16} if resolution == 32 else set())
            if _attention_set(config["D_attn"]) & possible != set(arch.attention_resolutions):
                _disagree(source, "D_attn", config["D_attn"],
                          "_".join(map(str, arch.attention_resolutions)) or "none")
    return arch
