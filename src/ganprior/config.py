"""The run configuration: the one source of a restoration's options, defaults and bounds.

``RunConfig`` holds what a run computes. The API (``ganprior.restore``), the command line (its
flags are generated from the fields' metadata), the job manifest (``to_json`` / ``from_json``), the
Ray engine (which ships the manifest's settings) and the web app (whose controls fill one) all go
through it, and through ``RunConfig.resolved``, which applies the task's preset and the method's
defaults, so each of them runs exactly the recipe the others would for the same settings.

How a run *executes* (device, batch size, engine, output folder) is not part of it: those do not
change the result and may differ between a job and its resume.

Task options (``factor``, ``noise_sigma``, ``blur_sigma``, ...) are declared by the tasks
themselves (``ganprior.tasks``) and kept in ``task_options``; a new task's options reach the CLI,
the manifest and the API without touching this module.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import GanpriorError

METHOD_CHOICES = ("single", "multi", "subspace", "dgp")
COMPOSITION_METHODS = ("single", "multi", "subspace")
MAX_CODES = 512  # codes per image: each one is a generator forward per step; more never helped (BENCHMARKS.md)
MAX_SEED = 2 ** 32 - 1
LATENT_INITS = ("normal", "zero", "best", "encoder")


def _finite(name: str, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
            integer: bool = False) -> Callable[[Any], None]:
    """A bounds check for a number (None passes: it means 'the preset's')."""
    def check(v):
        if v is None:
            return
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not float(v).is_integer()):
            raise GanpriorError(f"{name} must be {'a whole number' if integer else 'a number'}, got {v!r}")
        if not math.isfinite(v):
            raise GanpriorError(f"{name} must be finite, got {v}")
        show = (lambda x: str(int(x))) if integer else (lambda x: f"{x:g}")
        if lo is not None and (v <= lo if lo_open else v < lo):
            raise GanpriorError(f"{name} must be {'>' if lo_open else '>='} {show(lo)}, got {show(v)}")
        if hi is not None and v > hi:
            raise GanpriorError(f"{name} must be <= {show(hi)}, got {show(v)}")
    return check


def _weight(name: str) -> Callable[[Any], None]:
    """A blend-style weight in [0, 1] (None passes: the preset's)."""
    def check(v):
        if v is None:
            return
        try:
            w = float(v)
        except (TypeError, ValueError):
            raise GanpriorError(f"{name} weight must be a number in [0, 1], got {v!r}") from None
        if not 0 <= w <= 1:  # NaN fails too
            raise GanpriorError(f"{name} weight must be in [0, 1], got {w}")
    return check


def _text(name: str, what: str) -> Callable[[Any], None]:
    """A string setting (None passes)."""
    def check(v):
        if v is not None and not isinstance(v, str):
            raise GanpriorError(f"{name} must be {what}, got {type(v).__name__}")
    return check


def _perceptual_check(v) -> None:
    if v is None or v == "auto":
        return
    try:
        w = float(v)
    except (TypeError, ValueError):
        raise GanpriorError(f"perceptual weight must be a number or 'auto', got {v!r}") from None
    if not math.isfinite(w) or w < 0:
        raise GanpriorError(f"perceptual weight must be a finite number >= 0 or 'auto', got {v!r}")


