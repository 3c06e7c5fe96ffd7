"""The task interface and its registry.

A task is one kind of degradation a user names (``super-resolve``). Everything the library knows about
it is declared by one ``Task`` subclass in one file of this package: its options, its forward model
and noise, its post-processing, its classical inverse and baselines, its presets and its DGP schedule.
Nothing else tests a task's name, so adding a task is one new file plus its import line in
``ganprior/tasks/__init__.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import torch

from ..errors import GanpriorError


class Geometry(NamedTuple):
    """What the observation looks like at one point of the forward chain: ``(B, channels, size, size)``."""
    channels: int
    size: int


class Step(NamedTuple):
    """A task's part of the forward model: its deepinv operator (None = identity), the geometry it
    leaves, and the known-pixel mask ``(B or 1, 1, s, s)`` it observes through, if any."""
    physics: Any
    geometry: Geometry
    mask: torch.Tensor | None = None


@dataclass(frozen=True)
class TaskOption:
    """A number a task needs (``factor``): the keyword of ``build_degradation`` and ``restore``, and
    what a command line derives its flag (``flag``), type, default and help from.

    ``default`` None means the user must give it. ``check(value, resolution)`` returns the value or
    raises a one-line ``GanpriorError``; ``metavar`` says what is accepted (``2..16``)."""
    name: str
    type: type
    default: Any = None
    help: str = ""
    metavar: str = ""
    check: Callable[[Any, int], Any] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")

    def resolve(self, value, resolution: int, task: str):
        """The given value (None = not given: the default) converted and checked."""
        if value is None:
            value = self.default
        if value is None:
            raise GanpriorError(f"{task} needs a {self.label} ({self.flag} {self.metavar})".replace(" )", ")"))
        number = self.convert(value)
        return self.check(number, resolution) if self.check is not None else number

    def convert(self, value):
        """``value`` as this option's type, or a one-line error (the bounds that need the prior's
        resolution are ``check``'s, applied when the chain is built)."""
        try:
            number = self.type(value)
            exact = not isinstance(value, bool) and (self.type is not int or float(value) == number)
        except (TypeError, ValueError, OverflowError):
            exact = False
        if not exact:
            kind = "an integer" if self.type is int else "a number"
            raise GanpriorError(f"{self.label} must be {kind}, got {value!r}")
        return number


def finite_at_least(name: str, low: float, *, strict: bool = False, high: float | None = None):
    """A ``TaskOption.check`` for a finite number above ``low`` (``strict``: not equal), at most ``high``."""
    bound = f"{'>' if strict else '>='} {low:g}" + (f" and <= {high:g}" if high is not None else "")

    def check(value: float, resolution: int) -> float:
        ok = math.isfinite(value) and (value > low if strict else value >= low) and (high is None or value <= high)
        if not ok:
            raise GanpriorError(f"{name} must be finite and {bound}, got {value}")
        return value
    return check


