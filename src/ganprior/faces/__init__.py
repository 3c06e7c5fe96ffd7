"""Faces in whole photos (issue #28): detection with 5 landmarks, alignment to a prior's template,
paste-back, and the photo pipeline.

``detector``: the interface (``Face``, ``FaceDetector``) and the registry (``get_detector``).
``retinaface``: RetinaFace MobileNet-0.25 through onnxruntime, the default detector.
``align``: 5-point templates, the similarity fit, aligned crops and the feathered paste-back.
``photo``: a photo's faces restored with a run's recipe and pasted onto its classical restoration.

    from ganprior.faces import get_detector
    faces = get_detector().detect(rgb_uint8_array)   # list[Face], most confident first
"""

from .detector import (DEFAULT_DETECTOR, DETECTORS, LANDMARK_NAMES, Face, FaceDetector, as_rgb_uint8,
                       get_detector, register_detector)
from . import retinaface  # registers "retinaface"
from .retinaface import RetinaFace

__all__ = ["Face", "FaceDetector", "DETECTORS", "DEFAULT_DETECTOR", "LANDMARK_NAMES", "RetinaFace",
           "as_rgb_uint8", "get_detector", "register_detector"]
