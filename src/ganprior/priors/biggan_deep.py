"""BigGAN-deep generator in the layout of Hugging Face's ``pytorch_pretrained_biggan``.

Architecture
------------
Conditioning vector ``c = [z, class_embedding]`` (``2 * z_dim``), shared by every layer::

    stem:   linear(c) -> (B, 16 ch, 4, 4)     (TF-ordered: reshaped (B, 4, 4, 16 ch), then to NCHW)
    stage k (k = 1..n): bottleneck residual block, optionally followed by self-attention
    output: batch norm -> ReLU -> 3x3 conv (ch channels, the first 3 kept) -> tanh -> (B, 3, R, R)

A bottleneck block (``in`` -> ``out`` channels, ``mid`` = ``in / 4``)::

    h = conv1x1(relu(bn0(x)))          in  -> mid
    h = relu(bn1(h)); upsample x2?; conv3x3     mid -> mid
    h = conv3x3(relu(bn2(h)))          mid -> mid
    h = conv1x1(relu(bn3(h)))          mid -> out
    out = h + upsample?(x[:, :out])    (channels are dropped, not projected, on the shortcut)

Batch norms are class-conditional (gain ``1 + W_s c``, bias ``W_o c``) and use *precomputed*
statistics: each stores ``n_stats`` (51) rows of means/variances, one per truncation value
``0, 1/50, ..., 1``. ``truncation`` (an attribute here, an argument in the original) selects the
row, interpolating between neighbours exactly as the original does (including its weighting:
``coef * row[i] + (1 - coef) * row[i + 1]`` where ``i + coef = truncation * 50``). Latents are
expected to be ``truncation * truncnorm(-2, 2)``; ``sample_latent`` draws them so.

Spectral norm is ``torch.nn.utils.spectral_norm`` (``weight_orig``, ``weight_u``, ``weight_v``);
like the original in eval mode we use ``sigma = u . (W v)`` with the stored vectors. (The Hugging
Face loader leaves the model in train mode, where each call runs one more power-iteration step
and moves ``u``/``v``; that changes outputs by ~1e-5 and is deliberately not reproduced.)

Checkpoint layout (``config.json`` + ``pytorch_model.bin``, legacy ``torch.save`` format)::

    embeddings.weight (z_dim, num_classes)          class embedding (applied to one-hot vectors)
    generator.gen_z.{weight_orig, weight_u, weight_v, bias}
    generator.layers.{j}.bn_{0..3}.{running_means, running_vars, scale.*, offset.*}
    generator.layers.{j}.conv_{0..3}.{weight_orig, weight_u, weight_v, bias}
    generator.layers.{p}.{gamma, snconv1x1_{theta,phi,g,o_conv}.*}   attention module
    generator.bn.{weight, bias, running_means, running_vars}
    generator.conv_to_rgb.{weight_orig, weight_u, weight_v, bias}

The attention module is *inserted* in ``generator.layers`` before config layer
``attention_layer_position`` = p, so module indices after it are shifted by one. Here it belongs
to the stage before it (stage p, 1-based), so composition layer k is the output of block k
including a following attention, as in ``biggan``. Upsampling per block comes from the config
(``layers``: ``(upsample, in_multiplier, out_multiplier)``); channel counts, embedding size and
statistics count are read from the weights and must agree with it.

Prior interface: latent z ``(B, z_dim)``; the class is ``class_index`` (or per-sample ``labels``
or an explicit ``embedding`` ``(B, z_dim)``). Features at a layer are
``(feature_map (B, C, H, W), conditioning (B, 2 z_dim))``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanpriorError
from .base import Prior
from .biggan.conditioning import embed_classes, resolve_embedding, unpack_features
from .biggan.files import read_json, read_state_dict
from .biggan.layers import SelfAttention, SNConv2d, SNLinear
from .biggan.renaming import load_translated, translate_keys
from .families import Check, CheckpointFamily, register_family

# BigGANConfig's defaults (biggan-deep-128); a config.json overrides them key by key, as in the original
DEFAULT_CONFIG = {
    "output_dim": 128, "z_dim": 128, "class_embed_dim": 128, "channel_width": 128, "num_classes": 1000,
    "layers": [[False, 16, 16], [True, 16, 16], [False, 16, 16], [True, 16, 8], [False, 8, 8],
               [True, 8, 4], [False, 4, 4], [True, 4, 2], [False, 2, 2], [True, 2, 1]],
    "attention_layer_position": 8, "eps": 1e-4, "n_stats": 51,
}
DEFAULT_TRUNCATION = 0.4  # the value of the original's README example and of our parity fixture

_SN = {"sigma_style": "stored-uv"}


def truncation_statistics(means: torch.Tensor, variances: torch.Tensor, truncation: float):
    """The batch-norm statistics ``(C,)`` for ``truncation`` from the ``(n_stats, C)`` tables."""
    step = 1.0 / (means.shape[0] - 1)
    coef, index = math.modf(truncation / step)
    index = int(index)
    if coef == 0.0:
        return means[index], variances[index]
    # the original's weights: row ``index`` gets ``coef`` (not ``1 - coef``); kept for parity
    return (means[index] * coef + means[index + 1] * (1 - coef),
            variances[index] * coef + variances[index + 1] * (1 - coef))


class TruncatedStatsBatchNorm(nn.Module):
    """Batch norm with per-truncation statistics ``running_means``/``running_vars`` ``(n_stats, C)``.

    Conditional (``cond_dim``): ``(x - mean) / sqrt(var + eps) * (1 + gain_proj(c)) + bias_proj(c)``;
    unconditional: a learned ``weight``/``bias``. x ``(B, C, H, W)``, c ``(B, cond_dim)``.
    """

    def __init__(self, channels: int, n_stats: int, eps: float, cond_dim: int | None = None):
        super().__init__()
        self.eps = eps
        self.register_buffer("running_means", torch.zeros(n_stats, channels))
        self.register_buffer("running_vars", torch.ones(n_stats, channels))
        self.conditional = cond_dim is not None
        if self.conditional:
            self.gain_proj = SNLinear(cond_dim, channels, bias=False, eps=eps, **_SN)
            self.bias_proj = SNLinear(cond_dim, channels, bias=False, eps=eps, **_SN)
        else:
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, truncation: float, cond: torch.Tensor | None = None) -> torch.Tensor:
        mean, var = truncation_statistics(self.running_means, self.running_vars, truncation)
        if not self.conditional:
            return F.batch_norm(x, mean, var, self.weight, self.bias, False, 0.0, self.eps)
        gain = 1 + self.gain_proj(cond)
        bias = self.bias_proj(cond)
        normalized = (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + self.eps)
        return normalized * gain[:, :, None, None] + bias[:, :, None, None]


class BottleneckBlock(nn.Module):
    """BigGAN-deep block ``(B, in, H, W), c -> (B, out, H', W')`` (H' = 2H when upsampling)."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, upsample: bool,
                 cond_dim: int, n_stats: int, eps: float):
        super().__init__()
        if out_channels > in_channels:
            raise GanpriorError(f"BigGAN-deep blocks cannot widen ({in_channels} -> {out_channels} channels)")
        self.upsample, self.out_channels = upsample, out_channels
        widths = [(in_channels, mid_channels, 1), (mid_channels, mid_channels, 3),
                  (mid_channels, mid_channels, 3), (mid_channels, out_channels, 1)]
        self.norms = nn.ModuleList(TruncatedStatsBatchNorm(cin, n_stats, eps, cond_dim) for cin, _, _ in widths)
        self.convs = nn.ModuleList(SNConv2d(cin, cout, k, eps=eps, **_SN) for cin, cout, k in widths)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, truncation: float) -> torch.Tensor:
        h = x
        for i, (norm, conv) in enumerate(zip(self.norms, self.convs)):
            h = F.relu(norm(h, truncation, cond))
            if i == 1 and self.upsample:
                h = F.interpolate(h, scale_factor=2)
            h = conv(h)
        shortcut = x[:, :self.out_channels]
        if self.upsample:
            shortcut = F.interpolate(shortcut, scale_factor=2)
        return h + shortcut


