"""The geometry between a photo and a prior's face crops: 5-point templates, the similarity that maps
a face's landmarks onto a template, the warp into a crop, and the warp back into the (possibly
larger) output photo under a feathered mask.

Coordinates. Points and matrices are in pixel-index coordinates, the convention of face detectors and
of OpenCV's ``warpAffine``: the centre of the top-left pixel is (0, 0), x goes right, y goes down, and
a W-pixel-wide image spans [-0.5, W - 0.5]. A matrix ``M`` is 2x3 and maps a point p to
``M[:, :2] @ p + M[:, 2]``. A template stores each point as a fraction of the crop's side measured
over that span, so in an ``s``-pixel crop the point sits at ``fraction * s - 0.5``; fractions are
then the same at every crop size.

A crop of an input photo mapped by ``M`` (photo -> crop) is pasted into an output photo ``scale``
times the input's size, whose pixel ``x_out`` covers the input position ``(x_out + 0.5) / scale - 0.5``.

Sampling: bicubic (or bilinear) with the border replicated, so a face cut by the photo's edge gets the
edge's colours, never black. When the target is much smaller than its source (a 300 px face into a
64 px crop, a 256 px crop into a 64 px face) the source region is first resized with an antialiasing
filter to about the target's scale, and only the region the warp reads is ever converted or resized,
so the cost follows the face, not the photo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "FFHQ", "TEMPLATES", "UTKFACE", "FaceTemplate", "align_face", "fit_similarity", "invert_affine",
    "measure_template", "paste_back", "paste_mask",
]

# A warp that shrinks its source by more than this factor is prefiltered (antialiased) first.
_ANTIALIAS_BELOW = 0.75


@dataclass(frozen=True, eq=False)
class FaceTemplate:
    """Where a prior's crops put the five landmarks (left eye, right eye, nose, left and right mouth
    corner, as seen in the image), as (x, y) fractions of the crop's side."""

    points: np.ndarray
    name: str = "custom"

    def __post_init__(self):
        pts = np.array(self.points, dtype=np.float64)
        if pts.shape != (5, 2) or not np.isfinite(pts).all():
            raise ValueError(f"a face template is five finite (x, y) fractions, got shape {pts.shape}")
        pts.setflags(write=False)
        object.__setattr__(self, "points", pts)

    def landmarks(self, size: int) -> np.ndarray:
        """The template's points in pixel-index coordinates of a ``size`` x ``size`` crop."""
        return self.points * size - 0.5

    def __repr__(self) -> str:
        return f"FaceTemplate({self.name!r}, {np.round(self.points, 4).tolist()})"


# Measured by running RetinaFace over 300 of the 200x200 UTKFace crops that the utkface64 prior was
# trained on (resized to 64 px): the crops are tight, the eyes 0.39 of the side apart.
UTKFACE = FaceTemplate([[0.294, 0.290], [0.687, 0.288], [0.482, 0.518], [0.316, 0.677], [0.667, 0.675]],
                       "utkface")

# FFHQ-aligned crops (the 1024 px FFHQ images and their 512 px reductions that GFPGAN, CodeFormer and
# other face restorers take). The numbers are the reference five points that facexlib's
# FaceRestoreHelper uses for 512 px FFHQ crops (about (193.0, 239.9), (318.9, 240.2), (256.6, 314.0),
# (201.3, 371.4), (313.1, 371.2) in pixel indices; github.com/xinntao/facexlib, discussed in its issue
# #14), turned into fractions with this module's convention, (index + 0.5) / 512. They agree with
# FFHQ's own recipe (NVlabs/ffhq-dataset): a crop about four eye distances wide, centred a tenth of
# the eye-to-mouth vector below the midpoint of the eyes. The eyes are 0.246 of the side apart.
FFHQ = FaceTemplate([[0.37789, 0.46962], [0.62383, 0.47010], [0.50222, 0.61430], [0.39406, 0.72639],
                     [0.61248, 0.72588]], "ffhq")

# Measured the same way on 300 samples of the dcgan-digiface64 prior (seed 0; 296 had a face): its
# DigiFace-1M crops are loose, the face low and small (eyes 0.31 of the side apart, at 0.48 down).
# The utkface64 prior's own samples give the UTKFACE points within 0.02.
DIGIFACE = FaceTemplate([[0.353, 0.482], [0.660, 0.477], [0.511, 0.668], [0.387, 0.816], [0.630, 0.810]],
                        "digiface")

TEMPLATES = {t.name: t for t in (UTKFACE, FFHQ, DIGIFACE)}


