"""The base of ganprior's deepinv reconstructors: ``x_hat = model(y, physics)`` by GAN inversion.

A model holds a prior and one inversion method's settings; calling it inverts the observations
``y`` through ``physics`` (any deepinv Physics, composition or noise model, or a plain callable
``x -> y``, see ``physics.operator.as_operator``) and returns the restored images ``(B, C, R, R)``
in [0, 1] on ``y``'s device. The full ``Result`` of the last call (loss history, codes, the
optimised parameterisation) stays on ``model.last_result``.

Noise: when the physics' noise model has a scalar ``sigma`` (deepinv's ``GaussianNoise`` ...), the
fit stops by Morozov's discrepancy principle: an image whose observation MSE ``mean((A(x) - y)**2)``
falls below ``sigma**2``, the expected MSE of the noise itself, stops there, so the generator is not
pushed on to reproduce the noise. ``stop_mse`` overrides the threshold (None: never stop).
"""

from __future__ import annotations

import os

import torch
from deepinv.models import Reconstructor

from ..errors import GanpriorError
from ..inversion import Result, invert
from ..inversion.base import PLATEAU_MIN_IMPROVEMENT, check_patience
from ..inversion.methods import SOLVERS, check_options, method_options
from ..physics.operator import as_operator
from ..priors.base import Prior
from ..priors.zoo import default_prior, load_prior

# settings every model takes (``invert``'s own arguments)
COMMON_SETTINGS = ("steps", "lr", "loss", "seed", "stop_mse", "patience", "min_improvement", "optimizer",
                   "callback", "precision", "compile", "device")


class GANReconstructor(Reconstructor):
    """A ``deepinv.models.Reconstructor`` inverting ``prior`` with the inversion method ``method``.

    Args:
        prior: a ``Prior`` (e.g. ``ganprior.GeneratorPrior``), a registry name or a checkpoint path
            (``load_prior``; None: the method's default prior). It is frozen (``priors.base.freeze``).
        steps, lr: optimisation length and step size (None: the method's defaults, ``presets``).
        loss: per-image loss ``(pred, target) -> (B,)`` on observations (default pixel MSE).
        seed: seeds the starting codes; the same seed gives the same output.
        stop_mse: ``"auto"`` (sigma**2 of the physics' noise model, the discrepancy principle; no
            stop without noise), a threshold on the per-image observation MSE, or None (run every step).
        patience, min_improvement: also stop an image once its loss improved by less than
            ``min_improvement`` (relative) over its last ``patience`` steps (``ganprior.invert``).
        optimizer, precision, compile, callback: as ``ganprior.invert``.
        device: where the prior runs (None: where it already is; cpu for a name or path).
        options: the method's own options (subclasses list them); a mistyped one raises here.
    """

    method: str = ""

    def __init__(self, prior: Prior | str | os.PathLike | None = None, *, options: dict | None = None,
                 steps: int | None = None, lr: float | None = None, loss=None, seed: int = 0,
                 stop_mse: float | str | None = "auto", patience: int | None = None,
                 min_improvement: float = PLATEAU_MIN_IMPROVEMENT, optimizer: str = "adam", callback=None,
                 precision: str = "fp32", compile: bool = False, device: str | torch.device | None = None,
                 **unknown):
        super().__init__()
        if unknown:
            valid = ", ".join((*method_options(self.method), *COMMON_SETTINGS))
            raise GanpriorError(f"{type(self).__name__} has no option {', '.join(sorted(unknown))}; "
                                f"its options are {valid}")
        if isinstance(stop_mse, str) and stop_mse != "auto":
            raise GanpriorError(f"stop_mse must be 'auto', a number or None, got {stop_mse!r}")
        if self.method in SOLVERS and (optimizer != "adam" or precision != "fp32" or compile):
            raise GanpriorError(f"{type(self).__name__} optimises with Adam in fp32 without torch.compile")
        if isinstance(prior, Prior):
            self.prior = load_prior(prior, device if device is not None else prior.device)
        else:
            self.prior = load_prior(prior if prior is not None else default_prior(self.method), device or "cpu")
        self.options = check_options(self.method, self._resolve_layer(dict(options or {})))
        self.steps, self.lr, self.loss, self.seed = steps, lr, loss, int(seed)
        self.stop_mse, self.optimizer, self.callback = stop_mse, optimizer, callback
        self.patience, self.min_improvement = check_patience(patience, min_improvement)
        self.precision, self.compile = precision, compile
        self.last_result: Result | None = None

    def _resolve_layer(self, options: dict) -> dict:
        """A layer given by split-point name becomes its index; a given layer must exist."""
        layer = options.get("layer")
        if isinstance(layer, str):
            if not hasattr(self.prior, "layer_of"):
                raise GanpriorError(f"prior {self.prior.name!r} numbers its layers: give layer as one of "
                                    f"{sorted(self.prior.composition_layers)}")
            options["layer"] = self.prior.layer_of(layer)
        if "layer" in method_options(self.method):
            if not self.prior.composition_layers:
                self.prior.check_layer(1)  # a prior that names how to add layers says so
                raise GanpriorError(f"{type(self).__name__} composes features at a layer, and prior "
                                    f"{self.prior.name!r} has none")
            if options.get("layer") is not None:
                self.prior.check_layer(int(options["layer"]))
        return options

    def stop_threshold(self, operator) -> float | None:
        """The observation-MSE threshold of a run through ``operator`` (see the module docstring)."""
        if self.stop_mse != "auto":
            return self.stop_mse
        sigma = float(getattr(operator, "noise_sigma", 0.0) or 0.0)
        return sigma ** 2 if sigma > 0 else None

    def forward(self, y: torch.Tensor, physics, **kwargs) -> torch.Tensor:
        """Restore observations ``y`` ``(B, ...)`` of ``physics``: ``(B, C, R, R)`` in [0, 1], on
        ``y``'s device. Other keyword arguments of deepinv's calling convention are ignored."""
        prior = self.prior
        operator = as_operator(physics, prior.resolution, channels=prior.channels, device=prior.device)
        expected = getattr(operator, "observed_shape", None)
        if expected is not None and tuple(y.shape[1:]) != tuple(expected):
            raise GanpriorError(f"observations are {tuple(y.shape[1:])}, the physics makes {tuple(expected)} "
                                f"from {prior.resolution}x{prior.resolution} images")
        result = invert(y.to(prior.device), operator, prior, method=self.method, steps=self.steps, lr=self.lr,
                        loss=self._loss(), seed=self.seed, stop_mse=self.stop_threshold(operator),
                        patience=self.patience, min_improvement=self.min_improvement,
                        optimizer=self.optimizer, callback=self.callback, precision=self.precision,
                        compile=self.compile, **self.options)
        self.last_result = result
        return result.images.to(y.device)

    def _loss(self):
        return self.loss

    def extra_repr(self) -> str:
        settings = {"steps": self.steps, "lr": self.lr, "seed": self.seed, **self.options}
        return ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None)


__all__ = ["GANReconstructor", "COMMON_SETTINGS"]
