"""Prior subspace discovery (PmSFC, Yu et al. AAAI 2021): group a layer's channels by self-expressiveness.

A C x C matrix S with zero diagonal is learnt so that the layer's features are reconstructed from
each other, ``F ~ F S`` (F: one column per channel, one row per position and sample):

    loss = ||F - F S||^2 + lambda ||G2(F) - G2(F S)||^2 + mu ||S||_1      (paper Eq. 5)

on features of random latents, with Adam. The affinity ``(|S| + |S^T|) / 2`` is split into R channel
groups by spectral clustering (scikit-learn). Results are cached on disk per (prior weights, layer,
R, seed, settings) with a picture of the affinity sorted by group.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .errors import GanpriorError
from .io import atomic_write
from .priors.base import Prior, feature_map, replace_feature_map
from .registry_files import cache_dir


@dataclass
class Subspaces:
    """Channel groups of one prior layer.

    groups: ``(C,)`` int, the subspace index (0..R-1) of every channel.
    self_expression: ``(C, C)`` the learnt S (zero diagonal).
    history: loss per training step.
    """
    layer: int
    num_subspaces: int
    groups: np.ndarray
    self_expression: np.ndarray
    history: np.ndarray
    path: Path | None = None

    @property
    def affinity(self) -> np.ndarray:
        s = np.abs(self.self_expression)
        return (s + s.T) / 2

    def masks(self) -> torch.Tensor:
        """``(R, C)`` one-hot channel masks (paper m^r)."""
        m = torch.zeros(self.num_subspaces, len(self.groups))
        m[torch.as_tensor(self.groups, dtype=torch.long), torch.arange(len(self.groups))] = 1
        return m


def prior_fingerprint(prior: Prior) -> str:
    """Short hash of the prior's weights, so caches follow the weights, not the name."""
    h = hashlib.sha256()
    for k, v in sorted(prior.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def learn_self_expression(prior: Prior, layer: int, *, steps: int = 3000, batch_size: int = 8, lr: float = 1e-4,
                          image_weight: float = 10.0, sparsity_weight: float = 1.0, seed: int = 0,
                          callback: Callable[[int, int, float], None] | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """Train S for ``layer``; returns (S (C, C), loss history). Seeded and repeatable on CPU."""
    layer = prior.check_layer(layer)
    channels = prior.composition_layers[layer]
    g = torch.Generator().manual_seed(seed)
    s = torch.nn.Parameter(torch.zeros(channels, channels, device=prior.device))
    off_diag = 1 - torch.eye(channels, device=prior.device)
    opt = torch.optim.Adam([s], lr=lr)
    history = np.empty(steps)
    for step in range(steps):
        z = prior.sample_latent(batch_size, g)
        with torch.no_grad():
            feats = prior.head(z, layer)
            target = prior.tail(feats, layer)
        fmap = feature_map(feats)
        s_masked = s * off_diag  # diag(S) = 0
        # channels are columns: (B, C, H, W) -> (B, H, W, C) @ S -> back
        recon = torch.einsum("bchw,cd->bdhw", fmap, s_masked)
        # expectations over z of squared norms (paper Eq. 3-5): sums per sample, averaged over the batch
        feat_loss = (fmap - recon).pow(2).sum() / batch_size
        image_loss = (target - prior.tail(replace_feature_map(feats, recon), layer)).pow(2).sum() / batch_size
        loss = feat_loss + image_weight * image_loss + sparsity_weight * s_masked.abs().sum()
        if not torch.isfinite(loss):
            raise GanpriorError(f"subspace discovery diverged at step {step + 1}; lower the learning rate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history[step] = loss.item()
        if callback is not None:
            callback(step + 1, steps, history[step])
    return (s.detach() * off_diag).cpu(), history


def cluster_channels(affinity: np.ndarray, num_subspaces: int, seed: int = 0) -> np.ndarray:
    """Spectral clustering (Ng, Jordan and Weiss) of a precomputed affinity into ``num_subspaces`` groups."""
    from sklearn.cluster import SpectralClustering
    c = affinity.shape[0]
    if not 2 <= num_subspaces <= c:
        raise GanpriorError(f"number of subspaces must be in 2..{c} (the layer's channels), got {num_subspaces}")
    if not np.isfinite(affinity).all() or affinity.max() <= 0:
        raise GanpriorError("the affinity matrix is empty; train the self-expressive layer longer")
    model = SpectralClustering(n_clusters=num_subspaces, affinity="precomputed", random_state=seed,
                               assign_labels="kmeans", n_init=10)
    labels = model.fit_predict(affinity + 1e-12)  # a tiny floor keeps the graph connected
    # relabel by first appearance so results do not depend on k-means label order
    order = {lab: i for i, lab in enumerate(dict.fromkeys(labels.tolist()))}
    return np.array([order[lab] for lab in labels], dtype=np.int64)


def save_affinity_picture(sub: Subspaces, path: Path) -> Path:
    """The affinity with channels sorted by group (block-diagonal when the groups are real)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    order = np.argsort(sub.groups, kind="stable")
    a = sub.affinity[np.ix_(order, order)]
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.imshow(a / (a.max() or 1), cmap="viridis")
    bounds = np.cumsum(np.bincount(sub.groups, minlength=sub.num_subspaces))[:-1] - 0.5
    for b in bounds:
        ax.axhline(b, color="w", lw=0.5)
        ax.axvline(b, color="w", lw=0.5)
    ax.set_title(f"layer {sub.layer} affinity, {sub.num_subspaces} subspaces")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
    return path


def discover_subspaces(prior: Prior, layer: int, num_subspaces: int = 6, *, seed: int = 0, steps: int = 3000,
                       batch_size: int = 8, lr: float = 1e-4, image_weight: float = 10.0,
                       sparsity_weight: float = 1.0, cache: bool = True,
                       callback: Callable[[int, int, float], None] | None = None) -> Subspaces:
    """Channel subspaces of ``prior`` at ``layer``, from the disk cache when the same run was done before."""
    layer = prior.check_layer(layer)
    channels = prior.composition_layers[layer]
    if not 2 <= num_subspaces <= channels:  # checked before minutes of training, not after
        raise GanpriorError(f"number of subspaces must be in 2..{channels} (the layer's channels), got {num_subspaces}")
    settings = {"layer": layer, "seed": seed, "steps": steps, "batch": batch_size, "lr": lr,
                "lambda": image_weight, "mu": sparsity_weight}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    folder = cache_dir() / "subspaces" / f"{prior.name}-{prior_fingerprint(prior)}"
    # S does not depend on R: it is cached once, and each R only adds a clustering
    s_path = folder / f"layer{layer}-seed{seed}-{key}-S.npz"
    path = folder / f"layer{layer}-seed{seed}-{key}-R{num_subspaces}.npz"
    if cache and path.exists():
        with np.load(path) as d:
            return Subspaces(layer, num_subspaces, d["groups"], d["self_expression"], d["history"], path)
    if cache and s_path.exists():
        with np.load(s_path) as d:
            s, history = d["self_expression"], d["history"]
    else:
        s_tensor, history = learn_self_expression(prior, layer, steps=steps, batch_size=batch_size, lr=lr,
                                                  image_weight=image_weight, sparsity_weight=sparsity_weight,
                                                  seed=seed, callback=callback)
        s = s_tensor.numpy()
        if cache:
            _save_npz(s_path, self_expression=s, history=history, settings=json.dumps(settings))
    sub = Subspaces(layer, num_subspaces, np.zeros(s.shape[0], np.int64), s, history)
    sub.groups = cluster_channels(sub.affinity, num_subspaces, seed)
    if cache:
        _save_npz(path, groups=sub.groups, self_expression=s, history=history,
                  settings=json.dumps({**settings, "R": num_subspaces}))
        save_affinity_picture(sub, path.with_suffix(".png"))
        sub.path = path
    return sub


def _save_npz(path: Path, **arrays) -> None:
    atomic_write(path, lambda f: np.savez(f, **arrays))
