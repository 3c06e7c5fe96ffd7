"""BigGAN (Brock et al. 2019) as trained by BigGAN-PyTorch and used by Deep Generative Prior (DGP).

Generator
---------
A class-conditional ResNet generator::

    z ──split──> z_0, z_1 .. z_n          (hierarchical latent: one chunk per stage plus one for the stem)
    stem:   linear(z_0) -> (B, C0, 4, 4)
    stage k (k = 1..n): residual up-block conditioned on c_k = [class embedding, z_k]
                        (+ a non-local self-attention block after it at some resolutions)
    output: batch norm -> ReLU -> 3x3 conv -> tanh   -> image (B, 3, R, R) in [-1, 1]

Every residual up-block is ``BN(c) -> ReLU -> upsample x2 -> conv3x3 -> BN(c) -> ReLU -> conv3x3``
plus a 1x1-conv shortcut on the upsampled input. Its batch norms are class-conditional: stored
(running) statistics, then a per-sample gain ``1 + W_g c`` and bias ``W_b c`` from the stage's
conditioning vector ``c``. The class embedding is one table shared by all stages ("G_shared").
Without a hierarchical latent, z feeds only the stem and every stage gets the embedding alone.

Every conv and linear layer is spectrally normalised. The checkpoint stores, per layer, the
weight, a left singular-vector estimate ``u0`` and a logged singular value ``sv0``. In eval mode
the original runs one power-iteration step from the stored ``u0`` (without writing it back) and
divides the weight by the resulting sigma; ``sv0`` is never read. ``SpectralNormed`` reproduces
exactly that. Batch norms always use the stored statistics (DGP fine-tunes G in eval mode too),
so this implementation has no train-mode behaviour to drift.

Composition layers: layer k (1-based) is the output of stage k, including the attention block
that follows it when there is one; ``composition_layers`` maps each to its channel count.

Discriminator
-------------
``BigGANDiscriminator`` mirrors BigGAN-PyTorch's: residual down-blocks (pre-activation from the
second on, 2x2 average pooling on all but the last), optional self-attention, global sum
pooling, a linear logit and a projection term ``<embed(y), pooled>``.

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
ignored. The keys are renamed into this module's own layout on load.

The architecture is inferred from the tensor shapes (stages and their channels, attention
positions, embedding size, hierarchical chunk size, so the effective ``dim_z``); a
``config.json`` beside the weights (BigGAN-PyTorch constructor arguments) is optional: when
present its values must agree with the weights, and it supplies ``BN_eps`` / ``SN_eps``.

Class conditioning in the ``Prior`` interface
---------------------------------------------
The latent is z ``(B, dim_z)``; the class comes from ``class_index`` (settable, default 0), so
inversion sees an ordinary latent. ``head``/``generate`` also take per-sample ``labels``
``(B,)`` or an explicit ``embedding`` ``(B, shared_dim)`` (e.g. a blend of two classes'
``class_embedding`` vectors, for class interpolation or DGP-style category transfer).

Features at a layer are a tuple ``(feature_map, stage_conditioning)``: the map
``(B, C, H, W)`` and the conditioning vectors of the stages still to run,
``(B, n_stages - layer, shared_dim + chunk)``. The tail uses whatever conditioning it is given,
so averaged (multi-code) conditioning works.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanpriorError
from ..safe_pickle import load_checkpoint
from .base import Prior

# -- reading files ---------------------------------------------------------------------


def read_state_dict(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    """A checkpoint of plain tensors (``safe_pickle.load_checkpoint``); a DataParallel ``module.``
    prefix is removed. Every failure is a one-line ``GanpriorError``."""
    obj = load_checkpoint(path, what)
    if not obj:
        raise GanpriorError(f"{what} {path} is an empty state dict")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise GanpriorError(f"{what} {path} is not a plain state dict of tensors (entry {bad[0]!r})")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def read_json(path: Path, what: str) -> dict:
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GanpriorError(f"cannot read {what} {path}: {str(e).splitlines()[0][:160]}") from None
    if not isinstance(obj, dict):
        raise GanpriorError(f"{what} {path} is not a JSON object")
    return obj


# -- spectral normalisation ----------------------------------------------------------------


class SpectralNormed(nn.Module):
    """A layer whose weight is divided by an estimate of its largest singular value.

    ``weight`` has shape ``(out, ...)`` and is viewed as the matrix ``W`` ``(out, fan_in)``.
    ``sigma_style`` picks how sigma is estimated, matching the code that wrote the checkpoint:

    * ``"power-step"`` (BigGAN-PyTorch, DGP): one power-iteration step from the stored left vector
      ``sn_u`` ``(out,)``: ``v = normalize(W^T u)``, ``u' = normalize(W v)``, ``sigma = u'.(W v)``.
      ``sn_u`` is not updated (the original writes it back only in training mode). Repeating the
      step from the same stored ``u`` gives the same sigma, so ``num_G_SV_itrs`` does not matter.
    * ``"stored-uv"`` (``torch.nn.utils.spectral_norm`` in eval mode): ``sigma = sn_u.(W sn_v)``.

    ``u`` and ``v`` are constants; gradients reach the weight through ``W / sigma`` as in the
    originals, so fine-tuning (DGP) sees the same objective.
    """

    def __init__(self, weight_shape: tuple[int, ...], bias: bool, sigma_style: str, eps: float):
        super().__init__()
        if sigma_style not in ("power-step", "stored-uv"):
            raise ValueError(f"unknown sigma style {sigma_style!r}")
        out = weight_shape[0]
        fan_in = math.prod(weight_shape[1:])
        self.weight = nn.Parameter(torch.randn(weight_shape) / math.sqrt(fan_in))
        self.bias = nn.Parameter(torch.zeros(out)) if bias else None
        self.sigma_style = sigma_style
        self.eps = eps
        # a few power-iteration steps so that a freshly built (random) layer is well scaled;
        # loading a checkpoint replaces these vectors
        with torch.no_grad():
            w = self.weight.flatten(1)
            v = F.normalize(torch.randn(fan_in), dim=0)
            for _ in range(5):
                u = F.normalize(w @ v, dim=0)
                v = F.normalize(w.t() @ u, dim=0)
        self.register_buffer("sn_u", u)
        if sigma_style == "stored-uv":
            self.register_buffer("sn_v", v)

    def normalized_weight(self) -> torch.Tensor:
        w = self.weight.flatten(1)
        if self.sigma_style == "power-step":
            with torch.no_grad():
                v = F.normalize(self.sn_u @ w, dim=0, eps=self.eps)
                u = F.normalize(w @ v, dim=0, eps=self.eps)
            sigma = u @ (w @ v)
        else:
            sigma = self.sn_u @ (w @ self.sn_v)
        return self.weight / sigma


class SNLinear(SpectralNormed):
    """Spectrally normalised linear layer: ``(B, in) -> (B, out)``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 sigma_style: str = "power-step", eps: float = 1e-6):
        super().__init__((out_features, in_features), bias, sigma_style, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.normalized_weight(), self.bias)


