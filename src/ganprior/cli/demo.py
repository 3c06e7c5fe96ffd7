"""``ganprior demo``: restore the bundled demo inputs and write one compact summary grid."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from .restore import _run_parser, run  # the demo is a series of restore jobs: its one use of another command
from .common import Parser

# items per row of the summary grid
SHOWN = 2


def demo_cmd(argv: list[str]) -> int:
    from ..demo import TITLES, demo_dir, demo_jobs
    from ..demo.grid import scores_line, summary_grid
    from ..io import read_image, save_image, write_json
    from ..pipeline import job_file_names
    p = Parser(prog="ganprior demo", description="Restore the bundled demo inputs (public-domain faces and "
               "a 1927 group photo) with the default prior and write results, metrics and one summary grid.")
    p.add_argument("--out", default="results/demo")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    rows, all_records = [], []
    originals = sorted((demo_dir() / "faces").glob("*.png"))
    rows.append(("the faces (originals)", "public domain: NASA, US Navy",
                 [(read_image(f)[0],) for f in originals[:SHOWN]]))
    for job_name, job_args in demo_jobs(demo_dir()):
        out = Path(a.out) / job_name
        argv_job = [*job_args, "--out", str(out)] + (["--steps", str(a.steps)] if a.steps else [])
        if a.quiet:
            argv_job.append("--quiet")
        else:
            print(f"== {job_name}: ganprior {' '.join(argv_job)}", file=sys.stderr)
        t0 = time.perf_counter()
        run(_run_parser().parse_args(argv_job))
        seconds = time.perf_counter() - t0
        records = json.loads((out / "metrics.json").read_text())
        all_records.extend(records)
        items = []
        for record in records[:SHOWN]:
            names = job_file_names(Path(record["input"]).stem)
            items.append((read_image(out / names["input_name"])[0], read_image(out / names["result_name"])[0]))
        scores = scores_line(records, seconds)
        if records and records[0].get("faces") is not None:  # a whole photo: what was found, and the sizes
            (_, h, w), (_, h2, w2) = items[0][0].shape, items[0][1].shape
            scores = f"{len(records[0]['faces'])} faces, {w}x{h} -> {w2}x{h2}, {scores}"
        rows.append((TITLES.get(job_name, job_name), scores, items))
    grid = summary_grid(rows, title=f"ganprior demo: each input, then its result (prior utkface64; seconds with "
                                    f"{torch.get_num_threads()} CPU threads)")
    save_image(grid, Path(a.out) / "summary.png")
    write_json(all_records, Path(a.out) / "metrics.json")
    if not a.quiet:
        print(f"demo summary grid: {Path(a.out) / 'summary.png'}")
    return 0
