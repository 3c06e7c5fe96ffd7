"""Deep Generative Prior (DGP, Pan et al. ECCV 2020 / TPAMI 2021).

DGP inverts an observation by optimising the latent code z *and* the generator's weights theta::

    (z*, theta*) = argmin  w_D * sum_i |D_i(A(G(z; theta))) - D_i(y)|_1
                           + w_mse * MSE(A(G(z; theta)), y) + w_latent * mean(z**2) / 2

with D_i the discriminator's feature maps (``losses.DiscriminatorFeatureLoss``). The generator is
fine-tuned *progressively*: stage s tunes the first k_s blocks (``prior.blocks[:k_s]``), shallow
to deep, with its own iterations, learning rates and loss weights (``DGPStage``); the paper's
per-task schedules are in ``presets.DGP_SCHEDULES``. z starts at the best of ``num_candidates``
random samples under the discriminator-feature distance, and BatchNorm uses its running statistics
throughout (the generator's weights change, its BN buffers do not).

Batching: every image gets its own copy of the tuned blocks' weights, stacked along a leading
batch dimension (``DGPGenerator.weights``); ``torch.func.functional_call`` under ``torch.vmap``
renders all images with their own weights in one batched forward per step. Blocks that were never
unfrozen are not copied: they use the prior's (shared) weights. The prior itself is never modified.

``Result.params`` holds ``codes`` ``(B, *latent_shape)`` and, per tuned parameter, its per-image
*delta* from the prior's weights: ``generator_delta.<parameter name>`` ``(B, *shape)``
(fine-tuned = prior + delta; a parameter that is absent was not tuned). ``DGPGenerator.from_params``
rebuilds a renderer from them, for jittering and morphing.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call

from ..encoders import resolve_encoder
from ..errors import GanpriorError
from ..losses import DiscriminatorFeatureLoss, frozen_eval
from ..tasks import Degradation
from ..presets import (DGP_ADAM_BETAS, DGP_LATENT_WEIGHT, DGP_NUM_CANDIDATES, DGP_SCHEDULES,
                       dgp_schedule_name)
from ..priors.base import Prior
from .base import PLATEAU_MIN_IMPROVEMENT, EarlyStop, Parameterization, ProgressCallback, Result, take_step
from .candidates import fence_samples, score_candidates
from .encoder_start import encoder_code

DELTA_PREFIX = "generator_delta."
# DGP ranks its candidate latents by the last three discriminator outputs
SELECTION_FEATURES = 3
LOSSES = ("discriminator", "mse", "perceptual")


# -- schedule ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DGPStage:
    """One stage of the progressive schedule (DGP script flag in brackets).

    Attributes:
        iterations: optimisation steps of the stage (``--iterations``).
        unfrozen_blocks: k, the first k generator blocks ``prior.blocks[:k]`` are tuned (``--ft_num``);
            clipped to the prior's block count. 0 tunes the latent only.
        generator_lr: Adam learning rate of the tuned blocks (``--G_lrs``).
        latent_lr: Adam learning rate of z (``--z_lrs``).
        block_lr_ratio: block i (0 = shallowest) learns at ``generator_lr * ratio**i`` (``--lr_ratio``).
        feature_weight: weight of the feature term, the discriminator-feature L1 by default (``--w_D_loss``).
        mse_weight: weight of the MSE between ``A(x)`` and ``y`` on the [-1, 1] scale, i.e. 4x the
            [0, 1] MSE, as DGP computes it (``--w_mse``).
        discriminator_features: compare the deepest n outputs of ``D.features`` (``--ftr_num``);
            entries that are not 4-D maps are skipped.
    """
    iterations: int
    unfrozen_blocks: int
    generator_lr: float
    latent_lr: float
    block_lr_ratio: float = 1.0
    feature_weight: float = 1.0
    mse_weight: float = 0.0
    discriminator_features: int = 8

    def __post_init__(self):
        if self.iterations < 0 or self.unfrozen_blocks < 0:
            raise GanpriorError(f"DGP stage needs iterations >= 0 and unfrozen_blocks >= 0, got {self}")
        if self.generator_lr < 0 or self.latent_lr < 0 or self.block_lr_ratio <= 0:
            raise GanpriorError(f"DGP stage learning rates must be >= 0 (ratio > 0), got {self}")
        if self.feature_weight < 0 or self.mse_weight < 0 or self.discriminator_features < 1:
            raise GanpriorError(f"DGP stage loss weights must be >= 0 and features >= 1, got {self}")


@dataclass(frozen=True)
class DGPSchedule:
    """Stages plus the std of the candidate latents (``--sample_std``) and where they come from."""
    stages: tuple[DGPStage, ...]
    candidate_std: float = 0.3
    source: str = "custom"

    @classmethod
    def preset(cls, name: str) -> "DGPSchedule":
        """The schedule of a task (``presets.DGP_SCHEDULES``: per-stage columns)."""
        if name not in DGP_SCHEDULES:
            raise GanpriorError(f"unknown DGP schedule {name!r}; choose from {', '.join(DGP_SCHEDULES)}")
        table = DGP_SCHEDULES[name]
        fields = [f for f in DGPStage.__dataclass_fields__ if f in table]
        n = len(table["iterations"])
        stages = tuple(DGPStage(**{f: table[f][i] for f in fields}) for i in range(n))
        return cls(stages, float(table["candidate_std"]), f"{name}: {table['source']}")

    @classmethod
    def coerce(cls, schedule, tasks: Sequence[str]) -> "DGPSchedule":
        """None (the task's preset), a preset name, a ``DGPSchedule``, or a list of stages / dicts."""
        if schedule is None:
            return cls.preset(dgp_schedule_name(list(tasks)))
        if isinstance(schedule, DGPSchedule):
            return schedule
        if isinstance(schedule, str):
            return cls.preset(schedule)
        stages = []
        for s in schedule:
            if isinstance(s, DGPStage):
                stages.append(s)
            elif isinstance(s, dict):
                unknown = set(s) - set(DGPStage.__dataclass_fields__)
                if unknown:
                    raise GanpriorError(f"unknown DGP stage setting(s) {', '.join(sorted(unknown))}; "
                                        f"choose from {', '.join(DGPStage.__dataclass_fields__)}")
                try:
                    stages.append(DGPStage(**s))
                except TypeError as e:
                    raise GanpriorError(f"bad DGP stage {s}: {e}") from None
            else:
                raise GanpriorError(f"a DGP stage must be a DGPStage or a dict, got {type(s).__name__}")
        if not stages:
            raise GanpriorError("a DGP schedule needs at least one stage")
        base = cls.preset(dgp_schedule_name(list(tasks)))
        return cls(tuple(stages), base.candidate_std, "custom")

    @property
    def total_steps(self) -> int:
        return sum(s.iterations for s in self.stages)

    def scaled_to(self, steps: int) -> "DGPSchedule":
        """The same stages with iterations rescaled to ``steps`` in total (cumulative rounding, so
        the total is exact; stages left with 0 iterations are dropped: ``steps=0`` leaves none)."""
        if steps < 0:
            raise GanpriorError(f"steps must be >= 0, got {steps}")
        total = self.total_steps
        stages, done, cum = [], 0, 0
        for s in self.stages:
            cum += s.iterations
            end = round(cum * steps / total)
            if end > done:
                stages.append(replace(s, iterations=end - done))
            done = max(done, end)
        return replace(self, stages=tuple(stages))

    def with_lr_scale(self, factor: float) -> "DGPSchedule":
        return replace(self, stages=tuple(replace(s, generator_lr=s.generator_lr * factor,
                                                  latent_lr=s.latent_lr * factor) for s in self.stages))

    def non_progressive(self) -> "DGPSchedule":
        """One stage of the same total length with the final stage's settings (its blocks from the start)."""
        return replace(self, stages=(replace(self.stages[-1], iterations=self.total_steps),))


# -- the parameterisation: per-image latents and per-image generator weights ---------------------


def block_parameter_names(prior: Prior, num_blocks: int) -> tuple[list[str], list[int]]:
    """Names (as in ``prior.named_parameters()``) of the parameters of ``prior.blocks[:num_blocks]``
    and the block index of each (a parameter shared by blocks belongs to the shallowest)."""
    try:
        blocks = prior.blocks
    except NotImplementedError:
        raise GanpriorError(f"prior {prior.name!r} does not list its generator blocks; DGP cannot tune it") from None
    name_of = {id(p): n for n, p in prior.named_parameters()}
    names, owners, seen = [], [], set()
    for k, block in enumerate(blocks[:num_blocks]):
        for p in block.parameters():
            if id(p) in seen or id(p) not in name_of:
                continue
            seen.add(id(p))
            names.append(name_of[id(p)])
            owners.append(k)
    return names, owners


class DGPGenerator(Parameterization):
    """x_b = G(z_b; theta + delta_b): per-image latents and per-image copies of the tuned blocks.

    Parameters: ``codes`` ``(B, *latent_shape)``; ``weights[i]`` ``(B, *shape)``, image b's copy of
    the prior parameter ``weight_names[i]`` (of block ``weight_blocks[i]``). ``forward()`` renders
    ``(B, C, R, R)`` in the prior's native range. Only blocks below ``unfrozen_blocks`` receive
    gradients; blocks never unfrozen render with the prior's own weights.

    Args:
        prior: the generator; used, never modified.
        codes: initial latents ``(B, *latent_shape)``.
        tuned_blocks: how many leading blocks get per-image copies.
        weights: optional per-image weights ``{name: (B, *shape)}`` to start from (``from_params``).
    """

    def __init__(self, prior: Prior, codes: torch.Tensor, tuned_blocks: int,
                 weights: dict[str, torch.Tensor] | None = None):
        super().__init__(prior, codes.shape[0])
        batch = codes.shape[0]
        self.num_blocks = len(prior.blocks)
        self.tuned_blocks = min(int(tuned_blocks), self.num_blocks)
        self.weight_names, self.weight_blocks = block_parameter_names(prior, self.tuned_blocks)
        base = dict(prior.named_parameters())
        self.codes = nn.Parameter(codes.detach().clone())
        stacked = []
        for name in self.weight_names:
            ref = base[name].detach()
            w = weights[name].to(ref) if weights is not None and name in weights else ref.expand(batch, *ref.shape)
            if w.shape != (batch, *ref.shape):
                raise GanpriorError(f"per-image weights of {name} must be {(batch, *ref.shape)}, got {tuple(w.shape)}")
            stacked.append(nn.Parameter(w.clone()))
        self.weights = nn.ParameterList(stacked)
        self.unfrozen_blocks = 0
        # blocks whose per-image copies may differ from the prior (unfrozen once, or loaded)
        self._touched = [weights is not None] * self.tuned_blocks

    # -- training state ------------------------------------------------------------------------
    def unfreeze(self, num_blocks: int) -> None:
        """Tune ``prior.blocks[:num_blocks]`` from now on (clipped to the copied blocks)."""
        self.unfrozen_blocks = min(int(num_blocks), self.tuned_blocks)
        for k in range(self.unfrozen_blocks):
            self._touched[k] = True

    def block_parameters(self, block: int) -> list[nn.Parameter]:
        return [w for w, k in zip(self.weights, self.weight_blocks) if k == block]

    # -- rendering ---------------------------------------------------------------------------------
    def _current_weights(self) -> dict[str, torch.Tensor]:
        out = {}
        for name, w, k in zip(self.weight_names, self.weights, self.weight_blocks):
            if self._touched[k]:
                out[name] = w if k < self.unfrozen_blocks else w.detach()
        return out

    def render(self, codes: torch.Tensor | None = None,
               weights: dict[str, torch.Tensor] | None = None,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images of per-image latents with per-image weights, native range.

        codes: ``(B, *latent_shape)`` -> ``(B, C, R, R)``, or ``(B, N, *latent_shape)`` (N codes per
        image, all with that image's weights) -> ``(B, N, C, R, R)``. Default: ``self.codes``.
        weights: ``{name: (B, *shape)}`` (default: this object's); names not given use the prior's.
        labels: class labels ``(N,)`` (``(1,)`` for ``(B, *latent_shape)`` codes), the same for every
            image: code n of each image is rendered as class ``labels[n]``, passed as the generator's
            ``labels=`` (class-conditional priors whose generator takes them: BigGAN, BigGAN-deep,
            conditional DCGAN). Default: the prior's ``class_index``.
        """
        codes = self.codes if codes is None else codes
        several = codes.ndim == len(self.prior.latent_shape) + 2
        per_image = codes if several else codes[:, None]
        batched = self._current_weights() if weights is None else weights
        shared = {n: p.detach() for n, p in self.prior.named_parameters() if n not in batched}
        prior = self.prior
        extra = {} if labels is None else {"labels": self._check_labels(labels, per_image.shape[1])}

        def one_image(own: dict[str, torch.Tensor], image_codes: torch.Tensor) -> torch.Tensor:
            # labels are closed over, not mapped: every image sees the same (N,) labels
            return functional_call(prior, {**shared, **own}, (image_codes,), extra)

        with frozen_eval(prior):  # BatchNorm on running statistics; no gradient into the prior
            out = torch.vmap(one_image, randomness="different")(batched, per_image)
        return out if several else out[:, 0]

    def _check_labels(self, labels: torch.Tensor, num_codes: int) -> torch.Tensor:
        prior = self.prior
        if not prior.num_classes:
            raise GanpriorError(f"prior {prior.name!r} is not class-conditional; it takes no labels")
        if "labels" not in inspect.signature(prior.forward).parameters:
            raise GanpriorError(f"prior {prior.name!r} ({prior.family}) takes its class only through "
                                "class_index, not as per-sample labels")
        labels = torch.as_tensor(labels, device=self.codes.device)
        if labels.shape[:1] != (num_codes,):
            raise GanpriorError(f"labels must have one entry per code of an image ({num_codes}), "
                                f"got shape {tuple(labels.shape)}")
        return labels

    def forward(self) -> torch.Tensor:
        return self.render()

    # -- results and editing -------------------------------------------------------------------
    def deltas(self) -> dict[str, torch.Tensor]:
        """``{name: (B, *shape)}``: fine-tuned minus the prior's weights, detached."""
        base = dict(self.prior.named_parameters())
        return {n: (w - base[n]).detach().clone() for n, w in zip(self.weight_names, self.weights)}

    def state(self) -> dict[str, torch.Tensor]:
        """``codes`` and ``generator_delta.<name>`` per tuned parameter (see the module docstring)."""
        out = {"codes": self.codes.detach().clone()}
        out.update({DELTA_PREFIX + n: d for n, d in self.deltas().items()})
        return out

    @classmethod
    def from_params(cls, prior: Prior, params: dict[str, torch.Tensor]) -> "DGPGenerator":
        """Rebuild from ``Result.params`` of a DGP run (possibly concatenated over batches)."""
        if "codes" not in params:
            raise GanpriorError("DGP parameters need 'codes'")
        base = dict(prior.named_parameters())
        deltas = {k[len(DELTA_PREFIX):]: v for k, v in params.items() if k.startswith(DELTA_PREFIX)}
        unknown = [n for n in deltas if n not in base]
        if unknown:
            raise GanpriorError(f"DGP parameters name weights the prior does not have: {', '.join(unknown[:3])}")
        names, owners = block_parameter_names(prior, len(prior.blocks))
        block_of = dict(zip(names, owners))
        tuned = 1 + max((block_of.get(n, -1) for n in deltas), default=-1)
        device = prior.device
        weights = {n: base[n].detach() + d.to(device) for n, d in deltas.items()}
        param = cls(prior, params["codes"].to(device), tuned, weights)
        for p in param.parameters():
            p.requires_grad_(False)
        return param

    def jitter(self, std: float, num_samples: int, seed: int = 0) -> torch.Tensor:
        """DGP's random jittering: ``(B, N, C, R, R)`` in [0, 1], each image rendered from its own
        weights at ``z* + std * n``, n ~ N(0, I) (the same N noise draws for every image)."""
        if num_samples < 1 or std < 0:
            raise GanpriorError(f"jitter needs num_samples >= 1 and std >= 0, got {num_samples}, {std}")
        noise = torch.randn((num_samples, *self.codes.shape[1:]), generator=torch.Generator().manual_seed(seed))
        codes = self.codes.detach()[:, None] + std * noise.to(self.codes)
        with torch.no_grad():
            return self.prior.to_unit(self.render(codes)).clamp(0, 1)

    def morph(self, first: int, second: int, fractions: Sequence[float] | torch.Tensor) -> torch.Tensor:
        """DGP's image morphing: ``(T, C, R, R)`` in [0, 1] rendered from ``(1 - t) * a + t * b`` of
        both the latents and the generator weights of images ``first`` and ``second``."""
        t = torch.as_tensor(fractions, dtype=self.codes.dtype, device=self.codes.device).flatten()
        for i in (first, second):
            if not -self.batch_size <= i < self.batch_size:
                raise GanpriorError(f"image index {i} is out of range for a batch of {self.batch_size}")

        def lerp(x: torch.Tensor) -> torch.Tensor:
            a, b = x[first].detach(), x[second].detach()
            shape = (-1,) + (1,) * a.ndim
            return a + t.view(shape) * (b - a)

        weights = {n: lerp(w) for n, w in zip(self.weight_names, self.weights)}
        with torch.no_grad():
            return self.prior.to_unit(self.render(lerp(self.codes), weights)).clamp(0, 1)


# -- objective -----------------------------------------------------------------------------------


def _native_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image MSE on the [-1, 1] scale (4x the [0, 1] MSE), the scale of DGP's ``--w_mse``."""
    return 4 * (pred - target).flatten(1).pow(2).mean(dim=1)


class DGPObjective:
    """The per-image DGP loss of a stage::

        feature_weight * feature(A(x), y) + mse_weight * MSE_[-1,1](A(x), y) + latent_weight * mean(z**2) / 2

    ``loss`` picks the feature term: ``discriminator`` (DGP: D-feature L1 over the stage's
    ``discriminator_features`` deepest outputs), ``mse`` (pixel MSE on the [-1, 1] scale),
    ``perceptual`` (VGG16 conv4_3 L1, ``ganprior.perceptual.PerceptualLoss``), or a per-image
    callable ``(pred, target) -> (B,)``.
    """

    def __init__(self, prior: Prior, loss: str | Callable = "discriminator", latent_weight: float = DGP_LATENT_WEIGHT):
        self.prior = prior
        self.latent_weight = float(latent_weight)
        if self.latent_weight < 0:
            raise GanpriorError(f"latent weight must be >= 0, got {latent_weight}")
        self._by_count: dict[int, DiscriminatorFeatureLoss] = {}
        self._term: Callable | None = None
        if callable(loss) and not isinstance(loss, str):
            self.kind, self._term = "custom", loss
        elif loss == "discriminator":
            if getattr(prior, "discriminator", None) is None:
                raise GanpriorError(f"prior {prior.name!r} has no discriminator for DGP's feature loss; "
                                    "use --dgp-loss mse (loss='mse') or a prior that ships one")
            self.kind = "discriminator"
        elif loss == "mse":
            self.kind, self._term = "mse", _native_mse
        elif loss == "perceptual":
            from ..perceptual import PerceptualLoss
            self.kind, self._term = "perceptual", PerceptualLoss().to(prior.device)
        else:
            raise GanpriorError(f"unknown DGP loss {loss!r}; choose from {', '.join(LOSSES)}")

    def discriminator_loss(self, count: int) -> DiscriminatorFeatureLoss:
        if count not in self._by_count:
            self._by_count[count] = DiscriminatorFeatureLoss(
                self.prior.discriminator, DiscriminatorFeatureLoss.deepest(count), resolution=self.prior.resolution)
        return self._by_count[count]

    def feature_term(self, stage: DGPStage) -> Callable:
        if self.kind == "discriminator":
            return self.discriminator_loss(min(stage.discriminator_features, self._num_d_outputs()))
        return self._term

    def _num_d_outputs(self) -> int:
        if not hasattr(self, "_d_outputs"):
            with torch.no_grad(), frozen_eval(self.prior.discriminator):
                probe = torch.zeros(1, self.prior.channels, self.prior.resolution, self.prior.resolution,
                                    device=self.prior.device)
                self._d_outputs = len(self.prior.discriminator.features(probe))
        return self._d_outputs

    def __call__(self, stage: DGPStage, pred: torch.Tensor, target: torch.Tensor,
                 codes: torch.Tensor) -> torch.Tensor:
        loss = torch.zeros(pred.shape[0], device=pred.device, dtype=pred.dtype)
        if stage.feature_weight:
            loss = loss + stage.feature_weight * self.feature_term(stage)(pred, target)
        if stage.mse_weight:
            loss = loss + stage.mse_weight * _native_mse(pred, target)
        if self.latent_weight:
            loss = loss + self.latent_weight * codes.flatten(1).pow(2).mean(dim=1) / 2
        return loss

    def candidate_distances(self, observed: torch.Tensor, target: torch.Tensor, paired: bool) -> torch.Tensor:
        """``(B, C)`` distance of every target to every candidate's observation.

        ``observed``: ``(C, ...)`` when the forward model is shared by the batch, else ``(C * B, ...)``
        with row ``c * B + b`` = candidate c seen through image b's forward model (``paired``).
        """
        b = target.shape[0]
        with torch.no_grad():
            if self.kind == "discriminator":
                crit = self.discriminator_loss(min(SELECTION_FEATURES, self._num_d_outputs()))
                if not paired:
                    return crit.pairwise(observed, target)
                fp = [f.unflatten(0, (-1, b)) for f in crit.features(observed)]
                return crit.distance(fp, crit.features(target)).T
            term = self._term
            if not paired:
                c = observed.shape[0]
                return torch.stack([term(observed, target[i:i + 1].expand(c, *target.shape[1:])) for i in range(b)])
            reps = observed.shape[0] // b
            return term(observed, target.repeat(reps, *([1] * (target.ndim - 1)))).view(reps, b).T


# -- initial latent ----------------------------------------------------------------------------


def _candidate_codes(prior: Prior, num: int, std: float, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if getattr(prior, "latent_space", "z") != "z":
        return prior.sample_latent(num, gen)  # w / w+: the prior's own samples (std applies to z only)
    return (torch.randn((num, *prior.latent_shape), generator=gen) * std).to(prior.device)


def select_initial_codes(prior: Prior, y: torch.Tensor, degradation: Degradation, objective: DGPObjective, *,
                         num_candidates: int = DGP_NUM_CANDIDATES, candidate_std: float = 0.3, seed: int = 0,
                         chunk_size: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    """DGP's initial z: per image, the candidate whose rendering, degraded by the forward model,
    is closest to the observation (discriminator features of the deepest three outputs, or the
    chosen loss term). Every image draws from the same seeded pool, in chunks of ``chunk_size``.

    Returns (codes ``(B, *latent_shape)``, distances ``(B, num_candidates)``). With 0 candidates
    z = 0; with 1, the single draw.
    """
    b = y.shape[0]
    if num_candidates < 0:
        raise GanpriorError(f"number of candidates must be >= 0, got {num_candidates}")
    if num_candidates == 0:
        return torch.zeros((b, *prior.latent_shape), device=prior.device), torch.zeros(b, 0)
    pool = _candidate_codes(prior, num_candidates, candidate_std, seed)
    if num_candidates == 1:
        return pool.expand(b, *pool.shape[1:]).clone(), torch.zeros(b, 1)
    distances = score_candidates(prior, pool, y, degradation, objective.candidate_distances, chunk_size)
    best = distances.argmin(dim=1)
    return pool[best].clone(), distances.cpu()


# -- the solver ------------------------------------------------------------------------------------


def invert_dgp(y: torch.Tensor, degradation: Degradation, prior: Prior, *, schedule=None,
               loss: str | Callable = "discriminator", progressive: bool = True,
               num_candidates: int = DGP_NUM_CANDIDATES, candidate_std: float | None = None,
               latent_weight: float = DGP_LATENT_WEIGHT, steps: int | None = None, lr: float | None = None,
               seed: int = 0, candidate_chunk: int = 50, callback: ProgressCallback | None = None,
               stop_mse: float | None = None, patience: int | None = None,
               min_improvement: float = PLATEAU_MIN_IMPROVEMENT, latent_init: str | None = None,
               encoder=None) -> Result:
    """Invert observations ``y`` with DGP: optimise z and the generator weights, per image.

    Args:
        y: observations ``(B, c, s, s)`` as produced by ``degradation.A`` (in [0, 1] up to noise).
        schedule: None (the task's preset from ``presets.DGP_SCHEDULES``; a chain takes the first
            of inpaint, colorize, super-resolve, denoise, reconstruct), a preset name, a
            ``DGPSchedule``, or a list of ``DGPStage`` / dicts of its fields.
        loss: feature term: ``discriminator`` (DGP), ``mse``, ``perceptual``, or a per-image
            callable ``(pred, target) -> (B,)`` (see ``DGPObjective``).
        progressive: False tunes the final stage's blocks from the first step, with the final
            stage's settings, for the schedule's total length (the paper's ablation).
        num_candidates: random latents to pick the initial z from (DGP ``--select_num``).
        candidate_std: std of those latents (default: the schedule's ``--sample_std``).
        latent_weight: weight of mean(z**2) / 2 (DGP ``--w_nll``).
        steps: total iterations; the schedule's stages are rescaled to it (default: the schedule's own).
        lr: the first stage's generator learning rate; every learning rate of the schedule is scaled
            by the same factor, keeping the ramp's shape (default: the schedule's own).
        seed: seeds the candidate pool (every image draws from the same pool).
        candidate_chunk: candidates rendered per batched forward during selection.
        callback: ``callback(step, total, per_image_loss (B,), images in [0, 1])`` after every step.
        stop_mse: stop each image once the MSE between ``A(x)`` and ``y`` ([0, 1] scale) falls below
            it: DGP's adversarial defense, 5e-3 (``Result.stopped_at``; the run ends when all stopped).
        patience, min_improvement: stop each image once its loss improved by less than
            ``min_improvement`` (relative) over its last ``patience`` steps (``invert``).
        latent_init: ``best`` (None: DGP's own start, the best of ``num_candidates`` random latents)
            or ``encoder``: z starts at the code an image encoder gives the observation mapped back
            to an image (``encoder_start``), and no candidate is scored, which is the point of it:
            the 500 candidates cost as much as many optimisation steps.
        encoder: with ``latent_init="encoder"``, an ``encoders.ImageEncoder`` or a file (default:
            the one shipped for the prior).
        steps: 0 runs no step: the result is the start's image.

    Returns: a ``Result``; ``params`` holds ``codes`` and the per-image weight deltas
    (``generator_delta.<name>``), ``parameterization`` the ``DGPGenerator`` (``render``, ``jitter``, ``morph``).
    """
    t0 = time.perf_counter()
    plan = DGPSchedule.coerce(schedule, degradation.tasks)
    if candidate_std is not None:
        if candidate_std < 0:
            raise GanpriorError(f"candidate std must be >= 0, got {candidate_std}")
        plan = replace(plan, candidate_std=float(candidate_std))
    if plan.total_steps < 1:
        raise GanpriorError("the DGP schedule has no iterations")
    if not progressive:
        plan = plan.non_progressive()
    if steps is not None:
        plan = plan.scaled_to(int(steps))
    if lr is not None and plan.stages:
        first = plan.stages[0].generator_lr or plan.stages[0].latent_lr
        if not lr > 0 or not first > 0:
            raise GanpriorError(f"learning rate must be > 0, got {lr}")
        plan = plan.with_lr_scale(float(lr) / first)
    stages = [s for s in plan.stages if s.iterations > 0]
    if y.ndim != 4:
        raise GanpriorError(f"observations must be (B, C, H, W), got {tuple(y.shape)}")
    if not torch.isfinite(y).all():
        raise GanpriorError("observations hold NaN or infinite values")
    y = y.to(prior.device)
    with torch.no_grad():
        probe = degradation.A(torch.zeros(1, prior.channels, prior.resolution, prior.resolution, device=y.device))
    if probe.shape[1:] != y.shape[1:]:
        raise GanpriorError(f"observations are {tuple(y.shape[1:])}, the degradation expects {tuple(probe.shape[1:])}")
    objective = DGPObjective(prior, loss, latent_weight)
    if latent_init not in (None, "best", "encoder"):
        raise GanpriorError(f"method dgp starts from the best of its candidates (latent_init best, its default) "
                            f"or from an encoder (encoder), not {latent_init!r}")
    if encoder is not None and latent_init != "encoder":
        raise GanpriorError("an encoder applies with latent_init='encoder'")
    if latent_init == "encoder":
        codes = encoder_code(resolve_encoder(encoder, prior), y, degradation, prior)
    else:
        codes, _ = select_initial_codes(prior, y, degradation, objective, num_candidates=num_candidates,
                                        candidate_std=plan.candidate_std, seed=seed, chunk_size=candidate_chunk)
    num_blocks = len(prior.blocks)
    tuned = max((min(s.unfrozen_blocks, num_blocks) for s in stages), default=0)
    param = DGPGenerator(prior, codes, tuned)
    # one group for z, one per block: a stage sets their rates (0 for blocks it keeps frozen)
    group_blocks = [k for k in range(tuned) if param.block_parameters(k)]  # blocks with weights
    groups = [{"params": [param.codes], "lr": 0.0}]
    groups += [{"params": param.block_parameters(k), "lr": 0.0} for k in group_blocks]
    optimizer = torch.optim.Adam(groups, betas=DGP_ADAM_BETAS, eps=1e-8)

    total = sum(s.iterations for s in stages)
    history = torch.empty(total, y.shape[0])
    stop = EarlyStop(stop_mse, y, degradation.A, patience, min_improvement)
    step, finished = 0, False
    for stage in stages:
        if finished:
            break
        k = min(stage.unfrozen_blocks, num_blocks)
        param.unfreeze(k)
        optimizer.param_groups[0]["lr"] = stage.latent_lr
        for block, group in zip(group_blocks, optimizer.param_groups[1:]):
            group["lr"] = stage.generator_lr * stage.block_lr_ratio ** block if block < k else 0.0

        def render_and_score(stage=stage):
            x = prior.to_unit(param())
            return x, objective(stage, degradation.A(x), y, param.codes)

        for _ in range(stage.iterations):
            x = take_step(optimizer, render_and_score, step, history, callback,
                          hint="lower the learning rates or check the input")
            step += 1
            if stop.update(step - 1, x, history):
                finished = True
                break
    for p in param.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        raw = stop.finish(prior.to_unit(param()).clamp(0, 1))
    samples = fence_samples(prior, y, degradation, seed=seed)  # from the prior as given, not the tuned one
    images = degradation.postprocess(raw, y, color_space="lab", samples=samples).clamp(0, 1)
    return Result(images=images.cpu(), raw=raw.cpu(), observed=y.cpu(), params=param.state(),
                  history=history[:step], seconds=time.perf_counter() - t0, steps=step,
                  parameterization=param, stopped_at=stop.result_field)


__all__ = ["DGPStage", "DGPSchedule", "DGPGenerator", "DGPObjective", "DiscriminatorFeatureLoss",
           "invert_dgp", "select_initial_codes", "block_parameter_names"]
