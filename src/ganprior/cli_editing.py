"""The editing commands of ``ganprior``.

    ganprior directions fit --prior P --codes C.npy --labels L.npy --name N --out F.npz   InterFaceGAN boundary
    ganprior directions fit --prior P --images DIR --label-regex RX --name N --out F.npz  ... from inverted images
    ganprior directions closed-form --prior P [--k 5] --out DIR                  SeFa directions + preview sheet
    ganprior directions pca --prior P [--k 5] [--samples 2000] --out DIR         GANSpace directions + preview sheet
    ganprior edit INPUT --direction SPEC --out DIR [--method single|multi|subspace|dgp]   invert, then edit
    ganprior mix A B --out DIR                  style mixing (StyleGAN2) or feature mixing (other priors)
    ganprior roles INPUT --out DIR              what each code of a multi-code inversion is responsible for
    ganprior analyze INPUT... --out DIR         PSNR of multi-code inversions per composition layer and N

Every command checks its arguments (and its direction) before any optimisation, and writes its
outputs only once everything is computed, so a user error leaves no half-written folder.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

from .cli import _Progress, _recon_psnr
from .errors import GanpriorError

HELP = argparse.ArgumentDefaultsHelpFormatter


# -- shared helpers ------------------------------------------------------------------------------


# the prior whose shipped directions ``edit --direction NAME`` uses when no --prior is given
FACE_EDIT_PRIOR = "utkface64"


def _load_prior(name, method: str | None = None, device: str = "cpu"):
    """The prior of a command: a name or checkpoint path, else the default for ``method``."""
    from .priors import load_prior
    from .priors.zoo import default_prior
    return load_prior(name or default_prior(method), device)


def _has_styles(prior) -> bool:
    """A prior with per-layer styles (StyleGAN2), as ``editing.mixing`` detects it."""
    return all(hasattr(prior, k) for k in ("codes_to_ws", "num_ws", "generator"))


def _configure(prior, latent_space: str | None, default: str | None = None):
    """Apply --latent-space; without it, switch to ``default`` when the prior has that space."""
    from .priors.zoo import configure_prior
    if latent_space is None and default is not None and default in getattr(prior, "latent_spaces", ("z",)):
        latent_space = default
    return configure_prior(prior, latent_space=latent_space)


def _out_folder(path) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise GanpriorError(f"--out {out} exists and is not a folder")
    return out


def _check_steps(steps: int | None) -> None:
    if steps is not None and steps < 1:
        raise GanpriorError(f"--steps must be >= 1, got {steps}")


def _int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        values = []
    if not values:
        raise GanpriorError(f"{option} takes integers separated by commas (e.g. 1,2,3), got {text!r}")
    return values


def _reconstruct(a: argparse.Namespace, images: list, prior, method: str, desc: str, **options):
    """``restore(images, "reconstruct", prior, method)`` with a progress bar and the command's
    options; multi/subspace get --codes / --layer, dgp its own loss."""
    from .api import restore
    opts = {k: v for k, v in options.items() if v is not None}
    if method == "dgp":
        opts["loss"] = getattr(a, "dgp_loss", "discriminator")
        if getattr(a, "candidates", None) is not None:
            opts["num_candidates"] = a.candidates
    else:
        opts["perceptual"] = _perceptual(getattr(a, "perceptual", "auto"))
    progress = _Progress(desc, None, a.quiet)
    try:
        return restore(images, "reconstruct", prior, method, steps=a.steps, seed=a.seed, device=a.device,
                       fit=getattr(a, "fit", "crop"), callback=progress, **opts)
    finally:
        progress.close()


def _perceptual(value):
    if value is None or str(value) == "auto":
        return "auto"
    try:
        weight = float(value)
    except ValueError:
        raise GanpriorError(f"--perceptual takes a weight >= 0 or 'auto', got {value!r}") from None
    if not weight >= 0:
        raise GanpriorError(f"--perceptual takes a weight >= 0 or 'auto', got {value!r}")
    return weight


def _print_notes(result, quiet: bool) -> None:
    if not quiet:
        for n in result.notes:
            print(f"note: {n}")


def _common(p: argparse.ArgumentParser, *, steps_default=None, steps_help: str | None = None) -> None:
    p.add_argument("--steps", type=int, default=steps_default,
                   help=steps_help or "optimisation steps of the inversion [default: the method's, 300]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")


# -- ganprior directions ---------------------------------------------------------------------------


def directions_cmd(argv: list[str]) -> int:
    commands = {"fit": directions_fit_cmd, "closed-form": directions_closed_form_cmd, "pca": directions_pca_cmd}
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: ganprior directions {fit,closed-form,pca} ...\n\n"
              "  fit          InterFaceGAN: a linear attribute boundary from labelled codes or images\n"
              "  closed-form  SeFa: the top eigenvectors of the generator's first linear map\n"
              "  pca          GANSpace: principal components of sampled codes or first-layer features\n\n"
              "'ganprior directions COMMAND --help' for the options of each.")
        return 0 if argv else 2
    if argv[0] not in commands:
        raise GanpriorError(f"unknown directions command {argv[0]!r}; choose one of {', '.join(commands)}")
    return commands[argv[0]](argv[1:])


def _load_array(path: str, what: str):
    import numpy as np
    f = Path(path)
    if not f.is_file():
        raise GanpriorError(f"{what} file not found: {f}")
    try:
        if f.suffix.lower() == ".txt":
            arr = np.loadtxt(f, dtype=np.float64, ndmin=1)
        else:
            arr = np.load(f, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise GanpriorError(f"cannot read {what} file {f}: {reason}") from None
    if not isinstance(arr, np.ndarray):
        raise GanpriorError(f"{what} file {f} holds several arrays; give one .npy array")
    return arr


def _fit_codes(codes, prior, source: str):
    """Codes ``(M, *latent_shape)`` or ``(M, D)`` -> (codes in the latent shape, their space); a
    w+ prior also takes w codes ``(M, w_dim)`` (a w direction)."""
    from .editing.directions import active_space
    space, shape = active_space(prior), tuple(prior.latent_shape)
    if codes.ndim >= 2 and tuple(codes.shape[1:]) == shape:
        return codes, space
    if codes.ndim == 2 and codes.shape[1] == math.prod(shape):
        return codes.reshape(codes.shape[0], *shape), space
    if space == "w+" and codes.ndim == 2 and codes.shape[1] == shape[-1]:
        return codes, "w"
    flat = math.prod(shape)
    raise GanpriorError(f"codes in {source} have shape {tuple(codes.shape)}, but prior {prior.name!r} takes "
                        f"{space} codes of shape (M, {', '.join(map(str, shape))}) or (M, {flat})")


def _parse_thresholds(text: str | None):
    if text is None:
        return None
    try:
        low, high = (float(t) for t in text.split(","))
    except ValueError:
        raise GanpriorError(f"--thresholds takes LOW,HIGH (two numbers), got {text!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise GanpriorError(f"--thresholds needs finite LOW <= HIGH, got {text!r}")
    return low, high


def _labelled_images(folder: str, pattern: str, max_images: int | None, seed: int):
    """Image files of ``folder`` whose name matches ``pattern``, with the int of its first group."""
    import numpy as np

    from .io import expand_inputs
    if not Path(folder).is_dir():
        raise GanpriorError(f"--images {folder} is not a folder")
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise GanpriorError(f"bad --label-regex {pattern!r}: {e}") from None
    if rx.groups < 1:
        raise GanpriorError(f"--label-regex needs a capture group for the label, {pattern!r} has none")
    files, labels = [], []
    for f in expand_inputs([folder]):
        m = rx.search(f.name)
        if m is None or m.group(1) is None:
            continue
        try:
            labels.append(int(m.group(1)))
        except ValueError:
            raise GanpriorError(f"--label-regex {pattern!r} captured {m.group(1)!r} from {f.name}; "
                                "labels must be integers") from None
        files.append(f)
    if not files:
        raise GanpriorError(f"--label-regex {pattern!r} matches no file name in {folder}")
    if max_images is not None and len(files) > max_images:
        keep = np.sort(np.random.default_rng(seed).choice(len(files), max_images, replace=False))
        files, labels = [files[i] for i in keep], [labels[i] for i in keep]
    return files, labels


def directions_fit_cmd(argv: list[str]) -> int:
    import numpy as np

    from .editing import fit_direction
    from .editing.directions import label_targets
    p = argparse.ArgumentParser(prog="ganprior directions fit", formatter_class=HELP,
                                description="Fit an attribute boundary in latent space (InterFaceGAN) and save its "
                                            "unit normal as a direction: from codes and labels, or from a folder of "
                                            "images (inverted with a single code) labelled by their file names.")
    p.add_argument("--prior", default=None, help="prior name or checkpoint path [utkface64]")
    p.add_argument("--codes", default=None, help="codes .npy, shape (M, *latent_shape) or (M, D)")
    p.add_argument("--labels", default=None, help="labels .npy or .txt, one number per code")
    p.add_argument("--images", default=None, metavar="FOLDER", help="instead of --codes/--labels: invert these images")
    p.add_argument("--label-regex", default=None, metavar="REGEX",
                   help="with --images: the label is the integer of the first group, e.g. '^(\\d+)_' (UTKFace age) "
                        "or '^\\d+_(\\d)_' (gender)")
    p.add_argument("--max-images", type=int, default=None, help="with --images: a seeded random subset of this many")
    p.add_argument("--name", required=True, help="attribute name (the direction's name)")
    p.add_argument("--out", required=True, help="direction file to write (.npz)")
    p.add_argument("--kind", default="binary", choices=["binary", "ordinal"],
                   help="binary: labels 0/1; ordinal: labels <= LOW vs >= HIGH")
    p.add_argument("--thresholds", default=None, metavar="LOW,HIGH",
                   help="ordinal thresholds [default: the lower and upper tertiles of the labels]")
    p.add_argument("--model", default="linear", choices=["linear", "flow"],
                   help="linear: an InterFaceGAN boundary (edit: code + s x normal); flow: an MLP attribute model, "
                        "the edit following its logit's gradient (better where the attribute is not linear in "
                        "the codes, e.g. utkface64's gender)")
    p.add_argument("--scores", default=None,
                   help="--model flow with --codes: a continuous score per code (.npy/.txt, e.g. a classifier's "
                        "logit or an age) to regress instead of the classes")
    p.add_argument("--epochs", type=int, default=40, help="--model flow: training epochs of the MLP")
    p.add_argument("--classifier", default="svm", choices=["svm", "logistic"])
    p.add_argument("--holdout", type=float, default=0.2, help="share of each class held out to measure accuracy")
    p.add_argument("--latent-space", default=None, choices=["z", "w", "w+"],
                   help="code space of the codes (StyleGAN2 priors have z, w and w+) [the prior's own]")
    p.add_argument("--perceptual", default="auto", help="with --images: perceptual weight of the inversion loss")
    p.add_argument("--batch", type=int, default=16, help="with --images: images inverted together")
    _common(p, steps_default=200, steps_help="with --images: single-code inversion steps")
    a = p.parse_args(argv)
    out = Path(a.out)
    if out.suffix.lower() != ".npz":
        raise GanpriorError(f"--out must be a .npz file, got {out}")
    if out.is_dir():
        raise GanpriorError(f"--out {out} is a folder")
    if (a.images is None) == (a.codes is None and a.labels is None):
        raise GanpriorError("give either --codes and --labels, or --images and --label-regex")
    if not 0 <= a.holdout < 1:
        raise GanpriorError(f"--holdout must be in [0, 1), got {a.holdout}")
    thresholds = _parse_thresholds(a.thresholds)
    if a.kind == "binary" and thresholds is not None:
        raise GanpriorError("--thresholds applies to --kind ordinal")
    prior = _configure(_load_prior(a.prior, None, a.device), a.latent_space)
    meta = {"prior": prior.name, "family": getattr(prior, "family", "custom"), "attribute": a.name,
            "kind": a.kind}
    if a.images is None:
        if a.codes is None or a.labels is None:
            raise GanpriorError("--codes and --labels go together")
        codes = _load_array(a.codes, "codes")
        labels = _load_array(a.labels, "labels")
        if labels.ndim == 2 and 1 in labels.shape:
            labels = labels.reshape(-1)
        if not np.issubdtype(codes.dtype, np.number) or not (np.issubdtype(labels.dtype, np.number)
                                                             or labels.dtype == bool):
            raise GanpriorError("codes and labels must be numeric arrays")
        codes, space = _fit_codes(codes, prior, a.codes)
        if labels.ndim != 1 or labels.shape[0] != codes.shape[0]:
            raise GanpriorError(f"{codes.shape[0]} codes but labels of shape {tuple(labels.shape)}; "
                                "give one label per code")
        label_targets(labels, a.kind, thresholds, what="labels")
        meta.update(codes_file=str(a.codes), labels_file=str(a.labels))
    else:
        if a.label_regex is None:
            raise GanpriorError("--images needs --label-regex (the label is its first group)")
        if a.max_images is not None and a.max_images < 1:
            raise GanpriorError(f"--max-images must be >= 1, got {a.max_images}")
        if a.batch < 1:
            raise GanpriorError(f"--batch must be >= 1, got {a.batch}")
        _check_steps(a.steps)
        files, labels = _labelled_images(a.images, a.label_regex, a.max_images, a.seed)
        labels = np.asarray(labels, dtype=np.float64)
        label_targets(labels, a.kind, thresholds, what="labels")  # before the inversions
        from .api import restore
        from .editing.directions import active_space
        batches = (len(files) + a.batch - 1) // a.batch
        progress = _Progress(f"inverting {len(files)} images", batches * a.steps, a.quiet)
        try:
            result = restore(files, "reconstruct", prior, "single", steps=a.steps, seed=a.seed,
                             batch_size=a.batch, perceptual=_perceptual(a.perceptual), callback=progress,
                             device=a.device)
        finally:
            progress.close()
        codes, space = result.params["codes"].cpu().numpy(), active_space(prior)
        psnrs = [v for v in _recon_psnr(result) if v is not None]
        meta.update(images=str(a.images), label_regex=a.label_regex, num_images=len(files), inversion_steps=a.steps,
                    mean_inversion_psnr=sum(psnrs) / len(psnrs) if psnrs else None)
        _print_notes(result, a.quiet)
    if a.model == "flow":
        from .editing.nonlinear import fit_flow_direction
        scores = None
        if a.scores is not None:
            if a.codes is None:
                raise GanpriorError("--scores goes with --codes (one score per code)")
            scores = _load_array(a.scores, "scores").reshape(-1)
            if scores.shape[0] != codes.shape[0] or not np.issubdtype(scores.dtype, np.number):
                raise GanpriorError(f"{codes.shape[0]} codes but {scores.shape[0]} scores; give one number per code")
        direction = fit_flow_direction(codes, labels, name=a.name, attribute_kind=a.kind, thresholds=thresholds,
                                       scores=scores, epochs=a.epochs, holdout_fraction=a.holdout, seed=a.seed,
                                       space=space, meta=meta)
    else:
        if a.scores is not None:
            raise GanpriorError("--scores applies to --model flow")
        direction = fit_direction(codes, labels, name=a.name, attribute_kind=a.kind, thresholds=thresholds,
                                  classifier=a.classifier, holdout_fraction=a.holdout, seed=a.seed, space=space,
                                  meta=meta)
    direction.save(out)
    counts = direction.meta.get("class_counts", {})
    acc = "no held-out set" if direction.accuracy is None else f"held-out accuracy {direction.accuracy:.3f}"
    print(f"{a.name} ({a.model}): {acc} ({counts.get('positive')} positive, {counts.get('negative')} negative "
          f"codes, {space} space); saved to {out}")
    return 0


def _preview_sheet(prior, directions, samples: int = 3, seed: int = 0, max_strength: float = 3.0,
                   frames: int = 7):
    """One row per (sample, direction): the sample moved by strengths -3..3 along the direction."""
    import torch

    from .editing import strengths_for
    from .io import make_sheet, stack_rows
    strengths = strengths_for(max_strength, frames)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        z = prior.sample_latent(samples, gen)
        rows = []
        for d in directions:
            v = d.as_latent(prior).to(z)
            moved = torch.cat([z[i:i + 1] + s * v[None] for i in range(samples) for s in strengths])
            x = prior.to_unit(prior.generate(moved)).clamp(0, 1).cpu()
            for i in range(samples):
                tiles = x[i * frames:(i + 1) * frames]
                rows.append(make_sheet(list(tiles), [f"{d.name} #{i} {s:+g}" for s in strengths], tile=64))
    return stack_rows(rows)


def _unsupervised_cmd(argv: list[str], kind: str) -> int:
    from .editing import closed_form_directions, pca_directions
    from .io import save_image, write_json
    what = ("closed-form (SeFa) directions: the top eigenvectors of A^T A, A the generator's first linear map"
            if kind == "sefa" else
            "PCA (GANSpace) directions: principal components of sampled w codes, or of first-layer features "
            "mapped back to z")
    p = argparse.ArgumentParser(prog=f"ganprior directions {'closed-form' if kind == 'sefa' else 'pca'}",
                                formatter_class=HELP,
                                description=f"Compute the top-k {what}; write each as {kind}-I.npz, a "
                                            "directions.json summary and a preview sheet.png.")
    p.add_argument("--prior", default=None, help="prior name or checkpoint path [utkface64]")
    p.add_argument("--k", type=int, default=5, help="number of directions")
    if kind == "pca":
        p.add_argument("--samples", type=int, default=2000, help="sampled codes")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--latent-space", default=None, choices=["z", "w", "w+"],
                   help="code space (StyleGAN2 priors: z, w, w+) [w for priors that have it, else the prior's own]")
    p.add_argument("--seed", type=int, default=0, help="seeds the sampled codes and the preview samples")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    out = _out_folder(a.out)
    prior = _configure(_load_prior(a.prior, None, a.device), a.latent_space, default="w")
    if kind == "sefa":
        found = closed_form_directions(prior, a.k)
    else:
        found = pca_directions(prior, a.k, num_samples=a.samples, seed=a.seed)
    sheet = _preview_sheet(prior, found, seed=a.seed)
    records = []
    for d in found:
        record = {"name": d.name, "file": f"{d.name}.npz", "space": d.space, "shape": list(d.shape)}
        if kind == "sefa":
            record.update(eigenvalue=d.meta["eigenvalue"], eigenvalue_ratio=d.meta["eigenvalue_ratio"])
        else:
            record.update(explained_variance=d.meta["explained_variance"],
                          explained_variance_ratio=d.meta["explained_variance_ratio"])
        records.append(record)
    for d in found:
        d.save(out / f"{d.name}.npz")
    summary = {"prior": prior.name, "method": "sefa" if kind == "sefa" else "ganspace",
               "projection": found[0].meta.get("method"), "k": a.k, "seed": a.seed, "directions": records}
    if kind == "pca":
        summary.update(samples=a.samples, pca_of=found[0].meta.get("pca_of"))
    write_json(summary, out / "directions.json")
    save_image(sheet, out / "sheet.png")
    if not a.quiet:
        key = "eigenvalue_ratio" if kind == "sefa" else "explained_variance_ratio"
        shares = ", ".join(f"{r['name']} {r[key]:.3f}" for r in records)
        print(f"{'eigenvalue share' if kind == 'sefa' else 'explained variance'}: {shares}")
        print(f"wrote {len(found)} {kind}-*.npz, directions.json and sheet.png to {out}")
    return 0


def directions_closed_form_cmd(argv: list[str]) -> int:
    return _unsupervised_cmd(argv, "sefa")


def directions_pca_cmd(argv: list[str]) -> int:
    return _unsupervised_cmd(argv, "pca")


# -- ganprior edit ---------------------------------------------------------------------------------


def _composition_options(a: argparse.Namespace, method: str) -> dict:
    if method in ("single", "dgp") and (a.codes is not None or a.layer is not None):
        raise GanpriorError(f"--codes and --layer apply to --method multi and subspace, not {method}")
    if method == "multi":
        return {"num_codes": a.codes, "layer": a.layer}
    if method == "subspace":
        return {"num_codes": a.codes, "layer": a.layer, "num_subspaces": getattr(a, "subspaces", None)}
    return {}


def edit_cmd(argv: list[str]) -> int:
    from .editing import edit_frames, strengths_for
    from .io import make_sheet, save_gif, save_image, write_json
    p = argparse.ArgumentParser(prog="ganprior edit", formatter_class=HELP,
                                description="Reconstruct an image through the prior, then move its code(s) along a "
                                            "latent direction and render the frames (mGANprior's manipulation; "
                                            "DGP renders through the fine-tuned generator).")
    p.add_argument("input", help="image file")
    p.add_argument("--direction", required=True, metavar="SPEC",
                   help="a .npz/.npy direction file, sefa:I or pca:I (computed on the fly), or a name shipped "
                        "with the prior")
    p.add_argument("--out", required=True, help="output folder")
    # defaults as measured in benchmarks/editing.py (and the app's edit tab): on the 200 held-out
    # faces a single code edits monotonically far more often than 20 composed codes (age / gender
    # 98.5% / 100% against 75-95% on 40 faces, with 2-3x smaller changes), and the judge saturates
    # beyond strength 2
    p.add_argument("--strength", type=float, default=2.0, help="largest strength: frames go from -S to S")
    p.add_argument("--frames", type=int, default=5, help="frames (an odd count includes the reconstruction)")
    p.add_argument("--method", default="single", choices=["multi", "single", "subspace", "dgp"],
                   help="inversion method of the reconstruction: single edits most reliably; multi "
                        "reconstructs closer but its composed codes follow a direction weakly; dgp also "
                        "fine-tunes the generator")
    p.add_argument("--prior", default=None,
                   help="prior name or checkpoint path [utkface64, which ships directions age and gender]")
    p.add_argument("--codes", type=int, default=None, help="multi: N codes; subspace: K per subspace [preset]")
    p.add_argument("--layer", type=int, default=None, help="multi/subspace: composition layer [preset]")
    p.add_argument("--subspaces", type=int, default=None, help="subspace: number of subspaces R [6]")
    p.add_argument("--perceptual", default="auto", help="perceptual weight of the loss, 'auto' or 0 (not dgp)")
    p.add_argument("--dgp-loss", default="discriminator", choices=["discriminator", "mse", "perceptual"],
                   help="--method dgp: its loss (discriminator features need a prior with a discriminator)")
    p.add_argument("--candidates", type=int, default=None, help="--method dgp: random latents z starts from [500]")
    p.add_argument("--latent-space", default=None, choices=["z", "w", "w+"],
                   help="code space (StyleGAN2 priors) [w+ for priors that have it]")
    p.add_argument("--fit", default="crop", choices=["crop", "pad", "stretch"],
                   help="how the input is brought to the prior's size")
    _common(p)
    a = p.parse_args(argv)
    _check_steps(a.steps)
    if a.frames < 2 or not (math.isfinite(a.strength) and a.strength > 0):
        raise GanpriorError(f"--frames must be >= 2 and --strength a number > 0, got {a.frames} and {a.strength}")
    if a.candidates is not None and a.candidates < 0:
        raise GanpriorError(f"--candidates must be >= 0, got {a.candidates}")
    options = _composition_options(a, a.method)
    out = _out_folder(a.out)
    if not Path(a.input).is_file():
        raise GanpriorError(f"input not found: {a.input}")
    from .editing.directions import named_directions, resolve_direction
    if a.prior is None and a.direction in named_directions(FACE_EDIT_PRIOR):
        a.prior = FACE_EDIT_PRIOR  # the shipped face directions (age, gender) belong to this prior
    prior = _configure(_load_prior(a.prior, a.method, a.device), a.latent_space, default="w+")
    try:  # before the reconstruction: a bad direction fails fast
        direction = resolve_direction(a.direction, prior)
    except GanpriorError as e:  # the library's hint names the Python call; the command has an option
        raise GanpriorError(re.sub(r"switch with prior\.use_latent_space\('([^']+)'\)", r"pass --latent-space \1",
                                   str(e))) from None
    strengths = strengths_for(a.strength, a.frames)
    result = _reconstruct(a, [a.input], prior, a.method, f"{a.method} reconstruction", **options)
    frames = edit_frames(result, direction, strengths, prior=prior)
    score = _recon_psnr(result)[0]
    out.mkdir(parents=True, exist_ok=True)
    save_image(result.observed[0].clamp(0, 1), out / "input.png")
    save_image(result.images[0], out / "reconstruction.png")
    for k, x in enumerate(frames):
        save_image(x, out / f"frame_{k:02d}.png")
    save_gif(list(frames) + list(frames.flip(0)[1:-1]), out / "edit.gif")
    recon = "reconstruction" if score is None else f"recon {score:.2f}dB"
    save_image(make_sheet([result.observed[0], result.images[0], *frames],
                          ["input", recon, *[f"{direction.name[:12]} {s:+.2f}" for s in strengths]], tile=96),
               out / "strip.png")
    write_json({"command": "edit", "input": str(a.input), "prior": prior.name, "method": a.method,
                "steps": result.steps, "seed": a.seed, "psnr": score, "seconds": result.seconds,
                "direction": {"spec": str(a.direction), "name": direction.name, "source": direction.source,
                              "model": getattr(direction, "kind", "linear"),
                              "space": direction.space, "accuracy": direction.accuracy,
                              "attribute": direction.meta.get("attribute")},
                "strengths": strengths, "frames": [f"frame_{k:02d}.png" for k in range(len(strengths))]},
               out / "edit.json")
    if not a.quiet:
        _print_notes(result, a.quiet)
        print(f"{a.method} reconstruction {'' if score is None else f'{score:.2f} dB'}; edited along "
              f"{direction.name} ({direction.source}, {direction.space}) at strengths {strengths[0]:+g}..{strengths[-1]:+g}")
        print(f"wrote input.png, reconstruction.png, {len(strengths)} frame_*.png, edit.gif, strip.png and edit.json "
              f"to {out}")
    return 0


# -- ganprior mix ----------------------------------------------------------------------------------


def _default_crossovers(num_ws: int) -> list[int]:
    return sorted({min(num_ws - 1, max(1, round(num_ws * f))) for f in (0.25, 0.5, 0.75)})


def mix_cmd(argv: list[str]) -> int:
    import torch

    from .editing import feature_mix, style_mix, style_mix_grid
    from .editing.mixing import as_ws
    from .io import make_sheet, save_image, stack_rows, write_json
    p = argparse.ArgumentParser(prog="ganprior mix", formatter_class=HELP,
                                description="Invert two images and mix them: StyleGAN2 priors swap per-layer styles "
                                            "(A's coarse layers, B's fine ones, and back); other priors mix the "
                                            "composed features of multi-code inversions (A's structure with B's "
                                            "statistics, and back).")
    p.add_argument("first", help="image A")
    p.add_argument("second", help="image B")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--prior", default=None, help="prior name or checkpoint path [utkface64]")
    p.add_argument("--method", default=None, choices=["multi", "single"],
                   help="single: style mixing of w+ codes (StyleGAN2 only); multi: feature mixing "
                        "[single for StyleGAN2, else multi]")
    p.add_argument("--crossover", type=int, nargs="+", default=None, metavar="L",
                   help="style mixing: layers [:L] from one image, [L:] from the other [a few evenly spaced]")
    p.add_argument("--mode", default="adain", choices=["adain", "channels"],
                   help="feature mixing: AdaIN (structure + channel statistics) or a channel split")
    p.add_argument("--fraction", type=float, default=0.5, help="--mode channels: share of channels from the first")
    p.add_argument("--codes", type=int, default=None, help="multi: N codes [preset, 20]")
    p.add_argument("--layer", type=int, default=None, help="multi: composition layer [preset]")
    p.add_argument("--perceptual", default="auto", help="perceptual weight of the loss, 'auto' or 0")
    p.add_argument("--fit", default="crop", choices=["crop", "pad", "stretch"])
    _common(p)
    a = p.parse_args(argv)
    _check_steps(a.steps)
    if not 0 <= a.fraction <= 1:
        raise GanpriorError(f"--fraction must be in [0, 1], got {a.fraction}")
    out = _out_folder(a.out)
    for f in (a.first, a.second):
        if not Path(f).is_file():
            raise GanpriorError(f"input not found: {f}")
    prior = _load_prior(a.prior, None, a.device)
    styles = _has_styles(prior)
    method = a.method or ("single" if styles else "multi")
    if method == "single" and not styles:
        raise GanpriorError(f"prior {prior.name!r} ({prior.family}) has no per-layer styles; style mixing "
                            "(--method single) needs a StyleGAN2 prior; use --method multi (feature mixing)")
    if method == "single":
        if a.codes is not None or a.layer is not None:
            raise GanpriorError("--codes and --layer apply to --method multi")
        prior = _configure(prior, "w+")
        crossovers = a.crossover or _default_crossovers(prior.num_ws)
        bad = [c for c in crossovers if not 0 <= c <= prior.num_ws]
        if bad:
            raise GanpriorError(f"--crossover takes layers 0..{prior.num_ws} for prior {prior.name!r}, got {bad[0]}")
        result = _reconstruct(a, [a.first, a.second], prior, "single", "single-code inversion (w+)")
        ws = as_ws(prior, result)
        ws_a, ws_b = ws[0:1], ws[1:2]
        mixes = {f"style_ab_{c:02d}.png": style_mix(prior, ws_a, ws_b, c)[0] for c in crossovers}
        mixes.update({f"style_ba_{c:02d}.png": style_mix(prior, ws_b, ws_a, c)[0] for c in crossovers})
        sheet = style_mix_grid(prior, torch.cat([ws_a, ws_b]), torch.cat([ws_b, ws_a]), crossovers)
        details = {"kind": "style", "crossovers": crossovers, "num_ws": prior.num_ws}
    else:
        if a.crossover is not None:
            raise GanpriorError("--crossover applies to style mixing (--method single, StyleGAN2 priors)")
        result = _reconstruct(a, [a.first, a.second], prior, "multi", "multi-code inversion",
                              num_codes=a.codes, layer=a.layer)
        ab = feature_mix(result, result, image_a=0, image_b=1, mode=a.mode, fraction=a.fraction)[0]
        ba = feature_mix(result, result, image_a=1, image_b=0, mode=a.mode, fraction=a.fraction)[0]
        mixes = {"mix_ab.png": ab, "mix_ba.png": ba}
        what = "stats" if a.mode == "adain" else f"{1 - a.fraction:.0%} ch"
        sheet = make_sheet([result.observed[0], result.images[0], ab, ba, result.images[1], result.observed[1]],
                           ["input A", "recon A", f"A + B {what}", f"B + A {what}", "recon B", "input B"], tile=96)
        details = {"kind": "feature", "mode": a.mode, "fraction": a.fraction if a.mode == "channels" else None,
                   "layer": result.parameterization.layer, "codes": int(result.parameterization.codes.shape[1])}
    scores = _recon_psnr(result)
    if method == "single":
        sheet = stack_rows([make_sheet([result.observed[0], result.images[0], result.images[1], result.observed[1]],
                                       ["input A", "recon A", "recon B", "input B"], tile=96), sheet])
    out.mkdir(parents=True, exist_ok=True)
    for i, tag in enumerate("ab"):
        save_image(result.observed[i].clamp(0, 1), out / f"input_{tag}.png")
        save_image(result.images[i], out / f"reconstruction_{tag}.png")
    for name, x in mixes.items():
        save_image(x, out / name)
    save_image(sheet, out / "sheet.png")
    write_json({"command": "mix", "inputs": [str(a.first), str(a.second)], "prior": prior.name, "method": method,
                "steps": result.steps, "seed": a.seed, "psnr": scores, "seconds": result.seconds, **details,
                "mixes": sorted(mixes)}, out / "mix.json")
    if not a.quiet:
        _print_notes(result, a.quiet)
        kind = "style mixes" if method == "single" else f"feature mixes ({a.mode})"
        print(f"wrote {len(mixes)} {kind}, the inputs and reconstructions, sheet.png and mix.json to {out}")
    return 0


# -- ganprior roles --------------------------------------------------------------------------------


def roles_cmd(argv: list[str]) -> int:
    from .editing import code_role_maps, role_sheet
    from .io import save_image, write_json
    p = argparse.ArgumentParser(prog="ganprior roles", formatter_class=HELP,
                                description="Reconstruct an image with N codes (mGANprior), then show what each code "
                                            "is responsible for: the change when its important channels are "
                                            "switched off.")
    p.add_argument("input", help="image file")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--prior", default=None, help="prior name or checkpoint path [utkface64]")
    p.add_argument("--codes", type=int, default=20, help="N codes")
    p.add_argument("--layer", type=int, default=None, help="composition layer [preset]")
    p.add_argument("--threshold", type=float, default=0.2, help="channel importance above which a channel is the code's")
    p.add_argument("--perceptual", default="auto", help="perceptual weight of the loss, 'auto' or 0")
    p.add_argument("--fit", default="crop", choices=["crop", "pad", "stretch"])
    _common(p)
    a = p.parse_args(argv)
    _check_steps(a.steps)
    if a.codes < 1 or not math.isfinite(a.threshold):
        raise GanpriorError(f"--codes must be >= 1 and --threshold a number, got {a.codes} and {a.threshold}")
    out = _out_folder(a.out)
    if not Path(a.input).is_file():
        raise GanpriorError(f"input not found: {a.input}")
    prior = _load_prior(a.prior, None, a.device)
    result = _reconstruct(a, [a.input], prior, "multi", "multi-code reconstruction", num_codes=a.codes, layer=a.layer)
    roles = code_role_maps(result, 0, a.threshold)
    sheet = role_sheet(result, 0, a.threshold)
    param = result.parameterization
    important = (param.importance.detach()[0] > a.threshold).sum(dim=1).tolist()
    per_code = [float(m.max()) * roles.scale for m in roles.maps]
    score = _recon_psnr(result)[0]
    out.mkdir(parents=True, exist_ok=True)
    save_image(result.observed[0].clamp(0, 1), out / "input.png")
    save_image(result.images[0], out / "reconstruction.png")
    save_image(sheet, out / "roles.png")
    write_json({"command": "roles", "input": str(a.input), "prior": prior.name, "method": "multi",
                "codes": a.codes, "layer": param.layer, "threshold": a.threshold, "steps": result.steps,
                "seed": a.seed, "psnr": score, "seconds": result.seconds, "scale": roles.scale,
                "per_code_max_difference": per_code, "important_channels": important}, out / "roles.json")
    if not a.quiet:
        _print_notes(result, a.quiet)
        top = max(range(len(per_code)), key=per_code.__getitem__)
        print(f"{a.codes} codes at layer {param.layer}: largest role code {top} (max difference "
              f"{per_code[top]:.3f}); {sum(1 for v in per_code if v == 0)} codes change nothing")
        print(f"wrote input.png, reconstruction.png, roles.png and roles.json to {out}")
    return 0


# -- ganprior analyze ------------------------------------------------------------------------------


def analyze_cmd(argv: list[str]) -> int:
    import torch

    from .editing import layer_sweep, plot_layer_sweep
    from .io import expand_inputs, fit_image, read_image, write_json
    from .physics.masks import builtin_mask
    from .tasks import parse_task
    from .tasks.super_resolve import check_factor
    p = argparse.ArgumentParser(prog="ganprior analyze", formatter_class=HELP,
                                description="Invert the images with N codes composed at each layer (and one single "
                                            "code as the baseline); report PSNR/SSIM per setting (mGANprior "
                                            "Fig. 10/11).")
    p.add_argument("inputs", nargs="+", help="clean image files or folders")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--prior", default=None, help="prior name or checkpoint path [utkface64]")
    p.add_argument("--layers", default=None, help="composition layers, e.g. 1,2,3 [all of the prior's]")
    p.add_argument("--codes", default="1,5,10,20", help="numbers of codes N")
    p.add_argument("--task", default="reconstruct",
                   help="the degradation the clean inputs are put through first (as 'ganprior TASK --simulate')")
    p.add_argument("--factor", type=int, default=None, help="super-resolve factor")
    p.add_argument("--mask", default=None, help="inpaint: center[:SIDE] or random[:FRACTION] [center]")
    p.add_argument("--noise-sigma", type=float, default=None, help="denoise: noise std [0.1]")
    p.add_argument("--lr", type=float, default=None, help="step size [the method's preset]")
    p.add_argument("--fit", default="crop", choices=["crop", "pad", "stretch"])
    _common(p, steps_default=100, steps_help="steps of every inversion")
    a = p.parse_args(argv)
    _check_steps(a.steps)
    counts = _int_list(a.codes, "--codes")
    layers = None if a.layers is None else _int_list(a.layers, "--layers")
    out = _out_folder(a.out)
    tasks = parse_task(a.task)
    files = expand_inputs(a.inputs)
    prior = _load_prior(a.prior, None, a.device)
    images = torch.stack([fit_image(read_image(f, 3)[0], prior.resolution, a.fit) for f in files])
    mask = None
    if "inpaint" in tasks:
        size = prior.resolution
        if "super-resolve" in tasks:
            size //= check_factor(a.factor, prior.resolution)
        mask = builtin_mask(a.mask or "center", size, a.seed)
    total = 1 + len(layers or prior.composition_layers) * len(counts)
    bar = None
    if not a.quiet:
        from tqdm import tqdm
        bar = tqdm(total=total, desc="layer sweep", unit="setting", file=sys.stderr, dynamic_ncols=True)

    def progress(done, n, entry):
        if bar is not None:
            bar.update(1)
            where = "single" if entry["method"] == "single" else f"layer {entry['layer']} N={entry['num_codes']}"
            bar.set_postfix_str(f"{where}: {entry['psnr']:.2f} dB")

    try:
        sweep = layer_sweep(images, prior, layers=layers, num_codes=counts, steps=a.steps, task=tasks, seed=a.seed,
                            callback=progress, lr=a.lr, factor=a.factor, mask=mask, noise_sigma=a.noise_sigma)
    finally:
        if bar is not None:
            bar.close()
    out.mkdir(parents=True, exist_ok=True)
    write_json({"command": "analyze", "prior": prior.name, "inputs": [str(f) for f in files], "seed": a.seed,
                **sweep}, out / "layers.json")
    plot_layer_sweep(sweep, out / "layers.png")
    if not a.quiet:
        print(f"{'setting':22s} {'PSNR':>7s} {'SSIM':>7s} {'seconds':>8s}")
        rows = [("single code", sweep["single"])]
        rows += [(f"layer {r['layer']}, N = {r['num_codes']}", r) for r in sweep["runs"]]
        for label, r in rows:
            print(f"{label:22s} {r['psnr']:7.2f} {r['ssim']:7.4f} {r['seconds']:8.2f}")
        best = max(sweep["runs"], key=lambda r: r["psnr"])
        print(f"best: layer {best['layer']}, N = {best['num_codes']} ({best['psnr']:.2f} dB); "
              f"wrote layers.json and layers.png to {out}")
    return 0


__all__ = ["directions_cmd", "edit_cmd", "mix_cmd", "roles_cmd", "analyze_cmd"]
