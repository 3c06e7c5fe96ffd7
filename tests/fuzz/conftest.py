"""The fuzz corpus's tally, printed at the end of every pytest run that ran it (issue #10)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

TALLY = pytest.StashKey[dict]()


@pytest.fixture(scope="session")
def fuzz_tally(request) -> dict:
    """category -> {"cases", "result", "error", "failure", "seconds"}, filled in by the corpus tests."""
    return request.config.stash.setdefault(TALLY, {})


@pytest.fixture(scope="session")
def fuzz_checkpoint(tmp_path_factory) -> Path:
    """The 16x16 test DCGAN of tests/conftest.py (tiny_checkpoint), once per session."""
    from ganprior.priors import DCGANPrior
    prior = DCGANPrior.random(latent_dim=8, width=4, resolution=16, seed=0)
    sd = {}
    for k, v in prior.state_dict().items():
        _, block, pos, rest = k.split(".", 3)
        sd[f"main.{int(block) * 3 + int(pos)}.{rest}"] = v
    path = tmp_path_factory.mktemp("fuzz-prior") / "tiny_dcgan.pth"
    torch.save({"netG_state_dict": sd}, path)
    return path


def count(tally: dict, outcome: str, seconds: float) -> None:
    """Add one case's outcome ("result", "error" or "failure") and time to a category's tally."""
    tally["cases"] += 1
    tally[outcome] += 1
    tally["seconds"] += seconds


def summary_lines(tally: dict) -> list[str]:
    total = {k: sum(t[k] for t in tally.values()) for k in ("cases", "result", "error", "failure", "seconds")}
    lines = [f"fuzz: {total['cases']} cases: {total['result']} results, {total['error']} one-line errors, "
             f"{total['failure']} failures ({total['seconds']:.1f} s)",
             f"  {'category':12s} {'cases':>6s} {'results':>8s} {'errors':>7s} {'failures':>9s} {'seconds':>8s}"]
    for cat, t in sorted(tally.items()):
        lines.append(f"  {cat:12s} {t['cases']:6d} {t['result']:8d} {t['error']:7d} {t['failure']:9d} "
                     f"{t['seconds']:8.1f}")
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    tally = config.stash.get(TALLY, None)
    if not tally:
        return
    terminalreporter.write_sep("-", "reliability corpus (tests/fuzz)")
    for line in summary_lines(tally):
        terminalreporter.write_line(line)
