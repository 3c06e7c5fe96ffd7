"""Reading and validating images and masks, fitting them to a prior, and writing results safely.

Fit policy (``fit``), used to bring any input to the size a prior needs:

* ``crop`` (default): centre-crop to a square, then resize (antialiased bicubic);
* ``pad``: pad to a square with edge replication, then resize;
* ``stretch``: resize to the target size, ignoring the aspect ratio.

Colour handling: 16-bit and float images are scaled to [0, 1]; palette, CMYK and other modes are
converted to RGB; an alpha channel is composited over white, and is returned separately so that
``inpaint`` can use the transparent pixels as the missing region when no mask is given.

Every write goes to a temporary file in the destination folder and is then renamed, so an
interrupted run never leaves a half-written file.

Any file that cannot be decoded gives a one-line ``GanpriorError``: truncated or corrupt data,
non-images, NaN or infinite float pixels, and images over PIL's decompression-bomb limit
(``PIL.Image.MAX_IMAGE_PIXELS``, about 89 megapixels; raise it or set it to None to read larger
images). Folders, FIFOs and devices are refused before they are opened.
"""

from __future__ import annotations

import contextlib
import io as _io
import json
import os
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from .errors import GanpriorError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"}
FIT_POLICIES = ("crop", "pad", "stretch")
# read_image changes process-wide state (warning filters, file descriptor 2) while it decodes
_DECODE_LOCK = threading.Lock()


def expand_inputs(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Files as given, folders expanded to their image files (sorted). Errors if nothing remains."""
    if not paths:
        raise GanpriorError("no input given")
    files: list[Path] = []
    # os.path's isdir/isfile, not Path's: those raise on a name too long or an unsearchable folder
    for p in map(Path, paths):
        if os.path.isdir(p):
            try:
                found = sorted(f for f in p.iterdir() if os.path.isfile(f) and f.suffix.lower() in IMAGE_EXTS)
            except OSError as e:
                raise GanpriorError(f"cannot read folder {p}: {e.strerror or e}") from None
            if not found:
                raise GanpriorError(f"folder {p} holds no image files ({', '.join(sorted(IMAGE_EXTS))})")
            files.extend(found)
        elif os.path.isfile(p):
            files.append(p)
        elif os.path.exists(p):
            raise GanpriorError(f"input {p} is not a regular file")
        else:
            raise GanpriorError(f"input not found: {p}")
    return files


def _pil_to_array(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Any PIL image -> (H, W, C) float32 in [0, 1] (C = 1 or 3) and an optional (H, W) alpha."""
    alpha = None
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im).astype(np.float32)
        if not np.isfinite(a).all():  # before any scaling or clipping: read_image refuses it
            return a[..., None], None
        if im.mode.startswith("I;16"):
            a /= 65535.0
        elif im.mode == "I":
            a /= 65535.0 if a.max() > 255 else 255.0
        elif a.max() > 1.0:
            a /= 255.0 if a.max() <= 255 else a.max()
        return np.clip(a, 0, 1)[..., None], None
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode == "PA":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "La", "RGBa"):
        a = np.asarray(im.convert("RGBA" if im.mode.startswith("RGB") else "LA")).astype(np.float32) / 255.0
        alpha = a[..., -1]
        a = a[..., :-1]
        if (alpha < 1).any():
            a = a * alpha[..., None] + (1 - alpha[..., None])  # composite over white
        else:
            alpha = None
        return a, alpha
    if im.mode in ("1", "L"):
        return np.asarray(im.convert("L")).astype(np.float32)[..., None] / 255.0, None
    return np.asarray(im.convert("RGB")).astype(np.float32) / 255.0, None


