"""Reading and validating images and masks, fitting them to a prior, and writing results safely.

Fit policy (``fit``), used to bring any input to the size a prior needs:

* ``crop`` (default): centre-crop to a square, then resize (antialiased bicubic);
* ``pad``: pad to a square with edge replication, then resize;
* ``stretch``: resize to the target size, ignoring the aspect ratio.

Colour handling: 16-bit, 32-bit and float images are scaled to [0, 1]; palette, CMYK and other modes
are converted to RGB; an alpha channel is composited over white, and is returned separately so that
``inpaint`` can use the transparent pixels as the missing region when no mask is given. A PNG's
single transparent colour (a tRNS chunk in a gray, RGB or 16-bit file) counts as an alpha channel.

Integer samples are scaled by the bit depth the file declares, never by the largest value it happens
to hold: a 16-bit PNG or TIFF by 65535, a 12-bit TIFF by 4095, a signed 16-bit one by 32767, a PGM by
its header's maxval (any value up to 65535), a 32-bit TIFF by 2**31 - 1 (signed) or 2**32 - 1.
Float images have no declared range: [0, 1] is kept, [0, 255] is divided by 255, larger by the maximum.

Every write goes to a temporary file in the destination folder, is flushed to disk (fsync) and is
then renamed, so an interrupted run or a power cut never leaves a half-written file; a new file gets
the permissions a plain ``open()`` would give (0666 less the umask), a replaced one keeps its own.

Any file that cannot be decoded gives a one-line ``GanpriorError``: truncated or corrupt data,
non-images, NaN or infinite float pixels, and images over PIL's decompression-bomb limit
(``PIL.Image.MAX_IMAGE_PIXELS``, about 89 megapixels; raise it or set it to None to read larger
images). Folders, FIFOs and devices are refused before they are opened.
"""

from __future__ import annotations

import contextlib
import errno
import io as _io
import json
import os
import secrets
import stat
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


_INT16_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
_INT32_MAX = 2 ** 31 - 1


def _full_scale(im: Image.Image) -> int:
    """The sample value that is white in an integer-mode ("I", "I;16*") image as PIL decodes it,
    from the bit depth the file declares (not from its pixels, whose maximum may be anything)."""
    if im.format == "TIFF":
        tags = getattr(im, "tag_v2", {})
        bits, fmt = tags.get(258), tags.get(339, 1)  # BitsPerSample, SampleFormat (2: signed)
        bits = bits[0] if isinstance(bits, tuple) and bits else bits
        fmt = fmt[0] if isinstance(fmt, tuple) and fmt else fmt
        if isinstance(bits, int) and 2 <= bits <= 32:  # e.g. 12-bit samples stay 0..4095 in I;16
            return 2 ** (bits - (fmt == 2)) - 1
    if im.format == "PPM":
        # PIL rescales PNM samples from the header's maxval (1..65535) to 0..65535 in mode I
        # (maxval 65535 is read as is), so the maxval is honoured by this one scale
        return 65535
    if im.mode in _INT16_MODES or im.format == "PNG":  # a PNG's "I" is 16-bit gray (older Pillow)
        return 65535
    return _INT32_MAX  # PIL's 32-bit signed storage (IM, FITS, McIdas)


def _tile_rawmode(im: Image.Image) -> str | None:
    """How PIL will unpack the file's samples (a PNG's "L;4", "RGB;16B", ...); known before load only."""
    try:
        args = im.tile[0][3]
    except (AttributeError, IndexError, TypeError):
        return None
    return args if isinstance(args, str) else None


def _png_low_bytes(path: Path) -> np.ndarray:
    """The low bytes of a 16-bit RGB PNG's samples (PIL keeps only the high ones): decoding the
    big-endian samples as little-endian ones keeps the other byte."""
    with Image.open(path) as im:
        im.tile = [(t[0], t[1], t[2], "RGB;16L") for t in im.tile]
        im.load()
        return np.asarray(ImageOps.exif_transpose(im))


def _key_transparency(im: Image.Image, samples: np.ndarray, rawmode: str | None,
                      low: np.ndarray | None) -> np.ndarray | None:
    """Alpha (H, W) from a single transparent colour (``info["transparency"]`` of a gray, RGB or 16-bit
    image, e.g. a PNG's tRNS chunk), or None. ``samples`` are the decoded samples, (H, W) or (H, W, 3)."""
    key = im.info.get("transparency")
    if im.mode == "RGB":
        if not (isinstance(key, tuple) and len(key) == 3 and all(isinstance(k, int) for k in key)):
            return None
        if rawmode == "RGB;16B" and low is not None:  # a 16-bit PNG: its key is in 16-bit units
            samples = samples.astype(np.uint32) * 256 + low
        hit = (samples == np.asarray(key)).all(axis=-1)
    else:
        if not isinstance(key, int) or isinstance(key, bool):
            return None
        depth = {"L;2": 2, "L;4": 4}.get(rawmode or "")
        if depth:  # PIL stretches 2- and 4-bit gray to 0..255; the key is in the file's units
            key *= 255 // (2 ** depth - 1)
        hit = samples == key
    if not hit.any():
        return None
    return (~hit).astype(np.float32)


