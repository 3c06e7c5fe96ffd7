"""The reliability corpus's "checkpoint" category (issue #26): crafted checkpoints through the CLI.

Each crafted file of ``tests/crafted_checkpoints.py`` (a deflated zip bomb, a pickle building
``list(range(5e7))``, tensors and storages declared without data, bad safetensors headers and
metadata, ``net.*`` keys of odd depths, shapes describing a huge network, ...) runs through
``ganprior inspect CKPT`` and ``ganprior reconstruct IMG --prior CKPT`` in-process. Each must end in
exit 2 with exactly one stderr line, ``ganprior: error: ...``, that says what was refused, without
the process's peak memory growing (the refusal comes before the allocation). Good checkpoints run
first as controls and must give results. Outcomes go into the ``fuzz_tally`` under "checkpoint".
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ..crafted_checkpoints import CRAFTED, tiny_dcgan, write_crafted
from .conftest import count
from .corpus import ERROR, RESULT, Case
from .test_fuzz import call_main, run_case

pytestmark = pytest.mark.integration

CATEGORY = "checkpoint"
MAX_PEAK_GROWTH = 64 * 2 ** 20  # bytes a refused checkpoint may add to the process's peak memory


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def run_inspect(path: Path, expect: str, capfd) -> tuple[str, str]:
    """``ganprior inspect PATH`` in-process -> (outcome, detail), with run_case's rules."""
    code, escaped, shown, stdout, stderr = call_main(["inspect", str(path)], capfd)
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    problems = [escaped] if escaped else []
    if "Traceback" in stderr + stdout:
        problems.append("traceback printed")
    if shown and escaped is None:
        problems.append(f"warning printed: {shown[0]}")
    if code == 0 and not lines and "format:" in stdout:
        outcome = RESULT
    elif code == 2 and len(lines) == 1 and lines[0].startswith("ganprior: error: "):
        outcome = ERROR
    else:
        outcome = "failure"
        problems.append(f"exit {code}" + (" (internal error)" if "internal error" in stderr else "")
                        + f", {len(lines)} stderr lines")
    if outcome in (RESULT, ERROR) and outcome != expect:
        problems.append(f"expected {expect}, got {outcome}")
    if problems:
        return "failure", "; ".join(problems) + f"\n    argv: ganprior inspect {path}" + \
            (f"\n    stderr: {stderr.strip()[-1500:]}" if stderr.strip() else "")
    return outcome, lines[0] if lines else ""


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> tuple[Path, Path, list[tuple[Path, str]]]:
    """(a 16x16 input image, the controls' folder, [(crafted file, the refusal it must give)])."""
    from ganprior.training.trainer import export_prior
    root = tmp_path_factory.mktemp("fuzz-checkpoints")
    image = root / "img.png"
    Image.fromarray((np.random.default_rng(26).random((16, 16, 3)) * 255).astype(np.uint8)).save(image)
    good = root / "good"
    good.mkdir()
    prior = tiny_dcgan()
    torch.save({"netG_state_dict": {f"main.{int(b) * 3 + int(p)}.{rest}": v for k, v in prior.state_dict().items()
                                    for _, b, p, rest in [k.split(".", 3)]}}, good / "tutorial.pth")
    torch.save(prior.state_dict(), good / "net_layout.pth")
    export_prior(prior, None, good / "exported.safetensors")
    crafted = root / "crafted"
    crafted.mkdir()
    return image, good, [(write_crafted(crafted, name), CRAFTED[name][1]) for name in sorted(CRAFTED)]


def test_checkpoint_corpus(checkpoints, fuzz_tally, capfd, tmp_path, monkeypatch):
    monkeypatch.delenv("GANPRIOR_DEBUG", raising=False)
    image, good, crafted = checkpoints
    tally = fuzz_tally.setdefault(CATEGORY, dict(cases=0, result=0, error=0, failure=0, seconds=0.0))
    runs = [(path, RESULT, None) for path in sorted(good.iterdir())] + [(p, ERROR, piece) for p, piece in crafted]
    failures = []
    for i, (path, expect, piece) in enumerate(runs):
        for command in ("inspect", "reconstruct"):
            peak = _peak_rss()
            t0 = time.perf_counter()
            if command == "inspect":
                outcome, detail = run_inspect(path, expect, capfd)
            else:
                case = Case(f"{CATEGORY}/{path.name}", CATEGORY, "prior", ("reconstruct", str(image)), expect)
                outcome, detail = run_case(case, tmp_path / f"out{i}", path, capfd)
            seconds = time.perf_counter() - t0
            if outcome == ERROR and piece not in detail:
                outcome, detail = "failure", f"the error does not say {piece!r}: {detail}"
            grown = _peak_rss() - peak
            if expect == ERROR and grown > MAX_PEAK_GROWTH:
                outcome, detail = "failure", f"peak memory grew by {grown / 2 ** 20:.0f} MB before the refusal"
            count(tally, outcome, seconds)
            if outcome == "failure":
                failures.append(f"{command} {path.name}: {detail}")
    assert not failures, f"{len(failures)} of {2 * len(runs)} checkpoint cases failed:\n" + "\n".join(failures)
