"""Bundled demo inputs: real faces in the public domain (sources in ``CREDITS.md`` beside them).

* ``faces/``: aligned 64x64 crops (the ``utkface`` template, from the shipped RetinaFace's five points)
  of two public-domain portraits: Eileen Collins (NASA, via scikit-image's ``astronaut``) and Grace
  Hopper (US Navy, via matplotlib's sample data). The demo degrades them itself (``--simulate``), so
  its metrics compare with the originals.
* ``real/``: genuinely degraded inputs. ``solvay_1927.png``: a black-and-white group photo, five
  delegates of the 1927 Solvay conference (public domain), colourised face by face; ``solvay_1927_small.png``:
  the same photo at two thirds of its size, super-resolved x2; ``astronaut_hole.png``: an RGBA crop
  whose transparent square is the hole to inpaint (``astronaut.png``, ``astronaut_gray.png`` and
  ``astronaut_16px.png`` are the same crop whole, gray and at 16 px, used by the tests).
"""

from __future__ import annotations

from pathlib import Path

# (job name, what a newcomer sees it do) in the order of the summary grid
TITLES = {
    "reconstruct": "reconstruction",
    "super-resolve-x4": "super-resolution x4 (16 px in)",
    "colorize": "colorization",
    "inpaint-center": "inpainting (centre hole)",
    "denoise": "denoising (noise 0.1)",
    "real-inpaint-alpha": "real: inpaint a transparent hole",
    "real-colorize-photo": "real: colourise a 1927 photo",
    "real-super-resolve-photo": "real: a 1927 photo x2",
}


def demo_dir() -> Path:
    return Path(__file__).parent


def demo_jobs(root: Path) -> list[tuple[str, list[str]]]:
    """(name, CLI arguments) of each demo run."""
    faces, real = str(root / "faces"), root / "real"
    return [
        ("reconstruct", ["reconstruct", faces, "--simulate"]),
        ("super-resolve-x4", ["super-resolve", faces, "--factor", "4", "--simulate"]),
        ("colorize", ["colorize", faces, "--simulate"]),
        ("inpaint-center", ["inpaint", faces, "--mask", "center", "--simulate"]),
        ("denoise", ["denoise", faces, "--simulate", "--noise-sigma", "0.1"]),
        ("real-inpaint-alpha", ["inpaint", str(real / "astronaut_hole.png")]),
        ("real-colorize-photo", ["colorize", str(real / "solvay_1927.png"), "--faces", "detect"]),
        ("real-super-resolve-photo", ["super-resolve", str(real / "solvay_1927_small.png"), "--factor", "2",
                                      "--faces", "detect"]),
    ]