def _pil_to_array(im: Image.Image, scale: int = 65535, rawmode: str | None = None,
                  low: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Any PIL image -> (H, W, C) float32 in [0, 1] (C = 1 or 3) and an optional (H, W) alpha.

    ``scale`` is the white level of integer samples (``_full_scale``), ``rawmode`` and ``low`` what a
    PNG's transparent colour needs (``_tile_rawmode``, ``_png_low_bytes``)."""
    alpha = None
    if im.mode in ("I", *_INT16_MODES, "F"):
        a = np.asarray(im)
        if im.mode == "F":
            a = a.astype(np.float32)
            if not np.isfinite(a).all():  # before any scaling or clipping: read_image refuses it
                return a[..., None], None
            if a.max() > 1.0:  # no bit depth to go by
                a /= 255.0 if a.max() <= 255 else a.max()
            return np.clip(a, 0, 1)[..., None], None
        if scale > _INT32_MAX:  # unsigned 32-bit samples, stored by PIL as signed ones
            a = a.view(np.uint32)
        alpha = _key_transparency(im, a, rawmode, None)
        a = np.clip(a.astype(np.float64) / scale, 0, 1).astype(np.float32)
        if alpha is not None:
            a = np.where(alpha > 0, a, np.float32(1))  # composite over white
        return a[..., None], alpha
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
    if im.mode in ("1", "L", "RGB"):
        samples = np.asarray(im.convert("L") if im.mode == "1" else im)
        alpha = _key_transparency(im, samples, rawmode, low)
        a = samples.astype(np.float32) / 255.0
        if a.ndim == 2:
            a = a[..., None]
        if alpha is not None:
            a = np.where(alpha[..., None] > 0, a, np.float32(1))  # composite over white
        return a, alpha
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
                rawmode = _tile_rawmode(im) if im.format == "PNG" else None
                with _c_stderr(chatter) if im.format == "TIFF" else contextlib.nullcontext():
                    im.load()
                scale = _full_scale(im)  # the transposed copy below no longer knows its file
                low = (_png_low_bytes(path) if rawmode == "RGB;16B" and "transparency" in im.info
                       else None)
                im = ImageOps.exif_transpose(im)
                arr, alpha = _pil_to_array(im, scale, rawmode, low)
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


def fit_image(x: torch.Tensor, size: int, policy: str = "crop", mode: str = "bicubic",
              clamp: bool = True) -> torch.Tensor:
    """Bring ``(C, H, W)`` to ``(C, size, size)`` by ``policy`` (see module doc); ``clamp=False``
    keeps a bicubic resize's over- and undershoot (a weight map, not an image)."""
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
    return out.clamp(0, 1) if mode == "bicubic" and clamp else out


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


def image_size(source: str | os.PathLike | bytes) -> tuple[int, int]:
    """(width, height) from an image file's header (a path or its bytes) without decoding the
    pixels; (0, 0) when it cannot be read (the reading path then says why)."""
    try:
        with Image.open(_io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            return im.size
    except Exception:  # noqa: BLE001 - any failure to open: the caller's full read reports it
        return (0, 0)


def check_out_folder(out: str | os.PathLike) -> Path:
    """``out`` as a Path, or a one-line error for an ``--out`` this run could not create or write,
    before any work: a file (or a file on its path), a name too long for the file system, a broken
    link, a folder without write permission."""
    out = Path(out)
    for part in out.parts:
        if len(os.fsencode(part)) > 255:
            raise GanpriorError(f"--out {out}: the name {part[:40]}... is longer than a file name may be "
                                f"(255 bytes)")
    probe = out
    while not os.path.lexists(probe):
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise GanpriorError(f"--out {out}: {probe} is a file, not a folder")
    if not probe.exists():
        raise GanpriorError(f"--out {out}: {probe} is a broken link")
    if not os.access(probe, os.W_OK | os.X_OK):
        what = "folder" if probe == out else f"folder {probe}, where it would be created,"
        raise GanpriorError(f"--out {out}: the {what} is not writable")
    return out


def atomic_write(path: str | os.PathLike, write: Callable[[_io.BufferedWriter], None]) -> Path:
    """Write via a temporary file in the same folder, flush it to disk, then rename it over ``path``.

    The file gets the permissions ``open(path, "wb")`` would give it: 0666 less the umask when new
    (the temporary file is created with that mode, so the kernel applies the umask and any default
    ACL), the old file's own when it replaces one. The folder is synced after the rename where the
    platform allows it, so that the new name survives a power cut too."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.part"
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 32 random bits
        raise FileExistsError(f"no free temporary name beside {path}")
    try:
        with os.fdopen(fd, "wb") as f:
            with contextlib.suppress(OSError):  # replacing a file: keep its permissions, as open() does
                old = os.stat(path)
                if stat.S_ISREG(old.st_mode):
                    os.chmod(tmp, stat.S_IMODE(old.st_mode))
            write(f)
            f.flush()
            try:
                os.fsync(f.fileno())
            except OSError as e:  # a disk error fails the write; a file system without fsync does not
                if e.errno not in (errno.EINVAL, errno.ENOTSUP):
                    raise
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable; best effort (Windows cannot open a folder, some file
    systems refuse to sync one)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