class DeepStage(nn.Module):
    """A bottleneck block, then self-attention if the stage has one."""

    def __init__(self, block: BottleneckBlock, attention: SelfAttention | None):
        super().__init__()
        self.block = block
        self.attention = attention

    def forward(self, x: torch.Tensor, cond: torch.Tensor, truncation: float) -> torch.Tensor:
        x = self.block(x, cond, truncation)
        return self.attention(x) if self.attention is not None else x


class DeepStem(nn.Module):
    """``c (B, cond_dim)`` -> ``(B, C0, 4, 4)``; the linear output is laid out (4, 4, C0) as in TF."""

    def __init__(self, cond_dim: int, channels: int, eps: float, attention: bool):
        super().__init__()
        self.channels = channels
        self.linear = SNLinear(cond_dim, 16 * channels, eps=eps, **_SN)
        self.attention = SelfAttention(channels, eps=eps, **_SN) if attention else None

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        h = self.linear(cond).view(cond.shape[0], 4, 4, self.channels).permute(0, 3, 1, 2).contiguous()
        return self.attention(h) if self.attention is not None else h


class DeepOutput(nn.Module):
    """``(B, C, R, R)`` -> image ``(B, 3, R, R)`` in [-1, 1]."""

    def __init__(self, channels: int, rgb_channels: int, n_stats: int, eps: float):
        super().__init__()
        self.norm = TruncatedStatsBatchNorm(channels, n_stats, eps)
        self.to_rgb = SNConv2d(channels, rgb_channels, 3, eps=eps, **_SN)

    def forward(self, x: torch.Tensor, truncation: float) -> torch.Tensor:
        return torch.tanh(self.to_rgb(F.relu(self.norm(x, truncation)))[:, :3])


