"""Throughput settings of an inversion: a batch size chosen from free memory.

``auto_batch_size`` measures the memory one image takes in an optimisation step (the tensors autograd
saves for the backward pass, for the chosen method and codes, under the chosen precision: see
``ganprior.precision``), reads the free memory of the device, and returns how many images fit in a
fraction of it.
"""

from __future__ import annotations

import os

import torch

from .errors import GanpriorError
from .precision import autocast


def free_memory_bytes(device: torch.device | str) -> int:
    """Free memory where the tensors live: the GPU's free memory, or the host's available RAM."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2 ** 31  # unknown: assume 2 GB


def step_bytes_per_image(prior, method: str = "multi", precision: str = "fp32", **method_options) -> int:
    """Bytes one image needs in one optimisation step: the activations autograd keeps for the
    backward pass (measured on a probe batch of 2 images) plus its trainable parameters with their
    gradients and Adam moments."""
    from .inversion import METHODS, check_options
    if method not in METHODS:
        raise GanpriorError(f"automatic batch size covers {', '.join(METHODS)}; got {method!r}")
    from .presets import defaults_for
    layers = prior.composition_layers
    options = defaults_for(method, [], max(layers) if layers else None)
    options.update(check_options(method, method_options))
    for key in ("steps", "lr", "num_candidates", "encoder"):  # not constructor arguments
        options.pop(key, None)
    options["latent_init"] = "normal"  # the start does not change the memory a step needs
    probe = 2
    param = METHODS[method](prior, probe, seed=0, **options)
    saved = 0

    def pack(t: torch.Tensor):
        nonlocal saved
        if isinstance(t, torch.Tensor) and not isinstance(t, torch.nn.Parameter):
            saved += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast(precision, prior.device):
        x = prior.to_unit(param())
        x.float().mean().backward()
    trainable = sum(p.numel() * p.element_size() for p in param.parameters() if p.requires_grad)
    return int((saved + 4 * trainable) / probe) + 1  # values, grads and two Adam moments


def auto_batch_size(prior, num_images: int, method: str = "multi", *, fraction: float = 0.5,
                    cap: int = 256, precision: str = "fp32", **method_options) -> int:
    """How many images to invert together: ``fraction`` of the free memory over the per-image need,
    at least 1, at most ``num_images`` and ``cap``."""
    if not 0 < fraction <= 1:
        raise GanpriorError(f"memory fraction must be in (0, 1], got {fraction}")
    need = step_bytes_per_image(prior, method, precision, **method_options)
    fit = int(fraction * free_memory_bytes(prior.device) // need)
    return max(1, min(num_images, cap, fit))


def check_batch_memory(prior, images: int, method: str, *, fraction: float = 0.9, precision: str = "fp32",
                       **method_options) -> int:
    """Refuse a batch whose optimisation step would not fit: ``images`` times the measured per-image
    need (``step_bytes_per_image``) against ``fraction`` of the device's free memory. Returns the
    estimate in bytes."""
    need = images * step_bytes_per_image(prior, method, precision, **method_options)
    free = free_memory_bytes(prior.device)
    if need > fraction * free:
        raise GanpriorError(f"{images} image(s) per batch with these settings need about {need / 2**30:.1f} GiB "
                            f"in an optimisation step and {free / 2**30:.1f} GiB is free; lower --batch "
                            f"(or use --batch auto) or --codes")
    return need
