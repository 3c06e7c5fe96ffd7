"""BENCHMARKS.md sections: each benchmark script writes ``results/<name>.md`` (its numbers plus the
hand-written ``results/<name>_notes.md``); ``inversion.py --part report`` folds them together."""

from __future__ import annotations

from pathlib import Path

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
