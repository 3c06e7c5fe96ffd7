"""Default method settings and task presets, read from the task registry (``ganprior.tasks``).

Each task declares its own recipes, its default style, its overrides of the method defaults and its
DGP schedule, with the measurements that chose them, next to its forward model; this module keeps
what is common to every task and answers for a chain (the task with the smallest rank decides).

Method defaults for the 64 px DCGAN prior family, chosen on 6 of the 21 benchmark faces (every
fourth; see BENCHMARKS.md): composing at layer 2 (8x8, 256 channels) with 20 codes gives most of
the gain of deeper layers at a third of the cost, and keeps enough of the prior's semantics to fill
in what the observation lacks. Inpainting and denoising compose elsewhere (their task files say why).
"""

from __future__ import annotations

from .errors import GanpriorError
from .tasks import get_task, leading_task, task_names

METHOD_DEFAULTS = {
    "single": {"lr": 0.1, "steps": 300},
    "multi": {"lr": 0.03, "steps": 300, "num_codes": 20, "layer": 2},
    # PmSFC: R=6 subspaces x K=5 codes at layer 2 (the paper's R and K; its layer 3 of PGGAN is 8x8 too);
    # lr 0.1 on the same six faces the multi-code rate was tuned on (27.3 dB vs 26.5 at 0.03, 23.9 at 0.01)
    "subspace": {"lr": 0.1, "steps": 300, "num_codes": 5, "num_subspaces": 6, "layer": 2},
}

# task -> overrides of METHOD_DEFAULTS["multi"] (``Task.method_defaults``; a chain takes its leading task's)
TASK_PRESETS = {name: dict(get_task(name).method_defaults) for name in task_names()}


def lead_task(tasks: list[str] | str) -> str:
    """The task whose presets and defaults a chain takes (smallest ``Task.preset_rank``)."""
    return leading_task(tasks, "preset_rank").name


def defaults_for(method: str, tasks: list[str], num_layers: int | None = None) -> dict:
    """Settings for ``method`` on a task chain; ``layer`` is clipped to the prior's layers."""
    out = dict(METHOD_DEFAULTS[method])
    if method in ("multi", "subspace"):
        preset = TASK_PRESETS[lead_task(tasks)]
        # a subspace's K codes are not mGANprior's N: only the layer carries over
        out.update(preset if method == "multi" else {"layer": preset["layer"]})
        if num_layers is not None:
            out["layer"] = min(out["layer"], num_layers)
    return out


# -- task presets: what ``ganprior TASK`` runs when no method or loss is given ------------------------
#
# Two styles per task, as DGP's MSE- and discriminator-biased settings: ``faithful`` favours PSNR
# (pixel loss only), ``perceptual`` favours LPIPS/NIQE (adds the VGG16 perceptual term). Each recipe
# holds ``restore()`` options; the user's own options always win. Chosen by
# ``benchmarks/restoration.py`` (numbers in BENCHMARKS.md, "Restoration against classical baselines");
# each task's ``recipes`` says what was measured for it.

STYLES = ("faithful", "perceptual")
PRESET_CHOICES = ("auto", *STYLES, "none")

RECIPES: dict[str, dict[str, dict]] = {style: {name: dict(get_task(name).recipes[style]) for name in task_names()}
                                       for style in STYLES}
# the style ``--preset auto`` picks per task (the leading task of the chain decides)
DEFAULT_STYLES = {name: get_task(name).default_style for name in task_names()}


def default_style(tasks: list[str] | str) -> str:
    """The style ``--preset auto`` gives a task chain."""
    return DEFAULT_STYLES[lead_task(tasks)]


def task_preset(tasks: list[str] | str, style: str = "auto", options: dict | None = None,
                encoder: bool = False) -> dict:
    """The recipe (``restore()`` options) of ``style`` for a task chain run with the task ``options``,
    starting from the prior's encoder or not (``Task.recipe``); ``{}`` for ``none``."""
    if style not in PRESET_CHOICES:
        raise GanpriorError(f"preset must be one of {', '.join(PRESET_CHOICES)}, got {style!r}")
    if style == "none":
        return {}
    if style == "auto":
        style = default_style(tasks)
    return get_task(lead_task(tasks)).recipe(style, dict(options or {}), encoder)


