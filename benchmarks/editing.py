"""Semantic editing of held-out real faces with `utkface64` (mGANprior Sec. 4.3, InterFaceGAN boundaries).

Parts (numbers cached in benchmarks/results/editing_<part>.json; the report is rebuilt from them):

* classifiers: two age + gender CNNs (``attributes.AttributeNet``) on the two disjoint halves of the
  UTKFace training split: the *labeller* (half a) labels generated samples; the *judge* (half b)
  scores the edits. A direction is never scored by the network that defined it.
* directions: 10,000 seeded samples of the prior, labelled by the labeller: gender (female logit
  > 0) and age (ordinal: <= 20 vs >= 50 years), each conditioned on the other. Two models on the
  same labels and the same 20% held-out codes: InterFaceGAN linear-SVM boundaries in z, and MLPs
  regressing the labeller's score whose gradient flow is the edit (``ganprior.editing.nonlinear``).
  They ship as the prior's named directions (``src/ganprior/weights/directions/utkface64``; ``ganprior
  edit --direction gender``): ``gender`` and ``age`` (both flows, the better of the two models on
  the generated samples), and ``gender-linear`` and ``age-linear``.
* edits: held-out real faces, inverted once with multi-code (library defaults: N=20 at layer 2, 300
  steps; every code moved, as mGANprior) and with single-code, and 200 samples of the prior, each
  edited along both models' directions; s in -2..2 (5 frames). An edit counts as
  monotonic when the judge's score (age in years, or the female logit) never decreases along the
  strengths; identity is the LPIPS of each frame to the unedited reconstruction.

    python benchmarks/editing.py                    # all parts, about 45 min on 2 CPU cores
    python benchmarks/editing.py --part report      # rebuild the section from cached numbers
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import ganprior
from ganprior.editing import (conditional_direction, conditional_flow, edit_frames, fit_direction, fit_flow_direction,
                              load_direction, strengths_for)
from ganprior.io import fit_image, make_sheet, read_image, save_image, stack_rows
from ganprior.metrics import lpips
from ganprior.tasks import build_degradation
from ganprior.subspaces import prior_fingerprint
from ganprior.training import holdout_files

from attributes import (ASSETS, CACHE, UTKFACE, labels_of, load_attribute_net, metadata, need_data,
                        train_attribute_net)
from sections import stale_weights_note, weights_record, write_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PRIOR = "utkface64"
SHIPPED = ROOT / "src" / "ganprior" / "weights" / "directions" / PRIOR
LABELLER, JUDGE = ASSETS / "attributes-labeller64.safetensors", ASSETS / "attributes-judge64.safetensors"
ATTRIBUTES = {"age": "age", "gender": "female"}  # direction name -> judge score it should raise
# the age boundary separates labelled ages <= 20 from >= 50 (young vs middle-aged and older, the
# kind of split InterFaceGAN uses); chosen on generated samples (the judge's monotonic fraction over
# 200 samples: 78% against 69% with the default tertiles), never on the held-out faces
AGE_THRESHOLDS = (20.0, 50.0)
METHODS = ("multi", "single")
# direction models compared on the same samples, inversions and judge: linear boundaries and MLP
# gradient flows. The default name of each attribute ships the model with the higher monotonic
# fraction on the 200 generated samples (with the step-23,368 `utkface64`: gender, the flow, 98%
# against 92%; age, the flow, 96% against 86.5%), the other one ships as NAME-linear
MODELS = ("linear", "flow")
FILES = {("age", "linear"): "age-linear.npz", ("age", "flow"): "age.npz",
         ("gender", "linear"): "gender-linear.npz", ("gender", "flow"): "gender.npz"}
# MLP training epochs and the choice to regress the labeller's score (not its classes), each flow
# conditioned on the other attribute's MLP: picked on the 200 generated samples' monotonic fractions
# (gender 82.5% against 79% classes-only and 75% soft targets), never on the held-out faces
FLOW_EPOCHS = 40
warnings.filterwarnings("ignore")


def part_classifiers(epochs: int) -> None:
    train_attribute_net(LABELLER, part="a", age=True, epochs=epochs, seed=1)
    train_attribute_net(JUDGE, part="b", age=True, epochs=epochs, seed=2)


def labelled_samples(samples: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``samples`` seeded codes of the prior and the labeller's scores of their images (``female``
    logit, ``age`` in years); cached under results/.cache (both kinds of direction fit on them)."""
    prior = ganprior.load_prior(PRIOR)
    cache = CACHE / f"editing-labels-{samples}-{prior_fingerprint(prior)}.pt"  # follows the weights
    if cache.is_file():
        data = torch.load(cache)
        return data["codes"], data["scores"]
    labeller = load_attribute_net(LABELLER)
    g = torch.Generator().manual_seed(0)
    codes = prior.sample_latent(samples, g)
    scores = {"female": [], "age": []}
    with torch.no_grad():
        for chunk in codes.split(500):
            s = labeller.scores(prior.to_unit(prior.generate(chunk)).clamp(0, 1))
            for k in scores:
                scores[k].append(s[k])
    scores = {k: torch.cat(v) for k, v in scores.items()}
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save({"codes": codes, "scores": scores}, cache)
    return codes, scores