def read_image(path: str | os.PathLike, channels: int = 3) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Load any common image as ``(channels, H, W)`` float in [0, 1], and its alpha ``(1, H, W)`` or None.

    Gray images are repeated to 3 channels when ``channels == 3``; colour images are converted to
    luma (Rec. 601) when ``channels == 1``.
    """
    path = Path(path)
    if os.path.exists(path) and not os.path.isfile(path):  # opening a FIFO would wait forever
        raise GanpriorError(f"cannot read image {path}: not a regular file")
    chatter: list[str] = []
    try:
        with _DECODE_LOCK, warnings.catch_warnings():
            # PIL only warns between MAX_IMAGE_PIXELS and twice that; refuse those too
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                with _c_stderr(chatter) if im.format == "TIFF" else contextlib.nullcontext():
                    im.load()
                im = ImageOps.exif_transpose(im)
                arr, alpha = _pil_to_array(im)
    except FileNotFoundError:
        raise GanpriorError(f"input not found: {path}") from None
    except MemoryError:
        raise GanpriorError(f"cannot read image {path}: out of memory") from None
    except Exception as e:  # noqa: BLE001 - any failure to decode a file is the file's (PIL plugins raise
        # OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error, ...)
        text = str(e).strip().splitlines()[0] if str(e).strip() else ""
        expected = isinstance(e, (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
                                  Image.DecompressionBombWarning))
        if isinstance(e, UnidentifiedImageError):  # PIL's text repeats the path
            text = "not an image, or in a format PIL cannot read"
        elif isinstance(e, OSError) and e.strerror and e.filename:  # likewise
            text = e.strerror
        elif not text:
            text = type(e).__name__
        elif not expected:
            text = f"{type(e).__name__}: {text}"
        if chatter:  # libtiff's own account of a decoding error
            text += f" ({chatter[0].strip()})"
        raise GanpriorError(f"cannot read image {path}: {text}") from None
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise GanpriorError(f"image {path} is too small ({arr.shape[1]}x{arr.shape[0]})")
    if not np.isfinite(arr).all():
        raise GanpriorError(f"image {path} holds NaN or infinite values")
    t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)
    if channels == 3 and t.shape[0] == 1:
        t = t.expand(3, -1, -1).clone()
    elif channels == 1 and t.shape[0] == 3:
        t = to_gray(t[None])[0]
    a = None if alpha is None else torch.from_numpy(alpha)[None]
    return t.contiguous(), a


@contextlib.contextmanager
def _c_stderr(lines: list[str]):
    """Collect what C code writes to file descriptor 2 meanwhile into ``lines`` (libtiff prints every
    decoding problem there, which would add lines to the CLI's one-line error)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no stderr to redirect
        yield
        return
    try:
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                tmp.seek(0)
                lines.extend(ln for ln in tmp.read().decode(errors="replace").splitlines() if ln.strip())
    finally:
        os.close(saved)


REC601 = (0.299, 0.587, 0.114)


def to_gray(x: torch.Tensor, weights: Sequence[float] = REC601) -> torch.Tensor:
    """``(B, 3, H, W)`` -> ``(B, 1, H, W)`` luma."""
    w = torch.as_tensor(weights, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def fit_image(x: torch.Tensor, size: int, policy: str = "crop", mode: str = "bicubic") -> torch.Tensor:
    """Bring ``(C, H, W)`` to ``(C, size, size)`` by ``policy`` (see module doc)."""
    if policy not in FIT_POLICIES:
        raise GanpriorError(f"unknown fit policy {policy!r}; choose one of {', '.join(FIT_POLICIES)}")
    _, h, w = x.shape
    if policy == "crop" and h != w:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        x = x[:, top:top + s, left:left + s]
    elif policy == "pad" and h != w:
        s = max(h, w)
        top, left = (s - h) // 2, (s - w) // 2
        x = F.pad(x[None], (left, s - w - left, top, s - h - top), mode="replicate")[0]
    if x.shape[1:] == (size, size):
        return x.contiguous()
    kwargs = {"antialias": True} if mode in ("bicubic", "bilinear") else {}
    out = F.interpolate(x[None], size=(size, size), mode=mode, **kwargs)[0]
    return out.clamp(0, 1) if mode == "bicubic" else out


def read_mask(path: str | os.PathLike, size: int, fit: str = "crop", white_is_missing: bool = True) -> torch.Tensor:
    """A mask file -> ``(1, size, size)`` with 1 = known pixel, 0 = missing.

    By default white marks the missing pixels (the convention of mGANprior's example masks);
    ``white_is_missing=False`` flips it. Any size is resized (nearest) after the fit policy.
    """
    # read_image composites transparency over white, so transparent pixels count as white
    m, _ = read_image(path, channels=1)
    m = fit_image(m, size, fit, mode="nearest")
    known = (m < 0.5) if white_is_missing else (m >= 0.5)
    if known.all():
        raise GanpriorError(f"mask {path} marks no missing pixel (white = missing"
                            f"{'' if white_is_missing else ', inverted'})")
    if not known.any():
        raise GanpriorError(f"mask {path} marks every pixel as missing")
    return known.float()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` in [0, 1] -> ``(H, W, C)`` uint8 (C = 1 squeezed)."""
    a = (x.detach().float().clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8).transpose(1, 2, 0)
    return a[..., 0] if a.shape[2] == 1 else a


def atomic_write(path: str | os.PathLike, write: Callable[[_io.BufferedWriter], None]) -> Path:
    """Write via a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def encode_image(x: torch.Tensor, fmt: str = "PNG") -> bytes:
    """``(C, H, W)`` in [0, 1] encoded as an image file's bytes (the same bytes ``save_image`` writes)."""
    buf = _io.BytesIO()
    Image.fromarray(to_uint8(x)).save(buf, format=fmt)
    return buf.getvalue()


def save_image(x: torch.Tensor, path: str | os.PathLike) -> Path:
    """Save ``(C, H, W)`` in [0, 1] as an image file, atomically (format from the suffix)."""
    data = encode_image(x, Image.registered_extensions().get(Path(path).suffix.lower(), "PNG"))
    return atomic_write(path, lambda f: f.write(data))


def write_json(obj, path: str | os.PathLike) -> Path:
    data = (json.dumps(obj, indent=2) + "\n").encode()
    return atomic_write(path, lambda f: f.write(data))


def make_sheet(images: Sequence[torch.Tensor], labels: Sequence[str], tile: int = 128,
               pad: int = 4) -> torch.Tensor:
    """Side-by-side sheet of ``(C, h, w)`` images, each scaled (nearest) to ``tile`` px, with labels."""
    label_h = 14
    tiles = []
    for img in images:
        img = img.detach().float().cpu().clamp(0, 1)
        if img.shape[0] == 1:
            img = img.expand(3, -1, -1)
        tiles.append(F.interpolate(img[None], size=(tile, tile), mode="nearest")[0])
    width = len(tiles) * (tile + pad) + pad
    canvas = Image.new("RGB", (width, tile + label_h + 2 * pad), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (t, label) in enumerate(zip(tiles, labels)):
        x0 = pad + i * (tile + pad)
        canvas.paste(Image.fromarray(to_uint8(t)), (x0, pad + label_h))
        draw.text((x0, pad), label[:22], fill=(0, 0, 0))
    return torch.from_numpy(np.asarray(canvas).astype(np.float32) / 255.0).permute(2, 0, 1)


def stack_rows(rows: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack sheets vertically, padding narrower ones with white."""
    width = max(r.shape[2] for r in rows)
    padded = [F.pad(r, (0, width - r.shape[2]), value=1.0) for r in rows]
    return torch.cat(padded, dim=1)


def encode_gif(frames: Sequence[torch.Tensor], tile: int = 128, duration_ms: int = 80) -> bytes:
    """An animated GIF's bytes from ``(C, h, w)`` frames in [0, 1], each scaled (nearest) to ``tile`` px."""
    ims = [Image.fromarray(to_uint8(F.interpolate(f[None].float().cpu(), size=(tile, tile), mode="nearest")[0]))
           for f in frames]
    buf = _io.BytesIO()
    ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:], duration=duration_ms, loop=0)
    return buf.getvalue()


def save_gif(frames: Sequence[torch.Tensor], path: str | os.PathLike, tile: int = 128,
             duration_ms: int = 80) -> Path:
    """Animated GIF of ``(C, h, w)`` frames in [0, 1], atomically."""
    data = encode_gif(frames, tile, duration_ms)
    return atomic_write(path, lambda f: f.write(data))
