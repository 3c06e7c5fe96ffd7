"""The StyleGAN2 generator (Karras et al. 2020, configs E/F), one implementation for both public code bases.

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
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import GanpriorError
from .layers import EqualizedLinear, MappingNetwork
from .ops import ACTIVATION_GAINS, bias_activate, make_resample_filter, modulated_conv, upsample2x


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