class SNConv2d(SpectralNormed):
    """Spectrally normalised conv, stride 1, 'same' padding: ``(B, in, H, W) -> (B, out, H, W)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True, *,
                 sigma_style: str = "power-step", eps: float = 1e-6):
        super().__init__((out_channels, in_channels, kernel_size, kernel_size), bias, sigma_style, eps)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.normalized_weight(), self.bias, padding=self.padding)


class SNEmbedding(SpectralNormed):
    """Spectrally normalised embedding table ``(num_embeddings, dim)`` (the matrix is the table)."""

    def __init__(self, num_embeddings: int, dim: int, *, sigma_style: str = "power-step", eps: float = 1e-6):
        super().__init__((num_embeddings, dim), False, sigma_style, eps)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return F.embedding(labels, self.normalized_weight())


class SelfAttention(nn.Module):
    """SA-GAN non-local block: ``x + gamma * out(attend(query(x), pool(key(x)), pool(value(x))))``.

    Query/key have ``C // 8`` channels, value ``C // 2``; keys and values are 2x2 max-pooled.
    Shape preserving ``(B, C, H, W)``; H and W must be even. Same maths in BigGAN and BigGAN-deep.
    """

    def __init__(self, channels: int, sigma_style: str = "power-step", eps: float = 1e-6):
        super().__init__()
        if channels % 8:
            raise GanpriorError(f"self-attention needs a channel count divisible by 8, got {channels}")
        self.channels = channels

        def conv(cin, cout):
            return SNConv2d(cin, cout, 1, bias=False, sigma_style=sigma_style, eps=eps)

        self.query = conv(channels, channels // 8)
        self.key = conv(channels, channels // 8)
        self.value = conv(channels, channels // 2)
        self.out = conv(channels // 2, channels)
        self.gamma = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        query = self.query(x).flatten(2)                           # (B, C/8, HW)
        key = F.max_pool2d(self.key(x), 2).flatten(2)              # (B, C/8, HW/4)
        value = F.max_pool2d(self.value(x), 2).flatten(2)          # (B, C/2, HW/4)
        attention = torch.softmax(query.transpose(1, 2) @ key, dim=-1)   # (B, HW, HW/4)
        attended = (value @ attention.transpose(1, 2)).view(b, c // 2, h, w)
        return x + self.gamma * self.out(attended)


# -- generator ------------------------------------------------------------------------------


class ClassConditionalBatchNorm(nn.Module):
    """Batch norm with stored statistics and a per-sample affine from a conditioning vector.

    ``(x - running_mean) / sqrt(running_var + eps) * (1 + gain_proj(c)) + bias_proj(c)``;
    x ``(B, C, H, W)``, c ``(B, cond_dim)``.
    """

    def __init__(self, channels: int, cond_dim: int, eps: float, sn_eps: float):
        super().__init__()
        self.eps = eps
        self.gain_proj = SNLinear(cond_dim, channels, bias=False, eps=sn_eps)
        self.bias_proj = SNLinear(cond_dim, channels, bias=False, eps=sn_eps)
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = F.batch_norm(x, self.running_mean, self.running_var, None, None, False, 0.0, self.eps)
        gain = 1 + self.gain_proj(cond)
        return x * gain[:, :, None, None] + self.bias_proj(cond)[:, :, None, None]


class StoredStatsBatchNorm(nn.Module):
    """Unconditional batch norm that always uses its stored statistics: ``(B, C, H, W)``."""

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.eps = eps
        self.gain = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.gain, self.bias,
                            False, 0.0, self.eps)


class ResidualUpBlock(nn.Module):
    """BigGAN generator block: ``(B, in, H, W), c -> (B, out, 2H, 2W)``."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, kernel_size: int,
                 shortcut_conv: bool, bn_eps: float, sn_eps: float):
        super().__init__()
        self.norm1 = ClassConditionalBatchNorm(in_channels, cond_dim, bn_eps, sn_eps)
        self.conv1 = SNConv2d(in_channels, out_channels, kernel_size, eps=sn_eps)
        self.norm2 = ClassConditionalBatchNorm(out_channels, cond_dim, bn_eps, sn_eps)
        self.conv2 = SNConv2d(out_channels, out_channels, kernel_size, eps=sn_eps)
        self.skip = SNConv2d(in_channels, out_channels, 1, eps=sn_eps) if shortcut_conv else None

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm1(x, cond))
        h = self.conv1(F.interpolate(h, scale_factor=2))
        h = self.conv2(F.relu(self.norm2(h, cond)))
        shortcut = F.interpolate(x, scale_factor=2)
        if self.skip is not None:
            shortcut = self.skip(shortcut)
        return h + shortcut


