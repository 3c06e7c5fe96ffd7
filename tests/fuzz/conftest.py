"""The fuzz corpus's tally, printed at the end of every pytest run that ran it (issue #10)."""

from __future__ import annotations

import pytest

TALLY = pytest.StashKey[dict]()


@pytest.fixture(scope="session")
def fuzz_tally(request) -> dict:
    """category -> {"cases", "result", "error", "failure", "seconds"}, filled in by the corpus tests."""
    return request.config.stash.setdefault(TALLY, {})


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
