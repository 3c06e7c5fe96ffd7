"""The optimisation loop shared by every inversion method, and its Result.

A method is a *parameterisation* of the prior: an ``nn.Module`` whose parameters are what gets
optimised (codes, importances, later generator weights) and whose ``forward()`` renders the batch
of images in the prior's native range. The loop is the same for all of them::

    minimise  sum_b loss(A(to_unit(param())), y)_b

All images and all codes go through the generator in one forward per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ..errors import GanpriorError
from ..precision import autocast, check_precision
from ..priors.base import Prior, map_features

# callback(step, total_steps, per_image_loss (B,), current images in [0, 1] (B, C, H, W)); ``optimize``
# also calls it once with step 0 before the first update, with the start's images (an encoder start's
# preview, shown at once while the steps refine it; ``take_step``'s ``preview``)
ProgressCallback = Callable[[int, int, torch.Tensor, torch.Tensor], None]


def check_code_steps(code_steps: int | None) -> int | None:
    """``code_steps`` as given (None or an int >= 0), or a one-line error."""
    if code_steps is None:
        return None
    if isinstance(code_steps, bool) or int(code_steps) != code_steps or code_steps < 0:
        raise GanpriorError(f"code steps must be a whole number >= 0, got {code_steps!r}")
    return int(code_steps)


class Parameterization(nn.Module):
    """Base of the inversion methods. ``forward()`` -> ``(B, C, H, W)`` native-range images."""

    # composed methods: the codes move for this many steps, then only the weights of the composition
    # (``on_step``); None = every step
    code_steps: int | None = None

    def __init__(self, prior: Prior, batch_size: int):
        super().__init__()
        object.__setattr__(self, "prior", prior)  # not a submodule: its weights are not ours
        self.batch_size = batch_size
        self._head_cache: tuple | None = None

    def on_step(self, step: int) -> None:
        """Called by the loop before step ``step`` (0-based): from ``code_steps`` on, the codes stop
        moving (``requires_grad`` off), so ``head_features`` renders them once and Adam skips them."""
        if self.code_steps is not None and step >= self.code_steps and self.codes.requires_grad:
            self.codes.requires_grad_(False)

    def head_features(self, code_dims: int):
        """``prior.head`` of every code, the first ``code_dims`` dimensions of ``codes`` flattened into
        one batch and restored after. While the codes do not require grad (frozen by ``code_steps``, or
        after a run) the features are computed once and reused until the codes change in place: a step
        then costs the composition and the tail only (a tenth of a 20-code step at layer 2)."""
        codes = self.codes
        lead = codes.shape[:code_dims]
        def render():
            feats = self.prior.head(codes.flatten(0, code_dims - 1), self.layer)
            return map_features(lambda t: t.unflatten(0, lead), feats)
        if codes.requires_grad:
            self._head_cache = None
            return render()
        # keyed by the tensor object itself (held, so its memory cannot be reused by another tensor
        # while cached: an address key went stale when an edit's freshly allocated codes landed
        # where the previous edit's had been), its in-place version and the autocast state
        key = (codes._version, torch.is_autocast_enabled(codes.device.type))
        cache = self._head_cache
        if cache is None or cache[0] is not codes or cache[1] != key:
            with torch.no_grad():
                self._head_cache = cache = (codes, key, render())
        return cache[2]

    def param_groups(self, lr: float) -> list[dict]:
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": lr}]

    def start_from(self, codes: torch.Tensor) -> None:
        """Replace the initial ``codes`` by ``(B, N, *latent_shape)`` ones, N being all of this
        method's codes per image (in its own order: subspace r's codes are ``r*K .. r*K+K-1``)."""
        with torch.no_grad():
            self.codes.copy_(codes.reshape(self.codes.shape))

    @property
    def codes_per_image(self) -> int:
        return self.codes[0].numel() // math.prod(self.prior.latent_shape)

    @property
    def code_groups(self) -> int:
        """How many groups of consecutive codes (in ``start_from``'s order) are composed separately:
        1 when all of an image's codes are averaged together (multi-code), R for subspace, whose
        channels each take the features of one subspace's K codes only."""
        return 1

    def state(self) -> dict[str, torch.Tensor]:
        """The final parameters, detached (codes, importances, ...)."""
        return {k: v.detach().clone() for k, v in self.named_parameters()}


@dataclass
class Result:
    """What a solver returns.

    Attributes:
        images: ``(B, 3, R, R)`` in [0, 1], restored and post-processed.
        raw: ``(B, 3, R, R)`` in [0, 1], the prior's own output before post-processing.
        observed: the observations ``y`` that were inverted.
        params: final parameters (``codes``, ``importance``, ...).
        history: ``(steps, B)`` per-image loss at every step.
        seconds: wall time of the optimisation.
        steps: optimisation steps run.
        ground_truth: clean images when known (``--simulate``), else None.
        metrics: per-image dicts (psnr, ssim, lpips, niqe, auc; None where not computable).
        notes: why a metric or loss term was unavailable.
        parameterization: the optimised method object (``compose()``, ``forward()``), for editing;
            None after results of several batches are concatenated.
        stopped_at: with ``stop_mse`` or ``patience``, the step (1-based) at which each image stopped:
            its observation MSE fell below the threshold, or its loss stopped improving (0 = never;
            that image ran every step). Its image is the one rendered at that step; ``params`` are
            the batch's final ones.
    """
    images: torch.Tensor
    raw: torch.Tensor
    observed: torch.Tensor
    params: dict[str, torch.Tensor]
    history: torch.Tensor
    seconds: float
    steps: int
    ground_truth: torch.Tensor | None = None
    metrics: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parameterization: Parameterization | None = None
    stopped_at: torch.Tensor | None = None


PLATEAU_MIN_IMPROVEMENT = 0.01  # the default relative improvement a plateau stop asks of ``patience`` steps


def check_patience(patience: int | None, min_improvement: float) -> tuple[int | None, float]:
    """``patience`` (None or an int >= 1) and ``min_improvement`` (in [0, 1)) as given, or a one-line error."""
    if patience is not None:
        if isinstance(patience, bool) or int(patience) != patience or patience < 1:
            raise GanpriorError(f"patience must be a whole number of steps >= 1, got {patience!r}")
        patience = int(patience)
    if not 0 <= float(min_improvement) < 1:
        raise GanpriorError(f"min improvement must be in [0, 1), got {min_improvement!r}")
    return patience, float(min_improvement)


class EarlyStop:
    """Per-image early stopping, on either of two rules (an image stops at the first that holds):

    - ``threshold``: the observation MSE ``mean((A(x) - y)**2)`` on the [0, 1] scale falls below it
      (DGP's adversarial defense stops at 5e-3; the discrepancy principle at sigma**2);
    - ``patience``: the image's loss has stopped improving: its best over the run improved by less
      than ``min_improvement`` (relative) over its last ``patience`` steps.

    ``update(step, x, history)`` runs after every step; an image that stops keeps the ``x`` rendered
    at that step. It returns True when every image has stopped, so the loop can end. Neither rule
    given: never stops.
    """

    def __init__(self, threshold: float | None, y: torch.Tensor, forward_model: Callable[[torch.Tensor], torch.Tensor],
                 patience: int | None = None, min_improvement: float = PLATEAU_MIN_IMPROVEMENT):
        if threshold is not None and not threshold > 0:
            raise GanpriorError(f"stop MSE must be > 0, got {threshold}")
        self.patience, self.min_improvement = check_patience(patience, min_improvement)
        self.threshold, self.y, self.forward_model = threshold, y, forward_model
        self.stopped_at = torch.zeros(y.shape[0], dtype=torch.long)
        self.snapshot: torch.Tensor | None = None

    @property
    def active(self) -> bool:
        return self.threshold is not None or self.patience is not None

    def plateaued(self, step: int, history: torch.Tensor) -> torch.Tensor:
        """``(B,)`` bool: whose best loss in ``history[:step + 1]`` improved by less than
        ``min_improvement`` of its best ``patience`` steps earlier."""
        seen = step + 1
        if self.patience is None or seen <= self.patience:
            return torch.zeros(history.shape[1], dtype=torch.bool)
        before = history[:seen - self.patience].amin(0)
        now = history[seen - self.patience:seen].amin(0).minimum(before)
        return (before - now) <= self.min_improvement * before.abs()

    def update(self, step: int, x: torch.Tensor, history: torch.Tensor | None = None) -> bool:
        """``history``: the ``(steps, B)`` per-image losses, rows up to ``step`` filled (the plateau rule)."""
        if not self.active:
            return False
        new = torch.zeros(x.shape[0], dtype=torch.bool)
        if self.threshold is not None:
            with torch.no_grad():
                mse = (self.forward_model(x) - self.y).pow(2).flatten(1).mean(1).cpu()
            new |= mse < self.threshold
        if self.patience is not None and history is not None:
            new |= self.plateaued(step, history)
        new &= self.stopped_at == 0
        if new.any():
            if self.snapshot is None:
                self.snapshot = torch.zeros_like(x)
            idx = new.nonzero().flatten().to(x.device)
            self.snapshot[idx] = x[idx].detach().clamp(0, 1)
            self.stopped_at[new] = step + 1
        return bool((self.stopped_at > 0).all())

    def finish(self, x: torch.Tensor) -> torch.Tensor:
        """The final images: the snapshot for stopped images, ``x`` for the rest."""
        if self.snapshot is None:
            return x
        keep = (self.stopped_at > 0).to(x.device).view(-1, 1, 1, 1)
        return torch.where(keep, self.snapshot, x)

    @property
    def result_field(self) -> torch.Tensor | None:
        return self.stopped_at if self.active else None


def make_optimizer(name: str, groups: list[dict]) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(groups)
    if name == "sgd":
        return torch.optim.SGD(groups)
    raise GanpriorError(f"unknown optimizer {name!r}; choose adam or sgd")


def take_step(optimizer: torch.optim.Optimizer,
              render_and_score: Callable[[], tuple[torch.Tensor, torch.Tensor]], step: int,
              history: torch.Tensor, callback: ProgressCallback | None, hint: str,
              preview: bool = False) -> torch.Tensor:
    """One optimisation step shared by every solver: render, score per image, refuse a non-finite
    loss (naming the step and image; ``hint`` says what to change), backpropagate, record, report.

    ``render_and_score() -> (images in [0, 1] (B, C, H, W), per-image loss (B,))``; the loss is
    written to ``history[step]`` and ``callback(step + 1, len(history), ...)`` is called.
    Returns the rendered images (detached), those the loss was computed on. ``preview``: at step 0 the
    callback also gets those images and losses as step 0, before the backward pass: the start.
    """
    optimizer.zero_grad(set_to_none=True)
    x, per_image = render_and_score()
    if not torch.isfinite(per_image).all():
        bad = int((~torch.isfinite(per_image)).nonzero()[0])
        raise GanpriorError(f"loss became NaN/inf at step {step + 1} for image {bad + 1} of the batch; {hint}")
    if preview and step == 0 and callback is not None:
        callback(0, history.shape[0], per_image.detach().cpu(), x.detach().clamp(0, 1))
    per_image.sum().backward()
    optimizer.step()
    history[step] = per_image.detach().cpu()
    if callback is not None:
        callback(step + 1, history.shape[0], history[step], x.detach())
    return x.detach()


def optimize(param: Parameterization, y: torch.Tensor, forward_model: Callable[[torch.Tensor], torch.Tensor],
             loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *, steps: int, lr: float,
             optimizer: str = "adam", callback: ProgressCallback | None = None,
             stop: EarlyStop | None = None, precision: str = "fp32",
             compile: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the loop. Returns (final images in [0, 1], per-step per-image loss history).
    ``steps=0`` runs none: the images are the start's, the history is empty ``(0, B)``.

    With ``stop``, the loop ends once every image met its stopping rule; the history then has
    one row per step run, and stopped images are those rendered at their stop.
    ``precision``: ``fp32`` or ``bf16`` (the generator's forward autocast; see ``ganprior.precision``).
    ``compile``: render through ``torch.compile`` (pays off over many steps on a GPU)."""
    check_precision(precision)
    if steps < 0:
        raise GanpriorError(f"steps must be >= 0, got {steps}")
    if not lr > 0:
        raise GanpriorError(f"learning rate must be > 0, got {lr}")
    opt = make_optimizer(optimizer, param.param_groups(lr))
    prior = param.prior
    history = torch.empty(steps, y.shape[0])

    render = torch.compile(param) if compile else param

    def render_and_score():
        with autocast(precision, y.device):
            x = prior.to_unit(render())
        x = x.float()  # the loss and the physics run in fp32
        return x, loss_fn(forward_model(x), y)

    for step in range(steps):
        param.on_step(step)
        x = take_step(opt, render_and_score, step, history, callback, hint="lower --lr or check the input",
                      preview=True)
        if stop is not None and stop.update(step, x, history):
            history = history[:step + 1]
            break
    with torch.no_grad():
        x = prior.to_unit(param()).clamp(0, 1)
    return (x if stop is None else stop.finish(x)), history