class GeneratorStage(nn.Module):
    """One generator resolution: a residual up-block, then self-attention if the stage has one."""

    def __init__(self, block: ResidualUpBlock, attention: SelfAttention | None):
        super().__init__()
        self.block = block
        self.attention = attention

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = self.block(x, cond)
        return self.attention(x) if self.attention is not None else x


class Stem(nn.Module):
    """First latent chunk ``(B, stem_dim)`` -> ``(B, C0, bottom_width, bottom_width)``."""

    def __init__(self, stem_dim: int, channels: int, bottom_width: int, sn_eps: float):
        super().__init__()
        self.channels, self.bottom_width = channels, bottom_width
        self.linear = SNLinear(stem_dim, channels * bottom_width ** 2, eps=sn_eps)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z).view(z.shape[0], self.channels, self.bottom_width, self.bottom_width)


class OutputHead(nn.Module):
    """``(B, C, R, R)`` -> image ``(B, 3, R, R)`` in [-1, 1]: batch norm, ReLU, conv, tanh."""

    def __init__(self, channels: int, kernel_size: int, bn_eps: float, sn_eps: float):
        super().__init__()
        self.norm = StoredStatsBatchNorm(channels, bn_eps)
        self.to_rgb = SNConv2d(channels, 3, kernel_size, eps=sn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.to_rgb(F.relu(self.norm(x))))


