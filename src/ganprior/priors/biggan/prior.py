"""BigGAN as a ganprior ``Prior``.

Composition layers: layer k (1-based) is the output of stage k, including the attention block
that follows it when there is one; ``composition_layers`` maps each to its channel count.

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

import torch
from torch import nn

from ...errors import GanpriorError
from ..base import Prior
from .conditioning import embed_classes, resolve_embedding, unpack_features
from .generator import BigGANArchitecture, GeneratorStage, OutputHead, ResidualUpBlock, Stem
from .layers import SelfAttention


class BigGANPrior(Prior):
    """BigGAN generator as a ``Prior`` (``biggan.generator`` describes the structure).

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
        return embed_classes(self.class_table.weight, labels, self.name)

    def stage_conditioning(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                           embedding: torch.Tensor | None = None) -> torch.Tensor:
        """Conditioning vectors of all stages ``(B, n_stages, shared_dim + chunk)``:
        ``[embedding, z chunk k]`` for stage k (the embedding alone without hierarchical z)."""
        z = self._flat_latent(z)
        emb = resolve_embedding(self, z, labels, embedding)
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
        h, cond = unpack_features(features, self.name)
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
