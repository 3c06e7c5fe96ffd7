"""``ganprior directions fit | closed-form | pca``: latent directions for editing, from labelled
codes or images (InterFaceGAN, or a nonlinear flow), or unsupervised (SeFa, GANSpace)."""

from __future__ import annotations

import math
import re
from pathlib import Path

from ..errors import GanpriorError
from .common import (HELP, Parser, _Progress, _check_steps, _out_folder, _recon_psnr, inversion_parent, out_parent,
                     prior_parent, run_parent)
from .reconstruction import _configure, _load_prior, _perceptual, _print_notes


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
    from ..editing.directions import active_space
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

    from ..io import expand_inputs
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

    from ..editing import fit_direction
    from ..editing.directions import label_targets
    knobs = inversion_parent(steps={"default": 200, "help": "with --images: single-code inversion steps"},
                             perceptual={"help": "with --images: perceptual weight of the inversion loss"})
    p = Parser(prog="ganprior directions fit", formatter_class=HELP,
               parents=[prior_parent(), out_parent("direction file to write (.npz)"), knobs,
                        run_parent()],
               description="Fit an attribute boundary in latent space (InterFaceGAN) and save its "
                           "unit normal as a direction: from codes and labels, or from a folder of "
                           "images (inverted with a single code) labelled by their file names.")
    p.add_argument("--codes", default=None, help="codes .npy, shape (M, *latent_shape) or (M, D)")
    p.add_argument("--labels", default=None, help="labels .npy or .txt, one number per code")
    p.add_argument("--images", default=None, metavar="FOLDER", help="instead of --codes/--labels: invert these images")
    p.add_argument("--label-regex", default=None, metavar="REGEX",
                   help="with --images: the label is the integer of the first group, e.g. '^(\\d+)_' (UTKFace age) "
                        "or '^\\d+_(\\d)_' (gender)")
    p.add_argument("--max-images", type=int, default=None, help="with --images: a seeded random subset of this many")
    p.add_argument("--name", required=True, help="attribute name (the direction's name)")
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
    p.add_argument("--batch", type=int, default=16, help="with --images: images inverted together")
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
        from ..api import restore
        from ..editing.directions import active_space
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
        from ..editing.directions import fit_flow_direction
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

    from ..editing import strengths_for
    from ..io import make_sheet, stack_rows
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
    from ..editing import closed_form_directions, pca_directions
    from ..io import save_image, write_json
    what = ("closed-form (SeFa) directions: the top eigenvectors of A^T A, A the generator's first linear map"
            if kind == "sefa" else
            "PCA (GANSpace) directions: principal components of sampled w codes, or of first-layer features "
            "mapped back to z")
    p = Parser(prog=f"ganprior directions {'closed-form' if kind == 'sefa' else 'pca'}",
               formatter_class=HELP,
               parents=[prior_parent(), out_parent(),
                        run_parent(seed_help="seeds the sampled codes and the preview samples",
                                   quiet_help=None)],
               description=f"Compute the top-k {what}; write each as {kind}-I.npz, a "
                           "directions.json summary and a preview sheet.png.")
    p.add_argument("--k", type=int, default=5, help="number of directions")
    if kind == "pca":
        p.add_argument("--samples", type=int, default=2000, help="sampled codes")
    p.add_argument("--latent-space", default=None, choices=["z", "w", "w+"],
                   help="code space (StyleGAN2 priors: z, w, w+) [w for priors that have it, else the prior's own]")
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