@dataclass(frozen=True)
class BigGANArchitecture:
    """Everything needed to build a BigGAN generator; inferred from a state dict's shapes.

    ``stage_channels``: ``(in, out)`` per stage; ``attention``: whether each stage ends with
    self-attention; ``shortcut_convs``: whether each stage has a 1x1 shortcut conv;
    ``chunk_dim``: length of each hierarchical z chunk (0: z feeds only the stem).
    """

    num_classes: int
    embedding_dim: int
    chunk_dim: int
    stem_dim: int
    bottom_width: int
    stage_channels: tuple[tuple[int, int], ...]
    attention: tuple[bool, ...]
    shortcut_convs: tuple[bool, ...]
    kernel_size: int = 3
    bn_eps: float = 1e-5
    sn_eps: float = 1e-6

    @property
    def num_stages(self) -> int:
        return len(self.stage_channels)

    @property
    def hierarchical(self) -> bool:
        return self.chunk_dim > 0

    @property
    def dim_z(self) -> int:
        return self.chunk_dim * (self.num_stages + 1) if self.hierarchical else self.stem_dim

    @property
    def cond_dim(self) -> int:
        return self.embedding_dim + self.chunk_dim

    @property
    def resolution(self) -> int:
        return self.bottom_width * 2 ** self.num_stages

    @property
    def width(self) -> int:
        """BigGAN-PyTorch's ``G_ch``: the first stage takes ``16 ch`` channels (``4 ch`` at 32x32)."""
        first = self.stage_channels[0][0]
        return first // 4 if self.resolution == 32 else first // 16

    @property
    def attention_resolutions(self) -> tuple[int, ...]:
        return tuple(self.bottom_width * 2 ** (i + 1) for i, a in enumerate(self.attention) if a)


