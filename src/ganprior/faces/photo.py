"""Whole photos: find the faces, align each to the prior's template, restore them in one batch with
the run's recipe, and paste them back onto the photo's classical restoration at its own size.

    pipe = Pipeline(config)                      # the same recipe as for aligned crops
    photo = load_photo(pipe, "group.jpg")        # the observation at full size, its faces and crops
    result = restore_photo(pipe, photo)          # (3, H x factor, W x factor), per-face records

The background is each task's ``background`` (bicubic/Lanczos upsampling, BM3D, the known pixels
with a biharmonic fill, the gray photo, Wiener deconvolution) on the whole photo; a face is pasted
with a feathered mask that is 0 before its crop's edge. A face much larger than the crop the prior
observes is left to the background (the prior's 64 px cannot add detail to it): its record says
``restored: false`` and why.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import GanpriorError
from ..inputs import Inputs
from ..io import read_image, to_gray
from ..tasks import build_degradation, needs_mask, observed_geometry
from ..tasks.base import chain_of
from ..tasks.blend import blend_applies, blend_weights, prior_detail
from .align import TEMPLATES, FaceTemplate, align_face, fit_similarity, paste_back
from . import retinaface  # noqa: F401 - registers the default detector
from .detector import Face, get_detector
from .spread import spread_colour

FACE_MODES = ("auto", "detect", "aligned")
# a face is restored when the photo shows it at most ``face_ratio_limit`` times larger than the crop
# the prior observes (its 64 px, or 16 px for x4 super-resolution): above that, the prior's output has
# less detail than the background and the background keeps the face. Each task declares its limit
# (``Task.photo_face_ratio``, measured by benchmarks/photos.py); a number here overrides them all.
MAX_FACE_RATIO: float | None = None


def face_ratio_limit(tasks) -> float:
    """The largest face ratio restored for a task chain: ``MAX_FACE_RATIO`` when set, else the
    smallest of the chain's tasks' own limits."""
    if MAX_FACE_RATIO is not None:
        return MAX_FACE_RATIO
    return min(t.photo_face_ratio for t in chain_of(tasks or ["reconstruct"]))
# the template a prior's crops follow, by registry name; checkpoints default to FFHQ's
PRIOR_TEMPLATES = {"utkface64": "utkface", "dcgan-digiface64": "digiface"}
# --faces auto: an input no larger than this many times the prior's resolution is an aligned crop
AUTO_CROP_SIDE = 2
# --faces auto: one face whose aligned crop spans this much of the photo's shorter side: a face crop
PORTRAIT_SPAN = 0.5


def face_template(prior, name: str | None = None) -> FaceTemplate:
    """The template to align faces to: ``name``, the prior's declared one, or FFHQ's."""
    key = name or getattr(prior, "face_template", None) or PRIOR_TEMPLATES.get(getattr(prior, "name", ""), "ffhq")
    if key not in TEMPLATES:
        raise GanpriorError(f"unknown face template {key!r}; choose from {', '.join(sorted(TEMPLATES))}")
    return TEMPLATES[key]


@dataclass
class PhotoFace:
    face: Face
    matrix: np.ndarray  # photo pixels -> observed crop pixels (2x3)
    ratio: float  # photo pixels per crop pixel
    restored: bool
    reason: str | None = None
    crop_size: int = 0  # the side of the crop the prior observes
    crop: torch.Tensor | None = None  # (C, s, s) when restored
    crop_mask: torch.Tensor | None = None  # (1, s, s) its known pixels (inpainting)
    options: dict = field(default_factory=dict)  # task options that differ from the run's for this face

    @property
    def span(self) -> float:
        """The side of the face's aligned crop in photo pixels."""
        return self.ratio * self.crop_size

    def to_json(self) -> dict:
        out = {**self.face.to_json(), "restored": self.restored}
        if self.reason:
            out["reason"] = self.reason
        if self.options:  # restored with other task options than the run's (a smaller SR factor)
            out["options"] = dict(self.options)
        return out


