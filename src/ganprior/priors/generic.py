"""Any ``nn.Module`` generator ``z -> image`` as a Prior ("bring your own generator").

``GeneratorPrior(G, latent_shape=(16,))`` gives the inversion methods what they need from ``G``
without touching its code:

* single-code inversion and DGP use ``G(z)`` as it is (DGP tunes per-image copies of the weights of
  ``blocks``, ``G``'s top-level children in order, shallow to deep: the order they are registered in,
  which for ``nn.Sequential`` and most generators is the order they run in);
* multi-code and subspace composition cut ``G`` at *split points*, modules named as in
  ``G.named_modules()`` (``"2"``, ``"body.up1"``); split point k (1-based, in the order given) is
  composition layer k. ``head(z, k)`` runs ``G`` until that module returns and stops there (a forward
  hook raises a private exception carrying the output); ``tail(features, k)`` runs ``G`` with that
  module's output replaced by ``features`` (a forward hook returns them). The part before the split
  point then runs on a zero code and its result is discarded, so a split point must be a cut of the
  graph: nothing computed before it may reach the image except through it. Wrapping checks this
  (``tail(head(z)) == G(z)`` on a random code) and that each split module runs once per forward.

``G`` (and the discriminator) are frozen on wrapping: eval mode, ``requires_grad`` False on every
parameter, in place, so inversion never accumulates gradients in the user's weights.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..errors import GanpriorError
from .base import Prior, freeze


class _Reached(BaseException):
    """Raised by ``head``'s hook to stop the forward at the split point. A BaseException, so a
    generator's own ``except Exception`` cannot swallow it."""

    def __init__(self, output):
        super().__init__()
        self.output = output


