"""Forward models that deepinv does not provide as they are, and their parameters. The task registry
(names -> physics, post-processing, presets) is ``ganprior.tasks``; nothing here imports it."""

from .masks import BUILTIN_MASKS, builtin_mask, center_box_mask, random_pixel_mask

__all__ = ["BUILTIN_MASKS", "builtin_mask", "center_box_mask", "random_pixel_mask"]
