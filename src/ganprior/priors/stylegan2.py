"""StyleGAN2 (Karras et al. 2020, configs E/F) as a ganprior prior, in plain PyTorch.

Architecture (one implementation for both public code bases):

* **Mapping network**: z ``(B, z_dim)`` is normalised by its RMS, optionally concatenated with an
  RMS-normalised class embedding, then goes through ``num_layers`` equalised-LR fully connected
  layers (leaky ReLU * sqrt 2, learning-rate multiplier 0.01) to w ``(B, w_dim)``. The mapping
  tracks the mean w (``w_avg``, rosinality's ``latent_avg``), the centre of truncation
  ``w_avg + psi * (w - w_avg)``.
* **Synthesis network**: one block per resolution 4, 8, ..., R. The 4x4 block starts from a learned
  constant; every later block has a 2x-upsampling modulated 3x3 conv, a modulated 3x3 conv, and a
  to-RGB 1x1 modulated conv (no demodulation) whose output is added to the running RGB image,
  which is itself FIR-upsampled from the previous block (the "skip" architecture). Each modulated
  conv scales its weight's input channels by a style (an affine map of one w), demodulates (so
  every output channel has unit expected norm), adds per-pixel noise times a learned strength,
  adds a bias and applies leaky ReLU * sqrt 2 (clamped to +-``conv_clamp`` when set). The
  generator consumes ``num_ws = 2 * num_blocks`` w vectors: block k (0-based) uses
  ``ws[2k-1 : 2k+2]`` (the 4x4 block ``ws[0:2]``); a block's to-RGB w is the next block's first.
* **Discriminator** (residual): a 1x1 from-RGB conv, one residual block per resolution R .. 8
  (3x3 conv, 3x3 conv with FIR 2x downsampling, plus a 1x1 downsampling skip, summed with gain
  sqrt 1/2), then the epilogue at 4x4: minibatch standard deviation (group of 4 samples, sample i
  in group ``i % (B / group)``), a 3x3 conv, a fully connected layer and a linear output.

Resampling is ``upfirdn2d`` written with ``F.pad`` / ``F.conv2d`` / ``F.conv_transpose2d``; no
custom CUDA op is used. Everything runs in float32 (the originals' fp16 layers are a speed option;
their fp32 path is the reference).

Checkpoint layouts (loaded by ``load_stylegan2``; tensor shapes decide every size):

* NVlabs ``stylegan2-ada-pytorch`` / ``stylegan3`` (its StyleGAN2 networks) snapshots ``*.pkl``:
  a pickle of ``{"G", "D", "G_ema", "augment_pipe", "training_set_kwargs"}`` whose networks are
  persistence objects; read by ``stylegan2_nvlabs`` with the restricted unpickler (the embedded
  ``module_src`` source is never read or run). Keys ``mapping.fc{i}.*``, ``mapping.w_avg``,
  ``synthesis.b{res}.{const, conv0, conv1, torgb}.*``; D ``b{res}.{fromrgb, conv0, conv1, skip}``,
  ``b4.{conv, fc, out}``. Weights are stored unscaled; equalised-LR gains apply at run time.
* rosinality ``stylegan2-pytorch`` ``*.pt``, read with ``torch.load(weights_only=True)``:
  the ``train.py`` layout ``{"g", "d", "g_ema", "g_optim", "d_optim", "args", "ada_aug_p"}``
  (``args`` an ``argparse.Namespace``, allowed just for that call) and the ``convert_weight.py``
  layout ``{"g_ema", "latent_avg"[, "g", "d"]}``. Keys ``style.{1..n}.*``, ``input.input``,
  ``conv1.*``, ``to_rgb1.*``, ``convs.{i}.*``, ``to_rgbs.{i}.*``, ``noises.noise_{i}``; D
  ``convs.0`` (from RGB), ``convs.{1..}`` (residual blocks), ``final_conv``, ``final_linear``.
  rosinality multiplies the modulated weight by 1/sqrt(fan_in) before demodulating and NVlabs
  does not; that only moves the 1e-8 in the demodulation, and ``scale_demodulated_weights``
  reproduces each. rosinality files do not store the mapping's learning-rate multiplier (0.01 in
  ``train.py``, assumed) and the ``train.py`` layout has no mean w: it is estimated from 4096
  seeded samples (``prior.w_avg_source`` says which).

The prior (``StyleGAN2Prior``):

* latent spaces ``z`` (default), ``w`` and ``w+`` (``prior.use_latent_space("w+")``): the code
  ``latent_shape`` is ``(z_dim,)``, ``(w_dim,)`` or ``(num_ws, w_dim)``; z goes through the mapping
  and truncation, w is broadcast to every layer, w+ is used as is.
* ``truncation_psi`` (default 1: none) and ``truncation_cutoff`` (layers truncated; None: all)
  apply to z codes and to w / w+ samples from ``sample_latent``.
* ``noise_mode``: ``"const"`` (default: the stored noise maps, so the generator is deterministic,
  which inversion needs), ``"none"`` (no noise) or ``"random"`` (fresh noise on every call).
* composition layer L (1 .. num_blocks-1) is the output of synthesis block L (resolution
  ``4 * 2**(L-1)``). Features there are the tuple ``(feature_map (B, C, h, h), skip_rgb (B, 3, h, h),
  remaining_ws (B, num_ws - 2L + 1, w_dim))``: the tail needs the running RGB image and the w's of
  the layers still to run. Multi-code composition weights the feature map per channel and averages
  the other two over the codes; the tail accepts any such values.
* ``blocks`` are the synthesis blocks, shallow to deep (``blocks[:L]`` is the head at layer L);
  the mapping network is not among them (``prior.mapping``; unused for w / w+ codes).
"""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanpriorError
from ..safe_pickle import is_torch_save_file, safe_torch_load, scan_pickle
from .base import Prior

