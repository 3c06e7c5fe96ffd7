"""Bundled demo inputs.

* ``faces/astronaut.png``: a 64x64 crop of the astronaut photo (Eileen Collins, NASA, public domain),
  as shipped by scikit-image's ``skimage.data.astronaut``.
* ``faces/prior_sample{1,2,3}.png``: samples of the default prior itself (seeds 1-3), so they are
  easy cases; the real-image numbers are in BENCHMARKS.md.
* ``real/``: genuinely degraded inputs made from the astronaut crop: a gray image, a 16x16
  low-resolution image, and an RGBA image whose transparent square is the hole to inpaint.
"""

from __future__ import annotations

from pathlib import Path


def demo_dir() -> Path:
    return Path(__file__).parent


def demo_jobs(root: Path) -> list[tuple[str, list[str]]]:
    """(name, CLI arguments) of each demo run."""
    faces, real = str(root / "faces"), root / "real"
    return [
        ("reconstruct", ["reconstruct", faces, "--simulate"]),
        ("colorize", ["colorize", faces, "--simulate"]),
        ("super-resolve-x4", ["super-resolve", faces, "--factor", "4", "--simulate"]),
        ("inpaint-center", ["inpaint", faces, "--mask", "center", "--simulate"]),
        ("denoise", ["denoise", faces, "--simulate", "--noise-sigma", "0.1"]),
        ("real-colorize", ["colorize", str(real / "astronaut_gray.png")]),
        ("real-super-resolve-x4", ["super-resolve", str(real / "astronaut_16px.png"), "--factor", "4"]),
        ("real-inpaint-alpha", ["inpaint", str(real / "astronaut_hole.png")]),
    ]
