"""Editing real images through the prior (interpolation now; directions, jitter, morphing later)."""

from .interpolate import feature_interpolation, max_jump

__all__ = ["feature_interpolation", "max_jump"]
