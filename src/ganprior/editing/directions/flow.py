"""The non-linear kind: an MLP attribute model on latent codes, and edits that follow the gradient
flow of its logit.

A linear (InterFaceGAN) boundary moves every code along one fixed normal. When an attribute is not
linearly separable in the latent space, the best way to change it depends on where the code is. Here
a small MLP ``f`` predicts the attribute's logit from a code, and an edit of strength ``s`` follows
its normalised gradient:

    dz/dt = sign(s) * g(z) / ||g(z)||,   g = grad_z f,   t from 0 to |s|,

integrated with Euler steps of ``step`` (the last one shorter, to land on ``|s|``). ``|s|`` is the length of the path in latent space,
so strengths mean the same distance as a step along a unit linear direction, and strength 0 is the
code itself.

* Conditioning (InterFaceGAN's conditional manipulation, at every point of the path): the
  gradients of other attributes' models are projected out of ``g``, so the flow leaves their logits
  unchanged to first order. A linear ``Direction`` can be a condition (its normal is its gradient).
* ``keep_norm``: the radial part of ``g`` is removed too and each step is rescaled to the start
  norm, so the code stays on its shell (``||z||`` of a Gaussian code is nearly constant).

A ``FlowDirection`` is accepted wherever a ``Direction`` is: ``edit_frames`` moves each code (every
code of a multi-code result) along its own path, ``resolve_direction`` / ``load_direction`` read its
``.npz`` file (``meta`` format ``"ganprior-flow-direction"``), and ``ganprior edit --direction`` uses
it. Weights are stored as float16; a ``FlowDirection`` rounds its models to float16 when built, so a
saved and reloaded one edits exactly as the original.
"""

from __future__ import annotations

import dataclasses
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ...errors import GanpriorError
from ...io import atomic_write
from ...priors.base import Prior
from .base import SPACES, Direction, check_code_space, check_fits, shape_text
from .labels import label_targets, labelled_codes
from .records import StoredFile, read_error, record_text

FORMAT = "ganprior-flow-direction"
FORMAT_VERSION = 1
DEFAULT_STEP = 0.1
DEFAULT_HIDDEN = (256, 256)
_TINY = 1e-12


# -- the attribute model ------------------------------------------------------------------------

class AttributeMLP(nn.Module):
    """``logit(x) = MLP((flatten(x) - mean) / scale)`` with SiLU hidden layers (smooth, so the
    gradient field is continuous); ``hidden=()`` is a linear model ``<w, x> + b``."""

    def __init__(self, dim: int, hidden: Sequence[int] = DEFAULT_HIDDEN):
        super().__init__()
        self.dim, self.hidden = int(dim), tuple(int(h) for h in hidden)
        if self.dim < 1 or any(h < 1 for h in self.hidden):
            raise GanpriorError(f"an attribute model needs positive sizes, got input {dim} and hidden {tuple(hidden)}")
        layers: list[nn.Module] = []
        width = self.dim
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.SiLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.register_buffer("mean", torch.zeros(self.dim))
        self.register_buffer("scale", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, ...)`` codes with ``dim`` values each -> ``(B,)`` logits."""
        return self.net((x.reshape(x.shape[0], -1) - self.mean) / self.scale).squeeze(1)

    @classmethod
    def linear(cls, direction: Direction) -> "AttributeMLP":
        """A linear direction's boundary as a model: logit ``<vector, x> + offset``."""
        v = direction.vector.reshape(-1).float()
        model = cls(v.numel(), ())
        with torch.no_grad():
            model.net[0].weight.copy_(v[None])
            model.net[0].bias.fill_(float(direction.offset))
        return model


def _frozen_half(model: AttributeMLP) -> AttributeMLP:
    """``model`` in eval mode without gradients, its parameters rounded to float16 precision (the
    precision it is saved in), float32 on the CPU."""
    model = model.to("cpu", torch.float32).eval().requires_grad_(False)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    return model


def _gradient(model: nn.Module, z: torch.Tensor) -> torch.Tensor:
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        return torch.autograd.grad(model(z).sum(), z)[0]


def _project_out(g: torch.Tensor, basis: list[torch.Tensor]) -> torch.Tensor:
    for b in basis:
        g = g - (g * b).sum(1, keepdim=True) * b
    return g


def _unit_rows(g: torch.Tensor) -> torch.Tensor:
    n = g.norm(dim=1, keepdim=True)
    return torch.where(n > _TINY, g / n.clamp(min=_TINY), torch.zeros_like(g))