def _template(template: FaceTemplate | str | Any) -> FaceTemplate:
    if isinstance(template, FaceTemplate):
        return template
    if isinstance(template, str):
        try:
            return TEMPLATES[template.lower()]
        except KeyError:
            raise ValueError(f"unknown face template {template!r}; known: {', '.join(TEMPLATES)}") from None
    return FaceTemplate(template)


# --- similarity fit ------------------------------------------------------------------------------

def _points(p, name: str) -> np.ndarray:
    p = getattr(p, "landmarks", p)  # a detector's Face gives its landmarks
    if isinstance(p, torch.Tensor):
        p = p.detach().cpu().numpy()
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or not np.isfinite(p).all():
        raise ValueError(f"{name} must be finite (N, 2) points, got shape {p.shape}")
    return p


def _lsq_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The least-squares similarity src -> dst in closed form.

    Written with complex numbers a point is x + iy and a similarity is p -> z p + t, z = scale *
    exp(i angle). With both point sets centred, sum |d - z s|^2 is least at z = sum(conj(s) d) /
    sum(|s|^2), which is Umeyama's solution restricted to proper rotations (it never reflects)."""
    s = src[:, 0] + 1j * src[:, 1]
    d = dst[:, 0] + 1j * dst[:, 1]
    s_mean, d_mean = s.mean(), d.mean()
    sc, dc = s - s_mean, d - d_mean
    denom = float(np.sum(np.abs(sc) ** 2))
    if denom <= 1e-12 * max(1.0, float(np.max(np.abs(s)))) ** 2:
        raise ValueError("the source points coincide; no similarity is defined")
    z = np.sum(np.conj(sc) * dc) / denom
    t = d_mean - z * s_mean
    return np.array([[z.real, -z.imag, t.real], [z.imag, z.real, t.imag]])


def _apply(M: np.ndarray, p: np.ndarray) -> np.ndarray:
    return p @ M[:, :2].T + M[:, 2]


def fit_similarity(src, dst, robust: bool = True, *, outlier: float = 0.3, min_points: int = 3) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, translation) that maps ``src`` (N, 2) onto ``dst``
    (N, 2) with the least squared error.

    ``robust``: a landmark that the others disagree with is left out, one at a time. For each point
    the fit of the remaining ones is made; the point whose removal leaves the most consistent set is
    dropped when its distance from where that fit puts it exceeds ``outlier`` times the spread of
    ``dst`` (the RMS distance of its points from their centroid; 0.3 of it is about a fifth of the
    eye distance on both templates), and the search repeats while more than ``min_points`` points
    remain. A profile face's far eye or mouth corner, when a detector places it badly, then stops
    dragging the whole crop, while the ordinary differences between a face and the template never
    drop a point."""
    src, dst = _points(src, "src"), _points(dst, "dst")
    if src.shape != dst.shape or len(src) < 2:
        raise ValueError(f"src and dst must be matching (N, 2) point sets with N >= 2, got {src.shape} and {dst.shape}")
    keep = np.ones(len(src), dtype=bool)
    M = _lsq_similarity(src, dst)
    if not robust:
        return M
    spread = math.sqrt(float(np.mean(np.sum((dst - dst.mean(0)) ** 2, axis=1))))
    limit = outlier * spread
    while keep.sum() > max(min_points, 2):
        best = None  # (rms of the others, index, residual of the left-out point, fit)
        for i in np.flatnonzero(keep):
            rest = keep.copy()
            rest[i] = False
            try:
                Mi = _lsq_similarity(src[rest], dst[rest])
            except ValueError:
                continue
            rms = math.sqrt(float(np.mean(np.sum((_apply(Mi, src[rest]) - dst[rest]) ** 2, axis=1))))
            r = float(np.linalg.norm(_apply(Mi, src[i]) - dst[i]))
            if best is None or rms < best[0]:
                best = (rms, i, r, Mi)
        if best is None or best[2] <= limit:
            break
        keep[best[1]] = False
        M = best[3]
    return M


def invert_affine(M) -> np.ndarray:
    """The inverse of a 2x3 affine matrix."""
    M = np.asarray(M, dtype=np.float64)
    A = np.linalg.inv(M[:, :2])
    return np.concatenate([A, -A @ M[:, 2:]], axis=1)


def _compose(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A after B."""
    return np.concatenate([A[:, :2] @ B[:, :2], A[:, :2] @ B[:, 2:] + A[:, 2:]], axis=1)


def _scale_of(M: np.ndarray) -> float:
    return math.sqrt(abs(float(np.linalg.det(M[:, :2]))))