ACTIVATION_GAINS = {"linear": 1.0, "lrelu": math.sqrt(2), "relu": math.sqrt(2)}
LATENT_SPACES = ("z", "w", "w+")
NOISE_MODES = ("const", "none", "random")


# -- plain-torch ops -----------------------------------------------------------------------------

def make_resample_filter(taps=(1, 3, 3, 1)) -> torch.Tensor:
    """Normalised 2-D FIR filter (sum 1) from separable 1-D taps, float32 ``(k, k)``."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim == 1:
        f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(x: torch.Tensor, filt: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative = crop), convolve with ``filt``, keep every ``down``-th pixel.

    x: ``(B, C, H, W)``; filt: ``(kh, kw)``; pad: ``(left, right, top, bottom)`` in the upsampled image.
    The filter is applied as a true convolution (flipped), scaled by ``gain``.
    """
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(b, c, h * up, w * up)
    left, right, top, bottom = pad
    x = F.pad(x, [max(left, 0), max(right, 0), max(top, 0), max(bottom, 0)])
    x = x[:, :, max(-top, 0): x.shape[2] - max(-bottom, 0), max(-left, 0): x.shape[3] - max(-right, 0)]
    f = (filt * gain).to(x.dtype).flip([0, 1])
    x = F.conv2d(x, f[None, None].expand(c, 1, *f.shape), groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


def upsample2x(x: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """FIR 2x upsampling ``(B, C, H, W) -> (B, C, 2H, 2W)`` (magnitude kept: gain 4)."""
    k = filt.shape[-1]
    return upfirdn2d(x, filt, up=2, pad=((k + 1) // 2, (k - 2) // 2) * 2, gain=4.0)


def bias_activate(x: torch.Tensor, bias: torch.Tensor | None, activation: str, gain: float = 1.0,
                  clamp: float | None = None) -> torch.Tensor:
    """``clamp(act(x + bias) * gain)`` with the bias broadcast along dim 1."""
    if bias is not None:
        x = x + bias.reshape(1, -1, *([1] * (x.ndim - 2)))
    if activation == "lrelu":
        x = F.leaky_relu(x, 0.2)
    elif activation == "relu":
        x = F.relu(x)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_rms(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Divide each row by its root mean square (StyleGAN's pixel norm on z)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def modulated_conv(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool = True,
                   upsample: bool = False, filt: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample modulated convolution as one grouped conv.

    x: ``(B, I, H, W)``; weight: ``(O, I, k, k)``; styles: ``(B, I)``. Returns ``(B, O, H, W)``, or
    ``(B, O, 2H, 2W)`` with ``upsample`` (transposed stride-2 conv, then the FIR ``filt``).
    """
    b, cin, h, w = x.shape
    cout, _, kh, kw = weight.shape
    wts = weight[None] * styles[:, None, :, None, None]  # (B, O, I, k, k)
    if demodulate:
        wts = wts * (wts.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()[:, :, None, None, None]
    x = x.reshape(1, b * cin, h, w)
    if not upsample:
        out = F.conv2d(x, wts.reshape(b * cout, cin, kh, kw), padding=kh // 2, groups=b)
        return out.reshape(b, cout, *out.shape[2:])
    # transposed conv wants (in, out/groups, k, k) per group
    wts = wts.transpose(1, 2).reshape(b * cin, cout, kh, kw)
    out = F.conv_transpose2d(x, wts, stride=2, groups=b)
    out = out.reshape(b, cout, *out.shape[2:])
    k = filt.shape[-1]
    # padding that brings the (2H + kh - 2) transposed output back to 2H after the FIR filter
    left = kh // 2 + (k + 1) // 2 - (kh - 1)
    right = kh // 2 + (k - 2) // 2 - (kh - 2)
    return upfirdn2d(out, filt, pad=(left, right, left, right), gain=4.0)


def minibatch_stddev(x: torch.Tensor, group_size: int, num_channels: int = 1) -> torch.Tensor:
    """Append the mean standard deviation over groups of samples as ``num_channels`` feature maps.

    The batch is reshaped to ``(group, B / group, ...)``, so sample i is grouped with the samples
    ``i % (B / group)`` (as in both originals). A batch that the group size does not divide uses
    the largest group size that does (the originals raise an error there).
    """
    n, c, h, w = x.shape
    group = min(group_size, n) if group_size else n
    while n % group:
        group -= 1
    y = x.reshape(group, -1, num_channels, c // num_channels, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])
    y = y.reshape(-1, num_channels, 1, 1).repeat(group, 1, h, w)
    return torch.cat([x, y], dim=1)


# -- layers --------------------------------------------------------------------------------------

class EqualizedLinear(nn.Module):
    """Fully connected layer with run-time weight scaling ``lr_multiplier / sqrt(in_features)``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        if activation not in ACTIVATION_GAINS:
            raise GanpriorError(f"unsupported activation {activation!r}; StyleGAN2 layers use lrelu or linear")
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias
        if b is not None and self.bias_gain != 1:
            b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b[None], x, w.t())
        return bias_activate(x.matmul(w.t()), b, self.activation, ACTIVATION_GAINS[self.activation])


class MappingNetwork(nn.Module):
    """z (and class labels) -> w. ``forward(z (B, z_dim), labels (B, c_dim) or None) -> (B, w_dim)``."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int = 8, *, c_dim: int = 0,
                 embed_features: int | None = None, hidden_features: int | None = None,
                 activation: str = "lrelu", lr_multiplier: float = 0.01, track_w_avg: bool = True):
        super().__init__()
        self.z_dim, self.w_dim, self.c_dim = z_dim, w_dim, c_dim
        embed = (embed_features or w_dim) if c_dim else 0
        hidden = hidden_features or w_dim
        features = [z_dim + embed] + [hidden] * (num_layers - 1) + [w_dim]
        self.class_embed = EqualizedLinear(c_dim, embed) if c_dim else None
        self.layers = nn.ModuleList(
            EqualizedLinear(features[i], features[i + 1], activation=activation, lr_multiplier=lr_multiplier)
            for i in range(num_layers))
        if track_w_avg:
            self.register_buffer("w_avg", torch.zeros(w_dim))
        else:
            self.w_avg = None

    def forward(self, z: torch.Tensor | None, labels: torch.Tensor | None = None) -> torch.Tensor:
        parts = []
        if self.z_dim:
            parts.append(normalize_rms(z.float()))
        if self.c_dim:
            if labels is None:
                raise GanpriorError(f"this network is class-conditional ({self.c_dim} classes) and needs labels")
            parts.append(normalize_rms(self.class_embed(labels.float())))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for layer in self.layers:
            x = layer(x)
        return x


class StyledConv(nn.Module):
    """Modulated 3x3 conv (optionally 2x upsampling) + noise + bias + leaky ReLU * sqrt 2.

    ``forward(x (B, in, r, r) or (B, in, r/2, r/2), w (B, w_dim), noise_mode) -> (B, out, r, r)``.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, *,
                 kernel_size: int = 3, upsample: bool = False, use_noise: bool = True,
                 conv_clamp: float | None = None, scale_weight: bool = False,
                 resample_filter: torch.Tensor | None = None):
        super().__init__()
        self.resolution, self.upsample, self.use_noise, self.conv_clamp = resolution, upsample, use_noise, conv_clamp
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        # demodulation makes the weight scale irrelevant except for its epsilon; rosinality
        # pre-scales by 1/sqrt(fan_in), NVlabs does not
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2) if scale_weight else 1.0
        if use_noise:
            self.noise_strength = nn.Parameter(torch.zeros([]))
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
        if upsample:
            filt = make_resample_filter() if resample_filter is None else resample_filter
            self.register_buffer("resample_filter", filt.clone(), persistent=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        styles = self.affine(w)
        weight = self.weight * self.weight_gain if self.weight_gain != 1 else self.weight
        x = modulated_conv(x, weight, styles, upsample=self.upsample,
                           filt=self.resample_filter if self.upsample else None)
        if self.use_noise and noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        elif self.use_noise and noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device)
            x = x + noise * self.noise_strength
        return bias_activate(x, self.bias, "lrelu", ACTIVATION_GAINS["lrelu"], self.conv_clamp)


class ToRGB(nn.Module):
    """Modulated 1x1 conv without demodulation + bias: ``(B, C, r, r) -> (B, img_channels, r, r)``."""

    def __init__(self, in_channels: int, img_channels: int, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv(x, self.weight, styles, demodulate=False)
        return bias_activate(x, self.bias, "linear", 1.0, self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network (skip architecture).

    ``forward(x, skip_rgb, ws, noise_mode) -> (x, skip_rgb)``: x ``(B, in, r/2, r/2)`` (ignored by
    the first block, which starts from its constant), skip_rgb ``(B, 3, r/2, r/2)`` or None,
    ws ``(B, num_ws, w_dim)`` with ``num_ws`` 2 (first block) or 3. Returns the block's feature map
    ``(B, out, r, r)`` and the running RGB image ``(B, 3, r, r)``.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int, *,
                 resample_filter: torch.Tensor, conv_clamp: float | None = None, use_noise: bool = True,
                 scale_weight: bool = False):
        super().__init__()
        self.resolution, self.in_channels, self.out_channels = resolution, in_channels, out_channels
        layer = dict(w_dim=w_dim, resolution=resolution, use_noise=use_noise, conv_clamp=conv_clamp,
                     scale_weight=scale_weight)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
            self.conv_up = None
        else:
            self.conv_up = StyledConv(in_channels, out_channels, upsample=True, resample_filter=resample_filter,
                                      **layer)
        self.conv = StyledConv(out_channels, out_channels, **layer)
        self.to_rgb = ToRGB(out_channels, img_channels, w_dim, conv_clamp)
        self.register_buffer("resample_filter", resample_filter.clone(), persistent=False)
        self.num_ws = 2 if in_channels == 0 else 3

    def forward(self, x, skip_rgb, ws: torch.Tensor, noise_mode: str = "const"):
        if self.conv_up is None:
            x = self.const[None].expand(ws.shape[0], -1, -1, -1)
            x = self.conv(x, ws[:, 0], noise_mode)
        else:
            x = self.conv_up(x, ws[:, 0], noise_mode)
            x = self.conv(x, ws[:, 1], noise_mode)
        rgb = self.to_rgb(x, ws[:, self.num_ws - 1])
        skip_rgb = rgb if skip_rgb is None else upsample2x(skip_rgb, self.resample_filter) + rgb
        return x, skip_rgb


def w_index(block: int) -> int:
    """Index of the first w that synthesis block ``block`` (0-based) uses."""
    return 0 if block == 0 else 2 * block - 1


# -- generator -----------------------------------------------------------------------------------

class StyleGAN2Generator(nn.Module):
    """Mapping + synthesis network. All sizes are constructor arguments (see ``config``).

    Args:
        z_dim, w_dim: latent sizes; ``resolution``: output size (power of two >= 4).
        channels: ``{resolution: channels}`` for 4 .. resolution.
        mapping_layers, mapping_hidden, mapping_lr, mapping_activation: mapping network shape.
        c_dim, embed_features: class-conditional mapping (0 = unconditional).
        conv_clamp: clamp of every synthesis conv output (NVlabs; None = off).
        resample_filter: 1-D taps or a 2-D filter (normalised to sum 1).
        scale_demodulated_weights: rosinality's 1/sqrt(fan_in) before demodulation.
        use_noise: whether the synthesis convs have noise inputs.
    """

    def __init__(self, *, z_dim: int, w_dim: int, resolution: int, channels: Mapping[int, int],
                 img_channels: int = 3, mapping_layers: int = 8, mapping_hidden: int | None = None,
                 mapping_lr: float = 0.01, mapping_activation: str = "lrelu", c_dim: int = 0,
                 embed_features: int | None = None, conv_clamp: float | None = None,
                 resample_filter=(1, 3, 3, 1), scale_demodulated_weights: bool = False, use_noise: bool = True):
        super().__init__()
        log2 = int(round(math.log2(resolution))) if resolution > 0 else 0
        if resolution < 4 or 2 ** log2 != resolution:
            raise GanpriorError(f"StyleGAN2 resolution must be a power of two >= 4, got {resolution}")
        resolutions = [2 ** i for i in range(2, log2 + 1)]
        channels = {int(k): int(v) for k, v in channels.items()}
        missing = [r for r in resolutions if r not in channels]
        if missing:
            raise GanpriorError(f"StyleGAN2 channel table lacks resolutions {missing}")
        filt = make_resample_filter(resample_filter)
        self.config = dict(z_dim=z_dim, w_dim=w_dim, resolution=resolution, channels=dict(channels),
                           img_channels=img_channels, mapping_layers=mapping_layers,
                           mapping_hidden=mapping_hidden, mapping_lr=mapping_lr,
                           mapping_activation=mapping_activation, c_dim=c_dim, embed_features=embed_features,
                           conv_clamp=conv_clamp, resample_filter=filt.tolist(),
                           scale_demodulated_weights=scale_demodulated_weights, use_noise=use_noise)
        self.z_dim, self.w_dim, self.c_dim = z_dim, w_dim, c_dim
        self.resolution, self.img_channels = resolution, img_channels
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, c_dim=c_dim, embed_features=embed_features,
                                      hidden_features=mapping_hidden, activation=mapping_activation,
                                      lr_multiplier=mapping_lr)
        self.blocks = nn.ModuleList(
            SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim, res, img_channels,
                           resample_filter=filt, conv_clamp=conv_clamp, use_noise=use_noise,
                           scale_weight=scale_demodulated_weights)
            for res in resolutions)
        self.num_ws = 2 * len(self.blocks)

    def map(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation_psi: float = 1.0,
            truncation_cutoff: int | None = None) -> torch.Tensor:
        """z ``(B, z_dim)`` -> ws ``(B, num_ws, w_dim)`` (broadcast, then truncated)."""
        w = self.mapping(z, labels)
        return self.truncate(w[:, None].expand(-1, self.num_ws, -1), truncation_psi, truncation_cutoff)

    def truncate(self, ws: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
        """``w_avg + psi * (ws - w_avg)`` on the first ``cutoff`` layers (all when None)."""
        if psi == 1:
            return ws
        if self.mapping.w_avg is None:
            raise GanpriorError("this generator tracks no mean w, so truncation is unavailable")
        w_avg = self.mapping.w_avg.to(ws.dtype)
        if ws.ndim == 2:
            return w_avg.lerp(ws, psi)
        cut = ws.shape[1] if cutoff is None else cutoff
        return torch.cat([w_avg.lerp(ws[:, :cut], psi), ws[:, cut:]], dim=1)

    def run_blocks(self, ws: torch.Tensor, x: torch.Tensor | None, skip_rgb: torch.Tensor | None,
                   first: int, last: int, noise_mode: str = "const"):
        """Synthesis blocks ``first .. last-1`` (0-based); ``ws[:, 0]`` is the w at ``w_index(first)``."""
        offset = w_index(first)
        for k in range(first, last):
            block = self.blocks[k]
            start = w_index(k) - offset
            block_ws = ws[:, start: start + block.num_ws]
            if block_ws.shape[1] != block.num_ws:
                raise GanpriorError(f"too few w's for synthesis block {k + 1}: got {ws.shape[1]} in all")
            x, skip_rgb = block(x, skip_rgb, block_ws, noise_mode)
        return x, skip_rgb

    def synthesize(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """ws ``(B, num_ws, w_dim)`` -> image ``(B, img_channels, R, R)`` (nominally [-1, 1], unclamped)."""
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise GanpriorError(f"ws must be (B, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        return self.run_blocks(ws, None, None, 0, len(self.blocks), noise_mode)[1]

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation_psi: float = 1.0,
                noise_mode: str = "const") -> torch.Tensor:
        return self.synthesize(self.map(z, labels, truncation_psi), noise_mode)

    @torch.no_grad()
    def estimate_w_avg(self, num_samples: int = 4096, seed: int = 0, batch: int = 1024) -> torch.Tensor:
        """Mean of ``mapping(z)`` over seeded N(0, I) samples (for checkpoints without one)."""
        gen = torch.Generator().manual_seed(seed)
        device = self.mapping.layers[0].weight.device
        total = torch.zeros(self.w_dim, dtype=torch.float64, device=device)
        labels = None
        for start in range(0, num_samples, batch):
            n = min(batch, num_samples - start)
            z = torch.randn(n, self.z_dim, generator=gen).to(device)
            if self.c_dim:
                labels = F.one_hot(torch.arange(start, start + n) % self.c_dim, self.c_dim).float().to(device)
            total += self.mapping(z, labels).double().sum(0)
        return (total / num_samples).float()


# -- discriminator ----------------------------------------------------------------------------

class EqualizedConv(nn.Module):
    """Conv with run-time weight scaling, optional FIR 2x downsampling, bias, activation and clamp.

    ``forward(x (B, in, r, r), gain) -> (B, out, r, r)`` or ``r/2`` with ``down=2``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, bias: bool = True,
                 activation: str = "linear", down: int = 1, conv_clamp: float | None = None,
                 resample_filter: torch.Tensor | None = None):
        super().__init__()
        if activation not in ACTIVATION_GAINS:
            raise GanpriorError(f"unsupported activation {activation!r}; StyleGAN2 layers use lrelu or linear")
        self.activation, self.down, self.conv_clamp = activation, down, conv_clamp
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        if down > 1:
            filt = make_resample_filter() if resample_filter is None else resample_filter
            self.register_buffer("resample_filter", filt.clone(), persistent=False)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        k = w.shape[-1]
        if self.down > 1:
            f = self.resample_filter.shape[-1]
            lo, hi = (f - self.down + 1) // 2, (f - self.down) // 2
            if k == 1:  # filter and drop pixels, then the 1x1 conv
                x = upfirdn2d(x, self.resample_filter, down=self.down, pad=(lo, hi, lo, hi))
                x = F.conv2d(x, w)
            else:  # filter with the conv's padding folded in, then a strided conv
                p = k // 2
                x = upfirdn2d(x, self.resample_filter, pad=(lo + p, hi + p, lo + p, hi + p))
                x = F.conv2d(x, w, stride=self.down)
        else:
            x = F.conv2d(x, w, padding=k // 2)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_activate(x, self.bias, self.activation, ACTIVATION_GAINS[self.activation] * gain, clamp)


class DiscriminatorBlock(nn.Module):
    """3x3 conv, 3x3 conv with 2x downsampling, and (residual) a 1x1 downsampling skip.

    ``forward(x (B, in, r, r)) -> (B, out, r/2, r/2)``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, resample_filter: torch.Tensor,
                 conv_clamp: float | None = None, residual: bool = True):
        super().__init__()
        self.conv = EqualizedConv(in_channels, in_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv_down = EqualizedConv(in_channels, out_channels, 3, activation="lrelu", down=2,
                                       conv_clamp=conv_clamp, resample_filter=resample_filter)
        self.skip = EqualizedConv(in_channels, out_channels, 1, bias=False, down=2,
                                  resample_filter=resample_filter) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.skip is None:
            return self.conv_down(self.conv(x))
        half = math.sqrt(0.5)
        shortcut = self.skip(x, gain=half)
        return shortcut + self.conv_down(self.conv(x), gain=half)


class StyleGAN2Discriminator(nn.Module):
    """StyleGAN2 residual discriminator. Input images ``(B, C, R, R)`` in [-1, 1].

    ``features(x)`` -> the outputs of the downsampling blocks, shallow first
    (``[(B, ch[R/2], R/2, R/2), ..., (B, ch[4], 4, 4)]``; per-sample, before the minibatch-stddev
    epilogue); ``forward(x, labels=None)`` -> logits ``(B,)`` (higher = real). ``labels`` are class
    indices ``(B,)`` or one-hot ``(B, c_dim)`` for a class-conditional (projection) discriminator.
    """

    def __init__(self, *, resolution: int, channels: Mapping[int, int], img_channels: int = 3,
                 conv_clamp: float | None = None, mbstd_group_size: int | None = 4, mbstd_channels: int = 1,
                 residual: bool = True, resample_filter=(1, 3, 3, 1), c_dim: int = 0, cmap_dim: int | None = None,
                 mapping_layers: int = 8):
        super().__init__()
        log2 = int(round(math.log2(resolution))) if resolution > 0 else 0
        if resolution < 8 or 2 ** log2 != resolution:
            raise GanpriorError(f"StyleGAN2 discriminator resolution must be a power of two >= 8, got {resolution}")
        channels = {int(k): int(v) for k, v in channels.items()}
        filt = make_resample_filter(resample_filter)
        cmap_dim = (cmap_dim or channels[4]) if c_dim else 0
        self.config = dict(resolution=resolution, channels=dict(channels), img_channels=img_channels,
                           conv_clamp=conv_clamp, mbstd_group_size=mbstd_group_size, mbstd_channels=mbstd_channels,
                           residual=residual, resample_filter=filt.tolist(), c_dim=c_dim, cmap_dim=cmap_dim,
                           mapping_layers=mapping_layers)
        self.resolution, self.c_dim, self.cmap_dim = resolution, c_dim, cmap_dim
        self.mbstd_group_size, self.mbstd_channels = mbstd_group_size, mbstd_channels
        self.from_rgb = EqualizedConv(img_channels, channels[resolution], 1, activation="lrelu", conv_clamp=conv_clamp)
        self.blocks = nn.ModuleList(
            DiscriminatorBlock(channels[2 ** i], channels[2 ** (i - 1)], resample_filter=filt,
                               conv_clamp=conv_clamp, residual=residual)
            for i in range(log2, 2, -1))
        c4 = channels[4]
        self.final_conv = EqualizedConv(c4 + mbstd_channels, c4, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.final_fc = EqualizedLinear(c4 * 16, c4, activation="lrelu")
        self.out = EqualizedLinear(c4, cmap_dim or 1)
        self.label_mapping = (MappingNetwork(0, cmap_dim, mapping_layers, c_dim=c_dim, track_w_avg=False)
                              if c_dim else None)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        x = self.from_rgb(x)
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats

    def epilogue_conv(self, h: torch.Tensor) -> torch.Tensor:
        """Minibatch stddev + the 3x3 conv on the last block output: ``(B, ch4, 4, 4)``."""
        if self.mbstd_channels:
            h = minibatch_stddev(h, self.mbstd_group_size, self.mbstd_channels)
        return self.final_conv(h)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.epilogue_conv(self.features(x)[-1])
        out = self.out(self.final_fc(h.flatten(1)))
        if not self.c_dim:
            return out[:, 0]
        if labels is None:
            raise GanpriorError(f"this discriminator is class-conditional ({self.c_dim} classes) and needs labels")
        if labels.ndim == 1:
            labels = F.one_hot(labels.long(), self.c_dim).float()
        cmap = self.label_mapping(None, labels)
        return (out * cmap).sum(dim=1) / math.sqrt(self.cmap_dim)


# -- the prior -----------------------------------------------------------------------------------

class StyleGAN2Prior(Prior):
    """A StyleGAN2 generator behind the ``Prior`` interface (see the module docstring).

    Args:
        generator: the network. name: display name. latent_space: ``z``, ``w`` or ``w+``.
        truncation_psi, truncation_cutoff: truncation towards ``w_avg`` (1.0 = none).
        noise_mode: ``const`` (default), ``none`` or ``random``.
    """

    family = "stylegan2"
    latent_spaces = LATENT_SPACES

    def __init__(self, generator: StyleGAN2Generator, name: str = "stylegan2", *, latent_space: str = "z",
                 truncation_psi: float = 1.0, truncation_cutoff: int | None = None, noise_mode: str = "const"):
        super().__init__()
        self.generator = generator
        self.name = name
        self.resolution = generator.resolution
        self.channels = generator.img_channels
        self.num_classes = generator.c_dim or None
        self.class_index = 0
        self.truncation_psi = float(truncation_psi)
        self.truncation_cutoff = truncation_cutoff
        self.source_format = "ganprior"
        self.w_avg_source = "checkpoint"
        self._latent_space = "z"
        self._noise_mode = "const"
        self.use_latent_space(latent_space)
        self.noise_mode = noise_mode

    # -- settings ---------------------------------------------------------------
    @property
    def latent_space(self) -> str:
        return self._latent_space

    @latent_space.setter
    def latent_space(self, name: str) -> None:
        self.use_latent_space(name)

    def use_latent_space(self, name: str) -> "StyleGAN2Prior":
        """Choose what a code means: ``z`` (mapping input), ``w`` (one style vector) or ``w+`` (one per layer)."""
        if name not in LATENT_SPACES:
            raise GanpriorError(f"unknown latent space {name!r} for {self.name}; "
                                f"choose one of {', '.join(LATENT_SPACES)}")
        self._latent_space = name
        return self

    @property
    def noise_mode(self) -> str:
        return self._noise_mode

    @noise_mode.setter
    def noise_mode(self, mode: str) -> None:
        if mode not in NOISE_MODES:
            raise GanpriorError(f"unknown noise mode {mode!r}; choose one of {', '.join(NOISE_MODES)}")
        self._noise_mode = mode

    @property
    def latent_shape(self) -> tuple[int, ...]:
        g = self.generator
        return {"z": (g.z_dim,), "w": (g.w_dim,), "w+": (g.num_ws, g.w_dim)}[self._latent_space]

    @property
    def mapping(self) -> MappingNetwork:
        return self.generator.mapping

    @property
    def num_ws(self) -> int:
        return self.generator.num_ws

    @property
    def w_avg(self) -> torch.Tensor | None:
        return self.generator.mapping.w_avg

    # -- Prior interface ----------------------------------------------------------
    @property
    def composition_layers(self) -> dict[int, int]:
        return {k + 1: block.out_channels for k, block in enumerate(self.generator.blocks[:-1])}

    @property
    def blocks(self) -> list[nn.Module]:
        return list(self.generator.blocks)

    def _labels(self, n: int, device) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        index = torch.full((n,), int(self.class_index), dtype=torch.long, device=device)
        return F.one_hot(index, self.num_classes).float()

    def codes_to_ws(self, code: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, *latent_shape)`` in the current space -> ws ``(B, num_ws, w_dim)``."""
        shape = tuple(code.shape[1:])
        if shape != self.latent_shape:
            dims = ", ".join(map(str, self.latent_shape))
            raise GanpriorError(f"{self.name}: a {self._latent_space} code must be (B, {dims}), "
                                f"got {tuple(code.shape)}")
        g = self.generator
        if self._latent_space == "z":
            return g.map(code, self._labels(code.shape[0], code.device), self.truncation_psi, self.truncation_cutoff)
        if self._latent_space == "w":
            return code[:, None].expand(-1, g.num_ws, -1)
        return code

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` codes of the current space: z ~ N(0, I); w / w+ = truncated ``mapping(z)``."""
        z = torch.randn((n, self.generator.z_dim), generator=generator).to(self.device)
        if self._latent_space == "z":
            return z
        with torch.no_grad():
            w = self.generator.mapping(z, self._labels(n, z.device))
            if self._latent_space == "w":
                return self.generator.truncate(w, self.truncation_psi)
            ws = w[:, None].repeat(1, self.generator.num_ws, 1)
            return self.generator.truncate(ws, self.truncation_psi, self.truncation_cutoff)

    def head(self, code: torch.Tensor, layer: int):
        """Codes ``(B, *latent_shape)`` -> ``(feature_map, skip_rgb, remaining_ws)`` after block ``layer``."""
        self.check_layer(layer)
        ws = self.codes_to_ws(code)
        x, skip_rgb = self.generator.run_blocks(ws, None, None, 0, layer, self._noise_mode)
        return x, skip_rgb, ws[:, w_index(layer):]

    def tail(self, features, layer: int) -> torch.Tensor:
        """``(feature_map, skip_rgb, remaining_ws)`` at ``layer`` -> image ``(B, C, R, R)``, native range."""
        self.check_layer(layer)
        if not isinstance(features, (tuple, list)) or len(features) != 3:
            raise GanpriorError(f"{self.name}: StyleGAN2 features are (feature_map, skip_rgb, remaining_ws)")
        x, skip_rgb, ws = features
        g = self.generator
        expected = g.num_ws - w_index(layer)
        if ws.ndim != 3 or ws.shape[1] != expected:
            raise GanpriorError(f"{self.name}: remaining ws at layer {layer} must be (B, {expected}, {g.w_dim}), "
                                f"got {tuple(ws.shape)}")
        return g.run_blocks(ws, x, skip_rgb, layer, len(g.blocks), self._noise_mode)[1]

    def generate(self, code: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, *latent_shape)`` -> images ``(B, C, R, R)`` (nominally [-1, 1], unclamped)."""
        return self.generator.synthesize(self.codes_to_ws(code), self._noise_mode)

    def describe(self) -> str:
        return (f"{super().describe()}, latent space {self._latent_space}, psi {self.truncation_psi:g}, "
                f"noise {self._noise_mode}")

    @classmethod
    def random(cls, resolution: int = 16, z_dim: int = 16, w_dim: int = 16, channels: int = 16,
               mapping_layers: int = 2, seed: int = 0, name: str = "stylegan2-random") -> "StyleGAN2Prior":
        """A small randomly initialised prior (originals' init; noise strengths 0.1), for tests."""
        table = {2 ** i: channels for i in range(2, int(math.log2(resolution)) + 1)}
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the global RNG
            torch.manual_seed(seed)
            g = StyleGAN2Generator(z_dim=z_dim, w_dim=w_dim, resolution=resolution, channels=table,
                                   mapping_layers=mapping_layers)
        with torch.no_grad():
            for m in g.modules():
                if isinstance(m, StyledConv):
                    m.noise_strength.fill_(0.1)
            g.mapping.w_avg.copy_(g.estimate_w_avg(1024, seed))
        return cls(g.eval(), name=name)


# -- rosinality checkpoints --------------------------------------------------------------------

_ROSINALITY_G_KEYS = ("style.1.weight", "input.input", "conv1.conv.weight", "to_rgb1.conv.weight")
_ROSINALITY_D_KEYS = ("convs.0.0.weight", "final_conv.0.weight", "final_linear.0.weight")


def _has_keys(obj, keys) -> bool:
    return isinstance(obj, Mapping) and all(isinstance(obj.get(k), torch.Tensor) for k in keys)


def is_stylegan2_rosinality(obj) -> bool:
    """True for a rosinality checkpoint dict (``g_ema`` / ``g`` inside) or a bare generator state dict."""
    if not isinstance(obj, Mapping):
        return False
    return any(_has_keys(obj.get(k), _ROSINALITY_G_KEYS) for k in ("g_ema", "g")) or _has_keys(obj, _ROSINALITY_G_KEYS)


def _rename(state: Mapping[str, torch.Tensor], rules: list[tuple[str, str]], what: str) -> dict:
    """Rename keys by the first matching ``(regex, replacement)``; a replacement of '' drops the key."""
    out = {}
    for key, value in state.items():
        for pattern, repl in rules:
            if re.fullmatch(pattern, key):
                if repl:
                    out[re.sub(pattern, repl, key)] = value
                break
        else:
            raise GanpriorError(f"unexpected key {key!r} in {what}")
    return out


def _load_exact(module: nn.Module, state: dict, what: str) -> None:
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise GanpriorError(f"{what} does not match the StyleGAN2 architecture inferred from its shapes "
                            f"(missing {missing[:3]}, unexpected {unexpected[:3]})")


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
    _load_exact(g, out, what)
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
            out.update(_rename({key: value}, rules, what))
    _load_exact(d, out, what)
    return d.eval()


def _rosinality_prior(ckpt: Mapping, path: Path, name: str | None) -> StyleGAN2Prior:
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


# -- loading -------------------------------------------------------------------------------------

_NVLABS_PERSISTENCE = "torch_utils.persistence._reconstruct_persistent_obj"
_NVLABS_NETWORK_CLASSES = {"Generator", "SynthesisNetwork", "MappingNetwork"}


def is_stylegan2_nvlabs_pickle(path: str | os.PathLike) -> bool:
    """True if ``path`` is an NVlabs network pickle (stylegan2-ada-pytorch / stylegan3 snapshot).

    Only the pickle's opcodes are read (nothing is executed, no tensor is built): it must name the
    persistence rebuild function and a generator class and have a ``G`` or ``G_ema`` entry.
    Files written by ``torch.save`` (zip or legacy) are never NVlabs pickles.
    """
    path = Path(path)
    try:
        if not path.is_file() or is_torch_save_file(path):
            return False
        with open(path, "rb") as f:
            def found(s):
                return (_NVLABS_PERSISTENCE in s.globals and bool(_NVLABS_NETWORK_CLASSES & set(s.strings))
                        and bool({"G", "G_ema"} & set(s.strings)))
            return found(scan_pickle(f, stop=found))
    except OSError:
        return False


def load_stylegan2(path: str | os.PathLike, name: str | None = None) -> StyleGAN2Prior:
    """Load a StyleGAN2 checkpoint of any supported layout as a prior (discriminator attached if present).

    NVlabs ``.pkl`` snapshots go through the restricted unpickler; ``torch.save`` files (rosinality
    ``.pt``) through ``torch.load(weights_only=True)`` with ``argparse.Namespace`` allowed.
    """
    from .stylegan2_nvlabs import load_nvlabs_prior

    path = Path(path)
    if not path.is_file():
        raise GanpriorError(f"StyleGAN2 checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise GanpriorError(f"cannot read {path}: the file is empty")
    if is_torch_save_file(path):
        ckpt = safe_torch_load(path, [argparse.Namespace], "StyleGAN2 checkpoint")
        if not is_stylegan2_rosinality(ckpt):
            keys = ", ".join(map(str, list(ckpt)[:5])) if isinstance(ckpt, Mapping) else type(ckpt).__name__
            raise GanpriorError(f"{path} is not a StyleGAN2 checkpoint: no rosinality generator keys "
                                f"(style.1.weight, input.input, ...) found (top level: {keys})")
        return _rosinality_prior(ckpt, path, name)
    return load_nvlabs_prior(path, name)


__all__ = ["StyleGAN2Discriminator", "StyleGAN2Generator", "StyleGAN2Prior", "discriminator_from_rosinality",
           "generator_from_rosinality", "is_stylegan2_nvlabs_pickle", "is_stylegan2_rosinality", "load_stylegan2",
           "modulated_conv", "upfirdn2d"]
