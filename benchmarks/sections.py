"""BENCHMARKS.md sections: each benchmark script writes ``results/<name>.md`` (its numbers plus the
hand-written ``results/<name>_notes.md``); ``inversion.py --part report`` folds them together. Results record
the digest of the weights they were measured with, so a retrained prior marks its old numbers."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import ganprior
from ganprior.subspaces import prior_fingerprint

RESULTS = Path(__file__).resolve().parent / "results"


def write_section(name: str, lines: list[str]) -> Path:
    """Write ``lines`` and then the section's notes file (if any) to ``results/<name>.md``."""
    notes = RESULTS / f"{name}_notes.md"
    if notes.exists():
        lines = [*lines, notes.read_text().strip(), ""]
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines))
    return path


def weights_record(prior) -> dict:
    """What a result file records about the prior's weights it was measured with."""
    return {"weights": prior_fingerprint(prior)}


@lru_cache(maxsize=None)
def installed_fingerprint(prior_name: str) -> str:
    """The digest of a named prior's weights as installed now (loaded and hashed once per run)."""
    return prior_fingerprint(ganprior.load_prior(prior_name))


def stale_weights_note(record: dict, prior_name: str) -> list[str]:
    """A bold warning when ``record`` was measured with other weights of ``prior_name`` than the ones
    installed now (a retrained prior keeps its name), else nothing."""
    if record.get("weights") == installed_fingerprint(prior_name):
        return []
    step = record.get("prior_step")
    which = f"training step {step:,}" if step else f"weights digest {record.get('weights', 'not recorded')}"
    return [f"**Measured with earlier weights of `{prior_name}` ({which}) than the ones it ships now**; "
            "the command above measures the shipped ones.", ""]