def part_directions(samples: int) -> None:
    codes, scores = labelled_samples(samples)
    out, fitted, flows = {}, {}, {}
    SHIPPED.mkdir(parents=True, exist_ok=True)
    meta = {"prior": PRIOR, "labels": f"{samples} seeded samples labelled by "
            "benchmarks/assets/attributes-labeller64 (UTKFace half a)",
            "licence": "trained from UTKFace labels: non-commercial research only"}
    for name, kind, labels, thresholds, score in (
            ("gender", "binary", (scores["female"] > 0).long(), None, scores["female"]),
            ("age", "ordinal", scores["age"], AGE_THRESHOLDS, scores["age"])):
        fitted[name] = fit_direction(codes, labels, name=name, attribute_kind=kind, thresholds=thresholds,
                                     classifier="svm", seed=0, meta=meta)
        # the same labels, split and held-out codes; the MLP regresses the labeller's score (female
        # logit, age in years), which keeps how far a code is from the boundary
        flows[name] = fit_flow_direction(codes, labels, name=name, attribute_kind=kind, thresholds=thresholds,
                                         scores=score, seed=0, epochs=FLOW_EPOCHS, meta=meta)
        out[name] = {"accuracy": fitted[name].accuracy, "mlp_accuracy": flows[name].accuracy,
                     "mlp_train_accuracy": flows[name].meta["train_accuracy"], "kind": kind, "thresholds": thresholds}
        print(name, f"held-out accuracy: linear {fitted[name].accuracy:.3f}, MLP {flows[name].accuracy:.3f}", flush=True)
    # the two boundaries share much of their normal; each ships conditioned on the other
    # (InterFaceGAN's conditional manipulation) so an age edit does not also change gender; the
    # flows are conditioned on the other attribute's MLP at every step of their path
    for name, other in (("age", "gender"), ("gender", "age")):
        d = conditional_direction(fitted[name], fitted[other])
        d.save(SHIPPED / FILES[name, "linear"])
        out[name]["cosine_to_" + other] = d.meta["cosine_to_conditions"][other]
        conditional_flow(flows[name], flows[other]).save(SHIPPED / FILES[name, "flow"])
        out[name]["flow_file_bytes"] = (SHIPPED / FILES[name, "flow"]).stat().st_size
        out[name]["default"] = next(m for m in MODELS if FILES[name, m] == f"{name}.npz")
    out["label_stats"] = {"female_fraction": float((scores["female"] > 0).float().mean()),
                          "age_mean": float(scores["age"].mean()), "age_std": float(scores["age"].std())}
    record = weights_record(ganprior.load_prior(PRIOR))
    (RESULTS / "editing_directions.json").write_text(json.dumps({"samples": samples, **record, **out}, indent=1))


