"""``ganprior demo``: restore the bundled demo inputs and write one summary sheet."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .restore import _run_parser, run  # the demo is a series of restore jobs: its one use of another command
from .common import Parser


def demo_cmd(argv: list[str]) -> int:
    from ..demo import demo_dir, demo_jobs
    p = Parser(prog="ganprior demo", description="Restore the bundled demo inputs with the "
               "default prior and write results, metrics and summary sheets.")
    p.add_argument("--out", default="results/demo")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    from ..io import read_image, save_image, stack_rows
    summaries = []
    all_records = []
    for job_name, job_args in demo_jobs(demo_dir()):
        out = Path(a.out) / job_name
        argv_job = [*job_args, "--out", str(out)] + (["--steps", str(a.steps)] if a.steps else [])
        if a.quiet:
            argv_job.append("--quiet")
        else:
            print(f"== {job_name}: ganprior {' '.join(argv_job)}", file=sys.stderr)
        run(_run_parser().parse_args(argv_job))
        summaries.append(read_image(out / "summary.png")[0])
        all_records.extend(json.loads((out / "metrics.json").read_text()))
    save_image(stack_rows(summaries), Path(a.out) / "summary.png")
    from ..io import write_json
    write_json(all_records, Path(a.out) / "metrics.json")
    if not a.quiet:
        print(f"demo summary sheet: {Path(a.out) / 'summary.png'}")
    return 0
