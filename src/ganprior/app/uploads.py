"""What the user gives the app: an uploaded file, and the image editor's value (picture + painted layers).

* ``read_upload`` checks size, pixel count and format, then decodes with the library's reader
  (16-bit, palette, CMYK, transparency); its messages name the user's file, never the server path.
* The page keeps the decoded upload (``Upload.image``) on the server for the browser session. The
  editor's picture is only the browser's copy of it, which a browser may re-encode, so
  ``editor_input`` takes the kept pixels whenever the editor shows a picture of the same size: the
  run gets exactly the uploaded pixels, and the editor contributes only the painted mask.
* Every array is checked against ``limits`` from its shape before anything is converted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import GanpriorError
from . import limits
from .messages import public_text

PAINT_COLOR = (255, 64, 64)
NO_IMAGE = "upload an image first, or pick one of the examples"


@dataclass
class Upload:
    """A validated upload: ``image`` (H, W, 3) uint8 and ``missing`` (H, W) bool (transparent pixels)."""
    image: np.ndarray
    missing: np.ndarray | None
    name: str


def read_upload(path: str | os.PathLike | None, max_mb: float | None = None,
                max_pixels: int | None = None) -> Upload:
    """Validate an uploaded file and decode it to RGB uint8 (transparency becomes ``missing``)."""
    from ..io import read_image
    max_mb = limits.MAX_UPLOAD_MB if max_mb is None else max_mb
    max_pixels = limits.MAX_PIXELS if max_pixels is None else max_pixels
    if path is None or str(path) == "":
        raise GanpriorError(NO_IMAGE)
    path = Path(path)
    if not path.is_file():
        raise GanpriorError(f"the upload {path.name} is gone; upload it again")
    size_mb = path.stat().st_size / 2 ** 20
    if size_mb > max_mb:
        raise GanpriorError(f"{path.name} is {size_mb:.1f} MB; uploads are limited to {max_mb:g} MB")
    try:
        with Image.open(path) as im:  # reads the header only: the pixel count is checked before decoding
            w, h = im.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise GanpriorError(f"{path.name} is not an image this app can read (PNG, JPEG, WebP, BMP, TIFF, GIF)") \
            from None
    if w * h > max_pixels:
        raise GanpriorError(f"{path.name} is {w}x{h} pixels; the limit is {max_pixels / 1e6:g} megapixels")
    try:
        x, alpha = read_image(path, 3)
    except GanpriorError as e:  # the library names the server path; the page names the user's file
        raise GanpriorError(public_text(str(e), {str(path): path.name})) from None
    image = (x.permute(1, 2, 0).numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    missing = None if alpha is None else (alpha[0].numpy() < 0.5)
    if missing is not None and not missing.any():
        missing = None
    return Upload(image=image, missing=missing, name=path.stem)


def editor_value(upload: Upload) -> dict:
    """The image-editor value for an upload: the image as background, transparent pixels pre-painted.

    A layer goes with it only when something is pre-painted: the editor exchanges PNG (exact, where
    WebP grew a pre-painted hole by its lossy alpha), and an all-transparent PNG layer stops the
    browser's brush from registering (Gradio 6), while with no layer the editor makes its own."""
    h, w = upload.image.shape[:2]
    if upload.missing is None:
        return {"background": upload.image, "layers": [], "composite": None}
    layer = np.zeros((h, w, 4), np.uint8)
    layer[upload.missing] = (*PAINT_COLOR, 255)
    return {"background": upload.image, "layers": [layer], "composite": None}


def _rgb(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.dtype != np.uint8:
        a = (a.astype(np.float32) * (255.0 if a.max() <= 1.0 else 1.0)).clip(0, 255).astype(np.uint8)
    if a.shape[2] == 4:  # composite a transparent background over white, as the library's reader does
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3] * alpha + 255.0 * (1 - alpha)).round().astype(np.uint8)
    return a[..., :3]


def _checked_editor(editor) -> dict:
    if editor is None or (isinstance(editor, dict) and editor.get("background") is None):
        raise GanpriorError(NO_IMAGE)
    if not isinstance(editor, dict):
        raise GanpriorError(f"the image editor's value must be a dict, got {type(editor).__name__}")
    return editor


def editor_image(editor: dict | None) -> np.ndarray:
    """The (H, W, 3) uint8 background of an image-editor value (within the pixel limit)."""
    editor = _checked_editor(editor)
    return _rgb(limits.check_array(editor["background"], "the image"))


def painted_mask(editor: dict | None) -> np.ndarray | None:
    """(H, W) bool of painted pixels over all layers (True = missing), or None if nothing is painted.
    Each layer is checked (type, size, count) before it is read."""
    if not editor:
        return None
    editor = _checked_editor(editor)
    background = limits.check_array(editor["background"], "the image")
    h, w = background.shape[:2]
    layers = [layer for layer in (editor.get("layers") or []) if layer is not None]
    if len(layers) > limits.MAX_LAYERS:
        raise GanpriorError(f"{len(layers)} painted layers; the limit is {limits.MAX_LAYERS}")
    painted = np.zeros((h, w), bool)
    for layer in layers:
        layer = limits.check_array(layer, "the painted layer")
        if layer.shape[:2] != (h, w):
            raise GanpriorError(f"the painted layer is {layer.shape[1]}x{layer.shape[0]}, the image "
                                f"{w}x{h}; upload the image again")
        if layer.ndim == 3 and layer.shape[2] == 4:
            painted |= layer[..., 3] > 0
        else:
            painted |= (layer.reshape(h, w, -1) > 0).any(-1)
    return painted if painted.any() else None


def editor_input(editor: dict | None, source: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(image, painted) for a run: the (H, W, 3) uint8 image and the (H, W) bool painted mask or None.

    ``source`` is the upload the page kept for this session. When the editor shows a picture of its
    size, the editor's copy (which the browser may have re-encoded) is replaced by it, so the run
    gets exactly the uploaded pixels; an editor value of another size is taken as given."""
    image = editor_image(editor)
    painted = painted_mask(editor)
    if source is not None:
        source = limits.check_array(source, "the kept upload")
        if source.shape[:2] == image.shape[:2]:
            image = _rgb(source)
    return image, painted