def score_edits(judge, frames: torch.Tensor, row: dict, name: str) -> None:
    """Judge one image's frames (strengths in increasing order) and add the result to ``row``."""
    s = judge.scores(frames)[ATTRIBUTES[name]]
    row["monotonic"].append(bool((s[1:] - s[:-1] >= 0).all()))
    row["score_change"].append(float(s[-1] - s[0]))
    row["lpips"].append(lpips(frames, frames[len(frames) // 2][None].expand_as(frames)).tolist())


def moved_codes(direction, codes: torch.Tensor, strengths: list[float], prior) -> torch.Tensor:
    """``(K, *codes.shape)``: codes moved along a linear direction or a flow's paths."""
    if hasattr(direction, "move"):
        return direction.move(codes, strengths)
    vec = direction.as_latent(prior)
    return torch.stack([codes + v * vec for v in strengths])


def part_edits(count: int, strength: float, frames: int, batch: int, methods=METHODS,
               out: str = "editing_edits.json", with_samples: bool = True) -> None:
    need_data()
    prior = ganprior.load_prior(PRIOR)
    judge = load_attribute_net(JUDGE)
    # evenly spread over the held-out list: it is sorted by name, i.e. by age
    files = holdout_files(UTKFACE, 200)[::max(1, 200 // count)][:count]
    faces = torch.stack([fit_image(read_image(f)[0], 64) for f in files])
    gender, years = labels_of(files)
    strengths = strengths_for(strength, frames)
    deg = build_degradation("reconstruct", 64)
    directions = {(name, model): load_direction(SHIPPED / FILES[name, model]) for name in ATTRIBUTES for model in MODELS}
    rows = {f"{m}/{name}/{model}": {"monotonic": [], "score_change": [], "lpips": []}
            for m in ("samples", *METHODS) for name in ATTRIBUTES for model in MODELS}
    examples = []
    t0 = time.time()
    # the directions on the prior's own samples: their quality without any inversion error
    z = prior.sample_latent(200, torch.Generator().manual_seed(123))
    with torch.no_grad():
        for (name, model), d in (directions.items() if with_samples else ()):
            moved = moved_codes(d, z, strengths, prior)
            for i in range(z.shape[0]):
                x = prior.to_unit(prior.generate(moved[:, i])).clamp(0, 1)
                score_edits(judge, x, rows[f"samples/{name}/{model}"], name)
    print(f"samples done ({time.time() - t0:.0f}s)", flush=True)
    rows = {k: v for k, v in rows.items() if v["monotonic"] or k.split("/")[0] in methods}
    for method in methods:
        for start in range(0, count, batch):
            chunk = faces[start:start + batch]
            r = ganprior.invert(chunk, deg, prior, method=method)  # one inversion, every direction model
            for i in range(len(chunk)):
                for (name, model), d in directions.items():
                    x = edit_frames(r, d, strengths, image=i)
                    score_edits(judge, x, rows[f"{method}/{name}/{model}"], name)
                    if start + i < 3 and method == "single" and model == "flow":
                        examples.append(make_sheet([chunk[i], *x], ["input"] + [f"{name} {v:+.1f}" for v in strengths],
                                                   tile=80))
            print(f"{method}: {start + len(chunk)}/{count} faces ({time.time() - t0:.0f}s)", flush=True)
    summary = {}
    for key, row in rows.items():
        summary[key] = {"monotonic_fraction": float(np.mean(row["monotonic"])),
                        "mean_score_change": float(np.mean(row["score_change"])),
                        "lpips_by_strength": np.array(row["lpips"]).mean(0).tolist(),
                        "judge_score": ATTRIBUTES[key.split("/")[1]], "images": len(row["monotonic"])}
        print(key, summary[key], flush=True)
    read = judge.scores(faces)
    judge_check = {"gender_accuracy": float(((read["female"] > 0).long() == gender).float().mean()),
                   "age_mae": float((read["age"] - years).abs().mean())}
    (RESULTS / out).write_text(json.dumps(
        {"images": count, "strengths": strengths, "prior": PRIOR, **weights_record(prior), "files": {f"{n}/{m}": f for (n, m), f in FILES.items()},
         "summary": summary, "rows": rows,
         "judge_on_held_out_faces": judge_check}, indent=1))
    if with_samples:
        save_image(stack_rows(examples), ROOT / "benchmarks" / "editing_examples.png")


def part_sheets() -> None:
    """The docs' sheets, made by the commands users run: per-code role maps (mGANprior Fig. 5), the
    layer / code-count analysis (Fig. 10/11) on 4 held-out faces, SeFa directions of `utkface64`,
    and feature mixing of two held-out faces (the shipped priors have no per-layer styles)."""
    import shutil
    import tempfile

    from ganprior.cli import main as cli
    need_data()
    files = [str(f) for f in holdout_files(UTKFACE, 200)[:4]]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        jobs = [(["roles", files[0], "--out", t / "roles", "--prior", PRIOR, "--quiet"], "roles/roles.png", "roles"),
                (["analyze", *files, "--out", t / "layers", "--prior", PRIOR, "--steps", "100", "--quiet"],
                 "layers/layers.png", "layers"),
                (["directions", "closed-form", "--prior", PRIOR, "--k", "5", "--out", t / "sefa", "--quiet"],
                 "sefa/sheet.png", "sefa"),
                (["mix", files[1], files[2], "--out", t / "mix", "--prior", PRIOR, "--quiet"], "mix/sheet.png", "mix")]
        for argv, produced, name in jobs:
            if cli([str(v) for v in argv]) != 0:
                raise SystemExit(f"ganprior {argv[0]} failed")
            shutil.copy(t / produced, ROOT / "benchmarks" / f"editing_{name}.png")
            if name == "layers":
                shutil.copy(t / "layers" / "layers.json", RESULTS / "editing_layers.json")
            print("wrote", f"benchmarks/editing_{name}.png", flush=True)


def report() -> None:
    lines = ["## Semantic editing of real faces (InterFaceGAN boundaries and MLP flows on `utkface64`)", ""]
    d = RESULTS / "editing_directions.json"
    e = RESULTS / "editing_edits.json"
    if d.exists():
        r = json.loads(d.read_text())
        meta = {p.stem: metadata(p) for p in (LABELLER, JUDGE) if p.exists()}
        lab = meta.get(LABELLER.stem, {})
        jud = meta.get(JUDGE.stem, {})
        lines += [f"Directions, fitted on {r['samples']} seeded samples of the prior labelled by a *labeller* CNN "
                  "(UTKFace training half a; validation gender accuracy "
                  f"{float(lab.get('validation_gender_accuracy', 'nan')):.3f}, age error "
                  f"{float(lab.get('validation_age_mae', 'nan')):.1f} years): *linear*, InterFaceGAN linear-SVM "
                  "boundaries in z (edit: z + s x normal); *flow*, an MLP (2 x 256 SiLU) regressing the labeller's "
                  "score (female logit, age in years) from z, the edit following its normalised logit gradient "
                  "for a path length |s| (Euler steps of 0.1; `ganprior.editing.nonlinear`). Edits are scored by a "
                  "*judge* CNN trained on the other half (validation gender accuracy "
                  f"{float(jud.get('validation_gender_accuracy', 'nan')):.3f}, age error "
                  f"{float(jud.get('validation_age_mae', 'nan')):.1f} years). Both CNNs ship in `benchmarks/assets` "
                  "(UTKFace licence: non-commercial research only). Reproduce: "
                  "`.venv/bin/python benchmarks/editing.py`.", "", *stale_weights_note(r, PRIOR),
                  "| direction | labels | linear: accuracy on held-out codes | MLP: accuracy on the same codes |",
                  "|---|---|---|---|"]
        for name in ATTRIBUTES:
            kind = ("female logit > 0" if name == "gender" else
                    f"age <= {r[name]['thresholds'][0]:g} vs >= {r[name]['thresholds'][1]:g} years")
            mlp = r[name].get("mlp_accuracy")
            lines.append(f"| {name} | {kind} | {r[name]['accuracy']:.3f} | "
                         + ("-" if mlp is None else f"{mlp:.3f}") + " |")
        lines += ["", "The two linear normals have cosine "
                  f"{r['age'].get('cosine_to_gender', float('nan')):.2f}: age and gender are entangled in the prior's z. "
                  "Each direction is conditioned on the other (InterFaceGAN's conditional manipulation): the linear "
                  "ones have the other normal projected out; a flow has the other MLP's gradient projected out at "
                  "every step of its path. The default names (`ganprior edit --direction age|gender`) ship the "
                  "model that edited the 200 generated samples more often monotonically: "
                  + ", ".join(f"{n}: {m}" for (n, m), f in sorted(FILES.items()) if f == f"{n}.npz")
                  + "; the others ship as "
                  + " and ".join(f"`{f[:-4]}`" for (n, m), f in sorted(FILES.items()) if f != f"{n}.npz") + "."]
        lines.append("")
    if e.exists():
        r = json.loads(e.read_text())
        s = r["strengths"]
        lines += [f"Edits of {r['images']} held-out real faces spread over all ages (inverted once with the library "
                  f"defaults, then edited with both kinds of direction; multi-code moves all 20 codes, by s x normal "
                  f"or each along its own flow path, as mGANprior), s = {s[0]:g}..{s[-1]:g} "
                  f"in {len(s)} frames, and of 200 samples of the prior (no inversion). Monotonic: the judge's score "
                  "never decreases along s. LPIPS: to the unedited image (identity drift). The judge reads the held-out "
                  f"faces themselves at {r['judge_on_held_out_faces']['gender_accuracy']:.3f} gender accuracy and "
                  f"{r['judge_on_held_out_faces']['age_mae']:.1f} years mean age error.", "",
                  *stale_weights_note(r, PRIOR),
                  "| edited | direction | model | monotonic | mean change over the range | LPIPS at s = "
                  + " / ".join(f"{v:+g}" for v in s) + " |", "|---|---|---|---|---|---|"]
        for key, row in r["summary"].items():
            what, name, *model = key.split("/")
            what = {"samples": "prior samples", "multi": "real faces, multi-code",
                    "single": "real faces, single-code"}.get(what, what)
            unit = "years" if row["judge_score"] == "age" else "female logit"
            lines.append(f"| {what} | {name} | {model[0] if model else 'linear'} | "
                         f"{row['monotonic_fraction'] * 100:.1f}% of {row['images']} | "
                         f"{row['mean_score_change']:+.1f} {unit} | "
                         + " / ".join(f"{v:.3f}" for v in row["lpips_by_strength"]) + " |")
        every = RESULTS / "editing_edits_all.json"
        if every.exists():
            a = json.loads(every.read_text())
            rows = [(k.split("/")[1], k.split("/")[2], v) for k, v in a["summary"].items()
                    if k.startswith("single/")]
            lines += ["", f"The same check on all {a['images']} held-out faces (single-code only; "
                      "`--part edits-all`), as the 40 faces leave a standard error of about 6 points:", "",
                      *stale_weights_note(a, PRIOR),
                      "| direction | model | monotonic | mean change over the range |", "|---|---|---|---|"]
            for name, model, row in rows:
                unit = "years" if row["judge_score"] == "age" else "female logit"
                lines.append(f"| {name} | {model} | {row['monotonic_fraction'] * 100:.1f}% of {row['images']} | "
                             f"{row['mean_score_change']:+.1f} {unit} |")
        lines += ["", "Single-code flow edits of three held-out faces (`age`, `gender`):", "",
                  "![edits](benchmarks/editing_examples.png)", ""]
    sheets = {"roles": "Per-code role maps (mGANprior Fig. 5; `ganprior roles`): where the image changes when one "
                       "code's important channels (importance > 0.2) are switched off.",
              "layers": "Reconstruction PSNR against the composition layer and the number of codes (mGANprior "
                        "Fig. 10/11; `ganprior analyze`, 4 held-out faces, 100 steps).",
              "sefa": "Closed-form (SeFa) directions of `utkface64`, no labels (`ganprior directions closed-form`; "
                      "strengths -3..3).",
              "mix": "Feature mixing of two held-out faces (`ganprior mix`; AdaIN at the composition layer: A's "
                     "structure with B's channel statistics, and B's with A's)."}
    for name, caption in sheets.items():
        if (ROOT / "benchmarks" / f"editing_{name}.png").exists():
            lines += [caption, "", f"![{name}](benchmarks/editing_{name}.png)", ""]
    write_section("editing", lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", default="all", choices=["all", "classifiers", "directions", "edits", "edits-all",
                                                            "sheets", "report"])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--images", type=int, default=40, help="held-out faces to edit")
    # the judge saturates beyond about 2 (generated samples: the score barely moves from s=2 to 3)
    ap.add_argument("--strength", type=float, default=2.0)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if a.part in ("all", "classifiers"):
        part_classifiers(a.epochs)
    if a.part in ("all", "directions"):
        part_directions(a.samples)
    if a.part in ("all", "edits"):
        part_edits(a.images, a.strength, a.frames, a.batch)
    if a.part in ("all", "edits-all"):  # every held-out face, single-code: the bar with a smaller error
        part_edits(200, a.strength, a.frames, a.batch, methods=("single",), out="editing_edits_all.json",
                   with_samples=False)
    if a.part in ("all", "sheets"):
        part_sheets()
    report()
    print(f"done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