def opt(default: Any = None, *, flag: str | None = None, help: str = "", choices: tuple | None = None,
        check: Callable[[Any], None] | None = None, type: Callable | None = None, cli: bool = True,
        negate: bool = False, execution: bool = False, default_factory: Callable | None = None,
        metavar: str | None = None):
    """A RunConfig field with what the command line and validation need.

    flag: the CLI flag (default ``--name-with-dashes``); negate: a boolean whose flag turns it off
    (``paste_known`` <- ``--no-paste``); cli=False: set through the API only; execution: changes how
    the run goes, not its result (a resumed job may change it)."""
    meta = {"flag": flag, "help": help, "choices": choices, "check": check, "type": type, "cli": cli,
            "negate": negate, "execution": execution, "metavar": metavar}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class RunConfig:
    """Every option of a restoration. ``None`` means "the preset's" (or the method's default).

    Use ``resolved(prior)`` for the concrete recipe a run executes."""
    task: str = opt("reconstruct", cli=False, help="task or chain, e.g. colorize+inpaint+super-resolve")
    prior: str | None = opt(None, help="prior name (see 'ganprior priors') or checkpoint path [default: utkface64]")
    preset: str = opt("auto", choices=("auto", "faithful", "perceptual", "none"),
                      help="task recipe (method, codes, layer, loss, blend) chosen by benchmarks/restoration.py: "
                           "faithful favours PSNR, perceptual favours LPIPS, auto = the task's measured default, "
                           "none = method defaults only; options given here override it")
    method: str | None = opt(None, choices=METHOD_CHOICES,
                             help="inversion method: single code, multi-code (mGANprior), subspace (PmSFC), dgp "
                                  "(DGP: fine-tunes the generator too, progressively; needs a prior with a "
                                  "discriminator unless --dgp-loss mse) [default: the preset's, multi]")
    num_codes: int | None = opt(None, flag="--codes", type=int, check=_finite("codes", 1, MAX_CODES, integer=True),
                                help=f"codes: N for multi [default: per task, 20]; K per subspace for subspace [5]; "
                                     f"at most {MAX_CODES}")
    num_subspaces: int | None = opt(None, flag="--subspaces", type=int,
                                    check=_finite("subspaces", 1, 64, integer=True),
                                    help="subspace: number of channel subspaces R [6]; discovered once and cached "
                                         "(see 'ganprior subspaces')")
    layer: int | None = opt(None, type=int, check=_finite("layer", 1, integer=True),
                            help="composition layer for multi and subspace [default: per task]")
    steps: int | None = opt(None, type=int, check=_finite("steps", 0, 1_000_000, integer=True),
                            help="optimisation steps [default: 300; DGP: its schedule's]; 0 returns the start's "
                                 "image at once (with --latent-init encoder, the encoder's)")
    lr: float | None = opt(None, type=float, check=_finite("learning rate", 0, 10, lo_open=True),
                           help="learning rate [default: 0.03 multi, 0.1 single]")
    optimizer: str = opt("adam", choices=("adam", "sgd"), help="sgd with --lr 1.0 is the reference code's setting")
    latent_init: str | None = opt(None, choices=LATENT_INITS,
                                  help="codes start as one seeded prior sample (normal), zero, per image the "
                                       "prior samples closest to the input (best, of --candidates), or the codes an "
                                       "image encoder gives the input mapped back to an image by the task's classical "
                                       "restoration (encoder: the prior's shipped encoder, or --encoder) [default: "
                                       "encoder for reconstruction and super-resolution where the prior has one, "
                                       "else normal; the colorization presets use best; dgp: best of its candidates]")
    encoder: str | None = opt(None, metavar="PATH", check=_text("encoder", "a file path"),
                              help="--latent-init encoder: an encoder file made by 'ganprior train-encoder' for "
                                   "this prior [the prior's shipped encoder]")
    num_candidates: int | None = opt(None, flag="--candidates", type=int,
                                     check=_finite("candidates", 1, 100_000, integer=True),
                                     help="--latent-init best (and dgp): how many prior samples are scored per "
                                          "image [256; dgp 500]")
    importance_init: str = opt("inverse", choices=("inverse", "one"),
                               help="multi: channel importance starts at 1/N (inverse) or 1")
    normalize: bool = opt(False, help="multi: divide the composed feature by N (reference)")
    code_steps: int | None = opt(None, type=int, check=_finite("code steps", 0, 1_000_000, integer=True),
                                 help="multi and subspace: the codes move for this many steps, then only the "
                                      "channel weights, with the codes' features rendered once (a step then "
                                      "costs a tenth at layer 2) [default: the preset's; none: every step]")
    perceptual: str | float | None = opt(None, check=_perceptual_check,
                                         help="weight of the VGG16 conv4_3 perceptual term; 'auto' = 1e-3 when "
                                              "its weights can be had, 0 = pixel loss only [default: the preset's]")
    perceptual_resize: int | None = opt(None, type=int, check=_finite("perceptual resize", 8, 4096, integer=True),
                                        help="compare perceptual features at this size (the reference code uses 256)")
    l1: float = opt(0.0, type=float, check=_finite("l1 weight", 0, 1e6),
                    help="weight of an L1 pixel term (MSE weight is 1)")
    dgp_loss: str = opt("discriminator", choices=("discriminator", "mse", "perceptual"),
                        help="--method dgp: the loss (discriminator features need a prior with a discriminator)")
    stop_mse: float | None = opt(None, type=float, check=_finite("stop MSE", 0, lo_open=True),
                                 help="stop each image once its observation MSE ([0, 1] scale) is below this; "
                                      "DGP's adversarial defense uses 5e-3")
    patience: int | None = opt(None, type=int, check=_finite("patience", 1, 1_000_000, integer=True),
                               help="stop each image once its loss improved by less than --min-improvement "
                                    "over its last this many steps (--steps becomes a ceiling) [none: every step]")
    min_improvement: float = opt(0.01, type=float, check=_finite("min improvement", 0, 0.999),
                                 help="with --patience: the relative improvement that counts as still improving")
    niqe_params: str | None = opt(None, help="NIQE pristine-model .npz (default: $GANPRIOR_NIQE_PARAMS or "
                                             "fetched from the registry)")
    seed: int = opt(0, type=int, check=_finite("seed", 0, MAX_SEED, integer=True),
                    help=f"seeds the codes, the simulated noise and random masks (0..{MAX_SEED})")
    latent_space: str | None = opt(None, choices=("z", "w", "w+"),
                                   help="code space to optimise (StyleGAN2 priors have z, w and w+; others z)")
    class_index: int | None = opt(None, flag="--class", type=int,
                                  help="class of a class-conditional prior (BigGAN: ImageNet index)")
    truncation: float | None = opt(None, type=float, check=_finite("truncation", 0, 10),
                                   help="truncation of priors that have one (StyleGAN2 psi, BigGAN-deep)")
    simulate: bool = opt(False, help="inputs are clean: degrade them first and report PSNR/SSIM against them")
    mask: str | None = opt(None, help="inpaint: one mask file for every input (white = missing), a folder of "
                                      "per-image masks matched by name (NAME_mask.* or NAME.* for input NAME.jpg, "
                                      "of the input's size), center[:SIDE], random[:MISSING_FRACTION] or a box over "
                                      "a facial part of an aligned face (left-eye, right-eye, eyes, nose or "
                                      "mouth[:SCALE]); without it an input's NAME_mask.* beside it is its mask, else "
                                      "its transparency")
    mask_white_known: bool = opt(False, help="the mask file's white pixels are the known ones")
    mask_paint: str | None = opt(None, metavar="COLOR[:TOLERANCE]",
                                 help="inpaint: the damage is painted on each input in COLOR (a name such as white, "
                                      "#rrggbb or R,G,B); pixels within TOLERANCE (colour distance 0..1) [0.1] of it, "
                                      "and the antialiased edge of the paint, are missing; not with --mask")
    faces: str = opt("aligned", choices=("aligned", "detect", "auto"),
                     help="aligned: each input is an aligned face crop, restored at the prior's size; detect: each "
                          "input is a photo: its faces are found, aligned, restored and pasted back onto its "
                          "classical restoration at the photo's own size (times the task's factor); auto: detect "
                          "in inputs larger than twice the prior's resolution")
    background: str | None = opt(None, choices=("bicubic", "lanczos", "realesrgan"),
                                 help="--faces detect with super-resolve: how the whole photo under the faces is "
                                      "upsampled; realesrgan needs 'ganprior[baselines]' [bicubic]")
    face_template: str | None = opt(None, choices=("utkface", "digiface", "ffhq"),
                                    help="--faces detect: the 5-point template faces are aligned to [the prior's: "
                                         "utkface for utkface64, digiface for dcgan-digiface64, ffhq for checkpoints]")
    fit: str = opt("crop", choices=("crop", "pad", "stretch"),
                   help="how inputs are brought to the prior's size: centre-crop, pad or stretch, then resize")
    paste_known: bool = opt(True, flag="--no-paste", negate=True,
                            help="do not paste known pixels / luminance back")
    blend: float | None = opt(None, type=float, check=_weight("blend"),
                              help="blend the prior's output into the classical restoration: C(y) + W (x - C(A x)), "
                                   "W in [0, 1], 0 = off [the preset's]")
    guide: float | None = opt(None, type=float, check=_weight("guide"),
                              help="denoising with BM3D: the prior's weight in the pilot of BM3D's Wiener stage, "
                                   "G in [0, 1], 0 = plain BM3D [the preset's]")
    chroma_fence: int | None = opt(None, type=int, check=_finite("chroma fence", 0, 4096, integer=True),
                                   help="colorize: keep each pixel's chroma (Lab a/b) within the middle half of the "
                                        "chroma of the N prior samples closest to the gray input, against colour "
                                        "stains; 0 = off [the preset's: 16]")
    precision: str = opt("fp32", choices=("fp32", "bf16"),
                         help="bf16 autocasts the generator (fast on GPUs and AVX512-BF16/AMX CPUs, slow on others)")
    compile: bool = opt(False, execution=True, help="render through torch.compile (pays off over many steps, mainly on GPUs)")
    gif: bool = opt(False, help="also write an animation of the optimisation")
    task_options: dict = opt(cli=False, default_factory=dict,
                             help="the tasks' own options (factor, noise_sigma, blur_sigma, ...)")

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def from_options(cls, task: str = "reconstruct", **options) -> RunConfig:
        """A config from keyword options, as ``ganprior.restore`` takes them: the fields above plus
        the tasks' own options (``factor=4``). An unknown name is an error naming it (a typo never
        silently runs the defaults)."""
        names = {f.name for f in dataclasses.fields(cls)}
        task_opts = dict(options.pop("task_options", None) or {})
        fields, unknown = {}, []
        task_known = known_task_options()
        for k, v in options.items():
            if k in names:
                fields[k] = v
            elif k in task_known:
                if v is not None:
                    task_opts[k] = v
            else:
                unknown.append(k)
        if unknown:
            valid = sorted(names - {"task", "task_options"}) + sorted(task_known)
            raise GanpriorError(f"unknown option(s) {', '.join(sorted(unknown))}; valid: {', '.join(valid)}")
        return cls(task=task, task_options=task_opts, **fields)

    def replace(self, **changes) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def fingerprint(self) -> dict:
        """``to_json`` without the execution options: what a job's result depends on."""
        return {k: v for k, v in self.to_json().items() if not _FIELDS[k].metadata.get("execution")}

    def to_json(self) -> dict:
        """A JSON-ready dict of every field (what a job manifest records and compares on a rerun)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = dict(sorted(v.items())) if isinstance(v, dict) else v
        return out

    @classmethod
    def from_json(cls, data: dict) -> RunConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise GanpriorError(f"settings hold unknown option(s) {', '.join(unknown)}")
        return cls(**data)

    # -- checks and resolution ---------------------------------------------------------------------
    @property
    def tasks(self) -> list[str]:
        from .tasks import parse_task
        return parse_task(self.task)

    def validate(self) -> RunConfig:
        """Check every field against its bounds and choices (before any work or folder exists)."""
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            choices = f.metadata.get("choices")
            if choices and v is not None and v not in choices:
                raise GanpriorError(f"{f.name.replace('_', ' ')} must be one of {', '.join(choices)}, got {v!r}")
            check = f.metadata.get("check")
            if check is not None:
                check(v)
        self.task_options = check_task_options(self.tasks, self.task_options)
        self._check_masks()
        if self.background is not None and "super-resolve" not in self.tasks:
            raise GanpriorError("--background chooses the upsampler of a super-resolved photo; this task has none")
        if self.background is not None and self.faces == "aligned":
            raise GanpriorError("--background is the whole photo's upsampler: add --faces detect or --faces auto")
        return self

    def _check_masks(self) -> None:
        """``mask_paint`` parsed to its canonical ``#rrggbb:TOL`` (so ``white`` and ``#ffffff:0.1`` are
        one setting of a job), and refused where it cannot apply."""
        if self.mask is not None and not isinstance(self.mask, str):
            raise GanpriorError(f"mask must be a file, a folder or a spec, got {type(self.mask).__name__}")
        if self.mask_paint is None:
            return
        from .physics.paint import parse_paint
        from .tasks import needs_mask
        self.mask_paint = parse_paint(self.mask_paint).text()
        if self.mask is not None:
            raise GanpriorError("--mask and --mask-paint are exclusive: the mask is either given or painted on "
                                "the inputs")
        if not needs_mask(self.tasks):
            raise GanpriorError(f"--mask-paint marks the pixels to fill for inpaint; {self.task} has no inpaint")
        if self.simulate:
            raise GanpriorError("--mask-paint reads the damage painted on the inputs; --simulate takes clean inputs")

    def resolved(self, num_layers: int | None = None, *, has_encoder: bool = False) -> RunConfig:
        """The concrete recipe: the task's preset for every option left None, then the method's
        defaults (``presets.defaults_for``; ``layer`` clipped to the prior's ``num_layers``).
        ``has_encoder``: whether the prior has an encoder. The tasks' encoder recipes
        (``Task.encoder_recipes``) apply where it has one (or ``--encoder`` names one) and no other
        start was asked for; otherwise their recipes without the encoder."""
        from .presets import apply_preset, defaults_for
        self.validate()
        tasks = self.tasks
        keys = ("method", "perceptual", "blend", "guide", "num_codes", "layer", "steps", "lr", "num_subspaces",
                "latent_init", "chroma_fence", "code_steps")
        encoder = self.latent_init in (None, "encoder") and bool(has_encoder or self.encoder)
        chosen = apply_preset(tasks, self.preset, {k: getattr(self, k) for k in keys}, self.task_options, encoder)
        unknown = sorted(set(chosen) - set(keys))
        if unknown:  # a recipe key the config cannot hold would silently not run
            raise GanpriorError(f"preset {self.preset} sets {', '.join(unknown)}, which a run cannot take")
        out = dataclasses.replace(self, **{k: chosen.get(k) for k in keys})
        out.method = out.method or "multi"
        self._check_method_options(out.method)
        if out.perceptual is None:
            out.perceptual = "auto"
        out.blend = 0.0 if out.blend is None else float(out.blend)
        out.guide = 0.0 if out.guide is None else float(out.guide)
        out.chroma_fence = 0 if out.chroma_fence is None else int(out.chroma_fence)
        if out.method in COMPOSITION_METHODS:
            defaults = defaults_for(out.method, tasks, num_layers)
            for k, v in defaults.items():
                if getattr(out, k) is None:
                    setattr(out, k, v)
            if out.latent_init is None:
                out.latent_init = "normal"
            if out.layer is not None and num_layers is not None and out.layer > num_layers:
                raise GanpriorError(f"layer must be in 1..{num_layers} for this prior, got {out.layer}")
        if out.method != "dgp" and out.latent_init != "best" and out.num_candidates is not None:
            raise GanpriorError("--candidates (num_candidates) applies with latent_init='best' (or method dgp)")
        if out.method == "dgp" and out.latent_init == "encoder" and out.num_candidates is not None:
            raise GanpriorError("--candidates (num_candidates) picks dgp's start; with --latent-init encoder "
                                "the encoder does")
        if out.method == "dgp" and out.latent_init not in (None, "best", "encoder"):
            raise GanpriorError(f"--method dgp starts from the best of its candidates (--latent-init best, its "
                                f"default) or from an encoder (encoder), not {out.latent_init}")
        if out.encoder is not None and out.latent_init != "encoder":
            raise GanpriorError("--encoder applies with --latent-init encoder")
        if out.latent_init == "best" and out.num_candidates is None and out.method != "dgp":
            from .inversion.candidates import DEFAULT_NUM_CANDIDATES
            out.num_candidates = DEFAULT_NUM_CANDIDATES
        return out

    # fields that are options of some methods only (unset = the field's default)
    _METHOD_FIELDS = ("num_codes", "layer", "num_subspaces", "latent_init", "num_candidates", "importance_init",
                      "normalize", "code_steps")

    def _check_method_options(self, method: str) -> None:
        """An option the user gave that the running method does not take is an error (it used to be
        ignored: ``--codes 3`` with a single-code run)."""
        from .inversion.methods import method_options
        takes = set(method_options(method))
        bad = [f for f in self._METHOD_FIELDS if getattr(self, f) != _FIELDS[f].default and f not in takes]
        if bad:
            flags = ", ".join(flag_of(_FIELDS[f]) for f in bad)
            why = "" if self.method else f" (what the {self.task} preset runs; choose one with --method)"
            raise GanpriorError(f"{flags} do(es) not apply to --method {method}{why}")

    def invert_options(self) -> dict:
        """Keyword options of ``ganprior.inversion.invert`` for this (resolved) config: only those
        the method takes."""
        common = {"method": self.method, "steps": self.steps, "lr": self.lr, "seed": self.seed,
                  "stop_mse": self.stop_mse, "patience": self.patience, "min_improvement": self.min_improvement}
        if self.method == "dgp":
            return {**common, "num_candidates": self.num_candidates, "latent_init": self.latent_init,
                    "encoder": self.encoder}
        out = {**common, "optimizer": self.optimizer, "precision": self.precision, "compile": self.compile,
               "latent_init": self.latent_init}
        if self.latent_init == "best":
            out["num_candidates"] = self.num_candidates
        if self.latent_init == "encoder":
            out["encoder"] = self.encoder
        if self.method == "multi":
            out.update(num_codes=self.num_codes, layer=self.layer, importance_init=self.importance_init,
                       normalize=self.normalize or None, code_steps=self.code_steps)
        elif self.method == "subspace":
            out.update(num_codes=self.num_codes, layer=self.layer, num_subspaces=self.num_subspaces,
                       code_steps=self.code_steps)
        return out


def known_task_options() -> dict:
    """Every registered task's options: name -> ``tasks.TaskOption``."""
    from .tasks import task_options
    return {o.name: o for o in task_options()}


def check_task_options(tasks: list[str], options: dict) -> dict:
    """The options a task chain takes, checked; an option no task of the chain takes is an error."""
    from .tasks import task_options
    specs = {o.name: o for o in task_options(tasks)}
    unknown = sorted(set(options) - set(specs))
    if unknown:
        chain = "+".join(tasks) or "reconstruct"
        raise GanpriorError(f"{chain} takes no option {', '.join(unknown)}"
                            + (f" (it takes {', '.join(sorted(specs))})" if specs else ""))
    return {name: specs[name].convert(value) for name, value in options.items() if value is not None}


_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}


def cli_fields() -> list[dataclasses.Field]:
    """The RunConfig fields that have a command-line flag, in declaration order."""
    return [f for f in dataclasses.fields(RunConfig) if f.metadata.get("cli", True)]


def flag_of(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")