@dataclass
class Photo:
    """One photo as the task observes it, with its faces and their aligned crops."""
    name: str
    source: str
    observed: torch.Tensor  # (C, H, W) in [0, 1]
    known: torch.Tensor | None  # (1, H, W), 1 = known pixel (inpainting)
    faces: list[PhotoFace]
    notes: list[str] = field(default_factory=list)
    background: torch.Tensor | None = None  # (3, H', W') when it was needed to find the faces
    seconds: float = 0.0  # reading it, finding its faces and cutting their crops

    @property
    def restored_faces(self) -> list[PhotoFace]:
        return [f for f in self.faces if f.restored]

    @property
    def crops(self) -> list[torch.Tensor]:
        """The observed crops of the faces to restore, (C, s, s) each (``s`` may differ by face)."""
        return [f.crop for f in self.restored_faces]


@dataclass
class PhotoResult:
    image: torch.Tensor  # (3, H', W') the restored photo
    background: torch.Tensor  # (3, H', W') the classical restoration the faces were pasted onto
    observed: torch.Tensor
    faces: list[dict]
    seconds: float  # the whole photo: reading, finding the faces, restoring, pasting
    steps: int
    notes: list[str]


def is_gray(image: torch.Tensor, tolerance: float = 2 / 255) -> bool:
    """Whether ``image`` (C, H, W) is black-and-white: one channel, or three that agree everywhere
    to ``tolerance`` (an 8-bit gray photo saved as RGB, JPEG's chroma rounding)."""
    if image.shape[0] == 1:
        return True
    return bool((image.amax(0) - image.amin(0)).max() <= tolerance)


