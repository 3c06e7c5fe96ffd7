"""What one request to the web app may use, checked by every handler (not only the upload one).

The page's controls already stay inside these bounds, but each handler can be called directly
(Gradio's HTTP API, a script), so the handlers check every value again: image and mask size in
pixels, a restored whole photo's size, how many painted layers, steps, codes and frames, the size
of an uploaded direction file.
``RunSlots`` bounds how many heavy runs (an optimisation, with its prior and image tensors) run at
once in the process; a further run waits for a free slot, and is refused with a one-line message
when none frees up in time.
"""

from __future__ import annotations

import threading

import numpy as np

from ..errors import GanpriorError

MAX_UPLOAD_MB = 20            # an uploaded file, before decoding
MAX_PIXELS = 40_000_000       # decoded size limit (a 6300 x 6300 photo), for every image and mask a handler gets
MAX_RESULT_PIXELS = MAX_PIXELS  # a restored whole photo (the upload times the super-resolution factor, squared)
MAX_LAYERS = 4                # painted layers of one editor value (the page sends one)
MAX_STEPS = 2000              # optimisation steps of one run (the page's sliders stop there too)
MAX_CODES = 40                # latent codes of one run
MAX_FRAMES = 9                # frames of one edit
MAX_DIRECTION_MB = 20         # an uploaded direction file, and the unpacked size of each array inside it
MAX_RUNS = 1                  # heavy runs at once in one app process (``ganprior app --max-runs``)
MAX_WAIT_S = 600.0            # how long a run waits for a free slot before it is refused


def check_pixels(shape, what: str, max_pixels: int | None = None) -> None:
    """Refuse an image (or mask) whose height x width exceeds the limit; only its shape is read."""
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    h, w = int(shape[0]), int(shape[1])
    if h * w > limit:
        raise GanpriorError(f"{what} is {w}x{h} pixels; the limit is {limit / 1e6:g} megapixels")
    if h < 1 or w < 1:
        raise GanpriorError(f"{what} is empty ({w}x{h} pixels)")


def check_array(a, what: str, max_pixels: int | None = None) -> np.ndarray:
    """``a`` as an (H, W) or (H, W, 1|3|4) numeric array within the pixel limit, checked from its
    shape before any copy is made; anything else is a one-line error."""
    if not isinstance(a, np.ndarray):
        raise GanpriorError(f"{what} must be an image array, got {type(a).__name__}")
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise GanpriorError(f"{what} must be an (H, W) or (H, W, 1/3/4) image, got shape {tuple(a.shape)}")
    if a.dtype.kind not in "biuf":
        raise GanpriorError(f"{what} must hold numbers, got {a.dtype}")
    check_pixels(a.shape, what, max_pixels)
    return a


class RunSlots:
    """At most ``size`` heavy runs at a time; ``acquire`` waits up to ``timeout`` seconds for a slot.

    ``peak`` records the most slots ever held at once (the tests read it)."""

    def __init__(self, size: int = MAX_RUNS, max_wait_s: float = MAX_WAIT_S):
        self._cond = threading.Condition()
        self.size = max(1, int(size))
        self.max_wait_s = float(max_wait_s)
        self.active = 0
        self.peak = 0

    def resize(self, size: int) -> None:
        with self._cond:
            self.size = max(1, int(size))
            self._cond.notify_all()

    def acquire(self, timeout: float) -> bool:
        with self._cond:
            if not self._cond.wait_for(lambda: self.active < self.size, max(0.0, timeout)):
                return False
            self.active += 1
            self.peak = max(self.peak, self.active)
            return True

    def release(self) -> None:
        with self._cond:
            self.active = max(0, self.active - 1)
            self._cond.notify()


SLOTS = RunSlots()