def _translation(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty]])


# --- images --------------------------------------------------------------------------------------

class _Image:
    """A (C, H, W) float tensor or an H x W x C uint8 array/tensor, read one region at a time as a
    float (C, h, w) tensor in [0, 1] (uint8 is divided by 255), so a big photo is never converted whole."""

    def __init__(self, image):
        if not isinstance(image, (torch.Tensor, np.ndarray)):
            image = np.asarray(image)  # a PIL image
        if image.dtype in (np.uint8, torch.uint8):
            if image.ndim == 2:
                image = image[:, :, None]
            if image.ndim != 3:
                raise ValueError(f"a uint8 image must be H x W x C, got shape {tuple(image.shape)}")
            self.hwc, (self.height, self.width) = True, image.shape[:2]
        else:
            if isinstance(image, np.ndarray):
                image = torch.from_numpy(image)
            if image.ndim == 4 and image.shape[0] == 1:
                image = image[0]
            if image.ndim != 3 or not image.is_floating_point():
                raise ValueError(f"a float image must be a (C, H, W) tensor, got {image.dtype} {tuple(image.shape)}")
            self.hwc, (self.height, self.width) = False, image.shape[1:]
        self.image = image
        self.device = image.device if isinstance(image, torch.Tensor) else torch.device("cpu")
        self.dtype = image.dtype if not self.hwc else torch.float32

    def region(self, x0: int, y0: int, x1: int, y1: int) -> torch.Tensor:
        if not self.hwc:
            return self.image[:, y0:y1, x0:x1]
        r = self.image[y0:y1, x0:x1]
        r = torch.from_numpy(np.ascontiguousarray(r)) if isinstance(r, np.ndarray) else r
        return r.permute(2, 0, 1).to(torch.float32) / 255.0

    def whole(self) -> torch.Tensor:
        return self.region(0, 0, self.width, self.height)


def _footprint(M_inv: np.ndarray, width: float, height: float) -> tuple[float, float, float, float]:
    """The bounding box, in source coordinates, of a width x height target mapped back by M_inv."""
    corners = np.array([[-0.5, -0.5], [width - 0.5, -0.5], [-0.5, height - 0.5], [width - 0.5, height - 0.5]])
    p = _apply(M_inv, corners)
    return p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()


def _clamp_span(lo: float, hi: float, margin: int, n: int) -> tuple[int, int]:
    a = min(max(math.floor(lo) - margin, 0), n - 1)
    b = min(max(math.ceil(hi) + margin + 1, a + 1), n)
    return a, b


def _warp(src: _Image, M: np.ndarray, out_w: int, out_h: int, mode: str, antialias: bool,
          clamp: bool = True) -> torch.Tensor:
    """The (C, out_h, out_w) target that the map M (source -> target) makes of ``src``, border
    replicated, read from only the source region the target needs; clipped to [0, 1] unless
    ``clamp`` is False (a signed detail layer)."""
    if mode not in ("bilinear", "bicubic"):
        raise ValueError(f"mode must be 'bilinear' or 'bicubic', got {mode!r}")
    scale = _scale_of(M)
    shrink = antialias and scale < _ANTIALIAS_BELOW
    # taps of the sampling kernel (2 px for bicubic) plus the prefilter's reach, in source pixels
    margin = 3 + (math.ceil(4.0 / scale) if shrink else 0)
    x_lo, y_lo, x_hi, y_hi = _footprint(invert_affine(M), out_w, out_h)
    x0, x1 = _clamp_span(x_lo, x_hi, margin, src.width)
    y0, y1 = _clamp_span(y_lo, y_hi, margin, src.height)
    region = src.region(x0, y0, x1, y1)
    if not region.is_floating_point():
        region = region.float()
    M = _compose(M, _translation(x0, y0))  # region coordinates -> target
    if shrink:
        h, w = region.shape[1:]
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        region = F.interpolate(region[None], size=(nh, nw), mode="bicubic", antialias=True, align_corners=False)[0]
        # the resize maps x to (x + 0.5) * nw / w - 0.5
        down = np.array([[nw / w, 0.0, 0.5 * nw / w - 0.5], [0.0, nh / h, 0.5 * nh / h - 0.5]])
        M = _compose(M, invert_affine(down))
    inv = invert_affine(M)  # target -> region
    h, w = region.shape[1:]
    ys, xs = np.meshgrid(np.arange(out_h, dtype=np.float64), np.arange(out_w, dtype=np.float64), indexing="ij")
    sx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    sy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    grid = np.stack([(2 * sx + 1) / w - 1, (2 * sy + 1) / h - 1], axis=-1)
    grid = torch.from_numpy(grid).to(device=region.device, dtype=region.dtype)[None]
    out = F.grid_sample(region[None], grid, mode=mode, padding_mode="border", align_corners=False)[0]
    return out.clamp(0.0, 1.0) if clamp else out