def _uint8(x: torch.Tensor) -> np.ndarray:
    a = x.detach().float().cpu().clamp(0, 1)
    if a.shape[0] == 1:
        a = a.expand(3, -1, -1)
    return (a.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def _read_known_mask(mask, height: int, width: int, white_is_missing: bool) -> torch.Tensor:
    """A photo's inpainting mask file at the photo's own size, as known pixels (1, H, W)."""
    if isinstance(mask, torch.Tensor):
        m = mask.float()
        m = m.reshape(1, *m.shape[-2:])
    else:
        if not os.path.isfile(str(mask)):
            raise GanpriorError(f"--faces detect takes a mask file of the photo's size, not {mask!r}")
        m, _ = read_image(mask, 1)
        m = (m < 0.5).float() if white_is_missing else (m >= 0.5).float()
    if tuple(m.shape[-2:]) != (height, width):
        which = "" if isinstance(mask, torch.Tensor) else f" ({mask})"
        raise GanpriorError(f"the mask is {m.shape[-1]}x{m.shape[-2]}, the photo {width}x{height}: a photo's mask "
                            f"must have its size{which}")
    return m


def _own_mask(image, source, setting):
    """The photo's mask: the run's one mask, or its own one (``--mask DIR`` or NAME_mask.* beside it,
    ``ganprior.mask_files``); None when it has none (its transparency may serve)."""
    from ..mask_files import find_mask, is_mask_folder, missing_mask_error
    folder = is_mask_folder(setting)
    if setting is not None and not folder:
        return setting
    if isinstance(image, torch.Tensor):
        if folder:
            raise GanpriorError("a folder of masks is matched to photos by file name; give an image tensor a "
                                "mask tensor")
        return None
    found = find_mask(image, setting if folder else None)
    if found is None and folder:
        raise missing_mask_error([source], setting, 1)
    return found


def load_photo(pipe, image, *, name: str = "photo", source: str | None = None, mask=None, detector=None,
               template: str | None = None) -> Photo:
    """Read a photo at its own size as the task observes it, find its faces and cut their crops."""
    t0 = time.perf_counter()
    c = pipe.config
    tasks = pipe.tasks
    res = pipe.prior.resolution
    channels, size = observed_geometry(tasks, res, **c.task_options)
    painted = needs_mask(tasks) and c.mask_paint is not None
    read_as = 3 if painted else channels  # the paint is found in colour
    if isinstance(image, torch.Tensor):
        observed = image.detach().float().cpu()
        observed = observed[0] if observed.ndim == 4 else observed
        if observed.shape[0] != read_as:
            observed = to_gray(observed[None])[0] if read_as == 1 else observed.expand(3, -1, -1)
        alpha = None
    else:
        observed, alpha = read_image(image, read_as)
    h, w = observed.shape[-2:]
    known = None
    if painted:
        from ..physics.paint import paint_known
        known = paint_known(observed, c.mask_paint, name=str(source or name))
        if channels == 1:
            observed = to_gray(observed[None])[0]
    elif needs_mask(tasks):
        mask = _own_mask(image, source or name, c.mask) if mask is None else mask
        if mask is not None:
            known = _read_known_mask(mask, h, w, not c.mask_white_known)
        elif alpha is not None:
            known = (alpha >= 0.5).float()
        else:
            raise GanpriorError("inpaint needs a mask: a mask file of the photo's size, or transparent pixels")
        observed = observed * known
    detector = detector or get_detector()
    tpl = face_template(pipe.prior, template or c.face_template)
    background = None
    if any(t.detect_on_background for t in chain_of(tasks or ["reconstruct"])):
        background = _background(pipe, observed, known)
        found = _found_on(detector, background, observed.shape[-1])
    else:
        found = detector.detect(_uint8(observed))
    faces = []
    limit = face_ratio_limit(tasks)
    choices = [(o, observed_geometry(tasks, res, **{**c.task_options, **o})[1])
               for o in face_options(tasks, c.task_options, res)]
    for f in found:
        M = fit_similarity(f.landmarks, tpl.landmarks(size))
        span = size / float(np.sqrt(abs(np.linalg.det(M[:, :2]))))  # the crop's side in photo pixels
        fits = [(o, s) for o, s in choices if span / s <= limit]
        if not fits:
            largest = max(s for _, s in choices)
            faces.append(PhotoFace(f, M, span / size, False, f"{span:.0f} px face: larger than the prior's "
                                                             f"{largest} px crop can add detail to", crop_size=size))
            continue
        override, s = fits[0]
        crop, M = align_face(observed, f.landmarks, tpl, s)
        crop_mask = None
        if known is not None:
            m, _ = align_face(known, f.landmarks, tpl, s, mode="bilinear")
            crop_mask = (m >= 0.5).float()
        faces.append(PhotoFace(f, M, span / s, True, crop_size=s, crop=crop.clamp(0, 1), crop_mask=crop_mask,
                               options=override))
    notes = []
    if not found:
        notes.append(f"no face found in {source or name}: the photo has its classical restoration only")
    smallest = getattr(detector, "effective_min_face", None)
    if smallest is not None and smallest(h, w) > getattr(detector, "min_face", 0) + 0.5:
        notes.append(f"faces under {smallest(h, w):.0f} px are not looked for in a {w}x{h} photo (the "
                     f"detector's budget); smaller faces are left to the background")
    return Photo(name=name, source=source or name, observed=observed, known=known, faces=faces, notes=notes,
                 background=background, seconds=time.perf_counter() - t0)


def face_options(tasks, options: dict, resolution: int) -> list[dict]:
    """The task options a face of a photo may be observed with, best first: the run's own (``{}``),
    then each task's alternatives (``Task.photo_options``: super-resolution at a smaller factor, so
    that a face the photo shows larger than the crop keeps its pixels in a larger crop)."""
    choices = [{}]
    for task in chain_of(tasks or ["reconstruct"]):
        extra = task.photo_options(options, resolution)
        choices = [{**a, **e} for a in choices for e in [{}, *extra]]
    return choices


def _found_on(detector, image: torch.Tensor, width: int) -> list[Face]:
    """The faces ``detector`` finds on ``image``, a restoration of the photo ``width`` pixels wide
    (larger after super-resolution), in the photo's pixel coordinates."""
    s = image.shape[-1] / width
    found = detector.detect(_uint8(image))
    if s == 1:
        return found
    to_photo = lambda p: (np.asarray(p, dtype=np.float64) + 0.5) / s - 0.5  # noqa: E731
    return [Face(box=tuple(to_photo(f.box)), landmarks=to_photo(f.landmarks), score=f.score) for f in found]


def is_aligned_crop(image_size: tuple[int, int], resolution: int) -> bool:
    """``--faces auto``: an input no larger than ``AUTO_CROP_SIDE`` times the prior's resolution is
    taken as an aligned crop (the faces of such a small photo are too small to detect)."""
    return max(image_size) <= AUTO_CROP_SIDE * resolution


def fills_frame(photo: Photo) -> bool:
    """``--faces auto``: a photo with one face whose aligned crop spans at least ``PORTRAIT_SPAN`` of
    the photo's shorter side is a face crop (a portrait, a dataset's crop), restored whole."""
    if len(photo.faces) != 1:
        return False
    return photo.faces[0].span >= PORTRAIT_SPAN * min(photo.observed.shape[-2:])


def _background(pipe, observed: torch.Tensor, known: torch.Tensor | None) -> torch.Tensor:
    """The task chain's classical restoration of the whole photo ``observed`` (C, H, W), (3, H', W')."""
    tasks = pipe.tasks
    res = pipe.prior.resolution
    _, size = observed_geometry(tasks, res, **pipe.config.task_options)
    probe = torch.ones(1, 1, size, size) if needs_mask(tasks) else None
    options = build_degradation(tasks, res, mask=probe, **pipe.config.task_options).options
    x = observed[None]
    for task in reversed(chain_of(tasks)):
        method = pipe.config.background if task.name == "super-resolve" else None
        x = task.background(x, options, mask=known[None] if known is not None else None, method=method)
    x = x.clamp(0, 1)
    return (x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)[0]


def _photo_to_result(matrix: np.ndarray, crop_size: int, result_size: int) -> np.ndarray:
    """A photo -> observed-crop matrix as photo -> result-crop (pixel-index coordinates)."""
    r = result_size / crop_size
    S = np.array([[r, 0.0, (r - 1) / 2], [0.0, r, (r - 1) / 2], [0.0, 0.0, 1.0]])
    return (S @ np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]


def detail_weight(pipe) -> float:
    """The weight of the prior's detail added to the background of a photo (0: the restored crop is
    pasted instead). With a classical blend in the recipe (super-resolution, denoising, inpainting),
    the photo's own background is the blend's classical term at full resolution, so the face gets
    ``background + blend * warped(prior_detail)``: the blend, without resampling the background
    through the crop. That keeps the background's detail where the face is larger than the crop. A
    chain with colorization pastes the restored crop: its colour is the prior's whole output."""
    c = pipe.config
    if not c.blend or "colorize" in pipe.tasks or not blend_applies(pipe.tasks):
        return 0.0
    return float(c.blend)


def restore_photo(pipe, photo: Photo, *, callback=None, batch_size: int | None = None) -> PhotoResult:
    """Restore ``photo``'s faces with ``pipe``'s recipe and paste them onto its background."""
    t0 = time.perf_counter()
    res = pipe.prior.resolution
    background = photo.background if photo.background is not None else _background(pipe, photo.observed, photo.known)
    out = background.clone()
    notes = list(photo.notes)
    steps = 0
    todo = photo.restored_faces
    detail = detail_weight(pipe)
    scale = background.shape[-1] / photo.observed.shape[-1]
    pasted = torch.zeros(out.shape[-2:])  # the faces' paste weight over the output
    # faces observed alike (the crop's side and task options) are restored in one batch
    groups: dict[tuple, list[int]] = {}
    for i, face in enumerate(todo):
        groups.setdefault((face.crop_size, tuple(sorted(face.options.items()))), []).append(i)
    for members in groups.values():
        first = todo[members[0]]
        options = {**pipe.config.task_options, **first.options}
        run = pipe
        if detail or first.options:
            # with the detail paste only the prior's own output is used: the crop's blend (a classical
            # restoration of the crop, BM3D for denoising) is not computed
            # (the recipe resolved again for the face's own options: super-resolution's depends on the factor)
            run = pipe.for_options(options, **({"blend": 0.0, "guide": 0.0} if detail else {}))
        group = [todo[i] for i in members]
        masks = torch.stack([f.crop_mask for f in group]) if group[0].crop_mask is not None else None
        inputs = Inputs(names=[f"{photo.name}#face{i}" for i in members], sources=[photo.source] * len(group),
                        observed=torch.stack([f.crop for f in group]), ground_truth=None, masks=masks)
        bs = batch_size or len(group)
        for i in range(0, len(group), bs):
            sl = slice(i, i + bs)
            result = run.run(inputs, sl, callback=callback)
            if detail:
                deg = build_degradation(pipe.tasks, res, mask=masks[sl] if masks is not None else None, **options)
                images = blend_weights(detail, deg, result.raw) * prior_detail(result.raw, deg)
            else:
                images = result.images.clamp(0, 1)
            steps = max(steps, result.steps)
            notes += [n for n in result.notes if n not in notes]
            for face, image in zip(group[sl], images):
                M = _photo_to_result(face.matrix, face.crop_size, res)
                out, mask, (x0, y0, x1, y1) = paste_back(out, image, M, scale, additive=bool(detail),
                                                         return_mask=True)
                pasted[y0:y1, x0:x1] = torch.maximum(pasted[y0:y1, x0:x1], mask.to(pasted))
    if "colorize" in pipe.tasks and out.shape[-2:] == photo.observed.shape[-2:]:
        # the faces' colour, spread from their crops over the skin around them, on the luminance of
        # the background (the gray photo itself, or its classical restoration in a chain)
        luma = to_gray(background[None])[0]
        side = float(np.median([f.span for f in todo])) if todo else 0.0
        out = spread_colour(out, luma, pasted, side) if todo else luma.expand(3, -1, -1).clone()
    elif "colorize" not in pipe.tasks and is_gray(photo.observed):
        # a black-and-white photo stays black-and-white: the colour prior's faces would tint it
        out = to_gray(out[None])[0].expand(3, -1, -1)
    return PhotoResult(image=out.clamp(0, 1), background=background, observed=photo.observed,
                       faces=[f.to_json() for f in photo.faces], seconds=photo.seconds + time.perf_counter() - t0, steps=steps,
                       notes=notes)


def draw_faces(observed: torch.Tensor, faces: list[dict], size: tuple[int, int] | None = None):
    """``observed`` (C, H, W) resized (bicubic) to ``size`` (width, height; default its own) as a PIL
    image with each face's box drawn: green when restored, orange when left to the background.
    ``faces`` are records as ``PhotoFace.to_json`` gives them, in the observed photo's pixels."""
    from PIL import Image, ImageDraw
    size = size or (observed.shape[-1], observed.shape[-2])
    image = Image.fromarray(_uint8(observed)).resize(size, Image.BICUBIC)
    k = size[0] / observed.shape[-1]
    draw = ImageDraw.Draw(image)
    for f in faces:
        x0, y0, x1, y1 = (v * k for v in f["box"])
        draw.rectangle([x0, y0, x1, y1], outline=(40, 220, 60) if f["restored"] else (255, 150, 0),
                       width=max(1, round(size[0] / 300)))
    return image


def photo_sheet(result: PhotoResult, max_height: int = 512) -> torch.Tensor:
    """The input with its detections (green: restored, orange: left to the background) beside the
    result, at the result's size (scaled to ``max_height``)."""
    from PIL import Image
    h, w = result.image.shape[-2:]
    scale = min(1.0, max_height / h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    inp = draw_faces(result.observed, result.faces, size)
    out = Image.fromarray(_uint8(result.image)).resize(size, Image.BICUBIC)
    sheet = Image.new("RGB", (size[0] * 2 + 4, size[1]), (255, 255, 255))
    sheet.paste(inp, (0, 0))
    sheet.paste(out, (size[0] + 4, 0))
    return torch.from_numpy(np.asarray(sheet).copy()).permute(2, 0, 1).float() / 255


def photo_files(result: PhotoResult, *, result_name: str, input_name: str, sheet_name: str) -> dict[str, bytes]:
    """The encoded output files of a restored photo (the same names as an aligned crop's)."""
    from ..io import encode_image
    return {result_name: encode_image(result.image), input_name: encode_image(result.observed.clamp(0, 1)),
            sheet_name: encode_image(photo_sheet(result))}
