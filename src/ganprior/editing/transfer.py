"""Category transfer after a DGP reconstruction (DGP, Pan et al. ECCV 2020: image manipulation).

With a class-conditional prior, DGP reconstructs an image as some class; keeping the recovered
latent z* and the fine-tuned weights but rendering another class carries the image's layout and
appearance over to that class (a dog photo rendered as other breeds). The class embedding tables
are not fine-tuned by DGP here, so every class keeps its own embedding.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..errors import GanpriorError
from ..inversion.base import Result
from ..inversion.dgp import DGPGenerator
from ..priors.base import Prior
from .jitter import as_dgp_generator, check_image, image_weights


def target_classes(prior: Prior, classes: int | Sequence[int]) -> list[int]:
    """``classes`` (one index or a sequence) checked against a class-conditional ``prior``."""
    if not prior.num_classes:
        raise GanpriorError(f"prior {prior.name!r} is not class-conditional; category transfer needs a "
                            "class-conditional prior (BigGAN, or a DCGAN trained with 'ganprior train --labels')")
    items = [classes] if isinstance(classes, int) or (isinstance(classes, torch.Tensor) and classes.ndim == 0) \
        else list(classes)
    if not items:
        raise GanpriorError("category transfer needs at least one target class")
    out = []
    n = prior.num_classes
    for c in items:
        if isinstance(c, torch.Tensor):
            c = c.item()
        if isinstance(c, bool) or not isinstance(c, int):
            raise GanpriorError(f"a class must be an integer index, got {c!r}")
        if not 0 <= c < n:
            raise GanpriorError(f"class {c} is out of range for prior {prior.name!r} ({n} classes: 0..{n - 1})")
        out.append(c)
    return out


def dgp_category_transfer(source: Result | DGPGenerator, target_class: int | Sequence[int], *, image: int = 0,
                          prior: Prior | None = None) -> torch.Tensor:
    """Re-render one DGP reconstruction as other classes, keeping z* and the fine-tuned weights.

    Args:
        source: a DGP ``Result`` or ``DGPGenerator`` of a class-conditional prior (BigGAN, BigGAN-deep,
            or a DCGAN trained with ``--labels``); the reconstruction was rendered as the prior's
            ``class_index`` at the time, so that class reproduces it.
        target_class: a class index, or a sequence of K indices (a strip of classes).
        image: which image of the reconstruction's batch.
        prior: needed only when the result carries no generator (see ``as_dgp_generator``).

    Returns: ``(K, C, R, R)`` in [0, 1] on the CPU, one image per target class (K = 1 for a single
    index), rendered in one batched forward.
    """
    gen = as_dgp_generator(source, prior)
    classes = target_classes(gen.prior, target_class)
    i = check_image(gen, image)
    z = gen.codes.detach()[i]
    codes = z.expand(len(classes), *z.shape)
    labels = torch.tensor(classes, dtype=torch.long, device=z.device)
    with torch.no_grad():
        x = gen.render(codes[None], image_weights(gen, i), labels=labels)[0]
    return gen.prior.to_unit(x).clamp(0, 1).cpu()