class BigGANPrior(Prior):
    """BigGAN generator as a ``Prior`` (see the module docstring for the structure).

    Latent z ``(B, dim_z)``, N(0, I). Images ``(B, 3, R, R)`` in [-1, 1].
    """

    family = "biggan"
    latent_spaces = ("z",)

    def __init__(self, arch: BigGANArchitecture, name: str = "biggan"):
        super().__init__()
        self.arch = arch
        self.name = name
        self.resolution = arch.resolution
        self.channels = 3
        self.latent_shape = (arch.dim_z,)
        self.num_classes = arch.num_classes
        self.embedding_dim = arch.embedding_dim
        self._class_index = 0
        self.class_table = nn.Embedding(arch.num_classes, arch.embedding_dim)
        self.stem = Stem(arch.stem_dim, arch.stage_channels[0][0], arch.bottom_width, arch.sn_eps)
        self.stages = nn.ModuleList(
            GeneratorStage(
                ResidualUpBlock(cin, cout, arch.cond_dim, arch.kernel_size, skip, arch.bn_eps, arch.sn_eps),
                SelfAttention(cout, eps=arch.sn_eps) if attn else None)
            for (cin, cout), attn, skip in zip(arch.stage_channels, arch.attention, arch.shortcut_convs))
        self.output = OutputHead(arch.stage_channels[-1][1], arch.kernel_size, arch.bn_eps, arch.sn_eps)

    # -- Prior interface ---------------------------------------------------------------
    @property
    def composition_layers(self) -> dict[int, int]:
        return {k + 1: cout for k, (_, cout) in enumerate(self.arch.stage_channels)}

    @property
    def blocks(self) -> list[nn.Module]:
        """``[stem, stage 1, ..., stage n, output head]``: DGP's fine-tuning groups (the class
        embedding table, which DGP updates only with ``--update_embed``, is not included)."""
        return [self.stem, *self.stages, self.output]

    def class_embedding(self, labels: torch.Tensor) -> torch.Tensor:
        """Shared class embedding ``(B, shared_dim)``.

        ``labels``: class indices ``(B,)`` (int), or class weights ``(B, num_classes)`` (float),
        which give the weighted sum of the classes' embeddings (one-hot gives the class itself).
        """
        return _embed_classes(self.class_table.weight, labels, self.name)

    def stage_conditioning(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                           embedding: torch.Tensor | None = None) -> torch.Tensor:
        """Conditioning vectors of all stages ``(B, n_stages, shared_dim + chunk)``:
        ``[embedding, z chunk k]`` for stage k (the embedding alone without hierarchical z)."""
        z = self._flat_latent(z)
        emb = _resolve_embedding(self, z, labels, embedding)
        n = self.arch.num_stages
        per_stage = emb[:, None, :].expand(-1, n, -1)
        if self.arch.hierarchical:
            chunks = z[:, self.arch.chunk_dim:].unflatten(1, (n, self.arch.chunk_dim))
            per_stage = torch.cat([per_stage, chunks], dim=2)
        return per_stage

    def head(self, z: torch.Tensor, layer: int, labels: torch.Tensor | None = None,
             embedding: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """z ``(B, dim_z)`` -> ``(feature_map (B, C, H, W), conditioning (B, n_stages - layer, cond_dim))``."""
        self.check_layer(layer)
        z = self._flat_latent(z)
        cond = self.stage_conditioning(z, labels, embedding)
        stem_input = z[:, :self.arch.chunk_dim] if self.arch.hierarchical else z
        h = self.stem(stem_input)
        for k in range(layer):
            h = self.stages[k](h, cond[:, k])
        return h, cond[:, layer:]

    def tail(self, features, layer: int) -> torch.Tensor:
        """``(feature_map, conditioning)`` at ``layer`` -> image ``(B, 3, R, R)`` in [-1, 1]."""
        self.check_layer(layer)
        h, cond = _unpack_features(features, self.name)
        remaining = self.arch.num_stages - layer
        if cond.ndim != 3 or cond.shape[0] != h.shape[0] or cond.shape[1:] != (remaining, self.arch.cond_dim):
            raise GanpriorError(
                f"{self.name}: conditioning for layer {layer} must be (B, {remaining}, {self.arch.cond_dim}) "
                f"with B = {h.shape[0]}, got {tuple(cond.shape)}")
        for j, stage in enumerate(self.stages[layer:]):
            h = stage(h, cond[:, j])
        return self.output(h)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                 embedding: torch.Tensor | None = None) -> torch.Tensor:
        """z ``(B, dim_z)`` -> image ``(B, 3, R, R)`` in [-1, 1] of class ``class_index`` (or
        ``labels`` ``(B,)``, or an explicit shared ``embedding`` ``(B, shared_dim)``)."""
        return self.tail(self.head(z, 1, labels, embedding), 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                embedding: torch.Tensor | None = None) -> torch.Tensor:
        return self.generate(z, labels, embedding)

    def describe(self) -> str:
        a = self.arch
        return (super().describe() + f", {self.num_classes} classes (class {self.class_index}), "
                f"G_ch {a.width}, shared_dim {a.embedding_dim}, "
                f"{'hierarchical z' if a.hierarchical else 'flat z'}, "
                f"attention at {', '.join(map(str, a.attention_resolutions)) or 'none'}")

    def _flat_latent(self, z: torch.Tensor) -> torch.Tensor:
        z = z.reshape(z.shape[0], -1)
        if z.shape[1] != self.arch.dim_z:
            raise GanpriorError(f"{self.name} takes latents of {self.arch.dim_z} values, got {z.shape[1]}")
        return z


# -- helpers shared with biggan_deep -------------------------------------------------------------


def _embed_classes(table: torch.Tensor, labels: torch.Tensor, name: str) -> torch.Tensor:
    """Rows of ``table`` ``(num_classes, dim)`` for int labels ``(B,)`` or a weighted sum for
    float class weights ``(B, num_classes)``."""
    num_classes = table.shape[0]
    labels = torch.as_tensor(labels, device=table.device)
    if labels.is_floating_point():
        if labels.ndim != 2 or labels.shape[1] != num_classes:
            raise GanpriorError(f"{name}: class weights must be (B, {num_classes}), got {tuple(labels.shape)}")
        return labels.to(table.dtype) @ table
    if labels.ndim != 1:
        raise GanpriorError(f"{name}: labels must be class indices of shape (B,), got {tuple(labels.shape)}")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise GanpriorError(f"{name}: labels must lie in 0..{num_classes - 1}, got "
                            f"{int(labels.min())}..{int(labels.max())}")
    return F.embedding(labels.long(), table)