# -- the flow direction -------------------------------------------------------------------------

@dataclass(eq=False)
class FlowDirection:
    """An attribute edit along the gradient flow of an MLP attribute model (see the module doc).

    Args:
        name: display / file name (``"gender"``).
        model: the attribute's ``AttributeMLP`` (logit > 0: the positive class).
        shape: the latent shape of one code (the prior's ``latent_shape`` in ``space``).
        space: ``"z"``, ``"w"`` or ``"w+"``.
        accuracy: the model's held-out accuracy (None without a held-out set).
        step: the largest Euler step (a distance in latent space).
        keep_norm: keep each code at its starting norm along the path.
        conditions: ``{name: model}`` of attributes whose gradients are projected out at every step.
        meta: JSON-able details (prior, labels, training).
    """

    name: str
    model: AttributeMLP
    shape: tuple
    space: str = "z"
    accuracy: float | None = None
    step: float = DEFAULT_STEP
    keep_norm: bool = False
    conditions: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    source: str = "supervised"
    kind = "flow"

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise GanpriorError(f"direction {self.name!r}: unknown latent space {self.space!r}; "
                                f"choose one of {', '.join(SPACES)}")
        self.shape = tuple(int(s) for s in self.shape)
        dim = math.prod(self.shape)
        step = self.step
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not (math.isfinite(step) and step > 0):
            raise GanpriorError(f"direction {self.name!r}: the flow step must be a finite number > 0, got {step!r}")
        self.step = float(step)
        self.keep_norm = bool(self.keep_norm)
        for what, m in (("model", self.model), *((f"condition {k!r}", c) for k, c in self.conditions.items())):
            if not isinstance(m, AttributeMLP):
                raise GanpriorError(f"direction {self.name!r}: the {what} must be an AttributeMLP, "
                                    f"got {type(m).__name__}")
            if m.dim != dim:
                raise GanpriorError(f"direction {self.name!r}: the {what} reads {m.dim} values, but codes of "
                                    f"shape {shape_text(self.shape)} have {dim}")
        self.model = _frozen_half(self.model)
        self.conditions = {str(k): _frozen_half(c) for k, c in self.conditions.items()}
        for what, m in (("model", self.model), *((f"condition {k!r}", c) for k, c in self.conditions.items())):
            if not all(bool(torch.isfinite(t).all()) for t in (*m.parameters(), *m.buffers())):
                raise GanpriorError(f"direction {self.name!r}: the {what} has NaN or infinite weights "
                                    "(float16 holds values up to 65504)")
        self.accuracy = None if self.accuracy is None else float(self.accuracy)
        self.meta = dict(self.meta or {})

    # -- checks ---------------------------------------------------------------------------------

    def check(self, prior: Prior) -> "FlowDirection":
        """Raise ``GanpriorError`` unless the prior's active space and code shape are the flow's."""
        check_code_space(self.name, "flow", self.space, self.shape, prior)
        return self

    def _flat(self, codes: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        codes = torch.as_tensor(codes)
        n = len(self.shape)
        if codes.ndim < n or tuple(codes.shape[codes.ndim - n:]) != self.shape:
            raise GanpriorError(f"direction {self.name!r} moves codes of shape (..., {', '.join(map(str, self.shape))}), "
                                f"got {shape_text(codes.shape)}")
        lead = tuple(codes.shape[:codes.ndim - n])
        return codes.reshape(-1, math.prod(self.shape)), lead

    # -- the model and its field ----------------------------------------------------------------

    def logit(self, codes: torch.Tensor) -> torch.Tensor:
        """The attribute model's logit of each code: ``(..., *shape)`` -> ``(...)``."""
        flat, lead = self._flat(codes)
        model = self.model.to(flat.device)
        with torch.no_grad():
            return model(flat.float()).reshape(lead)

    def field(self, codes: torch.Tensor) -> torch.Tensor:
        """The unit tangent of the flow at each code, ``(..., *shape)``: the logit gradient with the
        conditions' gradients (and, with ``keep_norm``, the radial part) projected out; zero where
        nothing is left."""
        flat, lead = self._flat(codes)
        return self._field(flat.float()).reshape(*lead, *self.shape).to(torch.as_tensor(codes).dtype)

    def _field(self, z: torch.Tensor) -> torch.Tensor:
        g = _gradient(self.model.to(z.device), z)
        basis: list[torch.Tensor] = []
        if self.keep_norm:
            basis.append(_unit_rows(z))
        for c in self.conditions.values():
            u = _project_out(_gradient(c.to(z.device), z), basis)
            basis.append(_unit_rows(u))
        return _unit_rows(_project_out(g, basis))

    def move(self, codes: torch.Tensor, strengths: Sequence[float] | torch.Tensor) -> torch.Tensor:
        """Each code moved along its own path for each strength: ``(K, *codes.shape)``.

        ``codes`` is ``(..., *shape)``; a positive strength raises the attribute's logit, a negative
        one lowers it, ``|s|`` is the path length. Euler steps of ``step`` on a fixed grid, plus one
        shorter step to land on ``|s|``: all strengths of one sign share one integration, frames at
        growing strengths lie on the same path, and a frame does not depend on which other
        strengths are asked for. Strength 0 returns the codes unchanged.
        """
        flat, _ = self._flat(codes)
        codes = torch.as_tensor(codes)
        try:
            s = torch.as_tensor(strengths, dtype=torch.float64).flatten()
        except (TypeError, ValueError, RuntimeError):
            raise GanpriorError(f"strengths must be a list of numbers, got {strengths!r}") from None
        if s.numel() == 0 or not bool(torch.isfinite(s).all()):
            raise GanpriorError(f"strengths must be a non-empty list of finite numbers, got {strengths!r}")
        z0 = flat.detach().float()
        radius = z0.norm(dim=1, keepdim=True)
        out = z0[None].repeat(s.numel(), 1, 1)
        for sign in (1.0, -1.0):
            wanted = sorted((float(v) * sign, k) for k, v in enumerate(s.tolist()) if v * sign > 0)
            z, done = z0.clone(), 0  # the path at t = done * step
            for target, k in wanted:
                # whole steps on a fixed grid, then one partial step that the path does not keep:
                # the frame at s is the same whatever other strengths are asked for
                while (done + 1) * self.step <= target * (1 + 1e-9):
                    z, done = self._euler(z, self.step, sign, radius), done + 1
                rest = target - done * self.step
                out[k] = self._euler(z, rest, sign, radius) if rest > 1e-9 * max(target, 1.0) else z
        return out.reshape(s.numel(), *codes.shape).to(codes.dtype)

    def _euler(self, z: torch.Tensor, h: float, sign: float, radius: torch.Tensor) -> torch.Tensor:
        z = z + sign * h * self._field(z)
        if self.keep_norm:
            z = z * (radius / z.norm(dim=1, keepdim=True).clamp(min=_TINY))
        return z

    # -- saving ---------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """Everything but the weights, JSON-able."""
        return {"format": FORMAT, "version": FORMAT_VERSION, "name": self.name, "space": self.space,
                "source": self.source, "accuracy": self.accuracy, "shape": list(self.shape), "step": self.step,
                "keep_norm": self.keep_norm, "hidden": list(self.model.hidden),
                "conditions": [{"name": k, "hidden": list(c.hidden)} for k, c in self.conditions.items()],
                "meta": self.meta}

    def save(self, path: str | os.PathLike) -> Path:
        """Write a ``.npz``: ``meta`` (a JSON string) and the models' tensors (weights float16,
        input statistics float32), as ``model.*`` and ``condition{i}.*``; atomically."""
        arrays = {"meta": np.array(record_text(self.name, self.to_dict()))}
        for prefix, m in (("model", self.model), *((f"condition{i}", c) for i, c in enumerate(self.conditions.values()))):
            for key, t in m.state_dict().items():
                t = t.detach().cpu()
                arrays[f"{prefix}.{key}"] = (t.half() if key.startswith("net.") else t.float()).numpy()
        return atomic_write(path, lambda f: np.savez(f, **arrays))


def _model_from(npz, prefix: str, dim: int, hidden, path: Path) -> AttributeMLP:
    try:
        model = AttributeMLP(dim, hidden)
    except (TypeError, ValueError) as e:
        raise GanpriorError(f"{path}: bad model sizes in its metadata ({e})") from None
    state = {}
    for key, t in model.state_dict().items():
        name = f"{prefix}.{key}"
        if name not in npz.files:
            raise GanpriorError(f"{path} is not a complete flow direction: entry {name!r} is missing")
        a = np.asarray(npz[name])
        if not np.issubdtype(a.dtype, np.floating) or a.shape != tuple(t.shape):
            raise GanpriorError(f"{path}: entry {name!r} has shape {shape_text(a.shape)} and dtype {a.dtype}, "
                                f"expected float {shape_text(t.shape)}")
        state[key] = torch.from_numpy(a.astype(np.float32))
    model.load_state_dict(state)
    return model


def flow_from_npz(npz, info: dict, path: Path) -> FlowDirection:
    """A ``FlowDirection`` from an open ``.npz`` and its parsed ``meta`` (``load_direction`` calls this)."""
    try:
        shape = tuple(int(v) for v in info["shape"])
        hidden = [int(h) for h in info.get("hidden", DEFAULT_HIDDEN)]
        specs = [(str(c["name"]), [int(h) for h in c.get("hidden", ())]) for c in info.get("conditions", [])]
        step, keep_norm = info.get("step", DEFAULT_STEP), bool(info.get("keep_norm", False))
    except (KeyError, TypeError, ValueError):
        raise GanpriorError(f"{path}: its flow-direction metadata is incomplete (shape, hidden, conditions)") from None
    dim = math.prod(shape)
    try:
        model = _model_from(npz, "model", dim, hidden, path)
        conditions = {name: _model_from(npz, f"condition{i}", dim, h, path) for i, (name, h) in enumerate(specs)}
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise read_error(path, e) from None
    return FlowDirection(name=str(info.get("name", path.stem)), model=model, shape=shape,
                         space=str(info.get("space", "z")), accuracy=info.get("accuracy"), step=step,
                         keep_norm=keep_norm, conditions=conditions, meta=dict(info.get("meta") or {}),
                         source=str(info.get("source", "supervised")))


def holds_flow(stored: StoredFile) -> bool:
    """Whether the file is an archive ``FlowDirection.save`` wrote: a flow record, no ``vector``."""
    return "vector" not in stored.files and stored.format() == FORMAT


def load_flow(stored: StoredFile, prior: Prior | None = None) -> FlowDirection:
    """The ``FlowDirection`` in an archive, checked against ``prior`` if given."""
    flow = flow_from_npz(stored.content, stored.record(), stored.path)
    if prior is not None:
        check_fits(flow, prior)
    return flow


# -- conditioning and fitting -------------------------------------------------------------------

def conditional_flow(flow: FlowDirection, *conditions: FlowDirection | Direction,
                     name: str | None = None) -> FlowDirection:
    """``flow`` whose path keeps the conditions' logits (to first order) at every step: their
    gradients are projected out of the flow's (an MLP condition's gradient varies along the path, a
    linear ``Direction``'s is its normal). Conditions replace any the flow had; ``meta
    ["conditioned_on"]`` lists them."""
    if not conditions:
        raise GanpriorError("a conditional flow needs at least one condition")
    models = {}
    for c in conditions:
        if c.space != flow.space or math.prod(tuple(c.shape)) != math.prod(flow.shape):
            raise GanpriorError(f"condition {c.name!r} ({c.space}, shape {shape_text(c.shape)}) does not match "
                                f"direction {flow.name!r} ({flow.space}, shape {shape_text(flow.shape)})")
        if c.name in models:
            raise GanpriorError(f"two conditions are named {c.name!r}")
        models[c.name] = c.model if isinstance(c, FlowDirection) else AttributeMLP.linear(c)
    meta = {**flow.meta, "conditioned_on": list(models)}
    return dataclasses.replace(flow, name=name or flow.name, conditions=models, meta=meta)


def _float_array(values, what: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double()
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise GanpriorError(f"{what} must be numbers") from None


def fit_flow_direction(codes, labels, *, name: str, attribute_kind: str = "binary",
                       thresholds: tuple[float, float] | None = None, scores=None, score_center: float | None = None,
                       hidden: Sequence[int] = DEFAULT_HIDDEN, epochs: int = 40, batch: int = 256, lr: float = 1e-3,
                       weight_decay: float = 1e-2, holdout_fraction: float = 0.2, seed: int = 0, space: str = "z",
                       step: float = DEFAULT_STEP, keep_norm: bool = False, meta: dict | None = None) -> FlowDirection:
    """Fit an MLP attribute model on labelled codes (AdamW, cosine schedule) and return its
    ``FlowDirection``.

    The labels, their rules (``binary`` 0/1, ``ordinal`` with ``thresholds``) and the seeded held-out
    split are ``fit_direction``'s (``labels.labelled_codes``), so ``accuracy`` (the sign of the
    model's logit against the class, on the held-out codes) is measured on the same codes as a linear
    boundary fitted with the same seed. Deterministic for a seed.

    * Without ``scores``: binary cross-entropy on the classes (each class weighted equally).
    * With ``scores`` ``(M,)``: regression (mean squared error) of the continuous score the labels come
      from, e.g. a classifier's logit (binary labels: score > ``score_center``, default 0) or an age
      (ordinal: the labels themselves may be the scores; ``score_center`` defaults to the middle of
      the thresholds). The logit is the predicted score minus the centre, in units of the scores'
      standard deviation. Regression keeps how far a code is from the boundary, also for codes far
      from it and (ordinal) for the codes between the thresholds, which are used for training.
    """
    for what, value, low in (("epochs", epochs, 1), ("batch", batch, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise GanpriorError(f"{what} must be an integer >= {low}, got {value!r}")
    if not (math.isfinite(lr) and lr > 0 and math.isfinite(weight_decay) and weight_decay >= 0):
        raise GanpriorError(f"lr must be > 0 and weight_decay >= 0, got {lr!r} and {weight_decay!r}")
    x, y, info, code_shape, train, test = labelled_codes(codes, labels, attribute_kind, thresholds, space,
                                                         holdout_fraction, seed)
    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y).float()
    if scores is None:
        inputs, target, fit_rows = xt, yt, torch.from_numpy(train)
        positive = float(yt[fit_rows].mean())
        weights = torch.where(yt > 0.5, 0.5 / max(positive, _TINY), 0.5 / max(1 - positive, _TINY))
    else:
        values = _float_array(scores, "scores")
        all_codes = _float_array(codes, "codes")
        all_codes = all_codes.reshape(all_codes.shape[0], -1)  # labelled_codes checked them
        if values.shape != (all_codes.shape[0],) or not np.isfinite(values).all():
            raise GanpriorError(f"scores must be one finite number per code, shape ({all_codes.shape[0]},), "
                                f"got {shape_text(values.shape)}" + ("" if np.isfinite(values).all() else " with NaN"))
        keep = label_targets(_float_array(labels, "labels"), attribute_kind, thresholds)[0]
        kept = np.flatnonzero(keep) if keep is not None else np.arange(values.shape[0])
        fit_mask = np.ones(values.shape[0], dtype=bool)
        fit_mask[kept[test]] = False  # every code but the held-out ones, also those between the thresholds
        fit_rows = torch.from_numpy(np.flatnonzero(fit_mask))
        if score_center is None:
            score_center = float(np.mean(info["thresholds"])) if attribute_kind == "ordinal" else 0.0
        spread = float(values[fit_mask].std()) or 1.0
        inputs = torch.from_numpy(all_codes).float()
        target = torch.from_numpy((values - float(score_center)) / spread).float()
        weights = torch.ones_like(target)
        info.update(score_center=float(score_center), score_scale=spread)
    gen = torch.Generator().manual_seed(int(seed))
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(int(seed))  # the layers' initialisation
    try:
        model = AttributeMLP(xt.shape[1], hidden)
    finally:
        torch.random.set_rng_state(torch_state)
    with torch.no_grad():
        model.mean.copy_(inputs[fit_rows].mean(0))
        model.scale.fill_(float(inputs[fit_rows].std()) or 1.0)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * max(1, math.ceil(fit_rows.numel() / batch)))
    model.train()
    for _ in range(epochs):
        for chunk in fit_rows[torch.randperm(fit_rows.numel(), generator=gen)].split(batch):
            out = model(inputs[chunk])
            if scores is None:
                loss = nn.functional.binary_cross_entropy_with_logits(out, target[chunk], weight=weights[chunk])
            else:
                loss = nn.functional.mse_loss(out, target[chunk])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    counts = {"negative": int((~y).sum()), "positive": int(y.sum())}
    info.update(model="mlp", target="classes" if scores is None else "scores", hidden=[int(h) for h in hidden],
                epochs=epochs, batch=batch, lr=lr, weight_decay=weight_decay, num_codes=int(y.size),
                num_train=int(fit_rows.numel()), num_holdout=int(test.size), class_counts=counts, seed=int(seed))
    info.update(meta or {})
    flow = FlowDirection(name=name, model=model, shape=code_shape, space=space, step=step, keep_norm=keep_norm,
                         meta=info)

    def accuracy(rows: np.ndarray) -> float:
        return float(((flow.model(xt[rows]) > 0).numpy() == y[rows]).mean())

    with torch.no_grad():
        flow.meta["train_accuracy"] = accuracy(train)
        flow.accuracy = accuracy(test) if test.size else None
    return flow


__all__ = ["AttributeMLP", "FlowDirection", "conditional_flow", "fit_flow_direction", "flow_from_npz", "holds_flow",
           "load_flow"]