# --- align ---------------------------------------------------------------------------------------

def align_face(image, landmarks, template: FaceTemplate | str = UTKFACE, size: int = 64, *,
               mode: str = "bicubic", robust: bool = True, antialias: bool = True) -> tuple[torch.Tensor, np.ndarray]:
    """Cut a face out of a photo the way a prior's training crops were cut.

    ``image``: a (3, H, W) float tensor in [0, 1] or an H x W x 3 uint8 array; ``landmarks``: the
    face's five points (5, 2) in the photo's pixels (or a detector's face, whose ``landmarks`` are
    used); ``template``: a ``FaceTemplate`` or its name. Returns the (3, size, size) crop in [0, 1] and
    the 2x3 matrix ``M`` that maps photo pixels to crop pixels (give it to ``paste_back``)."""
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    size = int(size)
    tpl = _template(template)
    M = fit_similarity(_points(landmarks, "landmarks"), tpl.landmarks(size), robust=robust)
    src = _Image(image)
    crop = _warp(src, M, size, size, mode, antialias)
    return crop, M


# --- paste back ----------------------------------------------------------------------------------

def _edge_ramp(pos: torch.Tensor, side: int, border: float, feather: float) -> torch.Tensor:
    """0 within ``border`` crop pixels of either edge of a ``side``-pixel span (and outside it), rising
    smoothly to 1 over the next ``feather`` pixels; ``pos`` is in pixel-index coordinates."""
    d = torch.minimum(pos + 0.5, side - 0.5 - pos)
    if feather <= 0:
        return (d > border).to(pos.dtype)
    t = ((d - border) / feather).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _mask_widths(side: int, feather: float, border: float) -> tuple[float, float]:
    if feather < 0 or border < 0 or 2 * (border + feather) > 1:
        raise ValueError(f"feather and border are non-negative fractions of the crop side with "
                         f"border + feather <= 0.5, got feather={feather}, border={border}")
    return max(1.0, border * side), feather * side


def paste_mask(size: int | tuple[int, int], feather: float = 0.1, border: float = 0.02) -> torch.Tensor:
    """The (h, w) blending weight over a crop: exactly 0 on a ring of ``border`` times the side (at
    least one pixel), rising smoothly (smoothstep) to 1 over the next ``feather`` times the side."""
    h, w = (size, size) if isinstance(size, int) else size
    bh, fh = _mask_widths(h, feather, border)
    bw, fw = _mask_widths(w, feather, border)
    ys = torch.arange(h, dtype=torch.float64)[:, None]
    xs = torch.arange(w, dtype=torch.float64)[None, :]
    return (_edge_ramp(ys, h, bh, fh) * _edge_ramp(xs, w, bw, fw)).float()


