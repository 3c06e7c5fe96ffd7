"""Random jittering after a DGP reconstruction (DGP, Pan et al. ECCV 2020: image manipulation).

DGP fine-tunes the generator to one image; the fine-tuned generator then treats the neighbourhood
of the recovered latent z* as variations of that image. Jittering renders ``z* + std * n`` with
n ~ N(0, I) through the image's own fine-tuned weights: the samples share the image's content and
vary in pose, shape and details.

The helpers here also turn what a DGP run returned (a ``Result`` or its ``DGPGenerator``) into a
``DGPGenerator``, for morphing and category transfer as well.
"""

from __future__ import annotations

import math

import torch

from ..errors import GanpriorError
from ..inversion.base import Result
from ..inversion.dgp import DELTA_PREFIX, DGPGenerator
from ..priors.base import Prior

# DGP's jitter example renders z* + std * n at std 0.3, 0.5 and 0.7 (30 samples each); 0.5 is the
# middle one: clearly varied samples that still look like the reconstructed image.
DEFAULT_JITTER_STD = 0.5


def as_dgp_generator(source: Result | DGPGenerator, prior: Prior | None = None) -> DGPGenerator:
    """The per-image generator of a DGP reconstruction.

    ``source``: a ``DGPGenerator``, or a ``Result`` of ``method="dgp"``. A result whose generator
    is not attached (``restore`` over several batches concatenates only ``params``) is rebuilt from
    ``params`` with ``prior``, which must then be given (it also rebuilds a result with another
    prior object holding the same weights).
    """
    if isinstance(source, DGPGenerator):
        return source
    if not isinstance(source, Result):
        raise GanpriorError(f"expected a DGP Result or DGPGenerator, got {type(source).__name__}")
    param = source.parameterization
    if param is not None and not isinstance(param, DGPGenerator):
        raise GanpriorError(f"this editing needs a DGP reconstruction (method 'dgp'), not a "
                            f"{type(param).__name__} result")
    if isinstance(param, DGPGenerator) and (prior is None or prior is param.prior):
        return param
    if prior is None:
        raise GanpriorError("this DGP result has no generator attached (several batches were concatenated); "
                            "pass prior= to rebuild it from its params")
    params = source.params
    unknown = [k for k in params if k != "codes" and not k.startswith(DELTA_PREFIX)]
    if unknown:
        raise GanpriorError(f"not DGP parameters: {', '.join(sorted(unknown))} (a result of another method?)")
    codes = params.get("codes")
    if codes is None or tuple(codes.shape[1:]) != tuple(prior.latent_shape):
        shape = None if codes is None else tuple(codes.shape)
        raise GanpriorError(f"DGP codes must be (B, {', '.join(map(str, prior.latent_shape))}) for prior "
                            f"{prior.name!r}, got {shape}")
    return DGPGenerator.from_params(prior, params)


def check_image(gen: DGPGenerator, image: int) -> int:
    """``image`` as a non-negative index into the generator's batch."""
    b = gen.batch_size
    if isinstance(image, bool) or not isinstance(image, int) or not -b <= image < b:
        raise GanpriorError(f"image index {image!r} is out of range for a reconstruction of {b} image(s)")
    return image % b


def image_weights(gen: DGPGenerator, image: int) -> dict[str, torch.Tensor]:
    """``{name: (1, *shape)}``: the fine-tuned weights of one image, for ``gen.render``."""
    return {n: w[image:image + 1].detach() for n, w in zip(gen.weight_names, gen.weights)}


def dgp_jitter(source: Result | DGPGenerator, num_samples: int = 8, std: float = DEFAULT_JITTER_STD,
               seed: int = 0, *, image: int = 0, prior: Prior | None = None) -> torch.Tensor:
    """DGP's random jittering of one reconstructed image.

    Renders ``z* + std * n_k`` (k = 1..num_samples, n_k ~ N(0, I) drawn from ``seed``) with the
    image's fine-tuned generator weights, in one batched forward.

    Args:
        source: a DGP ``Result`` or ``DGPGenerator`` (see ``as_dgp_generator``).
        num_samples: N, samples to draw (>= 1).
        std: noise scale in the prior's latent space (>= 0; DGP's latents are N(0, I), so this is
            relative to the prior's unit std). Default 0.5; 0 reproduces the reconstruction.
        seed: seeds the noise; the same seed gives the same samples.
        image: which image of the reconstruction's batch.
        prior: needed only when the result carries no generator (see ``as_dgp_generator``).

    Returns: ``(N, C, R, R)`` in [0, 1], on the CPU.
    """
    gen = as_dgp_generator(source, prior)
    i = check_image(gen, image)
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise GanpriorError(f"jitter needs num_samples >= 1, got {num_samples!r}")
    if not (isinstance(std, (int, float)) and math.isfinite(std) and std >= 0):
        raise GanpriorError(f"jitter std must be a finite number >= 0, got {std!r}")
    z = gen.codes.detach()[i]
    noise = torch.randn((num_samples, *z.shape), generator=torch.Generator().manual_seed(int(seed)))
    codes = z + float(std) * noise.to(z)
    with torch.no_grad():
        x = gen.render(codes[None], image_weights(gen, i))[0]
    return gen.prior.to_unit(x).clamp(0, 1).cpu()
