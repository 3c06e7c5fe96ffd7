"""Any user forward model -> the operator the inversion solvers use.

The solvers talk to a forward model through the duck type of ``tasks.Degradation``: ``A(x)``
(noiseless), ``observed_size`` / ``observed_channels``, ``noise_sigma``, ``simulate(x, seed)``,
``postprocess(x_hat, y)``, ``tasks``, ``mask`` and ``name``. ``as_operator`` gives that interface to

* a deepinv ``Physics`` (anything with an ``A`` method): ``A`` is ``physics.A``, ``simulate`` is
  ``physics(x)`` (its own noise and sensor models) drawn under ``seed``;
* a plain callable ``x -> y``: taken as noiseless;
* an object that already is such an operator (``tasks`` and ``postprocess``): returned unchanged.

Images are ``(B, C, R, R)`` in [0, 1]. A user's forward model knows no task, so nothing is pasted
back (``postprocess`` is the identity) and ``tasks`` is empty.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

import torch

from ..errors import GanpriorError


def noise_level(physics) -> float:
    """The scalar ``sigma`` of ``physics.noise_model`` (deepinv's Gaussian, Poisson-Gaussian, ...);
    0 when there is none or it is not one number (per-image sigmas, other noise laws)."""
    sigma = getattr(getattr(physics, "noise_model", None), "sigma", None)
    if sigma is None:
        return 0.0
    try:
        sigma = torch.as_tensor(sigma)
    except (TypeError, ValueError, RuntimeError):
        return 0.0
    return float(sigma) if sigma.numel() == 1 else 0.0


@contextmanager
def seeded(seed: int, device: torch.device, noise_model=None):
    """Run the body with torch's global RNG (CPU, and ``device`` when it is a GPU) and the noise
    model's own ``rng`` (if it has one) seeded with ``seed``; all are restored afterwards, so a
    simulated observation depends on ``seed`` only and the caller's random streams are untouched."""
    rng = getattr(noise_model, "rng", None)
    state = rng.get_state() if isinstance(rng, torch.Generator) else None
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        if state is not None:
            rng.manual_seed(seed)
        try:
            yield
        finally:
            if state is not None:
                rng.set_state(state)


class Operator:
    """A user forward model seen as a ganprior degradation (built by ``as_operator``).

    Attributes:
        physics: the object given (a deepinv Physics or a callable).
        resolution, channels: the clean image size ``(B, channels, resolution, resolution)``.
        observed_shape: shape of one observation (without the batch dimension).
        observed_channels, observed_size: its first and last entries (``(c, s, s)`` images).
        noise_sigma: the physics' scalar noise std (0 for a callable or non-Gaussian noise).
    """

    mask = None              # no known-pixel mask, no task (``tasks`` is empty): nothing is pasted back
    paste_known = False

    def __init__(self, physics, forward: Callable[[torch.Tensor], torch.Tensor], resolution: int, channels: int,
                 device: torch.device, noisy_forward: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.physics = physics
        self._forward = forward
        self._noisy = noisy_forward or forward
        self.resolution, self.channels, self.device = int(resolution), int(channels), torch.device(device)
        self.tasks: list[str] = []  # no task presets (method defaults apply), no paste-back
        self.noise_sigma = noise_level(physics)
        try:
            with torch.no_grad():
                probe = forward(torch.zeros(1, self.channels, self.resolution, self.resolution, device=self.device))
        except Exception as e:  # noqa: BLE001 - a user's model: any failure is a bad input
            why = str(e).splitlines()[0][:200] if str(e) else ""
            raise GanpriorError(f"the forward model fails on a (1, {self.channels}, {self.resolution}, "
                                f"{self.resolution}) image: {type(e).__name__}: {why}") from None
        if not isinstance(probe, torch.Tensor) or probe.ndim < 2:
            raise GanpriorError(f"the forward model must return a (B, ...) tensor, got {type(probe).__name__}"
                                + (f" of shape {tuple(probe.shape)}" if isinstance(probe, torch.Tensor) else ""))
        self.observed_shape = tuple(probe.shape[1:])
        self.observed_channels = self.observed_shape[0]
        self.observed_size = self.observed_shape[-1]

    @property
    def name(self) -> str:
        if hasattr(self.physics, "A") or isinstance(self.physics, torch.nn.Module):
            return type(self.physics).__name__
        return getattr(self.physics, "__name__", type(self.physics).__name__)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        """The noiseless forward model: clean ``(B, C, R, R)`` -> observation (what the loss compares)."""
        return self._forward(x)

    def simulate(self, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """An observation of clean ``x``: ``A(x)`` through the physics' own noise (and sensor) model,
        drawn with ``seed``, so the same seed gives the same observation."""
        with torch.no_grad(), seeded(seed, x.device, getattr(self.physics, "noise_model", None)):
            return self._noisy(x)

    fence_samples = 0  # a user's forward model names no task that limits the output to prior samples

    def postprocess(self, x_hat: torch.Tensor, y: torch.Tensor, color_space: str = "luma",
                    samples: torch.Tensor | None = None) -> torch.Tensor:
        """Identity: a user's forward model says nothing about which pixels are known."""
        return x_hat

    def __repr__(self) -> str:
        return f"Operator({self.name}, {self.channels}x{self.resolution}x{self.resolution} -> {self.observed_shape})"


def is_operator(obj) -> bool:
    """True for objects the solvers take as they are (a ``Degradation`` or an ``Operator``)."""
    return hasattr(obj, "tasks") and hasattr(obj, "postprocess")


def as_operator(physics, resolution: int, *, channels: int = 3, device: str | torch.device = "cpu"):
    """Wrap ``physics`` for the solvers (see the module docstring).

    Args:
        physics: a deepinv ``Physics``, a callable ``x -> y``, or an operator (returned unchanged).
        resolution, channels: size of the clean images the forward model takes, ``(B, channels, R, R)``;
            one probe forward at that size finds the observation shape.
        device: where the probe runs (the prior's device).
    """
    if is_operator(physics):
        return physics
    if callable(getattr(physics, "A", None)):
        return Operator(physics, physics.A, resolution, channels, device, noisy_forward=physics)
    if callable(physics):
        return Operator(physics, physics, resolution, channels, device)
    raise GanpriorError(f"physics must be a deepinv Physics, a callable x -> y or a ganprior Degradation, "
                        f"got {type(physics).__name__}")


__all__ = ["Operator", "as_operator", "is_operator", "noise_level", "seeded"]