def _resolve_embedding(prior, z: torch.Tensor, labels, embedding) -> torch.Tensor:
    """The class embedding ``(B, dim)`` for a batch: explicit embedding, labels, or class_index."""
    batch = z.shape[0]
    if embedding is not None:
        if labels is not None:
            raise GanpriorError(f"{prior.name}: give labels or an embedding, not both")
        embedding = torch.as_tensor(embedding, dtype=z.dtype, device=z.device)
        dim = prior.embedding_dim
        if embedding.ndim == 1:
            embedding = embedding[None]
        if embedding.ndim != 2 or embedding.shape[1] != dim or embedding.shape[0] not in (1, batch):
            raise GanpriorError(f"{prior.name}: embedding must be ({batch}, {dim}) or ({dim},), "
                                f"got {tuple(embedding.shape)}")
        return embedding.expand(batch, -1)
    if labels is None:
        labels = torch.full((batch,), prior.class_index, dtype=torch.long, device=z.device)
    emb = prior.class_embedding(labels)
    if emb.shape[0] != batch:
        raise GanpriorError(f"{prior.name}: {emb.shape[0]} labels for a batch of {batch} latents")
    return emb


def _unpack_features(features, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(features, torch.Tensor) or not isinstance(features, (tuple, list)) or len(features) != 2:
        raise GanpriorError(f"{name}: features must be the (feature_map, conditioning) tuple that head returns")
    return features[0], features[1]


def _translate_keys(state_dict: dict, module_rules: list[tuple[str, str]], leaf_rules: dict[str, str],
                    ignore: re.Pattern, source: str) -> tuple[dict, dict]:
    """Rename checkpoint keys into our layout. Returns (ours -> tensor, ours -> original key)."""
    out, origin = {}, {}
    for key, value in state_dict.items():
        if ignore.search(key):
            continue
        module, _, leaf = key.rpartition(".")
        for pattern, replacement in module_rules:
            if re.fullmatch(pattern, module):
                module = re.sub(f"^{pattern}$", replacement, module)
                break
        else:
            raise GanpriorError(f"{source}: unexpected key {key!r}")
        if leaf not in leaf_rules:
            raise GanpriorError(f"{source}: unexpected key {key!r}")
        new = f"{module}.{leaf_rules[leaf]}" if module else leaf_rules[leaf]
        out[new], origin[new] = value, key
    return out, origin


def _load_translated(model: nn.Module, tensors: dict, origin: dict, source: str,
                     module_rules: list[tuple[str, str]], leaf_rules: dict[str, str]) -> None:
    """``load_state_dict`` with user-facing errors naming the checkpoint's own keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in tensors]
    if missing:
        names = ", ".join(_original_name(k, model, module_rules, leaf_rules) for k in missing[:4])
        raise GanpriorError(f"{source}: missing weights for the inferred architecture: {names}"
                            f"{' ...' if len(missing) > 4 else ''} ({len(missing)} missing)")
    for k, target in expected.items():
        value = tensors[k]
        if value.shape != target.shape and value.numel() == target.numel() and k.endswith(("sn_u", "gamma")):
            tensors[k] = value = value.reshape(target.shape)  # u0 is (1, out), gamma () or (1,)
        if value.shape != target.shape:
            raise GanpriorError(f"{source}: {origin.get(k, k)} has shape {tuple(value.shape)}, but the "
                                f"architecture inferred from the other weights needs {tuple(target.shape)}")
    extra = [k for k in tensors if k not in expected]
    if extra:
        raise GanpriorError(f"{source}: unexpected key {origin.get(extra[0], extra[0])!r}")
    model.load_state_dict({k: v.float() for k, v in tensors.items()})


def _original_name(ours: str, model: nn.Module, module_rules: list[tuple[str, str]],
                   leaf_rules: dict[str, str]) -> str:
    """The checkpoint key that would have been renamed to ``ours`` (for error messages)."""
    module, _, leaf = ours.rpartition(".")
    leaves = [k for k, v in leaf_rules.items() if v == leaf] or [leaf]
    if len(leaves) > 1:  # e.g. torch's spectral norm stores weight_orig where plain layers store weight
        sn = isinstance(model.get_submodule(module), SpectralNormed)
        leaves = [k for k in leaves if (k != leaf) == sn] or leaves
    for pattern, replacement in module_rules:
        as_regex = re.sub(r"\\\\(\d)", r"(?P<g\1>[^.]+)", re.escape(replacement))
        match = re.fullmatch(as_regex, module)
        if match:
            values = iter(match.groupdict()[f"g{i}"] for i in range(1, len(match.groupdict()) + 1))
            original = re.sub(r"\([^()]*\)", lambda _: next(values), pattern).replace("\\.", ".")
            return f"{original}.{leaves[0]}" if original else leaves[0]
    return ours


# -- checkpoint inference -------------------------------------------------------------------------

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

_GENERATOR_MARKERS = ("shared.weight", "linear.weight", "blocks.0.0.conv1.weight", "output_layer.2.weight")


def is_biggan_state_dict(obj) -> bool:
    """Whether ``obj`` is a BigGAN-PyTorch / DGP generator state dict (``G_ema.pth`` / ``G.pth``)."""
    if not isinstance(obj, dict):
        return False
    if obj and all(isinstance(k, str) and k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return all(isinstance(obj.get(k), torch.Tensor) for k in _GENERATOR_MARKERS)


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


# -- discriminator ---------------------------------------------------------------------------------


class ResidualDownBlock(nn.Module):
    """BigGAN discriminator block ``(B, in, H, W) -> (B, out, H', W')`` (H' = H/2 if downsampling).

    ``h = conv2(relu(conv1(pre(x))))`` (``pre`` = ReLU from the second block on), average-pooled;
    the shortcut pools then applies the 1x1 conv (first block) or the reverse (pre-activated blocks).
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, kernel_size: int,
                 preactivation: bool, downsample: bool, shortcut_conv: bool, sn_eps: float):
        super().__init__()
        self.preactivation, self.downsample = preactivation, downsample
        self.conv1 = SNConv2d(in_channels, hidden_channels, kernel_size, eps=sn_eps)
        self.conv2 = SNConv2d(hidden_channels, out_channels, kernel_size, eps=sn_eps)
        self.skip = SNConv2d(in_channels, out_channels, 1, eps=sn_eps) if shortcut_conv else None

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self._pool(self.conv2(F.relu(self.conv1(h))))
        shortcut = x
        if self.preactivation:
            shortcut = self._pool(self.skip(shortcut) if self.skip is not None else shortcut)
        else:
            shortcut = self._pool(shortcut)
            shortcut = self.skip(shortcut) if self.skip is not None else shortcut
        return h + shortcut


class DiscriminatorStage(nn.Module):
    """A residual down-block, then self-attention if the stage has one."""

    def __init__(self, block: ResidualDownBlock, attention: SelfAttention | None):
        super().__init__()
        self.block = block
        self.attention = attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(x)
        return self.attention(x) if self.attention is not None else x


@dataclass(frozen=True)
class DiscriminatorArchitecture:
    """``block_channels``: ``(in, hidden, out)`` per block; ``downsample``/``attention``/
    ``shortcut_convs`` per block."""

    resolution: int
    num_classes: int
    block_channels: tuple[tuple[int, int, int], ...]
    downsample: tuple[bool, ...]
    attention: tuple[bool, ...]
    shortcut_convs: tuple[bool, ...]
    kernel_size: int = 3
    sn_eps: float = 1e-6

    @property
    def width(self) -> int:
        """BigGAN-PyTorch's ``D_ch``: the first block has ``ch`` channels (``4 ch`` at 32x32)."""
        first = self.block_channels[0][2]
        return first // 4 if self.resolution == 32 else first

    @property
    def wide(self) -> bool:
        return all(hidden == out for _, hidden, out in self.block_channels)

    @property
    def attention_resolutions(self) -> tuple[int, ...]:
        # BigGAN-PyTorch names a D attention by the resolution in its D_arch table
        table = [16] * len(self.block_channels) if self.resolution == 32 else self._output_sizes()
        return tuple(r for r, a in zip(table, self.attention) if a)

    def _output_sizes(self) -> list[int]:
        sizes, size = [], self.resolution
        for down in self.downsample:
            size = size // 2 if down else size
            sizes.append(size)
        return sizes


class BigGANDiscriminator(nn.Module):
    """BigGAN-PyTorch / DGP discriminator. Input images ``(B, 3, R, R)`` in [-1, 1].

    ``features(x)`` returns the list DGP's discriminator-feature loss compares: the output of every
    block and attention layer, shallow first, then the globally sum-pooled ``(B, C)`` vector. As in
    DGP (whose in-place ReLU rectifies it while pooling) the last map is returned ReLU'd.
    """

    def __init__(self, arch: DiscriminatorArchitecture):
        super().__init__()
        self.arch = arch
        self.resolution = arch.resolution
        self.num_classes = arch.num_classes
        self.stages = nn.ModuleList(
            DiscriminatorStage(
                ResidualDownBlock(cin, hidden, cout, arch.kernel_size, i > 0, down, skip, arch.sn_eps),
                SelfAttention(cout, eps=arch.sn_eps) if attn else None)
            for i, ((cin, hidden, cout), down, attn, skip) in enumerate(
                zip(arch.block_channels, arch.downsample, arch.attention, arch.shortcut_convs)))
        channels = arch.block_channels[-1][2]
        self.classifier = SNLinear(channels, 1, eps=arch.sn_eps)
        self.class_projection = SNEmbedding(arch.num_classes, channels, eps=arch.sn_eps)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[block/attention outputs (B, C_i, H_i, W_i) ..., pooled (B, C)]``, shallow first."""
        feats = []
        h = x
        for stage in self.stages:
            h = stage.block(h)
            feats.append(h)
            if stage.attention is not None:
                h = stage.attention(h)
                feats.append(h)
        feats[-1] = F.relu(h)
        feats.append(feats[-1].sum(dim=(2, 3)))
        return feats

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B,)`` (higher = real); with ``labels`` ``(B,)`` the class projection is added."""
        pooled = self.features(x)[-1]
        logits = self.classifier(pooled)[:, 0]
        if labels is not None:
            logits = logits + (self.class_projection(labels.long()) * pooled).sum(dim=1)
        return logits


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


def load_biggan_discriminator(path: str | Path, resolution: int, config: dict | None = None) -> BigGANDiscriminator:
    """A ``D.pth`` (BigGAN-PyTorch / DGP layout) as a ``BigGANDiscriminator`` in eval mode."""
    path = Path(path)
    sd = read_state_dict(path, "BigGAN discriminator checkpoint")
    source = str(path)
    arch = infer_discriminator_architecture(sd, resolution, config, source)
    D = BigGANDiscriminator(arch)
    tensors, origin = _translate_keys(sd, _DISCRIMINATOR_MODULES, _LEAVES, _IGNORED, source)
    _load_translated(D, tensors, origin, source, _DISCRIMINATOR_MODULES, _LEAVES)
    return D.eval()


# -- loading ---------------------------------------------------------------------------------------

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
                            f"{', '.join(_GENERATOR_MARKERS)})")
    config_file = folder / "config.json"
    config = read_json(config_file, "BigGAN config") if config_file.is_file() else None
    arch = infer_generator_architecture(sd, config, str(g_file))
    prior = BigGANPrior(arch, name=name or (folder.name if g_file.name.startswith("G") else g_file.stem))
    tensors, origin = _translate_keys(sd, _GENERATOR_MODULES, _LEAVES, _IGNORED, str(g_file))
    _load_translated(prior, tensors, origin, str(g_file), _GENERATOR_MODULES, _LEAVES)
    match = _GENERATOR_FILE.fullmatch(g_file.name)
    if match:
        d_file = folder / f"D{match.group(2) or ''}.pth"
        if d_file.is_file():
            prior.discriminator = load_biggan_discriminator(d_file, arch.resolution, config)
    return prior.eval()


__all__ = ["BigGANArchitecture", "BigGANDiscriminator", "BigGANPrior", "DiscriminatorArchitecture",
           "infer_discriminator_architecture", "infer_generator_architecture", "is_biggan_state_dict",
           "load_biggan", "load_biggan_discriminator", "read_state_dict"]