def paste_back(background, crop, M, scale: float = 1.0, *, feather: float = 0.1, border: float = 0.02,
               mode: str = "bicubic", antialias: bool = True, inplace: bool = False, return_mask: bool = False,
               additive: bool = False):
    """Warp a (restored) crop back into the photo and blend it in.

    ``background``: the output photo, a (C, H2, W2) float tensor in [0, 1] (or an H2 x W2 x C uint8
    array), ``scale`` times the size of the photo that ``align_face`` read (4 for a x4
    super-resolution); ``crop``: (C, s, s) or (1, C, s, s); ``M``: the photo -> crop matrix from
    ``align_face``. The crop is blended in under ``paste_mask(s, feather, border)`` mapped into the
    photo, so it is exactly 0 before the crop's edge and no seam shows; pixels it does not reach are
    left exactly as they were. Only the face's bounding box is computed. Faces are pasted one call
    at a time, each onto the result of the last; ``inplace=True`` writes into a float ``background``
    instead of a copy.

    ``additive=True``: ``crop`` is a signed detail layer (the prior's detail beyond the classical
    restoration, ``tasks.blend.prior_detail``) added to the photo under the same mask, the sum
    clipped to [0, 1], so the background keeps everything it had and gains only the detail.

    Returns the new photo, or with ``return_mask=True`` (photo, mask, box): the blending weight over
    the box ``(x0, y0, x1, y1)`` of the photo that was written (half-open)."""
    if not scale > 0 or not math.isfinite(scale):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    bg = _Image(background)
    out = bg.whole() if bg.hwc else (bg.image if inplace else bg.image.clone())
    if isinstance(crop, np.ndarray):
        crop = torch.from_numpy(crop)
    if crop.ndim == 4 and crop.shape[0] == 1:
        crop = crop[0]
    if crop.ndim != 3 or crop.shape[0] != out.shape[0]:
        raise ValueError(f"crop must be ({out.shape[0]}, s, s) like the background, got {tuple(crop.shape)}")
    crop = crop.to(device=out.device, dtype=out.dtype)
    ch, cw = crop.shape[1:]
    bh, fh = _mask_widths(ch, feather, border)
    bw, fw = _mask_widths(cw, feather, border)
    H2, W2 = out.shape[1:]

    M = np.asarray(M, dtype=np.float64)
    out_to_in = np.array([[1 / scale, 0.0, 0.5 / scale - 0.5], [0.0, 1 / scale, 0.5 / scale - 0.5]])
    to_crop = _compose(M, out_to_in)  # output photo -> crop
    x_lo, y_lo, x_hi, y_hi = _footprint(invert_affine(to_crop), cw, ch)
    x0, x1 = max(math.floor(x_lo), 0), min(math.ceil(x_hi) + 1, W2)
    y0, y1 = max(math.floor(y_lo), 0), min(math.ceil(y_hi) + 1, H2)
    if x0 >= x1 or y0 >= y1:  # the face lies outside the photo
        empty = torch.zeros(0, 0, dtype=out.dtype, device=out.device)
        return (out, empty, (0, 0, 0, 0)) if return_mask else out

    region_to_crop = _compose(to_crop, _translation(x0, y0))
    warped = _warp(_Image(crop), invert_affine(region_to_crop), x1 - x0, y1 - y0, mode, antialias, clamp=not additive)
    ys, xs = np.meshgrid(np.arange(y1 - y0, dtype=np.float64), np.arange(x1 - x0, dtype=np.float64), indexing="ij")
    u = torch.from_numpy(region_to_crop[0, 0] * xs + region_to_crop[0, 1] * ys + region_to_crop[0, 2])
    v = torch.from_numpy(region_to_crop[1, 0] * xs + region_to_crop[1, 1] * ys + region_to_crop[1, 2])
    mask = (_edge_ramp(u, cw, bw, fw) * _edge_ramp(v, ch, bh, fh)).to(device=out.device, dtype=out.dtype)

    region = out[:, y0:y1, x0:x1]
    blended = (region + mask * warped).clamp(0, 1) if additive else torch.lerp(region, warped, mask)
    out[:, y0:y1, x0:x1] = torch.where(mask > 0, blended, region)
    return (out, mask, (x0, y0, x1, y1)) if return_mask else out


# --- measuring a template ------------------------------------------------------------------------

def _detect(detector, image) -> list:
    found = detector.detect(image) if hasattr(detector, "detect") else detector(image)
    if found is None:
        return []
    if hasattr(found, "landmarks"):
        return [found]
    return list(found)


def measure_template(images: Iterable, detector: Callable | Any, name: str = "measured") -> FaceTemplate:
    """The template of a set of aligned crops: the median, over the crops, of where ``detector`` puts
    each landmark, as fractions of the crop's width and height.

    ``images``: aligned crops (H x W x 3 uint8 arrays, or whatever the detector takes); ``detector``:
    an object with a ``detect(image)`` method, or a callable, returning the faces found (objects with
    ``landmarks`` (5, 2) in pixels and optionally ``score``). The highest-scoring face of each crop
    counts; crops without a face are skipped. Measure a prior's template from its own training crops
    or from its samples."""
    fractions = []
    for image in images:
        faces = _detect(detector, image)
        if not faces:
            continue
        face = max(faces, key=lambda f: getattr(f, "score", 0.0) or 0.0)
        pts = _points(face, "landmarks")
        if pts.shape != (5, 2):
            raise ValueError(f"the detector gave {pts.shape} landmarks; a template needs five")
        shape = tuple(image.shape if hasattr(image, "shape") else np.asarray(image).shape)
        channels_first = len(shape) == 3 and shape[0] in (1, 3) and shape[-1] not in (1, 3, 4)
        h, w = shape[1:] if channels_first else shape[:2]
        fractions.append((pts + 0.5) / np.array([w, h], dtype=np.float64))
    if not fractions:
        raise ValueError("the detector found no face in any of the crops")
    return FaceTemplate(np.median(np.stack(fractions), axis=0), name)
