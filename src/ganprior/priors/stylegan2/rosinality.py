"""rosinality ``stylegan2-pytorch`` ``*.pt``, read with ``torch.load(weights_only=True)``.

Layouts: the ``train.py`` layout ``{"g", "d", "g_ema", "g_optim", "d_optim", "args", "ada_aug_p"}``
(``args`` an ``argparse.Namespace``, allowed just for that call) and the ``convert_weight.py``
layout ``{"g_ema", "latent_avg"[, "g", "d"]}``. Keys ``style.{1..n}.*``, ``input.input``,
``conv1.*``, ``to_rgb1.*``, ``convs.{i}.*``, ``to_rgbs.{i}.*``, ``noises.noise_{i}``; D
``convs.0`` (from RGB), ``convs.{1..}`` (residual blocks), ``final_conv``, ``final_linear``.
rosinality multiplies the modulated weight by 1/sqrt(fan_in) before demodulating and NVlabs
does not; that only moves the 1e-8 in the demodulation, and ``scale_demodulated_weights``
reproduces each. rosinality files do not store the mapping's learning-rate multiplier (0.01 in
``train.py``, assumed) and the ``train.py`` layout has no mean w: it is estimated from 4096
seeded samples (``prior.w_avg_source`` says which).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import torch

from ...errors import GanpriorError
from .discriminator import StyleGAN2Discriminator
from .generator import StyleGAN2Generator
from .prior import StyleGAN2Prior
from .statedict import load_exact, rename_keys

_ROSINALITY_G_KEYS = ("style.1.weight", "input.input", "conv1.conv.weight", "to_rgb1.conv.weight")
_ROSINALITY_D_KEYS = ("convs.0.0.weight", "final_conv.0.weight", "final_linear.0.weight")


def _has_keys(obj, keys) -> bool:
    return isinstance(obj, Mapping) and all(isinstance(obj.get(k), torch.Tensor) for k in keys)


def is_stylegan2_rosinality(obj) -> bool:
    """True for a rosinality checkpoint dict (``g_ema`` / ``g`` inside) or a bare generator state dict."""
    if not isinstance(obj, Mapping):
        return False
    return any(_has_keys(obj.get(k), _ROSINALITY_G_KEYS) for k in ("g_ema", "g")) or _has_keys(obj, _ROSINALITY_G_KEYS)


def _tensor(state: Mapping, key: str, what: str) -> torch.Tensor:
    value = state.get(key)
    if not isinstance(value, torch.Tensor):
        raise GanpriorError(f"{what} has no tensor {key!r}")
    return value


def generator_from_rosinality(state: Mapping[str, torch.Tensor], latent_avg: torch.Tensor | None = None,
                              mapping_lr: float = 0.01) -> StyleGAN2Generator:
    """Build our generator from a rosinality ``Generator`` state dict (sizes from tensor shapes).

    ``latent_avg`` (converted layout) becomes ``w_avg``; without it ``w_avg`` is estimated from
    4096 seeded samples. ``mapping_lr`` is train.py's ``lr_mlp`` (not stored in checkpoints).
    """
    what = "rosinality generator state dict"
    if not _has_keys(state, _ROSINALITY_G_KEYS):
        raise GanpriorError(f"not a {what}: missing {[k for k in _ROSINALITY_G_KEYS if k not in state]}")
    n_mlp = 0
    while isinstance(state.get(f"style.{n_mlp + 1}.weight"), torch.Tensor):
        n_mlp += 1
    w_dim, z_dim = _tensor(state, "style.1.weight", what).shape
    num_up = 0
    while isinstance(state.get(f"to_rgbs.{num_up}.conv.weight"), torch.Tensor):
        num_up += 1
    resolution = 4 * 2 ** num_up
    channels = {4: _tensor(state, "input.input", what).shape[1]}
    for i in range(num_up):
        channels[8 * 2 ** i] = _tensor(state, f"convs.{2 * i}.conv.weight", what).shape[1]
    kernel = state.get("convs.0.conv.blur.kernel", state.get("to_rgbs.0.upsample.kernel"))
    filt = kernel / kernel.sum() if isinstance(kernel, torch.Tensor) else (1, 3, 3, 1)
    g = StyleGAN2Generator(z_dim=z_dim, w_dim=w_dim, resolution=resolution, channels=channels,
                           img_channels=_tensor(state, "to_rgb1.conv.weight", what).shape[1],
                           mapping_layers=n_mlp, mapping_lr=mapping_lr, resample_filter=filt,
                           scale_demodulated_weights=True)
    conv = r"(conv\.weight|conv\.modulation\.weight|conv\.modulation\.bias|noise\.weight|activate\.bias)"
    leaf = {"conv.weight": "weight", "conv.modulation.weight": "affine.weight",
            "conv.modulation.bias": "affine.bias", "noise.weight": "noise_strength", "activate.bias": "bias"}
    rgb_leaf = r"(conv\.weight|conv\.modulation\.weight|conv\.modulation\.bias|bias)"
    rgb = {"conv.weight": "weight", "conv.modulation.weight": "affine.weight",
           "conv.modulation.bias": "affine.bias", "bias": "bias"}
    out: dict[str, torch.Tensor] = {}
    noise_keys: dict[int, torch.Tensor] = {}
    for key, value in state.items():
        if m := re.fullmatch(r"style\.(\d+)\.(weight|bias)", key):
            out[f"mapping.layers.{int(m.group(1)) - 1}.{m.group(2)}"] = value
        elif key == "input.input":
            out["blocks.0.const"] = value[0]
        elif m := re.fullmatch(r"conv1\." + conv, key):
            out[f"blocks.0.conv.{leaf[m.group(1)]}"] = value
        elif m := re.fullmatch(r"convs\.(\d+)\." + conv, key):
            i = int(m.group(1))
            out[f"blocks.{i // 2 + 1}.{'conv_up' if i % 2 == 0 else 'conv'}.{leaf[m.group(2)]}"] = value
        elif m := re.fullmatch(r"to_rgb1\." + rgb_leaf, key):
            out[f"blocks.0.to_rgb.{rgb[m.group(1)]}"] = value
        elif m := re.fullmatch(r"to_rgbs\.(\d+)\." + rgb_leaf, key):
            out[f"blocks.{int(m.group(1)) + 1}.to_rgb.{rgb[m.group(2)]}"] = value
        elif m := re.fullmatch(r"noises\.noise_(\d+)", key):
            noise_keys[int(m.group(1))] = value
        elif re.fullmatch(r"(convs\.\d+\.conv\.blur|to_rgbs\.\d+\.upsample)\.kernel", key):
            continue  # the resampling filter, already taken
        else:
            raise GanpriorError(f"unexpected key {key!r} in {what}")
    # reshape stored layouts: conv weights (1, O, I, k, k), noise strength (1,), to-RGB bias (1, C, 1, 1)
    for key in list(out):
        v = out[key]
        if key.endswith(("conv.weight", "conv_up.weight", "to_rgb.weight")) and v.ndim == 5:
            out[key] = v[0]
        elif key.endswith("noise_strength"):
            out[key] = v.reshape([])
        elif key.endswith("to_rgb.bias"):
            out[key] = v.reshape(-1)
    # noise_0 is the 4x4 conv; noise_{2i+1}, noise_{2i+2} the up and plain conv of block i+1
    gen = torch.Generator().manual_seed(0)
    for j in range(g.num_ws - 1):
        block, name = (0, "conv") if j == 0 else ((j + 1) // 2, "conv_up" if j % 2 else "conv")
        res = g.blocks[block].resolution
        noise = noise_keys.get(j)
        # checkpoints from before the noise buffers existed: fixed seeded noise
        out[f"blocks.{block}.{name}.noise_const"] = (noise.reshape(res, res) if noise is not None
                                                    else torch.randn(res, res, generator=gen))
    if latent_avg is not None:
        out["mapping.w_avg"] = latent_avg.reshape(-1).float()
    else:
        out["mapping.w_avg"] = torch.zeros(w_dim)
    load_exact(g, out, what)
    if latent_avg is None:
        with torch.no_grad():
            g.mapping.w_avg.copy_(g.estimate_w_avg())
    return g.eval()


def discriminator_from_rosinality(state: Mapping[str, torch.Tensor]) -> StyleGAN2Discriminator:
    """Build our discriminator from a rosinality ``Discriminator`` state dict."""
    what = "rosinality discriminator state dict"
    if not _has_keys(state, _ROSINALITY_D_KEYS):
        raise GanpriorError(f"not a {what}: missing {[k for k in _ROSINALITY_D_KEYS if k not in state]}")
    num_blocks = 0
    while isinstance(state.get(f"convs.{num_blocks + 1}.conv1.0.weight"), torch.Tensor):
        num_blocks += 1
    resolution = 4 * 2 ** num_blocks
    channels = {resolution: _tensor(state, "convs.0.0.weight", what).shape[0]}
    for i in range(1, num_blocks + 1):
        channels[resolution // 2 ** i] = _tensor(state, f"convs.{i}.conv2.1.weight", what).shape[0]
    kernel = state.get("convs.1.conv2.0.kernel")
    filt = kernel / kernel.sum() if isinstance(kernel, torch.Tensor) else (1, 3, 3, 1)
    mbstd = _tensor(state, "final_conv.0.weight", what).shape[1] - channels[4]
    d = StyleGAN2Discriminator(resolution=resolution, channels=channels,
                               img_channels=_tensor(state, "convs.0.0.weight", what).shape[1],
                               mbstd_group_size=4, mbstd_channels=mbstd, resample_filter=filt)
    rules = [
        (r"convs\.0\.0\.weight", "from_rgb.weight"), (r"convs\.0\.1\.bias", "from_rgb.bias"),
        (r"convs\.(\d+)\.(conv2\.0|skip\.0)\.kernel", ""),  # the resampling filter, already taken
        (r"final_conv\.0\.weight", "final_conv.weight"), (r"final_conv\.1\.bias", "final_conv.bias"),
        (r"final_linear\.0\.(weight|bias)", r"final_fc.\1"), (r"final_linear\.1\.(weight|bias)", r"out.\1"),
    ]
    block_leaf = {"conv1.0.weight": "conv.weight", "conv1.1.bias": "conv.bias", "conv2.1.weight": "conv_down.weight",
                  "conv2.2.bias": "conv_down.bias", "skip.1.weight": "skip.weight"}
    out = {}
    for key, value in state.items():
        m = re.fullmatch(r"convs\.(\d+)\.(.+)", key)
        if m and m.group(1) != "0" and m.group(2) in block_leaf:
            out[f"blocks.{int(m.group(1)) - 1}.{block_leaf[m.group(2)]}"] = value
        else:
            out.update(rename_keys({key: value}, rules, what))
    load_exact(d, out, what)
    return d.eval()


def prior_from_rosinality(ckpt: Mapping, path: Path, name: str | None) -> StyleGAN2Prior:
    state = next((ckpt[k] for k in ("g_ema", "g") if _has_keys(ckpt.get(k), _ROSINALITY_G_KEYS)), ckpt)
    latent_avg = ckpt.get("latent_avg")
    if latent_avg is not None and not isinstance(latent_avg, torch.Tensor):
        raise GanpriorError(f"{path}: 'latent_avg' is not a tensor")
    prior = StyleGAN2Prior(generator_from_rosinality(state, latent_avg), name=name or path.stem)
    if latent_avg is not None:
        prior.source_format = "rosinality-converted"
    else:
        prior.source_format = "rosinality-train" if "args" in ckpt or "g_optim" in ckpt else "rosinality"
    prior.w_avg_source = "checkpoint" if latent_avg is not None else "estimated"
    if _has_keys(ckpt.get("d"), _ROSINALITY_D_KEYS):
        prior.discriminator = discriminator_from_rosinality(ckpt["d"])
    return prior.eval()
