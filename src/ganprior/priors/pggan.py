"""PGGAN (Karras et al. 2018) as a prior: genforce / mGANprior checkpoints on our own model code.

Generator (fully grown; S resolution stages 4, 8, ..., R = 4 * 2**(S-1))
--------------------------------------------------------------------------
Every layer is ``pixel norm -> [x2 upsample] -> conv -> LeakyReLU(0.2)``, where pixel norm divides
each pixel's feature vector by its RMS over channels and every conv uses run-time weight scaling
("equalized learning rate": unit-variance weights multiplied by ``gain / sqrt(fan_in)``, gain
sqrt(2)). Stage 0 maps z, viewed as ``(B, z_dim, 1, 1)``, to 4x4 with a 4x4 conv at padding 3 (a
dense layer), then a 3x3 conv. Each later stage upsamples x2 (nearest, or "fused scale": one
stride-2 transposed conv whose 4x4 kernel is the 3x3 kernel summed over its four shifts, the
same operator computed without the upsampled intermediate) and applies two 3x3 convs. Each stage also has a ToRGB layer (pixel norm, 1x1
conv, gain 1, no activation); only the last active one renders the image. There is no final tanh:
the output is nominally in [-1, 1] but not clipped.

Since the first layer pixel-normalizes z, the generator ignores the norm of z; genforce's
``preprocess`` (rescale z to norm sqrt(z_dim)) therefore changes nothing and is not applied.

Composition layers (mGANprior): layer k is the output of the k-th conv layer, k = 1 .. 2S, i.e.
both conv outputs of every stage, everything except the ToRGB. This is exactly mGANprior's
``composing_layer = k`` on its ``Sequential(layer0, ..., layer{2S-1}, ToRGB)``.

``lod`` (level of detail) is a scalar stored in every checkpoint for progressive training: a stage
at ``log2(res)`` runs only while ``log2(res) + lod <= log2(R)``; the skipped stages are replaced by
nearest x2 upsampling of the last image. A fully grown network has ``lod = 0``. Integer lod is
supported (both originals agree on it); a fractional lod (a snapshot in the middle of a fade-in,
where genforce blends two ToRGBs and mGANprior does not) is refused.

Checkpoint layouts (read with ``torch.load(weights_only=True)``, structure inferred from shapes)
------------------------------------------------------------------------------------------------
* mGANprior / genforce-"models" flat generator (``pggan_*_generator.pth``): ``lod``,
  ``layer{i}.conv.weight`` ``(out, in, k, k)`` (bias-free conv) + ``layer{i}.wscale.bias``;
  ``output{s}.conv.weight`` + ``output{s}.wscale.bias``. With fused scale the up-sampling layers
  store ``layer{i}.weight`` in TensorFlow order ``(3, 3, in, out)`` instead of ``.conv.weight``.
* genforce/genforce flat generator (``PGGANGenerator.state_dict()``): ``lod``, ``layer{i}.weight``
  ``(out, in, k, k)`` (fused up-sampling layers: ``(in, out, 3, 3)``) and ``layer{i}.bias``;
  ``output{s}.weight`` / ``output{s}.bias``. Fused scale is recognised from the transposed shape of
  an up-sampling layer whose input and output widths differ; when all of them are square it
  cannot be told apart and genforce's default (not fused) is assumed.
* genforce training dict ``{'generator', 'discriminator', 'generator_smooth'}`` (its converter's
  output), optionally nested under ``'models'`` (its runner's checkpoints): the smoothed
  (moving-average) generator is used when present, and the discriminator is attached.

Discriminator (genforce ``PGGANDiscriminator`` layout, fully grown)
-------------------------------------------------------------------
FromRGB (1x1 conv + LeakyReLU) at full resolution; for every resolution above 4: 3x3 conv, 3x3
conv to the next width, LeakyReLU, 2x2 average pool (fused: one stride-2 conv with the 3x3 kernel
box-blurred to 4x4); at 4x4: minibatch-stddev channel (Karras et al.), 3x3 conv, dense layer,
dense layer to one logit. Keys: ``lod``, ``input{b}.*`` (FromRGB of resolution R / 2**b),
``layer{2b}.*`` / ``layer{2b+1}.*`` (stage b), ``layer{2S}.*`` (the logit). No activations carry
batch statistics except the minibatch-stddev channel, whose group size (genforce default 16)
is not stored in the weights.

Not representable in a state dict and assumed as genforce's defaults: no final tanh, no class
label in z (a class-conditional checkpoint is refused when its discriminator reveals labels),
discriminator fused scale equal to the generator's.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanpriorError
from .base import Prior
from ..safe_pickle import load_checkpoint
from .families import Check, CheckpointFamily, register_family

INIT_RESOLUTION = 4
LRELU_SLOPE = 0.2
PIXEL_NORM_EPS = 1e-8
MBSTD_EPS = 1e-8
DEFAULT_MBSTD_GROUP = 16  # genforce's default; not recoverable from the weights
MIN_STAGES, MAX_STAGES = 2, 9  # 8 .. 1024 px, the resolutions the original code builds

LAYOUT_MGANPRIOR = "mganprior"
LAYOUT_GENFORCE = "genforce"


# -- building blocks ------------------------------------------------------------------------------
def genforce_stage_channels(resolution: int, fmaps_base: int = 16 << 10, fmaps_max: int = 512) -> list[int]:
    """Stage widths ``min(fmaps_base // res, fmaps_max)`` for res = 4 .. ``resolution`` (genforce's
    rule; its defaults are those of the released 256 and 1024 px models)."""
    return [min(fmaps_base // res, fmaps_max) for res in
            (INIT_RESOLUTION * 2 ** i for i in range(int(math.log2(resolution // INIT_RESOLUTION)) + 1))]


def pixel_norm(x: torch.Tensor) -> torch.Tensor:
    """Divide each pixel's feature vector by its RMS over channels. ``(B, C, ...)`` -> same shape."""
    return x / torch.sqrt(x.pow(2).mean(dim=1, keepdim=True) + PIXEL_NORM_EPS)