class GeneratorPrior(Prior):
    """A Prior around a user generator ``G``: latent ``(B, *latent_shape)`` -> image ``(B, C, R, R)``.

    Args:
        generator: the ``nn.Module``; frozen in place (see the module docstring).
        latent_shape: shape of one code z, without the batch dimension; codes are drawn from N(0, I).
        output_range: ``(low, high)`` of G's output; ``to_unit`` maps it linearly to [0, 1].
        split_points: module names where multi-code / subspace composition may cut G (layer k is
            ``split_points[k - 1]``); each must output a ``(B, C, H, W)`` feature map. None: single-code
            and DGP only.
        discriminator: optional critic on native-range images with ``features(x) -> list[Tensor]``,
            for DGP's feature loss; frozen too.
        resolution: the expected output size R; checked against the probe forward, which finds it
            (and the channel count) when None.
        name: how the prior is named in messages and caches (default: G's class name).
    """

    family = "custom"

    def __init__(self, generator: nn.Module, latent_shape: Sequence[int], output_range: Sequence[float] = (-1, 1),
                 split_points: Sequence[str] | None = None, discriminator: nn.Module | None = None,
                 resolution: int | None = None, name: str | None = None):
        super().__init__()
        if not isinstance(generator, nn.Module):
            raise GanpriorError(f"the generator must be a torch nn.Module, got {type(generator).__name__}")
        self.generator = freeze(generator)
        self.name = name or type(generator).__name__
        try:
            self.latent_shape = tuple(int(d) for d in latent_shape)
            low, high = (float(v) for v in output_range)
        except (TypeError, ValueError):
            raise GanpriorError(f"latent_shape must be a tuple of ints and output_range a pair of numbers, "
                                f"got {latent_shape!r} and {output_range!r}") from None
        if not self.latent_shape or min(self.latent_shape) < 1:
            raise GanpriorError(f"latent_shape must hold positive sizes, got {tuple(latent_shape)}")
        if not high > low:
            raise GanpriorError(f"output_range must be (low, high) with high > low, got {tuple(output_range)}")
        self.output_range = (low, high)
        if discriminator is not None:
            if not callable(getattr(discriminator, "features", None)):
                raise GanpriorError("the discriminator needs a features(x) -> list of tensors method (DGP's loss)")
            self.discriminator = freeze(discriminator)
        self.resolution, self.channels = self._probe(resolution)
        self.split_points = self._check_names(split_points or [])
        self._layers = {k: self._check_split(k) for k in range(1, len(self.split_points) + 1)}

    # -- construction checks -------------------------------------------------------------------
    def _probe(self, resolution: int | None) -> tuple[int, int]:
        try:
            with torch.no_grad():
                x = self.generator(torch.zeros(1, *self.latent_shape, device=self.device))
        except Exception as e:  # noqa: BLE001 - a user's module: any failure means a wrong latent shape
            raise GanpriorError(f"the generator fails on a code of shape (1, {', '.join(map(str, self.latent_shape))}): "
                                f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}") from None
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[-1] != x.shape[-2]:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise GanpriorError(f"the generator must return square images (B, C, R, R), got {shape}")
        if resolution is not None and int(resolution) != x.shape[-1]:
            raise GanpriorError(f"the generator makes {x.shape[-1]}x{x.shape[-1]} images, not {resolution}")
        return int(x.shape[-1]), int(x.shape[1])

    def _check_names(self, names: Sequence[str]) -> list[str]:
        if isinstance(names, str):
            names = [names]
        modules = dict(self.generator.named_modules())
        for n in names:
            if n not in modules or n == "":
                some = ", ".join(k for k in list(modules)[1:9])
                raise GanpriorError(f"split point {n!r} is not a module of the generator; its modules are named "
                                    f"like: {some}")
        if len(set(names)) != len(names):
            raise GanpriorError(f"split points repeat a module: {list(names)}")
        return list(names)

    def _check_split(self, layer: int) -> int:
        """Channels at ``layer``, after checking it is a cut of G run once per forward."""
        name = self.split_points[layer - 1]
        calls = []
        handle = self._module(layer).register_forward_hook(lambda *_: calls.append(1))
        z = torch.randn((2, *self.latent_shape), generator=torch.Generator().manual_seed(0)).to(self.device)
        try:
            with torch.no_grad():
                full = self.generator(z)
        finally:
            handle.remove()
        if len(calls) != 1:
            raise GanpriorError(f"split point {name!r} runs {len(calls)} times in one forward; it must run once")
        with torch.no_grad():
            feats = self.head(z, layer)
            if not isinstance(feats, torch.Tensor) or feats.ndim != 4:
                shape = tuple(feats.shape) if isinstance(feats, torch.Tensor) else type(feats).__name__
                raise GanpriorError(f"split point {name!r} outputs {shape}; composition needs a (B, C, H, W) "
                                    "feature map")
            again = self.tail(feats, layer)
        scale = float(full.abs().max()) or 1.0
        if not torch.allclose(again, full, rtol=1e-4, atol=1e-5 * scale):
            raise GanpriorError(f"split point {name!r} is not a cut of the generator: the image also depends on "
                                "what is computed before it by another path (choose a module every path goes through)")
        return int(feats.shape[1])

    def _module(self, layer: int) -> nn.Module:
        return self.generator.get_submodule(self.split_points[self.check_layer(layer) - 1])

    # -- the Prior interface -------------------------------------------------------------------
    @property
    def composition_layers(self) -> dict[int, int]:
        """``{k: channels}`` of split point k (1-based); empty without split points."""
        return dict(getattr(self, "_layers", {}))

    def layer_of(self, name: str) -> int:
        """The composition layer of the split point named ``name``."""
        if name not in self.split_points:
            raise GanpriorError(f"{name!r} is not a split point of prior {self.name!r}; "
                                f"its split points are {self.split_points}")
        return self.split_points.index(name) + 1

    def check_layer(self, layer: int) -> int:
        if not self.split_points:
            raise GanpriorError(f"prior {self.name!r} has no composition layer: name one with "
                                "GeneratorPrior(..., split_points=['module.name'])")
        if not isinstance(layer, int) or not 1 <= layer <= len(self.split_points):
            raise GanpriorError(f"layer {layer} is not a composition layer of prior {self.name!r}; choose 1.."
                                f"{len(self.split_points)} (split points {self.split_points})")
        return layer

    @property
    def blocks(self) -> list[nn.Module]:
        """G's top-level children in registration order (G itself when it has none): DGP's blocks."""
        return list(self.generator.children()) or [self.generator]

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """``G(z)``: ``(B, *latent_shape)`` -> ``(B, C, R, R)`` in ``output_range``."""
        return self.generator(z)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generate(z)

    def head(self, z: torch.Tensor, layer: int) -> torch.Tensor:
        """G up to split point ``layer``: ``(B, *latent_shape)`` -> its output ``(B, C, H, W)``."""
        def stop(module, inputs, output):
            raise _Reached(output)

        handle = self._module(layer).register_forward_hook(stop)
        try:
            self.generator(z)
        except _Reached as reached:
            return reached.output
        finally:
            handle.remove()
        raise GanpriorError(f"split point {self.split_points[layer - 1]!r} did not run in the generator's forward")

    def tail(self, features: torch.Tensor, layer: int) -> torch.Tensor:
        """G after split point ``layer``: its output replaced by ``features`` ``(B, C, H, W)`` -> image.
        A copy is substituted, so in-place operations after the split point leave ``features`` alone."""
        def substitute(module, inputs, output):
            return features.clone()

        handle = self._module(layer).register_forward_hook(substitute)
        try:
            z = torch.zeros((features.shape[0], *self.latent_shape), device=features.device)
            return self.generator(z)
        finally:
            handle.remove()

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """``output_range`` -> [0, 1]."""
        low, high = self.output_range
        return (x - low) / (high - low)

    def from_unit(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] -> ``output_range``."""
        low, high = self.output_range
        return x * (high - low) + low

    @property
    def device(self) -> torch.device:
        for t in (*self.generator.parameters(), *self.generator.buffers()):
            return t.device
        return torch.device("cpu")


__all__ = ["GeneratorPrior"]
