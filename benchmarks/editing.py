"""Semantic editing of held-out real faces with `utkface64` (mGANprior Sec. 4.3, InterFaceGAN boundaries).

Parts (numbers cached in benchmarks/results/editing_<part>.json; the report is rebuilt from them):

* classifiers: two age + gender CNNs (``attributes.AttributeNet``) on the two disjoint halves of the
  UTKFace training split: the *labeller* (half a) labels generated samples; the *judge* (half b)
  scores the edits. A direction is never scored by the network that defined it.
* directions: 10,000 seeded samples of the prior, labelled by the labeller: gender (female logit
  > 0) and age (ordinal: below the lower tertile vs above the upper one); InterFaceGAN linear-SVM
  boundaries in z with accuracy on 20% held-out codes. They ship as the prior's named directions
  (``src/ganprior/weights/directions/utkface64/{age,gender}.npz``: ``ganprior edit --direction age``).
* edits: held-out real faces, inverted with multi-code (library defaults: N=20 at layer 2, 300
  steps); every code moved by s * direction for s in -3..3 (7 frames). An edit counts as
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
from ganprior.editing import edit_frames, fit_direction, load_direction, strengths_for
from ganprior.io import fit_image, make_sheet, read_image, save_image, stack_rows
from ganprior.metrics import lpips
from ganprior.physics.tasks import build_degradation
from ganprior.training import holdout_files

from attributes import (ASSETS, UTKFACE, labels_of, load_attribute_net, metadata, need_data,
                        train_attribute_net)
from sections import write_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PRIOR = "utkface64"
SHIPPED = ROOT / "src" / "ganprior" / "weights" / "directions" / PRIOR
LABELLER, JUDGE = ASSETS / "attributes-labeller64.safetensors", ASSETS / "attributes-judge64.safetensors"
ATTRIBUTES = {"age": "age", "gender": "female"}  # direction name -> judge score it should raise
warnings.filterwarnings("ignore")


def part_classifiers(epochs: int) -> None:
    train_attribute_net(LABELLER, part="a", age=True, epochs=epochs, seed=1)
    train_attribute_net(JUDGE, part="b", age=True, epochs=epochs, seed=2)


def part_directions(samples: int) -> None:
    prior = ganprior.load_prior(PRIOR)
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
    out = {}
    SHIPPED.mkdir(parents=True, exist_ok=True)
    for name, kind, labels in (("gender", "binary", (scores["female"] > 0).long()),
                               ("age", "ordinal", scores["age"])):
        d = fit_direction(codes, labels, name=name, attribute_kind=kind, classifier="svm", seed=0,
                          meta={"prior": PRIOR, "labels": f"{samples} seeded samples labelled by "
                                "benchmarks/assets/attributes-labeller64 (UTKFace half a)",
                                "licence": "trained from UTKFace labels: non-commercial research only"})
        d.save(SHIPPED / f"{name}.npz")
        out[name] = {"accuracy": d.accuracy, "kind": kind, "meta": d.meta}
        print(name, f"held-out accuracy {d.accuracy:.3f}", flush=True)
    out["label_stats"] = {"female_fraction": float((scores["female"] > 0).float().mean()),
                          "age_mean": float(scores["age"].mean()), "age_std": float(scores["age"].std())}
    (RESULTS / "editing_directions.json").write_text(json.dumps({"samples": samples, **out}, indent=1))


def part_edits(count: int, strength: float, frames: int, batch: int) -> None:
    need_data()
    prior = ganprior.load_prior(PRIOR)
    judge = load_attribute_net(JUDGE)
    # evenly spread over the held-out list: it is sorted by name, i.e. by age
    files = holdout_files(UTKFACE, 200)[::max(1, 200 // count)][:count]
    faces = torch.stack([fit_image(read_image(f)[0], 64) for f in files])
    gender, years = labels_of(files)
    strengths = strengths_for(strength, frames)
    deg = build_degradation("reconstruct", 64)
    directions = {name: load_direction(SHIPPED / f"{name}.npz") for name in ATTRIBUTES}
    rows = {name: {"monotonic": [], "score_change": [], "lpips": []} for name in ATTRIBUTES}
    examples = {name: [] for name in ATTRIBUTES}
    t0 = time.time()
    for start in range(0, count, batch):
        chunk = faces[start:start + batch]
        r = ganprior.invert(chunk, deg, prior, method="multi")
        for i in range(len(chunk)):
            for name, score_key in ATTRIBUTES.items():
                x = edit_frames(r, directions[name], strengths, image=i)
                s = judge.scores(x)[score_key]
                diffs = s[1:] - s[:-1]
                rows[name]["monotonic"].append(bool((diffs >= 0).all()))
                rows[name]["score_change"].append(float(s[-1] - s[0]))
                rows[name]["lpips"].append(lpips(x, x[frames // 2][None].expand_as(x)).tolist())
                if start + i < 4:
                    examples[name].append(make_sheet([chunk[i], *x], ["input"] + [f"{name} {v:+.1f}" for v in strengths],
                                                     tile=80))
        print(f"{start + len(chunk)}/{count} faces ({time.time() - t0:.0f}s)", flush=True)
    summary = {}
    for name, row in rows.items():
        lp = np.array(row["lpips"])
        summary[name] = {"monotonic_fraction": float(np.mean(row["monotonic"])),
                         "mean_score_change": float(np.mean(row["score_change"])),
                         "lpips_by_strength": lp.mean(0).tolist(), "judge_score": ATTRIBUTES[name]}
        print(name, summary[name], flush=True)
    judge_check = {"gender_accuracy": float(((judge.scores(faces)["female"] > 0).long() == gender).float().mean()),
                   "age_mae": float((judge.scores(faces)["age"] - years).abs().mean())}
    (RESULTS / "editing_edits.json").write_text(json.dumps(
        {"images": count, "strengths": strengths, "prior": PRIOR, "summary": summary, "rows": rows,
         "judge_on_held_out_faces": judge_check}, indent=1))
    save_image(stack_rows([s for name in ATTRIBUTES for s in examples[name]]), ROOT / "benchmarks" / "editing_examples.png")


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
    lines = ["## Semantic editing of real faces (InterFaceGAN boundaries on `utkface64`)", ""]
    d = RESULTS / "editing_directions.json"
    e = RESULTS / "editing_edits.json"
    if d.exists():
        r = json.loads(d.read_text())
        meta = {p.stem: metadata(p) for p in (LABELLER, JUDGE) if p.exists()}
        lab = meta.get(LABELLER.stem, {})
        jud = meta.get(JUDGE.stem, {})
        lines += [f"Directions: linear-SVM boundaries in z, fitted on {r['samples']} seeded samples of the prior "
                  "labelled by a *labeller* CNN (UTKFace training half a; validation gender accuracy "
                  f"{float(lab.get('validation_gender_accuracy', 'nan')):.3f}, age error "
                  f"{float(lab.get('validation_age_mae', 'nan')):.1f} years). Edits are scored by a *judge* CNN "
                  "trained on the other half (validation gender accuracy "
                  f"{float(jud.get('validation_gender_accuracy', 'nan')):.3f}, age error "
                  f"{float(jud.get('validation_age_mae', 'nan')):.1f} years). Both ship in `benchmarks/assets` "
                  "(UTKFace licence: non-commercial research only). Reproduce: "
                  "`.venv/bin/python benchmarks/editing.py`.", "",
                  "| direction | labels | accuracy on held-out codes |", "|---|---|---|"]
        for name in ATTRIBUTES:
            kind = "female logit > 0" if name == "gender" else "age below lower vs above upper tertile"
            lines.append(f"| {name} | {kind} | {r[name]['accuracy']:.3f} |")
        lines.append("")
    if e.exists():
        r = json.loads(e.read_text())
        s = r["strengths"]
        lines += [f"Edits of {r['images']} held-out real faces (multi-code inversion, library defaults; every code "
                  f"moved by s x direction, s = {s[0]:g}..{s[-1]:g}). Monotonic: the judge's score never decreases "
                  "along s. LPIPS: to the unedited reconstruction (identity drift). The judge reads the held-out "
                  f"faces themselves at {r['judge_on_held_out_faces']['gender_accuracy']:.3f} gender accuracy and "
                  f"{r['judge_on_held_out_faces']['age_mae']:.1f} years mean age error.", "",
                  "| direction | judge score | monotonic | mean change, s = -3 to +3 | LPIPS at s = "
                  + " / ".join(f"{v:+g}" for v in s) + " |", "|---|---|---|---|---|"]
        for name, row in r["summary"].items():
            unit = "years" if row["judge_score"] == "age" else "logit"
            lines.append(f"| {name} | {row['judge_score']} | {row['monotonic_fraction'] * 100:.0f}% | "
                         f"{row['mean_score_change']:+.1f} {unit} | "
                         + " / ".join(f"{v:.3f}" for v in row["lpips_by_strength"]) + " |")
        lines += ["", "![edits](benchmarks/editing_examples.png)", ""]
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
    ap.add_argument("--part", default="all", choices=["all", "classifiers", "directions", "edits", "sheets", "report"])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--images", type=int, default=40, help="held-out faces to edit")
    ap.add_argument("--strength", type=float, default=3.0)
    ap.add_argument("--frames", type=int, default=7)
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
    if a.part in ("all", "sheets"):
        part_sheets()
    report()
    print(f"done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