def minibatch_stddev(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """Append one channel: the mean over (C, H, W) of the per-feature std within sample groups.

    ``(N, C, H, W)`` -> ``(N, C + 1, H, W)``. Sample ``i`` is in subgroup ``i % (N // G)``, as in
    genforce. ``G = min(group_size, N)``; where genforce would fail because N is not a multiple of
    G, the largest divisor of N below G is used instead.
    """
    n, _, h, w = x.shape
    group = max(1, min(group_size, n))
    while n % group:
        group -= 1
    grouped = x.reshape(group, n // group, *x.shape[1:])
    std = torch.sqrt(grouped.var(dim=0, unbiased=False) + MBSTD_EPS)  # (N/G, C, H, W)
    stat = std.mean(dim=(1, 2, 3))  # (N/G,)
    stat = stat.reshape(1, -1, 1, 1, 1).expand(group, -1, 1, h, w).reshape(n, 1, h, w)
    return torch.cat([x, stat], dim=1)


class EqualizedConv2d(nn.Module):
    """Conv2d with run-time weight scaling: ``conv(x, weight * gain / sqrt(fan_in)) + bias``.

    ``weight`` ``(out, in, k, k)`` is stored unscaled (unit variance), as in the checkpoints.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *,
                 gain: float = math.sqrt(2.0), padding: int | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2 if padding is None else padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


def _sum_of_shifts(kernel: torch.Tensor) -> torch.Tensor:
    """``(..., k, k)`` -> ``(..., k+1, k+1)``: the kernel added to its copies shifted by one
    pixel right, down and diagonally (the 2x2 box filter applied to the kernel)."""
    padded = F.pad(kernel, (1, 1, 1, 1))
    return padded[..., 1:, 1:] + padded[..., :-1, 1:] + padded[..., 1:, :-1] + padded[..., :-1, :-1]


class UpsampleConv2d(nn.Module):
    """Nearest x2 upsampling followed by a 3x3 conv, computed as one stride-2 transposed conv.

    ``weight`` ``(in, out, 3, 3)`` (transposed-conv order), unscaled; the equivalent plain conv
    kernel is ``weight.transpose(0, 1).flip(2, 3)``. ``(B, in, H, W)`` -> ``(B, out, 2H, 2W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, gain: float = math.sqrt(2.0)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_channels, out_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = _sum_of_shifts(self.weight * self.scale)
        return F.conv_transpose2d(x, kernel, self.bias, stride=2, padding=1)


class DownsampleConv2d(nn.Module):
    """A 3x3 conv followed by 2x2 average pooling, computed as one stride-2 conv.

    ``weight`` ``(out, in, 3, 3)``, unscaled. ``(B, in, H, W)`` -> ``(B, out, H/2, W/2)``. (The bias
    is added before pooling in the separate form; pooling a constant leaves it unchanged.)
    """

    def __init__(self, in_channels: int, out_channels: int, *, gain: float = math.sqrt(2.0)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = _sum_of_shifts(self.weight * self.scale) * 0.25
        return F.conv2d(x, kernel, self.bias, stride=2, padding=1)


class EqualizedLinear(nn.Module):
    """Linear layer with run-time weight scaling; ``weight`` ``(out, in)`` unscaled."""

    def __init__(self, in_features: int, out_features: int, *, gain: float = math.sqrt(2.0)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class GeneratorLayer(nn.Module):
    """``pixel norm -> [nearest x2] -> conv -> [LeakyReLU(0.2)]``: one generator layer."""

    def __init__(self, conv: nn.Module, *, upsample_nearest: bool = False, activate: bool = True):
        super().__init__()
        self.conv = conv
        self.upsample_nearest = upsample_nearest
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(x)
        if self.upsample_nearest:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv(x)
        return F.leaky_relu(x, LRELU_SLOPE) if self.activate else x


def _check_lod(lod_tensor: torch.Tensor, num_stages: int, what: str) -> int:
    lod = float(lod_tensor)
    if lod != int(lod) or not 0 <= lod < num_stages:
        raise GanpriorError(
            f"{what} has lod={lod:g}; only a fully grown network (lod=0) or an integer lod from 0 to "
            f"{num_stages - 1} is supported (a fractional lod is a snapshot in the middle of a fade-in)")
    return int(lod)


# -- generator ------------------------------------------------------------------------------------
class PGGANPrior(Prior):
    """PGGAN generator split into conv layers (see the module docstring).

    Args:
        latent_dim: length of z.
        stage_channels: output channels of the stages at 4, 8, ..., R px (one entry per stage;
            ``genforce_stage_channels`` gives the released models' widths).
        image_channels: channels of the image.
        fused_scale: up-sample with fused transposed convs instead of nearest + conv.
    """

    family = "pggan"
    latent_spaces = ("z",)

    def __init__(self, latent_dim: int, stage_channels: Sequence[int], image_channels: int = 3,
                 fused_scale: bool = False, name: str = "pggan"):
        super().__init__()
        num_stages = len(stage_channels)
        if not MIN_STAGES <= num_stages <= MAX_STAGES:
            raise GanpriorError(f"a PGGAN needs {MIN_STAGES} to {MAX_STAGES} stages (8 to 1024 px), "
                                f"got {num_stages}")
        self.name = name
        self.latent_dim = int(latent_dim)
        self.stage_channels = tuple(int(c) for c in stage_channels)
        self.channels = int(image_channels)
        self.fused_scale = bool(fused_scale)
        self.num_stages = num_stages
        self.resolution = INIT_RESOLUTION * 2 ** (num_stages - 1)
        self.latent_shape = (self.latent_dim,)
        layers, to_rgb = [], []
        previous = self.latent_dim
        for stage, width in enumerate(self.stage_channels):
            if stage == 0:  # the "dense" layer: 1x1 -> 4x4
                layers.append(GeneratorLayer(EqualizedConv2d(previous, width, INIT_RESOLUTION,
                                                             padding=INIT_RESOLUTION - 1)))
            elif fused_scale:
                layers.append(GeneratorLayer(UpsampleConv2d(previous, width)))
            else:
                layers.append(GeneratorLayer(EqualizedConv2d(previous, width, 3), upsample_nearest=True))
            layers.append(GeneratorLayer(EqualizedConv2d(width, width, 3)))
            to_rgb.append(GeneratorLayer(EqualizedConv2d(width, self.channels, 1, gain=1.0), activate=False))
            previous = width
        self.layers = nn.ModuleList(layers)
        self.to_rgb = nn.ModuleList(to_rgb)
        self.register_buffer("lod", torch.zeros(()))

    @property
    def config(self) -> dict:
        """Constructor arguments (without ``name``)."""
        return {"latent_dim": self.latent_dim, "stage_channels": list(self.stage_channels),
                "image_channels": self.channels, "fused_scale": self.fused_scale}

    @property
    def active_stages(self) -> int:
        """Stages that run at the current ``lod`` (all of them when fully grown)."""
        return self.num_stages - _check_lod(self.lod, self.num_stages, f"PGGAN prior {self.name!r}")

    @property
    def composition_layers(self) -> dict[int, int]:
        """``{k: channels}`` for the output of conv layer k = 1 .. 2 * active stages."""
        return {k: self.stage_channels[(k - 1) // 2] for k in range(1, 2 * self.active_stages + 1)}

    @property
    def blocks(self) -> list[nn.Module]:
        """The active conv layers, shallow to deep, then the ToRGB that renders the image."""
        active = self.active_stages
        return [*self.layers[:2 * active], self.to_rgb[active - 1]]

    def _latent_input(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim not in (2, 4) or z[0].numel() != self.latent_dim:
            raise GanpriorError(f"PGGAN prior {self.name!r} takes latents of shape (B, {self.latent_dim}), "
                                f"got {tuple(z.shape)}")
        return z.reshape(z.shape[0], self.latent_dim, 1, 1)

    def head(self, z: torch.Tensor, layer: int) -> torch.Tensor:
        """z ``(B, z_dim)`` (any scale) -> output of conv layer ``layer``, ``(B, C, H, W)``."""
        self.check_layer(layer)
        x = self._latent_input(z)
        for conv_layer in self.layers[:layer]:
            x = conv_layer(x)
        return x

    def tail(self, features: torch.Tensor, layer: int) -> torch.Tensor:
        """Features at ``layer`` -> image ``(B, channels, R, R)``, nominally in [-1, 1] (unclipped)."""
        self.check_layer(layer)
        active = self.active_stages
        x = features
        for conv_layer in self.layers[layer:2 * active]:
            x = conv_layer(x)
        image = self.to_rgb[active - 1](x)
        skipped = self.num_stages - active
        if skipped:  # lod > 0: stages not grown yet are stand-ins of nearest upsampling
            image = F.interpolate(image, scale_factor=2 ** skipped, mode="nearest")
        return image

    def export_state_dict(self, layout: str = LAYOUT_GENFORCE) -> dict[str, torch.Tensor]:
        """The generator weights in a checkpoint layout (``"genforce"`` or ``"mganprior"``)."""
        table = _generator_key_table(self.num_stages, layout, self.fused_scale)
        return _export(self, table)

    @classmethod
    def random(cls, latent_dim: int = 16, stage_channels: Sequence[int] = (16, 16, 8),
               image_channels: int = 3, fused_scale: bool = False, seed: int = 0,
               name: str = "pggan-random") -> "PGGANPrior":
        """A prior with N(0, 1) weights and 0.1 * N(0, 1) biases, for tests."""
        gen = torch.Generator().manual_seed(seed)
        prior = cls(latent_dim, stage_channels, image_channels, fused_scale, name=name)
        with torch.no_grad():
            for pname, p in prior.named_parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * (0.1 if pname.endswith("bias") else 1.0))
        return prior.eval()


# -- discriminator --------------------------------------------------------------------------------
class DiscriminatorStage(nn.Module):
    """One resolution above 4x4: 3x3 conv, 3x3 conv to the next width, x1/2 (LeakyReLU after each)."""

    def __init__(self, channels: int, next_channels: int, fused_scale: bool):
        super().__init__()
        self.conv = EqualizedConv2d(channels, channels, 3)
        self.fused_scale = fused_scale
        self.down = (DownsampleConv2d(channels, next_channels) if fused_scale
                     else EqualizedConv2d(channels, next_channels, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv(x), LRELU_SLOPE)
        x = F.leaky_relu(self.down(x), LRELU_SLOPE)
        return x if self.fused_scale else F.avg_pool2d(x, 2)


class PGGANDiscriminator(nn.Module):
    """PGGAN critic in the genforce layout (see the module docstring).

    Args:
        stage_channels: widths at R, R/2, ..., 4 px (one entry per stage, full resolution first).
        dense_channels: width of the hidden dense layer.
        image_channels: channels of the input image.
        mbstd_group_size: minibatch-stddev group size; <= 1 disables the extra channel.
        fused_scale: down-sample with fused stride-2 convs instead of conv + average pooling.

    Input images are in the native ``[-1, 1]`` range.
    """

    def __init__(self, stage_channels: Sequence[int], dense_channels: int, image_channels: int = 3,
                 mbstd_group_size: int = DEFAULT_MBSTD_GROUP, fused_scale: bool = False):
        super().__init__()
        num_stages = len(stage_channels)
        if not MIN_STAGES <= num_stages <= MAX_STAGES:
            raise GanpriorError(f"a PGGAN discriminator needs {MIN_STAGES} to {MAX_STAGES} stages "
                                f"(8 to 1024 px), got {num_stages}")
        self.stage_channels = tuple(int(c) for c in stage_channels)
        self.dense_channels = int(dense_channels)
        self.image_channels = int(image_channels)
        self.mbstd_group_size = int(mbstd_group_size)
        self.fused_scale = bool(fused_scale)
        self.num_stages = num_stages
        self.resolution = INIT_RESOLUTION * 2 ** (num_stages - 1)
        self.from_rgb = nn.ModuleList(EqualizedConv2d(self.image_channels, c, 1) for c in self.stage_channels)
        self.stages = nn.ModuleList(
            DiscriminatorStage(c, c_next, self.fused_scale)
            for c, c_next in zip(self.stage_channels[:-1], self.stage_channels[1:]))
        last = self.stage_channels[-1]
        extra = 1 if self.mbstd_group_size > 1 else 0
        self.final_conv = EqualizedConv2d(last + extra, last, 3)
        self.dense = EqualizedLinear(last * INIT_RESOLUTION ** 2, self.dense_channels)
        self.logit = EqualizedLinear(self.dense_channels, 1, gain=1.0)
        self.register_buffer("lod", torch.zeros(()))

    @property
    def config(self) -> dict:
        return {"stage_channels": list(self.stage_channels), "dense_channels": self.dense_channels,
                "image_channels": self.image_channels, "mbstd_group_size": self.mbstd_group_size,
                "fused_scale": self.fused_scale}

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations after every block, shallow first: each stage's output ``(B, c_{b+1}, R/2**(b+1), ..)``,
        then the 4x4 conv ``(B, c_4, 4, 4)`` (the only one that mixes samples, via minibatch stddev)."""
        expected = (self.image_channels, self.resolution, self.resolution)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise GanpriorError(f"PGGAN discriminator takes images of shape (B, {', '.join(map(str, expected))}), "
                                f"got {tuple(x.shape)}")
        lod = _check_lod(self.lod, self.num_stages, "PGGAN discriminator")
        for _ in range(lod):  # lod > 0: the network sees the image at the resolution it has grown to
            x = F.avg_pool2d(x, 2)
        h = F.leaky_relu(self.from_rgb[lod](x), LRELU_SLOPE)
        feats = []
        for stage in self.stages[lod:]:
            h = stage(h)
            feats.append(h)
        if self.mbstd_group_size > 1:
            h = minibatch_stddev(h, self.mbstd_group_size)
        feats.append(F.leaky_relu(self.final_conv(h), LRELU_SLOPE))
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B,)``: higher means real."""
        h = self.features(x)[-1].flatten(1)
        return self.logit(F.leaky_relu(self.dense(h), LRELU_SLOPE))[:, 0]

    def export_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights in the genforce ``PGGANDiscriminator`` layout."""
        return _export(self, _discriminator_key_table(self.num_stages))


# -- key tables: (checkpoint key, our key, stored transposed?) -----------------------------------
def _generator_key_table(num_stages: int, layout: str, fused: bool) -> list[tuple[str, str, bool]]:
    if layout not in (LAYOUT_GENFORCE, LAYOUT_MGANPRIOR):
        raise GanpriorError(f"unknown PGGAN checkpoint layout {layout!r}; choose genforce or mganprior")
    table = [("lod", "lod", False)]
    for stage in range(num_stages):
        for index in (2 * stage, 2 * stage + 1):
            up_fused = fused and index == 2 * stage and stage > 0
            ours = f"layers.{index}.conv"
            if layout == LAYOUT_GENFORCE:
                table += [(f"layer{index}.weight", f"{ours}.weight", False),
                          (f"layer{index}.bias", f"{ours}.bias", False)]
            else:
                # mGANprior keeps fused kernels in TensorFlow order (k, k, in, out)
                table += [(f"layer{index}.weight" if up_fused else f"layer{index}.conv.weight",
                           f"{ours}.weight", up_fused),
                          (f"layer{index}.wscale.bias", f"{ours}.bias", False)]
        ours = f"to_rgb.{stage}.conv"
        if layout == LAYOUT_GENFORCE:
            table += [(f"output{stage}.weight", f"{ours}.weight", False),
                      (f"output{stage}.bias", f"{ours}.bias", False)]
        else:
            table += [(f"output{stage}.conv.weight", f"{ours}.weight", False),
                      (f"output{stage}.wscale.bias", f"{ours}.bias", False)]
    return table


def _discriminator_key_table(num_stages: int) -> list[tuple[str, str, bool]]:
    table = [("lod", "lod", False)]
    for block in range(num_stages):
        table += [(f"input{block}.{p}", f"from_rgb.{block}.{p}", False) for p in ("weight", "bias")]
        if block < num_stages - 1:
            table += [(f"layer{2 * block}.{p}", f"stages.{block}.conv.{p}", False) for p in ("weight", "bias")]
            table += [(f"layer{2 * block + 1}.{p}", f"stages.{block}.down.{p}", False) for p in ("weight", "bias")]
        else:
            table += [(f"layer{2 * block}.{p}", f"final_conv.{p}", False) for p in ("weight", "bias")]
            table += [(f"layer{2 * block + 1}.{p}", f"dense.{p}", False) for p in ("weight", "bias")]
            table += [(f"layer{2 * block + 2}.{p}", f"logit.{p}", False) for p in ("weight", "bias")]
    return table


def _swap_tf_order(t: torch.Tensor) -> torch.Tensor:
    """``(k, k, in, out)`` <-> ``(in, out, k, k)`` (the swap is its own inverse)."""
    return t.permute(2, 3, 0, 1)


def _export(module: nn.Module, table: list[tuple[str, str, bool]]) -> dict[str, torch.Tensor]:
    own = module.state_dict()
    out = {}
    for theirs, ours, transposed in table:
        t = own[ours].detach().clone()
        out[theirs] = _swap_tf_order(t).contiguous() if transposed else t
    return out


def _load_with_table(module: nn.Module, state_dict: dict, table: list[tuple[str, str, bool]],
                     what: str) -> None:
    """Load ``state_dict`` (checkpoint layout) into ``module`` strictly, with one-line errors."""
    known = {theirs for theirs, _, _ in table}
    unknown = [k for k in state_dict if k not in known]
    if unknown:
        more = f" (and {len(unknown) - 4} more)" if len(unknown) > 4 else ""
        raise GanpriorError(f"unexpected key(s) in {what}: {', '.join(map(str, unknown[:4]))}{more}")
    # lod only steers progressive training; a copy without it is a fully grown network
    missing = [k for k in known if k not in state_dict and k != "lod"]
    if missing:
        raise GanpriorError(f"{what} is missing key(s): {', '.join(missing[:4])}"
                            + (f" (and {len(missing) - 4} more)" if len(missing) > 4 else ""))
    own = module.state_dict()
    converted = {}
    for theirs, ours, transposed in table:
        value = state_dict.get(theirs, torch.zeros(()) if theirs == "lod" else None)
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise GanpriorError(f"{what}: {theirs} is not a floating-point tensor")
        needed = own[ours].shape
        if transposed:
            needed = _swap_tf_order(own[ours]).shape
        if value.shape != needed:
            raise GanpriorError(f"shape mismatch for {theirs} in {what}: the checkpoint has "
                                f"{tuple(value.shape)}, the architecture inferred from it needs {tuple(needed)}")
        converted[ours] = _swap_tf_order(value) if transposed else value
    module.load_state_dict(converted, strict=True)


# -- sniffing and config inference ----------------------------------------------------------------
def _split_checkpoint(obj: dict) -> tuple[dict, dict | None]:
    """(generator state dict, discriminator state dict or None) of any supported checkpoint."""
    if isinstance(obj.get("models"), dict):  # genforce runner checkpoint
        obj = obj["models"]
    for key in ("generator_smooth", "generator"):
        if isinstance(obj.get(key), dict):
            disc = obj.get("discriminator")
            return obj[key], disc if isinstance(disc, dict) else None
    return obj, None


def _generator_layout(state_dict: dict) -> str | None:
    """The layout of a flat generator state dict, or None when it is not one."""
    for layout, first, first_bias, rgb in (
            (LAYOUT_MGANPRIOR, "layer0.conv.weight", "layer0.wscale.bias", "output0.conv.weight"),
            (LAYOUT_GENFORCE, "layer0.weight", "layer0.bias", "output0.weight")):
        w, b, r = state_dict.get(first), state_dict.get(first_bias), state_dict.get(rgb)
        if (isinstance(w, torch.Tensor) and w.ndim == 4 and tuple(w.shape[2:]) == (4, 4)
                and isinstance(b, torch.Tensor) and b.ndim == 1
                and isinstance(r, torch.Tensor) and r.ndim == 4 and tuple(r.shape[2:]) == (1, 1)):
            return layout
    return None


def is_pggan_state_dict(obj: dict) -> bool:
    """True for a PGGAN generator state dict in the mGANprior or genforce layout, or a genforce
    training / runner checkpoint that holds one (sniffed from keys and shapes only)."""
    if not isinstance(obj, dict):
        return False
    generator, _ = _split_checkpoint(obj)
    return _generator_layout(generator) is not None


def _count_indexed(state_dict: dict, prefix: str) -> int:
    """Number of consecutive ``{prefix}{i}.`` modules from 0; raises if the indices have a gap."""
    indices = {int(m.group(1)) for k in state_dict if (m := re.match(rf"{prefix}(\d+)\.", str(k)))}
    count = len(indices)
    if indices != set(range(count)):
        raise GanpriorError(f"PGGAN checkpoint has non-consecutive {prefix}N modules: {sorted(indices)}")
    return count


def _shape(state_dict: dict, key: str, ndim: int, what: str) -> tuple[int, ...]:
    value = state_dict.get(key)
    if not isinstance(value, torch.Tensor):
        raise GanpriorError(f"{what} is missing key {key}")
    if value.ndim != ndim:
        raise GanpriorError(f"shape mismatch for {key} in {what}: expected {ndim} dimensions, "
                            f"got {tuple(value.shape)}")
    return tuple(value.shape)


def _infer_generator_config(state_dict: dict, layout: str) -> dict:
    what = "PGGAN generator checkpoint"
    num_stages = _count_indexed(state_dict, "output")
    if not MIN_STAGES <= num_stages <= MAX_STAGES:
        raise GanpriorError(f"{what} has {num_stages} ToRGB layers; a PGGAN has {MIN_STAGES} to "
                            f"{MAX_STAGES} (8 to 1024 px)")
    bias = "wscale.bias" if layout == LAYOUT_MGANPRIOR else "bias"
    stage_channels = [_shape(state_dict, f"layer{2 * s}.{bias}", 1, what)[0] for s in range(num_stages)]
    first_weight = "layer0.conv.weight" if layout == LAYOUT_MGANPRIOR else "layer0.weight"
    latent_dim = _shape(state_dict, first_weight, 4, what)[1]
    image_channels = _shape(state_dict, f"output0.{bias}", 1, what)[0]
    up_layers = [(2 * s, stage_channels[s - 1], stage_channels[s]) for s in range(1, num_stages)]
    if layout == LAYOUT_MGANPRIOR:
        fused_flags = {f"layer{i}.weight" in state_dict for i, _, _ in up_layers}
        if len(fused_flags) > 1:
            raise GanpriorError(f"{what} mixes fused (layerN.weight) and plain (layerN.conv.weight) "
                                "up-sampling layers")
        fused = fused_flags.pop()
    else:
        # genforce stores fused kernels as (in, out, 3, 3): visible only where in != out
        fused = any(c_in != c_out and _shape(state_dict, f"layer{i}.weight", 4, what)[:2] == (c_in, c_out)
                    for i, c_in, c_out in up_layers)
    return {"latent_dim": latent_dim, "stage_channels": stage_channels,
            "image_channels": image_channels, "fused_scale": fused}


def _build_discriminator(state_dict: dict, generator: PGGANPrior) -> PGGANDiscriminator:
    what = "PGGAN discriminator checkpoint"
    num_stages = _count_indexed(state_dict, "input")
    if num_stages != generator.num_stages:
        raise GanpriorError(f"{what} has {num_stages} FromRGB layers but the generator has "
                            f"{generator.num_stages} stages; they do not belong together")
    stage_channels = [_shape(state_dict, f"input{b}.weight", 4, what)[0] for b in range(num_stages)]
    image_channels = _shape(state_dict, "input0.weight", 4, what)[1]
    last = 2 * (num_stages - 1)
    conv_in = _shape(state_dict, f"layer{last}.weight", 4, what)[1]
    dense_channels = _shape(state_dict, f"layer{last + 1}.weight", 2, what)[0]
    outputs = _shape(state_dict, f"layer{last + 2}.weight", 2, what)[0]
    if outputs != 1:
        raise GanpriorError(f"{what} has {outputs} outputs, i.e. a class-conditional PGGAN with "
                            f"{outputs - 1} labels, which is not supported")
    if image_channels != generator.channels:
        raise GanpriorError(f"{what} takes {image_channels}-channel images but the generator makes "
                            f"{generator.channels}")
    mbstd = DEFAULT_MBSTD_GROUP if conv_in == stage_channels[-1] + 1 else 0
    disc = PGGANDiscriminator(stage_channels, dense_channels, image_channels, mbstd_group_size=mbstd,
                              fused_scale=generator.fused_scale)
    _load_with_table(disc, state_dict, _discriminator_key_table(num_stages), what)
    _check_lod(disc.lod, num_stages, what)
    return disc.eval()


# -- loading --------------------------------------------------------------------------------------
def load_pggan(obj_or_path: dict | str | os.PathLike, name: str | None = None) -> PGGANPrior:
    """A PGGAN prior (with its discriminator when the checkpoint has one), in eval mode.

    ``obj_or_path``: a path to a ``.pth`` file, or an already loaded checkpoint: a flat generator
    state dict (mGANprior or genforce layout, plain or fused scale) or a genforce training dict
    ``{'generator', 'discriminator', 'generator_smooth'}`` (optionally under ``'models'``).
    ``name`` defaults to the file stem, or ``"pggan"``. Raises ``GanpriorError`` on anything else.
    """
    if isinstance(obj_or_path, (str, os.PathLike)):
        path = Path(obj_or_path)
        obj = load_checkpoint(path, "PGGAN checkpoint")
        name = name or path.stem
    elif isinstance(obj_or_path, dict):
        obj = obj_or_path
    else:
        raise GanpriorError(f"load_pggan takes a path or a state dict, got {type(obj_or_path).__name__}")
    generator_sd, discriminator_sd = _split_checkpoint(obj)
    layout = _generator_layout(generator_sd)
    if layout is None:
        keys = ", ".join(map(str, list(generator_sd)[:4]))
        raise GanpriorError(f"not a PGGAN generator checkpoint (expected layer0/output0 keys of the genforce "
                            f"or mGANprior layout; first keys: {keys})")
    config = _infer_generator_config(generator_sd, layout)
    prior = PGGANPrior(**config, name=name or "pggan")
    _load_with_table(prior, generator_sd, _generator_key_table(prior.num_stages, layout, prior.fused_scale),
                     f"PGGAN generator checkpoint ({layout} layout)")
    _check_lod(prior.lod, prior.num_stages, "PGGAN generator checkpoint")
    if discriminator_sd is not None:
        prior.discriminator = _build_discriminator(discriminator_sd, prior)
    return prior.eval()


__all__ = ["PGGANPrior", "PGGANDiscriminator", "genforce_stage_channels", "is_pggan_state_dict", "load_pggan"]


def _build(path, checkpoint, name: str) -> PGGANPrior:
    return load_pggan(checkpoint, name)


register_family(CheckpointFamily("pggan", _build, state_check=Check(30, is_pggan_state_dict)))