class Task:
    """One degradation, declared by class attributes and a few methods; ``register`` adds it.

    The defaults describe a task that changes nothing; a subclass overrides what its degradation
    does. ``degradation`` arguments are the chain's ``Degradation`` (``tasks.chain``)."""

    name: str = ""
    aliases: tuple[str, ...] = ()
    # place in the canonical forward order: smaller is applied to the clean image first
    order: int = 0
    options: tuple[TaskOption, ...] = ()
    # adds nothing to a chain: dropped from a chain of several tasks, no classical baseline, no blend
    identity: bool = False
    # observes through a known-pixel mask that the user gives (a file, a spec, transparency)
    needs_mask: bool = False
    # the observation shows the image's own pixels (not resampled, blurred or noisy): paste-back allowed
    observes_pixels: bool = True
    # keyword of classical_restore that picks this task's inverse step, and the methods it names
    classical_option: str | None = None
    classical_methods: tuple[str, ...] = ()
    # methods of the inverse step that can take the prior's image as a pilot (the blend's ``guide``)
    guided_methods: tuple[str, ...] = ()
    # post-processing limits the output to the prior's samples closest to the observation (``fence``)
    fences: bool = False
    # presets: style -> restore() options; the style ``--preset auto`` picks; overrides of
    # presets.METHOD_DEFAULTS["multi"] (a subspace method takes only the layer)
    recipes: dict[str, dict] = {}
    # style -> the recipe that replaces ``recipes[style]`` when the run starts from the prior's encoder
    # (it has one, and no other start was asked for): fewer or cheaper steps from a closer start (#29)
    encoder_recipes: dict[str, dict] = {}
    default_style: str = "faithful"
    method_defaults: dict = {}
    # DGP: per-stage schedule columns (presets.DGP_SCHEDULES)
    dgp_schedule: dict = {}
    # whole photos (ganprior.faces): the largest face, in photo pixels per pixel of the crop the prior
    # observes, that the prior still improves on this task's background (benchmarks/photos.py: past
    # 1.25 the 64 px output loses PSNR and LPIPS to bicubic and BM3D)
    photo_face_ratio: float = 1.25
    # whole photos: find the faces on the task's classical restoration of the photo instead of the
    # observation (noise hides faces from the detector)
    detect_on_background: bool = False
    # in a chain, the task with the smallest rank gives the presets / the DGP schedule
    preset_rank: int = 100
    dgp_rank: int = 100

    def forward(self, geometry: Geometry, options: dict, *, mask: torch.Tensor | None = None,
                device: str | torch.device = "cpu") -> Step:
        """The deepinv operator of this task on observations of ``geometry``."""
        return Step(None, geometry)

    def noise_model(self, options: dict, device: str | torch.device = "cpu"):
        """The deepinv ``NoiseModel`` this task adds to the observation, if any."""
        return None

    def paste_back(self, out: torch.Tensor, y: torch.Tensor, degradation, color_space: str) -> torch.Tensor:
        """Put what the observation ``y`` shows back into the output (chains that observe pixels only)."""
        return out

    def fence(self, x_hat: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
        """Limit the prior's output ``x_hat`` to what the prior's samples closest to the observation,
        ``samples`` ``(B, K, C, R, R)``, agree on (colorization: their chroma band), before paste-back.
        Used by chains whose ``Degradation.chroma_fence`` is set."""
        return x_hat

    def keep_observed(self, x_hat: torch.Tensor, restored: torch.Tensor, color_space: str) -> torch.Tensor:
        """Combine a classical ``restored`` image with the prior's ``x_hat`` where the observation
        carries nothing of this task's kind (colorization: the prior's chroma)."""
        return restored

    def blend_weight(self, weight, degradation, size: int):
        """The prior's weight in the classical blend (``tasks.blend``) at each output pixel of a
        ``size`` image: a float, or a ``(B or 1, 1, size, size)`` map computed from ``weight`` (the
        run's blend, or the map an earlier task of the chain made). Default: ``weight`` unchanged."""
        return weight

    def photo_options(self, options: dict, resolution: int) -> list[dict]:
        """Whole photos: other option values (overrides of ``options``) under which the prior may
        observe a face the photo shows larger than this task's crop, best first. Default: none."""
        return []

    def default_method(self) -> str | None:
        """The classical method used when none is named."""
        return self.classical_methods[0] if self.classical_methods else None

    def classical(self, x: torch.Tensor, degradation, method: str | None, *, guide: torch.Tensor | None = None,
                  guide_weight: float = 0.0) -> torch.Tensor:
        """Undo this task's step of the forward model on ``x`` without a learned prior."""
        return x

    def recipe(self, style: str, options: dict, encoder: bool = False) -> dict:
        """The ``style`` preset for this task run with ``options`` (its task options as the user gave
        them: one left out is absent), starting from the prior's encoder or not:
        ``encoder_recipes[style]`` with an encoder where the task has one, else ``recipes[style]``."""
        if encoder and style in self.encoder_recipes:
            return dict(self.encoder_recipes[style])
        return dict(self.recipes[style])

    def quick(self, x: torch.Tensor, degradation) -> torch.Tensor:
        """A fast classical undo of this step, for what an encoder sees before an inversion
        (``inversion.encoder_start``): ``classical`` with the default method, unless that is slow."""
        return self.classical(x, degradation, self.default_method())

    def background(self, x: torch.Tensor, options: dict, *, mask: torch.Tensor | None = None,
                   method: str | None = None) -> torch.Tensor:
        """Undo this task's step on a whole photo ``x`` ``(1, C, H, W)`` of any size, without the prior:
        the background the restored faces of a photo are pasted onto (``ganprior.faces``). ``options``:
        the task options resolved for the photo; ``mask``: the photo's known pixels ``(1, 1, H, W)``;
        ``method``: a classical method of ``classical_methods`` (default: the first)."""
        return x

    def baseline_variants(self) -> dict[str, dict]:
        """Named classical baselines of this task alone -> ``classical_restore`` keywords. A variant
        with no keywords (nothing to choose) is named only when the chain has nothing else to name."""
        return {m: {self.classical_option: m} for m in self.classical_methods}

    def __repr__(self) -> str:
        return f"<task {self.name}>"


_REGISTRY: dict[str, Task] = {}
_ALIASES: dict[str, str] = {}
# registered names in canonical order; rebound by ``register`` (``task_names()`` is always current)
TASKS: tuple[str, ...] = ()


def register(task):
    """Add a ``Task`` (class or instance) to the registry; usable as a class decorator."""
    global TASKS
    instance = task() if isinstance(task, type) else task
    name = instance.name
    if not name or name != name.strip().lower() or "+" in name:
        raise GanpriorError(f"a task needs a lower-case name without '+', got {name!r}")
    for key in (name, *instance.aliases):
        if key in _REGISTRY or key in _ALIASES:
            raise GanpriorError(f"task name or alias {key!r} is already registered")
    _REGISTRY[name] = instance
    _ALIASES.update({alias: name for alias in instance.aliases})
    TASKS = tuple(sorted(_REGISTRY, key=lambda n: (_REGISTRY[n].order, n)))
    return task


def task_names() -> tuple[str, ...]:
    """The registered task names in canonical order."""
    return TASKS


def get_task(name: str) -> Task:
    """The registered task of a name or alias."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise GanpriorError(f"unknown task {name!r}; choose from {', '.join(TASKS)} or join them with '+'")
    return _REGISTRY[key]


def parse_task(task: str | list[str]) -> list[str]:
    """``'inpaint+colorize'`` -> ``['colorize', 'inpaint']`` (canonical order, validated)."""
    parts = task if isinstance(task, (list, tuple)) else str(task).split("+")
    names: list[str] = []
    for p in parts:
        name = get_task(p).name
        if name in names:
            raise GanpriorError(f"task {name!r} appears twice in {task!r}")
        names.append(name)
    if len(names) > 1:
        names = [n for n in names if not _REGISTRY[n].identity]  # adds nothing to a chain
    return sorted(names, key=lambda n: _REGISTRY[n].order)


def chain_of(tasks: list[str] | tuple[str, ...]) -> list[Task]:
    """The ``Task`` objects of a parsed chain, in its order."""
    return [get_task(t) for t in tasks]


def task_options(tasks: str | list[str] | None = None) -> list[TaskOption]:
    """The options a task chain needs (every registered task's for None), once each, in chain order."""
    names = TASKS if tasks is None else parse_task(tasks)
    seen: dict[str, TaskOption] = {}
    for task in chain_of(names):
        for option in task.options:
            seen.setdefault(option.name, option)
    return list(seen.values())


def leading_task(tasks: str | list[str], rank: str) -> Task:
    """The task of a chain with the smallest ``rank`` attribute (``preset_rank`` or ``dgp_rank``);
    names that are not registered are ignored, and an empty chain is led by the identity task."""
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)
    found = [_REGISTRY[_ALIASES.get(t, t)] for t in tasks if _ALIASES.get(t, t) in _REGISTRY]
    if not found:
        found = [t for t in _REGISTRY.values() if t.identity]
    return min(found, key=lambda t: getattr(t, rank))
