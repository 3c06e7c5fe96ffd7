"""Class embeddings and head/tail feature tuples, shared by the BigGAN and BigGAN-deep priors."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...errors import GanpriorError


def embed_classes(table: torch.Tensor, labels: torch.Tensor, name: str) -> torch.Tensor:
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


def resolve_embedding(prior, z: torch.Tensor, labels, embedding) -> torch.Tensor:
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


def unpack_features(features, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(features, torch.Tensor) or not isinstance(features, (tuple, list)) or len(features) != 2:
        raise GanpriorError(f"{name}: features must be the (feature_map, conditioning) tuple that head returns")
    return features[0], features[1]
