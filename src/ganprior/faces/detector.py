"""The face detector interface: what a detection is (``Face``), what a detector does (``FaceDetector``)
and how one is found by name (``DETECTORS``, ``register_detector``, ``get_detector``).

Coordinates are in pixels of the image given to ``detect``, continuous, with (0, 0) the top-left
corner of the top-left pixel (so a box covering the whole W x H image is (0, 0, W, H)). Landmarks
come in the order left eye, right eye, nose tip, mouth left corner, mouth right corner, "left" and
"right" as seen in the image (the subject's right eye is the image-left one).

Adding a detector is one new module: subclass ``FaceDetector``, decorate it with
``@register_detector("name")`` and import the module in ``ganprior.faces``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import GanpriorError

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
DEFAULT_DETECTOR = "retinaface"


@dataclass(eq=False)
class Face:
    """One detected face: its box (x0, y0, x1, y1), its 5 landmarks as a (5, 2) array of (x, y) in the
    order of ``LANDMARK_NAMES``, and the detector's confidence in [0, 1]."""

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float

    def __post_init__(self) -> None:
        box = tuple(float(v) for v in self.box)
        if len(box) != 4 or not all(np.isfinite(box)) or box[2] < box[0] or box[3] < box[1]:
            raise GanpriorError(f"a face box is (x0, y0, x1, y1) with x0 <= x1 and y0 <= y1, not {self.box!r}")
        landmarks = np.array(self.landmarks, dtype=np.float64)
        if landmarks.shape != (len(LANDMARK_NAMES), 2) or not np.isfinite(landmarks).all():
            raise GanpriorError(f"a face has {len(LANDMARK_NAMES)} finite (x, y) landmarks, "
                                f"not an array of shape {landmarks.shape}")
        self.box = box
        self.landmarks = landmarks
        self.score = float(self.score)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    def to_json(self) -> dict[str, Any]:
        """``{"box": [x0, y0, x1, y1], "landmarks": [[x, y] x 5], "score": s}``, plain floats (pixels to
        1/100, the score to 1/10000), ready for ``json.dumps``."""
        return {
            "box": [round(v, 2) for v in self.box],
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks],
            "score": round(self.score, 4),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Face:
        try:
            return cls(box=tuple(data["box"]), landmarks=np.asarray(data["landmarks"], dtype=np.float64),
                       score=data["score"])
        except (KeyError, TypeError, ValueError) as e:
            raise GanpriorError(f"not a face record ({e}): expected box, landmarks and score") from None


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """The detectors' input contract: a uint8 array (H, W, 3) RGB. A grayscale (H, W) or (H, W, 1)
    image is stacked to 3 channels and an alpha channel (H, W, 4) dropped; anything else is refused."""
    if not isinstance(image, np.ndarray):
        raise GanpriorError(f"a face detector takes a numpy uint8 image, not {type(image).__name__}")
    if image.dtype != np.uint8:
        raise GanpriorError(f"a face detector takes a uint8 image (0-255), not dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim != 3 or image.shape[2] != 3:
        raise GanpriorError(f"a face detector takes an (H, W, 3) RGB or (H, W) grayscale image, "
                            f"not shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise GanpriorError(f"cannot detect faces in an empty image (shape {image.shape})")
    return image


class FaceDetector(ABC):
    """Finds faces in an RGB photo."""

    name: str = ""

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Face]:
        """The faces in ``image`` (uint8 (H, W, 3) RGB, or grayscale (H, W)), most confident first."""


DETECTORS: dict[str, Callable[..., FaceDetector]] = {}


def register_detector(name: str) -> Callable[[type[FaceDetector]], type[FaceDetector]]:
    """Class decorator: make a ``FaceDetector`` subclass available as ``get_detector(name)``."""

    def register(cls: type[FaceDetector]) -> type[FaceDetector]:
        if not (isinstance(cls, type) and issubclass(cls, FaceDetector)):
            raise TypeError(f"register_detector({name!r}) decorates FaceDetector subclasses, not {cls!r}")
        if name in DETECTORS and DETECTORS[name] is not cls:
            raise ValueError(f"a face detector named {name!r} is already registered ({DETECTORS[name]!r})")
        cls.name = name
        DETECTORS[name] = cls
        return cls

    return register


def get_detector(name: str = DEFAULT_DETECTOR, **options: Any) -> FaceDetector:
    """A new detector of the registered kind ``name``, built with ``options``."""
    if name not in DETECTORS:
        known = ", ".join(sorted(DETECTORS)) or "none"
        raise GanpriorError(f"unknown face detector {name!r} (known: {known})")
    return DETECTORS[name](**options)