def apply_preset(tasks: list[str] | str, style: str, given: dict, options: dict | None = None,
                 encoder: bool = False) -> dict:
    """``given`` options (None = not given) filled in from the preset.

    A preset belongs to its method: when the user names another method, only that method's own
    defaults apply. Returns a new dict; keys the preset has but ``given`` lacks are added.
    ``options``: the task options (``factor``, ...) the recipe may depend on; ``encoder``: whether the
    run can start from the prior's encoder (``Task.encoder_recipes``)."""
    recipe = task_preset(tasks, style, options, encoder)
    out = dict(given)
    if not recipe or out.get("method") not in (None, recipe.get("method")):
        out["method"] = out.get("method") or "multi"
        return out
    for key, value in recipe.items():
        if out.get(key) is None:
            out[key] = value
    return out


# -- DGP (Deep Generative Prior, Pan et al. ECCV 2020 / TPAMI 2021) -------------------------------
#
# Per-task schedules, one column per stage, in the order of the DGP repository's example scripts
# (XingangPan/deep-generative-prior @ c503a56, experiments/examples/*.sh, BigGAN 256). Field names
# and the script flags they come from:
#
#   iterations              --iterations   optimisation steps of the stage
#   unfrozen_blocks         --ft_num       the first k generator blocks (prior.blocks[:k]) are tuned;
#                                          clipped to the prior's block count
#   generator_lr            --G_lrs        Adam learning rate of the generator blocks
#   latent_lr               --z_lrs        Adam learning rate of the latent z
#   block_lr_ratio          --lr_ratio     block i (0 = shallowest) is tuned at generator_lr * ratio**i
#   feature_weight          --w_D_loss     weight of the discriminator-feature L1
#   mse_weight              --w_mse        weight of the MSE, computed on [-1, 1] images as DGP does
#   discriminator_features  --ftr_num      compare the deepest n outputs of D.features (non-4-D
#                                          entries such as a pooled vector are skipped)
#
# plus per schedule candidate_std (--sample_std: the std of the candidate latents of the initial
# selection). The same in every restoration script: --w_nll 0.02 (``DGP_LATENT_WEIGHT``, on
# mean(z**2) / 2), --select_num 500 (``DGP_NUM_CANDIDATES``), and Adam with BigGAN-PyTorch's
# --G_B1 0.0 / --G_B2 0.999 defaults for both z and G (``DGP_ADAM_BETAS``).
# Iteration counts are the scripts' own (1000-1400 steps), not scaled; ``steps=`` rescales them.
#
# The scripts' BigGAN-256 generator has 8 blocks here ([stem, 6 stages, output head]); DGP never
# tunes the output head, and ``unfrozen_blocks=7`` leaves it frozen exactly as DGP does. Priors
# with fewer blocks clip the count, so the last stages tune every block.
#
# Each task declares its schedule (``Task.dgp_schedule``): the DGP script made for it, or what we
# chose where the repository has none (its ``source`` says which).
# Not reproduced: --use_in (instance norm, False in every example script).

DGP_SCHEDULES = {name: get_task(name).dgp_schedule for name in task_names()}
DGP_LATENT_WEIGHT = 0.02
DGP_NUM_CANDIDATES = 500
DGP_ADAM_BETAS = (0.0, 0.999)

# a chain uses the schedule of its first task in this order (smallest ``Task.dgp_rank``): a hole or
# missing colour needs the schedule made for it; SR's is the general one for an informative observation
DGP_TASK_PRIORITY = tuple(sorted(task_names(), key=lambda name: get_task(name).dgp_rank))


def dgp_schedule_name(tasks: list[str]) -> str:
    """The key of ``DGP_SCHEDULES`` for a canonical task chain (``reconstruct`` when empty)."""
    return leading_task(tasks, "dgp_rank").name