@dataclass(frozen=True)
class BigGANDeepArchitecture:
    """``blocks``: ``(in, mid, out, upsample)`` per block; ``attention_position``: the config's
    ``attention_layer_position`` (attention runs before that block), None without attention."""

    num_classes: int
    z_dim: int
    embedding_dim: int
    blocks: tuple[tuple[int, int, int, bool], ...]
    attention_position: int | None
    rgb_channels: int
    n_stats: int = 51
    eps: float = 1e-4

    @property
    def cond_dim(self) -> int:
        return self.z_dim + self.embedding_dim

    @property
    def resolution(self) -> int:
        return 4 * 2 ** sum(up for *_, up in self.blocks)


class BigGANDeepPrior(Prior):
    """BigGAN-deep generator as a ``Prior``. Latent z ``(B, z_dim)``; images in [-1, 1].

    ``truncation`` (0 < t <= 1, default 0.4) selects the batch-norm statistics; ``sample_latent``
    returns ``truncation * truncnorm(-2, 2)`` samples to match.
    """

    family = "biggan-deep"
    latent_spaces = ("z",)

    def __init__(self, arch: BigGANDeepArchitecture, name: str = "biggan-deep",
                 truncation: float = DEFAULT_TRUNCATION):
        super().__init__()
        self.arch = arch
        self.name = name
        self.resolution = arch.resolution
        self.channels = 3
        self.latent_shape = (arch.z_dim,)
        self.num_classes = arch.num_classes
        self.embedding_dim = arch.embedding_dim
        self._class_index = 0
        self.truncation = truncation
        # applied to one-hot class vectors in the original: column k is class k's embedding
        self.class_table = nn.Linear(arch.num_classes, arch.embedding_dim, bias=False)
        p = arch.attention_position
        self.stem = DeepStem(arch.cond_dim, arch.blocks[0][0], arch.eps, attention=p == 0)
        self.stages = nn.ModuleList(
            DeepStage(BottleneckBlock(cin, mid, cout, up, arch.cond_dim, arch.n_stats, arch.eps),
                      SelfAttention(cout, eps=arch.eps, **_SN) if p is not None and i + 1 == p else None)
            for i, (cin, mid, cout, up) in enumerate(arch.blocks))
        self.output = DeepOutput(arch.blocks[-1][2], arch.rgb_channels, arch.n_stats, arch.eps)

    @property
    def truncation(self) -> float:
        return self._truncation

    @truncation.setter
    def truncation(self, value: float) -> None:
        value = float(value)
        if not 0.0 < value <= 1.0:
            raise GanpriorError(f"BigGAN-deep truncation must be in (0, 1], got {value}")
        self._truncation = value

    @property
    def composition_layers(self) -> dict[int, int]:
        return {k + 1: cout for k, (_, _, cout, _) in enumerate(self.arch.blocks)}

    @property
    def blocks(self) -> list[nn.Module]:
        """``[stem, stage 1, ..., stage n, output head]`` (the class embedding is not included)."""
        return [self.stem, *self.stages, self.output]

    def class_embedding(self, labels: torch.Tensor) -> torch.Tensor:
        """Class embedding ``(B, z_dim)`` for indices ``(B,)`` or float class weights
        ``(B, num_classes)`` (the original's one-hot ``class_vector``, or a blend of classes)."""
        return embed_classes(self.class_table.weight.t(), labels, self.name)

    def conditioning(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                     embedding: torch.Tensor | None = None) -> torch.Tensor:
        """``[z, class embedding]`` ``(B, 2 z_dim)``, the vector every block is conditioned on."""
        z = self._flat_latent(z)
        return torch.cat([z, resolve_embedding(self, z, labels, embedding)], dim=1)

    def head(self, z: torch.Tensor, layer: int, labels: torch.Tensor | None = None,
             embedding: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """z ``(B, z_dim)`` -> ``(feature_map (B, C, H, W), conditioning (B, 2 z_dim))``."""
        self.check_layer(layer)
        cond = self.conditioning(z, labels, embedding)
        h = self.stem(cond)
        for stage in self.stages[:layer]:
            h = stage(h, cond, self.truncation)
        return h, cond

    def tail(self, features, layer: int) -> torch.Tensor:
        """``(feature_map, conditioning)`` at ``layer`` -> image ``(B, 3, R, R)`` in [-1, 1]."""
        self.check_layer(layer)
        h, cond = unpack_features(features, self.name)
        if cond.shape != (h.shape[0], self.arch.cond_dim):
            raise GanpriorError(f"{self.name}: conditioning must be ({h.shape[0]}, {self.arch.cond_dim}), "
                                f"got {tuple(cond.shape)}")
        for stage in self.stages[layer:]:
            h = stage(h, cond, self.truncation)
        return self.output(h, self.truncation)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                 embedding: torch.Tensor | None = None) -> torch.Tensor:
        """z ``(B, z_dim)`` -> image ``(B, 3, R, R)`` in [-1, 1] of class ``class_index`` (or
        ``labels`` ``(B,)``, class weights ``(B, num_classes)``, or an ``embedding`` ``(B, z_dim)``)."""
        return self.tail(self.head(z, 1, labels, embedding), 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                embedding: torch.Tensor | None = None) -> torch.Tensor:
        return self.generate(z, labels, embedding)

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` codes ``truncation * truncnorm(-2, 2)``, the distribution the statistics assume."""
        z = torch.randn((n, self.arch.z_dim), generator=generator)
        outside = z.abs() > 2
        while outside.any():  # resample until every value lies in [-2, 2]
            z[outside] = torch.randn(int(outside.sum()), generator=generator)
            outside = z.abs() > 2
        return (z * self.truncation).to(self.device)

    def describe(self) -> str:
        return (super().describe() + f", {self.num_classes} classes (class {self.class_index}), "
                f"truncation {self.truncation}")

    def _flat_latent(self, z: torch.Tensor) -> torch.Tensor:
        z = z.reshape(z.shape[0], -1)
        if z.shape[1] != self.arch.z_dim:
            raise GanpriorError(f"{self.name} takes latents of {self.arch.z_dim} values, got {z.shape[1]}")
        return z


# -- checkpoints -------------------------------------------------------------------------------

_LEAVES = {"weight_orig": "weight", "weight_u": "sn_u", "weight_v": "sn_v", "bias": "bias", "weight": "weight",
           "running_means": "running_means", "running_vars": "running_vars", "gamma": "gamma"}
_BLOCK_PARTS = [
    (r"bn_(\d)\.scale", r"norms.\1.gain_proj"),
    (r"bn_(\d)\.offset", r"norms.\1.bias_proj"),
    (r"bn_(\d)", r"norms.\1"),
    (r"conv_(\d)", r"convs.\1"),
]
_ATTENTION_PARTS = [
    (r"snconv1x1_theta", "query"), (r"snconv1x1_phi", "key"),
    (r"snconv1x1_g", "value"), (r"snconv1x1_o_conv", "out"), (r"", ""),
]
_NOTHING = re.compile(r"^$")


def _module_rules(num_modules: int, attention_index: int | None) -> list[tuple[str, str]]:
    """Renaming rules for ``generator.layers.{j}`` given where the attention module sits."""
    rules = [(r"embeddings", "class_table"), (r"generator\.gen_z", "stem.linear"),
             (r"generator\.bn", "output.norm"), (r"generator\.conv_to_rgb", "output.to_rgb")]
    for j in range(num_modules):
        src = rf"generator\.layers\.{j}"
        if j == attention_index:
            target = "stem.attention" if j == 0 else f"stages.{j - 1}.attention"
            rules += [(src + (rf"\.{a}" if a else ""), target + (f".{b}" if b else "")) for a, b in _ATTENTION_PARTS]
        else:
            stage = j - 1 if attention_index is not None and j > attention_index else j
            rules += [(rf"{src}\.{a}", f"stages.{stage}.block.{b}") for a, b in _BLOCK_PARTS]
    return rules


def is_biggan_deep_state_dict(obj) -> bool:
    """Whether ``obj`` is a ``pytorch_pretrained_biggan`` state dict."""
    return (isinstance(obj, dict) and isinstance(obj.get("embeddings.weight"), torch.Tensor)
            and isinstance(obj.get("generator.gen_z.weight_orig"), torch.Tensor))


def _files(path: str | Path) -> tuple[Path, Path]:
    """(weights, config) for a folder or a ``[prefix]pytorch_model.bin`` path."""
    path = Path(path)
    if path.is_dir():
        return path / "pytorch_model.bin", path / "config.json"
    config = path.parent / "config.json"
    if path.name.endswith("pytorch_model.bin"):
        prefixed = path.parent / (path.name[: -len("pytorch_model.bin")] + "config.json")
        if prefixed != config and prefixed.is_file():
            config = prefixed
    return path, config


def is_biggan_deep_folder(path: str | Path) -> bool:
    """Whether ``path`` (a folder, or its ``pytorch_model.bin``) holds a BigGAN-deep checkpoint:
    a weights file plus a ``config.json`` with BigGANConfig's keys. Reads only the config."""
    try:
        weights, config = _files(path)
        if not (weights.is_file() and config.is_file()):
            return False
        cfg = read_json(config, "config")
    except (GanpriorError, OSError):
        return False
    return all(k in cfg for k in ("layers", "channel_width", "z_dim", "attention_layer_position"))


def _config_value(cfg: dict, key: str, kind, source: str):
    value = cfg.get(key, DEFAULT_CONFIG[key])
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise GanpriorError(f"{source}: {key} must be an integer, got {value!r}")
    if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise GanpriorError(f"{source}: {key} must be a number, got {value!r}")
    return kind(value)


def infer_biggan_deep_architecture(state_dict: dict, config: dict,
                                   source: str = "BigGAN-deep checkpoint") -> BigGANDeepArchitecture:
    """The architecture from ``config`` (BigGANConfig keys) checked against the tensor shapes."""
    sd = state_dict

    def tensor(key: str, ndim: int) -> torch.Tensor:
        value = sd.get(key)
        if not isinstance(value, torch.Tensor):
            raise GanpriorError(f"{source}: missing weight {key!r}")
        if value.ndim != ndim:
            raise GanpriorError(f"{source}: {key} has shape {tuple(value.shape)}, expected {ndim} dimensions")
        return value

    def disagree(key, configured, inferred):
        raise GanpriorError(f"{source}: config.json says {key} = {configured!r} but the weights give {inferred!r}")

    ch = _config_value(config, "channel_width", int, source)
    layers = config.get("layers", DEFAULT_CONFIG["layers"])
    if not isinstance(layers, list) or not layers or not all(
            isinstance(item, (list, tuple)) and len(item) == 3 for item in layers):
        raise GanpriorError(f"{source}: config.json 'layers' must be a list of [upsample, in, out] triples")
    position = _config_value(config, "attention_layer_position", int, source)
    eps = _config_value(config, "eps", float, source)
    table = tensor("embeddings.weight", 2)
    embedding_dim, num_classes = int(table.shape[0]), int(table.shape[1])
    z_dim = _config_value(config, "z_dim", int, source)
    for key, inferred in (("z_dim", embedding_dim), ("num_classes", num_classes)):
        if key in config and config[key] != inferred:
            disagree(key, config[key], inferred)
    cond_dim = int(tensor("generator.gen_z.weight_orig", 2).shape[1])
    if cond_dim != z_dim + embedding_dim:
        raise GanpriorError(f"{source}: generator.gen_z takes {cond_dim} inputs, not z_dim + embedding "
                            f"= {z_dim + embedding_dim}")
    attention_index = position if 0 <= position < len(layers) else None
    has_attention = f"generator.layers.{position}.gamma" in sd
    if (attention_index is not None) != has_attention:
        disagree("attention_layer_position", position,
                 next((j for j in range(len(layers) + 1) if f"generator.layers.{j}.gamma" in sd), "none"))
    blocks = []
    for i, (upsample, in_mult, out_mult) in enumerate(layers):
        j = i + 1 if attention_index is not None and i >= attention_index else i
        first = tensor(f"generator.layers.{j}.conv_0.weight_orig", 4)
        last = tensor(f"generator.layers.{j}.conv_3.weight_orig", 4)
        cin, mid, cout = int(first.shape[1]), int(first.shape[0]), int(last.shape[0])
        if (cin, cout) != (ch * in_mult, ch * out_mult):
            disagree(f"layers[{i}] channels", [ch * in_mult, ch * out_mult], [cin, cout])
        blocks.append((cin, mid, cout, bool(upsample)))
    extra = f"generator.layers.{len(layers) + (attention_index is not None)}.conv_0.weight_orig"
    if extra in sd:
        raise GanpriorError(f"{source}: the weights have more blocks than config.json's {len(layers)} layers")
    stem_out = int(tensor("generator.gen_z.weight_orig", 2).shape[0])
    if stem_out != 16 * blocks[0][0]:
        raise GanpriorError(f"{source}: generator.gen_z has {stem_out} outputs, expected 4 x 4 x {blocks[0][0]}")
    n_stats = int(tensor("generator.bn.running_means", 2).shape[0])
    if "n_stats" in config and config["n_stats"] != n_stats:
        disagree("n_stats", config["n_stats"], n_stats)
    rgb = int(tensor("generator.conv_to_rgb.weight_orig", 4).shape[0])
    arch = BigGANDeepArchitecture(num_classes=num_classes, z_dim=z_dim, embedding_dim=embedding_dim,
                                  blocks=tuple(blocks), attention_position=attention_index, rgb_channels=rgb,
                                  n_stats=n_stats, eps=eps)
    if "output_dim" in config and config["output_dim"] != arch.resolution:
        disagree("output_dim", config["output_dim"], arch.resolution)
    if rgb < 3:
        raise GanpriorError(f"{source}: generator.conv_to_rgb has {rgb} output channels, fewer than 3")
    return arch


def load_biggan_deep(path_or_folder: str | Path, name: str | None = None, *,
                     truncation: float = DEFAULT_TRUNCATION) -> BigGANDeepPrior:
    """Load a ``pytorch_pretrained_biggan`` checkpoint (generator only) in eval mode.

    ``path_or_folder``: the folder with ``config.json`` + ``pytorch_model.bin``, or the ``.bin``
    itself (``<prefix>config.json`` beside ``<prefix>pytorch_model.bin`` is found too).
    ``truncation`` sets the prior's ``truncation`` attribute (settable later).
    """
    weights, config_file = _files(path_or_folder)
    if not weights.is_file():
        raise GanpriorError(f"BigGAN-deep weights not found: {weights}")
    if not config_file.is_file():
        raise GanpriorError(f"BigGAN-deep config not found: {config_file} (the weights need their "
                            "config.json, which says where blocks upsample)")
    config = read_json(config_file, "BigGAN-deep config")
    sd = read_state_dict(weights, "BigGAN-deep checkpoint")
    source = str(weights)
    if not is_biggan_deep_state_dict(sd):
        raise GanpriorError(f"{weights} is not a pytorch_pretrained_biggan state dict "
                            "(expected embeddings.weight and generator.gen_z.weight_orig)")
    arch = infer_biggan_deep_architecture(sd, config, source)
    prior = BigGANDeepPrior(arch, name=name or weights.parent.name or "biggan-deep", truncation=truncation)
    num_modules = len(arch.blocks) + (arch.attention_position is not None)
    rules = _module_rules(num_modules, arch.attention_position)
    tensors, origin = translate_keys(sd, rules, _LEAVES, _NOTHING, source)
    load_translated(prior, tensors, origin, source, rules, _LEAVES)
    return prior.eval()


def _build(path, checkpoint, name: str) -> BigGANDeepPrior:
    return load_biggan_deep(path, name)


register_family(CheckpointFamily("biggan-deep", _build, file_check=Check(20, is_biggan_deep_folder),
                                 state_check=Check(60, is_biggan_deep_state_dict)))


__all__ = ["BigGANDeepArchitecture", "BigGANDeepPrior", "DEFAULT_TRUNCATION", "infer_biggan_deep_architecture",
           "is_biggan_deep_folder", "is_biggan_deep_state_dict", "load_biggan_deep", "truncation_statistics"]
