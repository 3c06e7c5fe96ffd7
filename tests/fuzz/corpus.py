"""A deterministic corpus of malformed and unusual inputs for the ``ganprior`` command (issue #10).

``build_corpus(root)`` writes every case under ``root`` and returns them as ``Case`` objects; the
same call always writes the same bytes (fixed seeds, no timestamps). A case is one command line:
its ``args`` are the task and the inputs (``reconstruct FILE``, ``inpaint GOOD --mask FILE``, ...);
the test adds ``--out``, ``--prior`` and the options that keep a run short.

Categories: every PIL mode in every format that can hold it, 16-bit and float files (NaN and
inf included), odd sizes and aspect ratios, multi-frame files, EXIF orientations, truncated and
bit-flipped files, non-images with image extensions, decompression bombs, odd paths (symlink
loops, dangling links, FIFOs, a folder named x.png, ...), folders, masks of every kind, the
same odd images through the other tasks, ``--mask-paint`` values and images (``mask-paint``) and
per-image masks matched by name: ``--mask DIR`` and ``NAME_mask.*`` beside the inputs
(``mask-folder``, issue #27).
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import time
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

SEED = 10
RESULT, ERROR = "result", "error"

# (extension, PIL format) of every format PIL can write; reading some of them back is not possible
# (PDF, PALM, EPS without Ghostscript): those cases must then end in a one-line error
FORMATS = [("png", "PNG"), ("tif", "TIFF"), ("jpg", "JPEG"), ("bmp", "BMP"), ("gif", "GIF"), ("webp", "WEBP"),
           ("ppm", "PPM"), ("ico", "ICO"), ("tga", "TGA"), ("pcx", "PCX"), ("sgi", "SGI"), ("qoi", "QOI"),
           ("jp2", "JPEG2000"), ("dds", "DDS"), ("msp", "MSP"), ("xbm", "XBM"), ("im", "IM"), ("spi", "SPIDER"),
           ("blp", "BLP"), ("icns", "ICNS"), ("mpo", "MPO"), ("avif", "AVIF"), ("pdf", "PDF"), ("palm", "PALM"),
           ("eps", "EPS")]
MODES = ["1", "L", "LA", "La", "P", "P+transparency", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr",
         "LAB", "HSV", "I", "I;16", "I;16B", "I;16L", "F"]
# formats whose files change from run to run unless told otherwise
_FIXED_DATE = time.gmtime(1704067200)  # 2024-01-01
_SAVE_OPTIONS = {"PDF": {"creationDate": _FIXED_DATE, "modDate": _FIXED_DATE}}
# ICNS writes every size up to 1024x1024 (0.1 s a file): a few modes are enough
_ONLY_MODES = {"ICNS": {"RGB", "RGBA", "P"}}


@dataclass(frozen=True)
class Case:
    name: str  # unique: "category/what"
    category: str
    kind: str  # "image" (an input file), "mask" (the --mask of a good image), "folder" or "path"
    args: tuple[str, ...]  # task, inputs and task options
    expect: str | None = None  # RESULT, ERROR, or None when either is right (e.g. root may read a chmod 000 file)


# ---------------------------------------------------------------------------------------------------
# pixels and hand-made files


def _rgb(rng: np.random.Generator, h: int = 20, w: int = 24) -> np.ndarray:
    """A smooth gradient with some noise, (h, w, 3) uint8."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) * 127 / max(h + w - 2, 1)], -1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def _alpha(h: int, w: int) -> np.ndarray:
    """An alpha channel with a transparent block in the middle and a soft edge."""
    a = np.full((h, w), 255, np.uint8)
    a[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 0
    a[:, 0] = 128
    return a


def mode_image(mode: str, rng: np.random.Generator, h: int = 20, w: int = 24) -> Image.Image:
    """A (w, h) image in ``mode`` (``P+transparency``: a palette image with a transparent index)."""
    rgb = Image.fromarray(_rgb(rng, h, w))
    if mode in ("1", "L", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"):
        im = rgb.convert(mode)
        im.info.pop("icc_profile", None)  # LAB's carries its creation time
        return im
    if mode in ("LA", "La"):
        im = rgb.convert("L")
        im.putalpha(Image.fromarray(_alpha(h, w)))
        return im.convert(mode)
    if mode in ("RGBA", "RGBa"):
        im = rgb.copy()
        im.putalpha(Image.fromarray(_alpha(h, w)))
        return im.convert(mode)
    if mode in ("P", "P+transparency"):
        im = rgb.quantize(16)
        if mode == "P+transparency":
            im.info["transparency"] = int(np.asarray(im)[h // 2, w // 2])
        return im
    if mode == "PA":
        im = rgb.quantize(16).convert("PA")
        im.putalpha(Image.fromarray(_alpha(h, w)))
        return im
    gray16 = (np.asarray(rgb.convert("L")).astype(np.uint32) * 257).astype(np.uint16)
    if mode == "I":
        return Image.fromarray(gray16.astype(np.int32))
    if mode == "I;16":
        return Image.fromarray(gray16)
    if mode == "I;16B":
        return Image.frombytes("I;16B", (w, h), gray16.astype(">u2").tobytes())
    if mode == "I;16L":
        return Image.frombytes("I;16L", (w, h), gray16.astype("<u2").tobytes())
    if mode == "F":
        return Image.fromarray(gray16.astype(np.float32) / 65535)
    raise ValueError(mode)


def encode(im: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **{**_SAVE_OPTIONS.get(fmt, {}), **options})
    return buf.getvalue()


def pil_loads(data: bytes) -> bool:
    """Whether PIL itself decodes these bytes (then the library must give a result)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
        return True
    except Exception:  # noqa: BLE001 - any failure: PIL cannot read it
        return False


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png_bytes(width: int, height: int, bit_depth: int, color_type: int, rows: bytes | None = None, *,
              idat: bytes | None = None, before_idat: list[bytes] = ()) -> bytes:
    """A PNG from raw scanlines (each already prefixed by its filter byte), or from a given IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    data = idat if idat is not None else zlib.compress(rows, 9)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + b"".join(before_idat) + _chunk(b"IDAT", data)
            + _chunk(b"IEND", b""))


def _rows(a: np.ndarray) -> bytes:
    """(h, row_bytes) uint8 -> scanlines with filter type 0."""
    return b"".join(b"\x00" + r.tobytes() for r in a)


def png_zero_bomb(width: int, height: int) -> bytes:
    """A real 1-bit all-black PNG of width x height: a few KB on disk, width*height pixels decoded."""
    row = b"\x00" * (1 + (width + 7) // 8)
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    return png_bytes(width, height, 1, 0, idat=data)


def tiff_bytes(width: int, height: int, data: bytes = bytes(16), *, bits: int = 8, compression: int = 1,
               byte_count: int | None = None) -> bytes:
    """A one-strip gray TIFF written by hand: its tags may claim any size, bit depth and compression."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, bits), (259, 3, 1, compression),
               (262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height),
               (279, 4, 1, len(data) if byte_count is None else byte_count)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, typ, n, v) if typ == 4 else struct.pack("<HHIHH", tag, typ, n, v, 0)
        for tag, typ, n, v in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8 + len(data)) + data + ifd


def jpeg_with_app1(jpeg: bytes, payload: bytes) -> bytes:
    """Insert an APP1 segment (e.g. a broken EXIF block) right after the SOI marker."""
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def patch(data: bytes, offset: int, fmt: str, *values) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, *values)
    return bytes(b)


def flip_bytes(data: bytes, rng: np.random.Generator, n: int = 8, start: int = 32) -> bytes:
    b = bytearray(data)
    for pos in rng.integers(min(start, len(b) - 1), len(b), n):
        b[pos] ^= int(rng.integers(1, 256))
    return bytes(b)


# ---------------------------------------------------------------------------------------------------
# the corpus


class _Builder:
    def __init__(self, root: Path):
        self.root = root
        self.rng = np.random.default_rng(SEED)
        self.cases: list[Case] = []
        self.good = self.file("good.png", encode(Image.fromarray(_rgb(self.rng, 24, 24)), "PNG"))

    def file(self, rel: str, data: bytes) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        return p

    def add(self, category: str, what: str, kind: str, args, expect: str | None) -> None:
        name = f"{category}/{what}"
        assert name not in {c.name for c in self.cases}, name
        self.cases.append(Case(name, category, kind, tuple(str(a) for a in args), expect))

    def image(self, category: str, fname: str, data: bytes | None, expect: str | None, task=("reconstruct",),
              what: str | None = None) -> Path:
        """A case whose input is the file ``category/fname`` (written unless ``data`` is None)."""
        p = self.root / category / fname
        if data is not None:
            self.file(f"{category}/{fname}", data)
        self.add(category, what or fname, "image", [task[0], p, *task[1:]], expect)
        return p

    def mask(self, what: str, mask, expect: str | None, extra=(), data: bytes | None = None) -> None:
        """A case ``inpaint good.png --mask MASK``; ``data`` writes MASK as the file ``mask/what``."""
        if data is not None:
            mask = self.file(f"mask/{what}", data)
        self.add("mask", what, "mask", ["inpaint", self.good, "--mask", mask, *extra], expect)


def _modes(b: _Builder) -> dict[str, Path]:  # noqa: C901
    """Every mode in every format that can hold it; returns one PNG/TIFF/JPEG file per mode for the task cases."""
    per_mode: dict[str, Path] = {}
    for mode in MODES:
        im = mode_image(mode, b.rng)
        for ext, fmt in FORMATS:
            if mode not in _ONLY_MODES.get(fmt, {mode}):
                continue
            try:
                data = encode(im, fmt)
            except Exception:  # noqa: BLE001 - this format cannot hold this mode
                continue
            tag = mode.replace(";", "_").replace("+", "_")
            p = b.image("mode", f"{tag}.{ext}", data, RESULT if pil_loads(data) else ERROR)
            if ext in ("png", "tif", "jpg") and pil_loads(data):
                per_mode.setdefault(mode, p)
    # TIFF compressions and JPEG/WebP/PNG variants
    rgb = mode_image("RGB", b.rng)
    # (not the CCITT ones: Pillow 12's TIFF writer corrupts its heap on 8-bit data with them)
    for comp in ("tiff_lzw", "tiff_deflate", "tiff_adobe_deflate", "packbits", "jpeg"):
        try:
            data = encode(rgb, "TIFF", compression=comp)
        except Exception:  # noqa: BLE001
            continue
        b.image("mode", f"RGB_{comp}.tif", data, RESULT if pil_loads(data) else ERROR)
    b.image("mode", "RGB_progressive.jpg", encode(rgb, "JPEG", progressive=True, quality=50), RESULT)
    b.image("mode", "RGB_q1_subsampled.jpg", encode(rgb, "JPEG", quality=1, subsampling=2), RESULT)
    b.image("mode", "RGB_lossless.webp", encode(rgb, "WEBP", lossless=True), RESULT)
    b.image("mode", "RGBA_lossless.webp", encode(mode_image("RGBA", b.rng), "WEBP", lossless=True), RESULT)
    b.image("mode", "L_optimized.png", encode(mode_image("L", b.rng), "PNG", optimize=True), RESULT)
    b.image("mode", "1_group4.tif", encode(mode_image("1", b.rng), "TIFF", compression="group4"), RESULT)
    b.image("mode", "CMYK_adobe.jpg", encode(mode_image("CMYK", b.rng), "JPEG", quality=90), RESULT)
    return per_mode


def _bit_depth_and_trns(b: _Builder, h: int, w: int) -> None:
    """Issue #26: a 16-bit PGM whose pixels stay below 256 (once read 257x too bright), PGMs whose
    maxval is no bit depth, and PNGs whose tRNS colour the image really holds (gray, RGB, 16-bit):
    reconstructed, and inpainted with that colour as the missing region. Fixed pixels, not b.rng, so
    that the other cases' bytes stay as they were."""
    y, x = np.mgrid[0:h, 0:w]
    header = b"P5\n%d %d\n" % (w, h)
    b.image("deep", "pgm16_max_below_256.pgm", header + b"65535\n" + ((x * 11 + y * 3) % 256).astype(">u2").tobytes(),
            RESULT)
    m1000 = (x + y) * 1000 // (h + w - 2)
    b.image("deep", "pgm_maxval_1000.pgm", header + b"1000\n" + m1000.astype(">u2").tobytes(), RESULT)
    plain = b"P2\n%d %d\n1000\n" % (w, h) + b"\n".join(" ".join(map(str, r)).encode() for r in m1000) + b"\n"
    b.image("deep", "pgm_plain_maxval_1000.pgm", plain, RESULT)
    b.image("deep", "pgm_maxval_1.pgm", header + b"1\n" + ((x + y) % 2).astype(np.uint8).tobytes(), RESULT)
    hole = (slice(h // 4, 3 * h // 4), slice(w // 4, 3 * w // 4))
    gray8 = ((x * 7 + y * 5) % 200 + 20).astype(np.uint8)  # 20..219: the key 5 only in the hole
    gray8[hole] = 5
    rgb8 = np.stack([(x * 11) % 256, (y * 13) % 256, np.full_like(x, 100)], -1).astype(np.uint8)
    rgb8[hole] = (255, 0, 255)
    gray16 = (1000 + x * 2000 + y * 700).astype(">u2")
    gray16[hole] = 300
    rgb16 = np.stack([1000 + x * 2000, 1000 + y * 3000, 1000 + (x + y) * 1000], -1).astype(">u2")
    rgb16[hole] = (300, 301, 302)
    for fname, data in [
            ("gray_trns_hole.png", png_bytes(w, h, 8, 0, _rows(gray8), before_idat=[_chunk(b"tRNS", b"\x00\x05")])),
            ("rgb_trns_hole.png", png_bytes(w, h, 8, 2, _rows(rgb8.reshape(h, -1)),
                                            before_idat=[_chunk(b"tRNS", b"\x00\xff\x00\x00\x00\xff")])),
            ("gray16_trns_hole.png", png_bytes(w, h, 16, 0, _rows(gray16.view(np.uint8)),
                                               before_idat=[_chunk(b"tRNS", struct.pack(">H", 300))])),
            ("rgb16_trns_hole.png", png_bytes(w, h, 16, 2, _rows(rgb16.reshape(h, -1).view(np.uint8)),
                                              before_idat=[_chunk(b"tRNS", struct.pack(">3H", 300, 301, 302))]))]:
        b.image("deep", fname, data, RESULT)
        b.image("deep", fname, None, RESULT, task=("inpaint",), what=f"{fname} inpaint")


def _deep(b: _Builder) -> dict[str, Path]:
    """16-bit, low-bit-depth and float files."""
    out = {}
    rng = b.rng
    h, w = 18, 22
    g16 = rng.integers(0, 65536, (h, w), dtype=np.uint32).astype(np.uint16)
    out["png16_gray"] = b.image("deep", "gray16_full.png", encode(Image.fromarray(g16), "PNG"), RESULT)
    b.image("deep", "gray16_low_values.png", encode(Image.fromarray((g16 % 300).astype(np.uint16)), "PNG"), RESULT)
    b.image("deep", "gray16_all_zero.png", encode(Image.fromarray(np.zeros((h, w), np.uint16)), "PNG"), RESULT)
    b.image("deep", "gray16_all_max.png", encode(Image.fromarray(np.full((h, w), 65535, np.uint16)), "PNG"), RESULT)
    b.image("deep", "gray16.tif", encode(Image.fromarray(g16), "TIFF"), RESULT)
    i32 = rng.integers(-70000, 200000, (h, w)).astype(np.int32)
    b.image("deep", "int32_wide_range.tif", encode(Image.fromarray(i32), "TIFF"), RESULT)
    b.image("deep", "int32_negative.tif", encode(Image.fromarray(-np.abs(i32)), "TIFF"), RESULT)
    # hand-made PNGs: 16-bit colour, 16-bit gray+alpha, low bit depths, tRNS variants
    rgb16 = rng.integers(0, 65536, (h, w, 3), dtype=np.uint32).astype(">u2")
    out["png16_rgb"] = b.image("deep", "rgb16.png", png_bytes(w, h, 16, 2, _rows(rgb16.reshape(h, -1).view(np.uint8))),
                               RESULT)
    rgba16 = rng.integers(0, 65536, (h, w, 4), dtype=np.uint32).astype(">u2")
    rgba16[h // 3: 2 * h // 3, :, 3] = 0
    out["png16_rgba"] = b.image("deep", "rgba16.png",
                                png_bytes(w, h, 16, 6, _rows(rgba16.reshape(h, -1).view(np.uint8))), RESULT)
    la16 = rng.integers(0, 65536, (h, w, 2), dtype=np.uint32).astype(">u2")
    b.image("deep", "gray_alpha16.png", png_bytes(w, h, 16, 4, _rows(la16.reshape(h, -1).view(np.uint8))), RESULT)
    for depth in (1, 2, 4):
        row_bytes = (w * depth + 7) // 8
        raw = rng.integers(0, 256, (h, row_bytes), dtype=np.uint8)
        b.image("deep", f"gray{depth}bit.png", png_bytes(w, h, depth, 0, _rows(raw)), RESULT)
        plte = _chunk(b"PLTE", rng.integers(0, 256, 3 * 2 ** depth, dtype=np.uint8).tobytes())
        b.image("deep", f"palette{depth}bit.png", png_bytes(w, h, depth, 3, _rows(raw), before_idat=[plte]), RESULT)
    raw8 = rng.integers(0, 256, (h, w), dtype=np.uint8)
    plte = _chunk(b"PLTE", rng.integers(0, 256, 3 * 256, dtype=np.uint8).tobytes())
    b.image("deep", "palette_short_trns.png",
            png_bytes(w, h, 8, 3, _rows(raw8), before_idat=[plte, _chunk(b"tRNS", bytes([0, 128, 255]))]), RESULT)
    b.image("deep", "palette_index_beyond_plte.png",
            png_bytes(w, h, 8, 3, _rows(raw8), before_idat=[_chunk(b"PLTE", bytes(range(12)))]), None)
    b.image("deep", "gray_trns.png", png_bytes(w, h, 8, 0, _rows(raw8), before_idat=[_chunk(b"tRNS", b"\x00\x10")]),
            RESULT)
    rgb8 = rng.integers(0, 256, (h, w * 3), dtype=np.uint8)
    b.image("deep", "rgb_trns.png", png_bytes(w, h, 8, 2, _rows(rgb8), before_idat=[_chunk(b"tRNS", bytes(6))]),
            RESULT)
    _bit_depth_and_trns(b, h, w)
    b.image("deep", "bad_bit_depth.png", png_bytes(w, h, 3, 0, _rows(raw8)), ERROR)
    b.image("deep", "bad_color_type.png", png_bytes(w, h, 8, 7, _rows(raw8)), ERROR)
    # float images: PIL mode F
    f = rng.random((h, w)).astype(np.float32)
    floats = {"unit": (f, RESULT), "0_255": (f * 255, RESULT), "0_1000": (f * 1000, RESULT),
              "negative": (f - 0.5, RESULT), "all_negative": (-f - 1, RESULT), "huge": (f * 1e38, RESULT),
              "denormal": (f * 1e-40, RESULT), "all_zero": (f * 0, RESULT), "minus_zero": (-(f * 0), RESULT)}
    for what, v in (("nan", np.nan), ("inf", np.inf), ("minus_inf", -np.inf)):
        a = f.copy()
        a[3, 4] = v
        floats[what] = (a, ERROR)
    floats["all_nan"] = (np.full_like(f, np.nan), ERROR)
    for what, (a, expect) in floats.items():
        p = b.image("deep", f"float_{what}.tif", encode(Image.fromarray(a.astype(np.float32)), "TIFF"), expect)
        out.setdefault(f"float_{what}", p)
    # files only tifffile writes: multi-channel 16-bit/float, signed, planar, many channels
    try:
        import tifffile
    except ImportError:  # pragma: no cover - tifffile comes with scikit-image
        return out
    arrays = {"rgb16": (rng.integers(0, 65536, (h, w, 3)).astype(np.uint16), {"photometric": "rgb"}),
              "rgba16": (rng.integers(0, 65536, (h, w, 4)).astype(np.uint16),
                         {"photometric": "rgb", "extrasamples": ["unassalpha"]}),
              "rgb_float32": (rng.random((h, w, 3)).astype(np.float32), {"photometric": "rgb"}),
              "gray_float64": (rng.random((h, w)), {"photometric": "minisblack"}),
              "gray_float16": (rng.random((h, w)).astype(np.float16), {"photometric": "minisblack"}),
              "gray_int8": (rng.integers(-128, 128, (h, w)).astype(np.int8), {"photometric": "minisblack"}),
              "gray_int16": (rng.integers(-30000, 30000, (h, w)).astype(np.int16), {"photometric": "minisblack"}),
              "gray_uint32": (rng.integers(0, 2 ** 32, (h, w)).astype(np.uint32), {"photometric": "minisblack"}),
              "rgb_planar": (rng.integers(0, 256, (3, h, w)).astype(np.uint8),
                             {"photometric": "rgb", "planarconfig": "separate"}),
              "five_channels": (rng.integers(0, 256, (h, w, 5)).astype(np.uint8), {"photometric": "minisblack",
                                                                                   "planarconfig": "contig"}),
              "gray_bool": (rng.random((h, w)) > 0.5, {"photometric": "minisblack"}),
              "stack3": (rng.integers(0, 256, (3, h, w)).astype(np.uint8), {"photometric": "minisblack"}),
              "rgb16_deflate": (rng.integers(0, 65536, (h, w, 3)).astype(np.uint16),
                                {"photometric": "rgb", "compression": "zlib"})}
    for what, (a, kw) in arrays.items():
        buf = io.BytesIO()
        tifffile.imwrite(buf, a, metadata=None, **kw)
        data = buf.getvalue()
        b.image("deep", f"tifffile_{what}.tif", data, RESULT if pil_loads(data) else ERROR)
    return out


def _sizes(b: _Builder) -> dict[str, Path]:
    out = {}
    rng = b.rng
    for what, (h, w), expect in [("1x1", (1, 1), ERROR), ("1x50", (1, 50), ERROR), ("50x1", (50, 1), ERROR),
                                 ("2x2", (2, 2), RESULT), ("3x3", (3, 3), RESULT), ("2x2000", (2, 2000), RESULT),
                                 ("2000x2", (2000, 2), RESULT), ("3x1000", (3, 1000), RESULT),
                                 ("1x2000", (1, 2000), ERROR), ("17x1", (17, 1), ERROR)]:
        p = b.image("size", f"rgb_{what}.png", encode(Image.fromarray(_rgb(rng, h, w)), "PNG"), expect)
        out[what] = p
    b.image("size", "gray_1x1.png", encode(Image.new("L", (1, 1), 7), "PNG"), ERROR)
    b.image("size", "gray_1x1.gif", encode(Image.new("L", (1, 1), 7), "GIF"), ERROR)
    b.image("size", "rgb_1x1.jpg", encode(Image.new("RGB", (1, 1), (9, 9, 9)), "JPEG"), ERROR)
    for fit in ("pad", "stretch"):
        for what in ("2x2000", "2000x2", "2x2"):
            b.image("size", f"rgb_{what}.png", None, RESULT, task=("reconstruct", "--fit", fit),
                    what=f"rgb_{what}.png fit={fit}")
    b.image("size", "rgb_1200x900.jpg", encode(Image.fromarray(_rgb(rng, 900, 1200)), "JPEG", quality=80), RESULT)
    b.image("size", "zero_width.png", png_bytes(0, 10, 8, 0, b"\x00" * 10), ERROR)
    b.image("size", "zero_height.png", png_bytes(10, 0, 8, 0, b""), ERROR)
    return out


def _multiframe(b: _Builder) -> dict[str, Path]:
    out = {}
    frames = [mode_image("RGB", b.rng) for _ in range(3)]
    out["gif"] = b.image("multiframe", "animated.gif", encode(frames[0], "GIF", save_all=True,
                                                             append_images=frames[1:], duration=50, loop=0), RESULT)
    pf = [f.quantize(8) for f in frames]
    b.image("multiframe", "animated_transparent_disposal.gif",
            encode(pf[0], "GIF", save_all=True, append_images=pf[1:], transparency=0, disposal=2), RESULT)
    small = [frames[0], frames[1].crop((0, 0, 10, 8)), frames[2].crop((5, 5, 20, 15))]
    b.image("multiframe", "frames_of_other_sizes.gif", encode(small[0], "GIF", save_all=True, append_images=small[1:]),
            RESULT)
    out["apng"] = b.image("multiframe", "animated.png", encode(frames[0], "PNG", save_all=True,
                                                               append_images=frames[1:], duration=50), RESULT)
    rgba = [mode_image("RGBA", b.rng) for _ in range(2)]
    b.image("multiframe", "animated_rgba.png", encode(rgba[0], "PNG", save_all=True, append_images=rgba[1:],
                                                      default_image=True), RESULT)
    b.image("multiframe", "animated.webp", encode(frames[0], "WEBP", save_all=True, append_images=frames[1:],
                                                  duration=50), RESULT)
    pages = [frames[0], mode_image("L", b.rng, 40, 10), mode_image("I;16", b.rng)]
    b.image("multiframe", "multipage.tif", encode(pages[0], "TIFF", save_all=True, append_images=pages[1:]), RESULT)
    b.image("multiframe", "multisize.ico", encode(Image.fromarray(_rgb(b.rng, 64, 64)), "ICO",
                                                  sizes=[(16, 16), (32, 32), (64, 64)]), RESULT)
    b.image("multiframe", "two_frames.mpo", encode(frames[0], "MPO", save_all=True, append_images=frames[1:2]),
            RESULT)
    return out


def _exif(b: _Builder) -> dict[str, Path]:
    out = {}
    im = mode_image("RGB", b.rng)
    for o in range(0, 10):
        p = b.image("exif", f"orientation_{o}.jpg", encode(im, "JPEG", exif=exif_bytes(o)), RESULT)
        out.setdefault("rotated" if o == 6 else f"o{o}", p)
    b.image("exif", "orientation_65535.jpg", encode(im, "JPEG", exif=exif_bytes(65535)), RESULT)
    b.image("exif", "orientation_6.png", encode(im, "PNG", exif=exif_bytes(6)), RESULT)
    b.image("exif", "orientation_8.webp", encode(im, "WEBP", exif=exif_bytes(8)), RESULT)
    b.image("exif", "orientation_5.tif", encode(im, "TIFF", tiffinfo={274: 5}), RESULT)
    b.image("exif", "orientation_7_rgba.png", encode(mode_image("RGBA", b.rng), "PNG", exif=exif_bytes(7)), RESULT)
    plain = encode(im, "JPEG")
    for what, payload in [("garbage", b"Exif\x00\x00" + bytes(b.rng.integers(0, 256, 40, dtype=np.uint8))),
                          ("bad_ifd_offset", b"Exif\x00\x00II*\x00\xff\xff\xff\x7f"),
                          ("ifd_loop", b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00"
                                       b"\x00\x00\x06\x00\x00\x00\x08\x00\x00\x00"),
                          ("empty", b"Exif\x00\x00"), ("not_exif", b"hello world")]:
        b.image("exif", f"exif_{what}.jpg", jpeg_with_app1(plain, payload), None)
    return out


def _truncated(b: _Builder) -> None:
    rng = b.rng
    im = Image.fromarray(_rgb(rng, 40, 48))
    bases = {"png": encode(im, "PNG"), "jpg": encode(im, "JPEG"),
             "progressive.jpg": encode(im, "JPEG", progressive=True), "gif": encode(im, "GIF"),
             "bmp": encode(im, "BMP"), "tif": encode(im, "TIFF"), "lzw.tif": encode(im, "TIFF", compression="tiff_lzw"),
             "webp": encode(im, "WEBP"), "ppm": encode(im, "PPM"), "tga": encode(im, "TGA"), "qoi": encode(im, "QOI"),
             "gray16.png": encode(mode_image("I;16", rng), "PNG")}
    for ext, data in bases.items():
        n = len(data)
        for cut in sorted({1, 7, 16, 33, 64, n // 2, n - 12, n - 1}):
            b.image("truncated", f"cut{cut}of{n}.{ext}", data[:cut], ERROR if cut <= 64 else None)


def _corrupt(b: _Builder) -> None:
    im = Image.fromarray(_rgb(b.rng, 40, 48))
    bases = {"png": encode(im, "PNG"), "jpg": encode(im, "JPEG"), "gif": encode(im, "GIF"),
             "tif": encode(im, "TIFF", compression="tiff_lzw"), "bmp": encode(im, "BMP"), "webp": encode(im, "WEBP")}
    for ext, data in bases.items():
        for k in range(3):
            b.image("corrupt", f"flipped{k}.{ext}", flip_bytes(data, b.rng), None)
    # a PNG whose image data is not a zlib stream, and one whose chunk CRC is wrong
    good = encode(im, "PNG")
    b.image("corrupt", "idat_not_zlib.png", png_bytes(48, 40, 8, 2, idat=b"not a zlib stream at all"), ERROR)
    b.image("corrupt", "bad_crc.png", good[:29] + bytes([good[29] ^ 0xFF]) + good[30:], ERROR)
    b.image("corrupt", "idat_too_short.png", png_bytes(48, 40, 8, 2, b"\x00" * 10), ERROR)
    b.image("corrupt", "idat_too_long.png", png_bytes(4, 4, 8, 0, b"\x00" * 5000), None)
    # hand-made TIFFs whose strip libtiff cannot decode (libtiff reports these on stderr itself)
    noise = bytes(b.rng.integers(0, 256, 64, dtype=np.uint8))
    for what, comp in [("fax3_8bit", 3), ("fax4_8bit", 4), ("ccitt_rle_8bit", 2), ("lzw_garbage", 5),
                       ("jpeg_garbage", 7), ("deflate_garbage", 8), ("packbits_short", 32773), ("zstd_garbage", 50000),
                       ("unknown_compression", 12345)]:
        b.image("corrupt", f"tiff_{what}.tif", tiff_bytes(16, 16, noise, compression=comp), ERROR)
    b.image("corrupt", "tiff_strip_beyond_end.tif", tiff_bytes(16, 16, noise, byte_count=100000), ERROR)
    b.image("corrupt", "tiff_fax4_1bit_noise.tif", tiff_bytes(16, 16, noise, bits=1, compression=4), None)


def _not_image(b: _Builder) -> None:
    rng = b.rng
    noise = lambda n: bytes(rng.integers(0, 256, n, dtype=np.uint8))  # noqa: E731
    for ext in ("png", "jpg", "gif", "tif", "bmp", "webp", "ppm"):
        b.image("not-image", f"empty.{ext}", b"", ERROR)
    for ext in ("png", "jpg", "tif"):
        b.image("not-image", f"random.{ext}", noise(1024), ERROR)
    good = b.good.read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("a.png", date_time=(2024, 1, 1, 0, 0, 0)), good)
    for fname, data in [
            ("text.jpg", b"this is not an image\n" * 20), ("page.png", b"<!DOCTYPE html><html><body>404</body></html>"),
            ("data.png", b'{"image": [1, 2, 3]}'), ("vector.png", b'<svg xmlns="http://www.w3.org/2000/svg"/>'),
            ("utf16.jpg", "not an image".encode("utf-16")), ("nul_bytes.png", bytes(4096)),
            ("archive.png", buf.getvalue()), ("gzipped.png", gzip.compress(good, mtime=0)),
            ("document.png", encode(mode_image("RGB", rng), "PDF")), ("array.png", _npy(rng)),
            ("png_signature_only.png", good[:8]), ("png_header_only.png", good[:33]),
            ("png_sig_then_noise.png", good[:8] + noise(200)), ("png_no_idat.png", good[:33] + _chunk(b"IEND", b"")),
            ("jpeg_soi_only.jpg", b"\xff\xd8"), ("jpeg_soi_noise.jpg", b"\xff\xd8\xff" + noise(300)),
            ("gif_header_only.gif", b"GIF89a"), ("bmp_magic_zeros.bmp", b"BM" + bytes(60)),
            ("tiff_header_only.tif", b"II*\x00\x08\x00\x00\x00"),
            ("tiff_big_endian_noise.tif", b"MM\x00*" + noise(100)),
            ("webp_riff_only.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 "), ("ppm_header_only.ppm", b"P6\n10 10\n255\n"),
            ("ppm_negative_size.ppm", b"P6\n-10 10\n255\n" + bytes(300)),
            ("ppm_huge_maxval.ppm", b"P5\n4 4\n99999999\n" + bytes(64)),
            ("eps_header.png", b"%!PS-Adobe-3.0 EPSF-3.0\n"),
            ("icns_header_only.icns", b"icns\x00\x00\x00\x08"), ("ico_header_only.ico", b"\x00\x00\x01\x00\x01\x00")]:
        b.image("not-image", fname, data, ERROR)


def _lab(rgb: np.ndarray) -> Image.Image:
    im = Image.fromarray(rgb).convert("LAB")
    im.info.pop("icc_profile", None)
    return im


def _npy(rng) -> bytes:
    buf = io.BytesIO()
    np.save(buf, rng.random((4, 4)))
    return buf.getvalue()


def _bombs(b: _Builder) -> None:
    good_png = b.good.read_bytes()
    b.image("bomb", "zero_1bit_20000x10000.png", png_zero_bomb(20000, 10000), ERROR)  # 2.2x PIL's limit
    b.image("bomb", "zero_1bit_10000x10000.png", png_zero_bomb(10000, 10000), ERROR)  # 1.1x: PIL only warns
    b.image("bomb", "header_100000x100000.png", png_bytes(100000, 100000, 8, 2, idat=zlib.compress(b"\x00" * 64)),
            ERROR)
    b.image("bomb", "header_4000x4000_tiny_data.png", png_bytes(4000, 4000, 8, 2, idat=zlib.compress(b"\x00" * 64)),
            ERROR)
    b.image("bomb", "header_max_u32.png", png_bytes(2 ** 31 - 1, 2 ** 31 - 1, 8, 2, idat=zlib.compress(b"\x00")),
            ERROR)
    bmp = encode(Image.fromarray(_rgb(b.rng, 8, 8)), "BMP")
    b.image("bomb", "header_50000x50000.bmp", patch(bmp, 18, "<ii", 50000, 50000), ERROR)
    b.image("bomb", "header_negative_height.bmp", patch(bmp, 18, "<ii", 8, -8), RESULT)  # top-down: legal
    gif = encode(Image.fromarray(_rgb(b.rng, 8, 8)), "GIF")
    b.image("bomb", "header_65535x65535.gif", patch(gif, 6, "<HH", 65535, 65535), ERROR)
    jpg = encode(Image.fromarray(_rgb(b.rng, 8, 8)), "JPEG")
    sof = jpg.index(b"\xff\xc0")
    b.image("bomb", "header_65000x65000.jpg", patch(jpg, sof + 5, ">HH", 65000, 65000), ERROR)
    b.image("bomb", "header_100000x100000.tif", tiff_bytes(100000, 100000, byte_count=10 ** 10 % 2 ** 32), ERROR)
    # metadata bombs: a text chunk and an ICC profile that inflate to 20 MB
    big = zlib.compress(b"a" * (20 << 20), 9)
    ztxt = _chunk(b"zTXt", b"Comment\x00\x00" + big)
    iccp = _chunk(b"iCCP", b"icc\x00\x00" + big)
    b.image("bomb", "ztxt_20MB.png", good_png[:33] + ztxt + good_png[33:], None)
    b.image("bomb", "iccp_20MB.png", good_png[:33] + iccp + good_png[33:], None)


def _paths(b: _Builder) -> None:
    d = b.root / "path"
    d.mkdir(parents=True, exist_ok=True)
    good = b.good.read_bytes()
    (d / "dangling.png").symlink_to(d / "does_not_exist.png")
    b.image("path", "dangling.png", None, ERROR, what="dangling symlink")
    (d / "loop_a.png").symlink_to(d / "loop_b.png")
    (d / "loop_b.png").symlink_to(d / "loop_a.png")
    b.image("path", "loop_a.png", None, ERROR, what="symlink loop")
    (d / "self.png").symlink_to(d / "self.png")
    b.image("path", "self.png", None, ERROR, what="symlink to itself")
    b.file("path/target.png", good)
    (d / "link.png").symlink_to(d / "target.png")
    b.image("path", "link.png", None, RESULT, what="symlink to an image")
    (d / "dir.png").mkdir()
    b.image("path", "dir.png", None, ERROR, what="folder named dir.png")
    b.image("path", "missing.png", None, ERROR, what="no such file")
    b.image("path", "target.png/inner.png", None, ERROR, what="path through a file")
    b.image("path", "x" * 300 + ".png", None, ERROR, what="name too long")
    b.image("path", "sub/" * 200 + "deep.png", None, ERROR, what="path of a missing deep folder")
    os.mkfifo(d / "fifo.png")
    b.image("path", "fifo.png", None, ERROR, what="fifo")
    b.add("path", "/dev/null", "path", ["reconstruct", "/dev/null"], ERROR)
    p = b.image("path", "unreadable.png", good, None, what="chmod 000 image")
    p.chmod(0)
    b.image("path", "spaces and ünïcödé 名前.png", good, RESULT)
    b.image("path", "UPPER.PNG", good, RESULT)
    b.image("path", "no_extension", good, RESULT)
    b.image("path", "png_named.jpg", good, RESULT)
    b.image("path", "jpeg_named.png", encode(mode_image("RGB", b.rng), "JPEG"), RESULT)
    b.image("path", "-leading-dash.png", good, RESULT)
    b.image("path", ".hidden.png", good, RESULT)
    b.image("path", "double.png.png", good, RESULT)
    b.image("path", "trailing.dot.", good, RESULT)
    b.image("path", "new\nline.png", good, RESULT, what="newline in a name")  # (a bad one: test_fuzz.py, known)


def _write_folder(b: _Builder, rel: str, files: dict[str, bytes | Callable[[Path], None]]) -> Path:
    """The folder ``rel`` under the corpus root with ``files``: bytes, or a callable that writes the path."""
    d = b.root / rel
    d.mkdir(parents=True, exist_ok=True)
    for fname, content in files.items():
        if callable(content):
            content(d / fname)
        else:
            b.file(f"{rel}/{fname}", content)
    return d


def _folders(b: _Builder) -> None:
    good = b.good.read_bytes()

    def folder(what: str, expect: str | None, files: dict[str, bytes | Callable[[Path], None]]) -> Path:
        d = _write_folder(b, f"folder/{what}", files)
        b.add("folder", what, "folder", ["reconstruct", d], expect)
        return d

    folder("empty", ERROR, {})
    folder("only_text", ERROR, {"readme.txt": b"hello", "notes.md": b"# notes"})
    folder("only_subfolders", ERROR, {"a": lambda p: p.mkdir(), "b.png": lambda p: p.mkdir()})
    folder("only_dangling_link", ERROR, {"x.png": lambda p: p.symlink_to(p.parent / "nowhere.png")})
    folder("only_link_loop", ERROR, {"x.png": lambda p: p.symlink_to(p)})
    folder("only_fifo", ERROR, {"x.png": os.mkfifo})
    folder("only_bad_images", ERROR, {"a.png": b"garbage", "b.jpg": b"", "c.gif": b"GIF89a"})
    folder("good_and_bad", ERROR, {"a.png": good, "b.png": b"garbage", "c_tiny.png": encode(Image.new("L", (1, 1)),
                                                                                             "PNG")})
    folder("good_and_nan", ERROR, {"a.png": good,
                                   "b.tif": encode(Image.fromarray(np.full((8, 8), np.nan, np.float32)), "TIFF")})
    folder("good_only", RESULT, {"a.png": good, "b.jpg": encode(mode_image("RGB", b.rng), "JPEG")})
    folder("same_stem", RESULT, {"a.png": good, "a.jpg": encode(mode_image("RGB", b.rng), "JPEG"),
                                 "a.PNG": encode(mode_image("L", b.rng), "PNG")})
    folder("good_and_ignored", RESULT, {"a.png": good, "readme.txt": b"hi", "sub": lambda p: p.mkdir(),
                                        "link.png": lambda p: p.symlink_to(p.parent / "gone.png")})
    folder("mixed_modes", RESULT, {f"m{i}.png": encode(mode_image(m, b.rng), "PNG")
                                   for i, m in enumerate(["1", "L", "LA", "P", "RGBA", "I;16"])})
    d = folder("unreadable", None, {"a.png": good})
    d.chmod(0)
    d = folder("unreadable_file_inside", None, {"a.png": good, "b.png": good})
    (d / "b.png").chmod(0)


def _masks(b: _Builder) -> None:
    rng = b.rng

    def blob(h: int, w: int, lo: int = 0, hi: int = 255) -> np.ndarray:
        m = np.full((h, w), lo, np.uint8)
        m[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = hi
        return m

    m = blob(24, 24)
    for what, data, expect in [
            ("L_same_size.png", encode(Image.fromarray(m), "PNG"), RESULT),
            ("L_7x5.png", encode(Image.fromarray(blob(5, 7)), "PNG"), RESULT),
            ("L_30x100.png", encode(Image.fromarray(blob(100, 30)), "PNG"), RESULT),
            ("L_2x2.png", encode(Image.fromarray(np.array([[0, 255], [255, 0]], np.uint8)), "PNG"), RESULT),
            ("L_1x1.png", encode(Image.new("L", (1, 1), 255), "PNG"), ERROR),
            ("L_2000x4.png", encode(Image.fromarray(blob(4, 2000)), "PNG"), RESULT),
            ("1bit.png", encode(Image.fromarray(m).convert("1"), "PNG"), RESULT),
            ("RGB.png", encode(Image.fromarray(np.stack([m] * 3, -1)), "PNG"), RESULT),
            ("RGB_red_hole.png", encode(Image.fromarray(np.stack([m, m * 0, m * 0], -1)), "PNG"), ERROR),
            ("RGBA_transparent_hole.png", encode(Image.fromarray(np.dstack([np.zeros((24, 24, 3), np.uint8),
                                                                            255 - m])), "PNG"), RESULT),
            ("LA.png", encode(Image.fromarray(np.dstack([m, np.full_like(m, 255)])), "PNG"), RESULT),
            ("P.png", encode(Image.fromarray(m).convert("P"), "PNG"), RESULT),
            ("P_transparency.png", encode(Image.fromarray(m).convert("P"), "PNG", transparency=255), RESULT),
            ("I16.png", encode(Image.fromarray(m.astype(np.uint16) * 257), "PNG"), RESULT),
            # a 32-bit TIFF is scaled by its bit depth (#26): white is 2**31 - 1, 255000 is near black
            ("I32.tif", encode(Image.fromarray((m.astype(np.int64) * (2 ** 31 - 1) // 255).astype(np.int32)), "TIFF"),
             RESULT),
            ("I32_low_values.tif", encode(Image.fromarray(m.astype(np.int32) * 1000), "TIFF"), ERROR),
            ("F.tif", encode(Image.fromarray(m.astype(np.float32) / 255), "TIFF"), RESULT),
            ("F_nan.tif", encode(Image.fromarray(np.where(m > 0, np.nan, 0).astype(np.float32)), "TIFF"), ERROR),
            ("CMYK.jpg", encode(Image.fromarray(np.stack([m] * 3, -1)).convert("CMYK"), "JPEG"), RESULT),
            ("L.jpg", encode(Image.fromarray(m), "JPEG", quality=30), RESULT),
            ("LAB.tif", encode(_lab(np.stack([m] * 3, -1)), "TIFF"), RESULT),
            ("gray_noise.png", encode(Image.fromarray(rng.integers(0, 256, (24, 24), dtype=np.uint8)), "PNG"), RESULT),
            ("all_black_known.png", encode(Image.new("L", (24, 24), 0), "PNG"), ERROR),
            ("all_white_missing.png", encode(Image.new("L", (24, 24), 255), "PNG"), ERROR),
            ("hole_outside_crop.png", encode(Image.fromarray(np.pad(np.zeros((24, 24), np.uint8), ((0, 0), (20, 20)),
                                                                    constant_values=255)), "PNG"), ERROR),
            ("animated.gif", encode(Image.fromarray(m), "GIF", save_all=True,
                                    append_images=[Image.fromarray(255 - m)]), RESULT),
            ("rotated_exif.jpg", encode(Image.fromarray(blob(24, 30)), "JPEG", exif=exif_bytes(6)), RESULT),
            ("text.png", b"not a mask", ERROR), ("empty.png", b"", ERROR),
            ("truncated.png", encode(Image.fromarray(m), "PNG")[:40], ERROR),
            ("page.png", b"<html>mask</html>", ERROR),
            ("bomb.png", png_zero_bomb(20000, 10000), ERROR)]:
        b.mask(what, None, expect, data=data)
    b.mask("white_known_all_white.png", None, ERROR, extra=["--mask-white-known"],
           data=encode(Image.new("L", (24, 24), 255), "PNG"))
    b.mask("white_known_blob.png", None, RESULT, extra=["--mask-white-known"], data=encode(Image.fromarray(m), "PNG"))
    d = b.root / "mask"
    (d / "folder.png").mkdir()
    b.mask("folder.png", d / "folder.png", ERROR)
    (d / "dangling.png").symlink_to(d / "nowhere.png")
    b.mask("dangling.png", d / "dangling.png", ERROR)
    (d / "loop.png").symlink_to(d / "loop.png")
    b.mask("loop.png", d / "loop.png", ERROR)
    os.mkfifo(d / "fifo.png")
    b.mask("fifo.png", d / "fifo.png", ERROR)
    b.mask("missing.png", d / "missing.png", ERROR)
    b.mask("newline in a name", b.file("mask/new\nline.png", encode(Image.fromarray(m), "PNG")), RESULT)
    b.mask("/dev/null", "/dev/null", ERROR)
    for spec, expect in [("center", RESULT), ("center:0.5", RESULT), ("center:8", ERROR), ("random", RESULT),
                         ("random:0.3", RESULT), ("center:0", ERROR), ("center:abc", ERROR), ("center:-1", ERROR),
                         ("center:inf", ERROR), ("center:nan", ERROR), ("random:1.5", ERROR), ("random:0", ERROR),
                         ("random:1", ERROR), ("random:nan", ERROR), ("random:", None), ("center:0.5:1", ERROR),
                         ("CENTER", ERROR), (":", ERROR), ("", ERROR)]:
        b.mask(f"spec {spec!r}", spec, expect)
    # masks with other tasks in the chain
    b.add("mask", "colorize+inpaint file", "mask", ["colorize+inpaint", b.good, "--mask", d / "L_7x5.png"], RESULT)
    b.add("mask", "inpaint+super-resolve file", "mask", ["inpaint+super-resolve", b.good, "--factor", "2", "--mask",
                                                         d / "L_30x100.png"], RESULT)


def _painted(rng: np.random.Generator, h: int = 24, w: int = 24, paint=(255, 255, 255)) -> np.ndarray:
    """A good image with a block painted over in ``paint``."""
    a = _rgb(rng, h, w)
    a[h // 4: h // 2, w // 6: 5 * w // 6] = paint
    return a


def _mask_paint(b: _Builder) -> None:
    """``inpaint IMAGE --mask-paint SPEC``: good and bad specs, and odd painted images."""
    rng = b.rng
    painted = b.file("mask-paint/painted.png", encode(Image.fromarray(_painted(rng)), "PNG"))
    for spec, expect in [("white", RESULT), ("WHITE", RESULT), ("#ffffff", RESULT), ("#fff:0.1", RESULT),
                         ("#ffffff:0.1", RESULT), ("255,255,255:0.15", RESULT), ("rgb(255,255,255)", RESULT),
                         ("white:0", RESULT), (" white ", RESULT), ("white:0.5", RESULT),
                         ("whit", ERROR), ("", ERROR), (":", ERROR), (":0.1", ERROR), ("white:", ERROR),
                         ("white:1.5", ERROR), ("white:-0.1", ERROR), ("white:nan", ERROR), ("white:inf", ERROR),
                         ("white:1e400", ERROR), ("white:0.1:0.2", ERROR), ("white:0x1", ERROR), ("256,0,0", ERROR),
                         ("-1,0,0", ERROR), ("1,2", ERROR), ("1,2,3,4", ERROR), ("1.5,2,3", ERROR), ("#12345", ERROR),
                         ("#ggg", ERROR), ("red", ERROR), ("white:1", ERROR), ("wh\nite", ERROR),
                         ("\u00e9", ERROR), ("w" * 5000, ERROR), ("rgb(300,0,0)", ERROR)]:
        b.add("mask-paint", f"spec {spec[:40]!r}", "image", ["inpaint", painted, "--mask-paint", spec], expect)
    for what, extra, expect in [("with --mask center", ["--mask", "center"], ERROR),
                                ("with --simulate", ["--simulate"], ERROR)]:
        b.add("mask-paint", what, "image", ["inpaint", painted, "--mask-paint", "white", *extra], expect)
    b.add("mask-paint", "denoise", "image", ["denoise", painted, "--mask-paint", "white"], ERROR)
    b.add("mask-paint", "colorize+inpaint", "image", ["colorize+inpaint", painted, "--mask-paint", "white"], RESULT)
    b.add("mask-paint", "inpaint+super-resolve", "image",
          ["inpaint+super-resolve", painted, "--factor", "2", "--mask-paint", "white"], RESULT)
    red = _painted(rng, paint=(255, 0, 0))
    gray = _painted(rng)[..., 0]
    whole = np.full((24, 24, 3), 255, np.uint8)
    soft = np.asarray(Image.fromarray(_painted(rng, 96, 96)).resize((24, 24), Image.LANCZOS))
    rgba = np.dstack([_painted(rng), np.full((24, 24), 255, np.uint8)])
    rgba[:4, :4, 3] = 0  # transparent: composited over white, so painted too
    for fname, data, spec, expect in [
            ("red.png", encode(Image.fromarray(red), "PNG"), "255,0,0:0.15", RESULT),
            ("red_as_white.png", encode(Image.fromarray(red), "PNG"), "white", ERROR),
            ("gray.png", encode(Image.fromarray(gray), "PNG"), "white", RESULT),
            ("gray16.png", encode(Image.fromarray(gray.astype(np.uint16) * 257), "PNG"), "white", RESULT),
            ("painted.jpg", encode(Image.fromarray(_painted(rng)), "JPEG", quality=60), "white:0.15", RESULT),
            ("antialiased.png", encode(Image.fromarray(soft), "PNG"), "white", RESULT),
            ("rgba.png", encode(Image.fromarray(rgba), "PNG"), "white", RESULT),
            ("all_white.png", encode(Image.fromarray(whole), "PNG"), "white", ERROR),
            ("white_1x1.png", encode(Image.new("RGB", (1, 1), "white"), "PNG"), "white", ERROR),
            ("float_nan.tif", encode(Image.fromarray(np.full((8, 8), np.nan, np.float32)), "TIFF"), "white", ERROR),
            ("text.png", b"not an image", "white", ERROR)]:
        p = b.file(f"mask-paint/{fname}", data)
        b.add("mask-paint", fname, "image", ["inpaint", p, "--mask-paint", spec], expect)
    d = b.root / "mask-paint" / "folder"
    for i in range(2):
        b.file(f"mask-paint/folder/p{i}.png", encode(Image.fromarray(_painted(rng)), "PNG"))
    b.add("mask-paint", "folder", "folder", ["inpaint", d, "--mask-paint", "white"], RESULT)


def _mask_folders(b: _Builder) -> None:
    """Per-image masks: ``NAME_mask.*`` beside the inputs and ``--mask DIR`` matched by name."""
    good = b.good.read_bytes()
    m = np.zeros((24, 24), np.uint8)
    m[6:14, 8:18] = 255
    mask = encode(Image.fromarray(m), "PNG")
    other = encode(mode_image("RGB", b.rng, 24, 24), "PNG")

    def folder(what: str, files: dict[str, bytes | Callable[[Path], None]]) -> Path:
        return _write_folder(b, f"mask-folder/{what}", files)

    def case(what: str, args, expect) -> None:
        b.add("mask-folder", what, "folder", ["inpaint", *args], expect)

    case("beside", [folder("beside", {"a.png": good, "a_mask.png": mask})], RESULT)
    case("beside, two inputs", [folder("beside2", {"a.png": good, "b.jpg": other, "a_mask.png": mask,
                                                   "b_mask.PNG": mask})], RESULT)
    case("beside, one without", [folder("one_without", {"a.png": good, "b.png": other, "a_mask.png": mask})], ERROR)
    case("beside, none", [folder("none", {"a.png": good})], ERROR)
    case("beside, simulate", [folder("beside_sim", {"a.png": good, "a_mask.png": mask}), "--simulate"], RESULT)
    case("beside, explicit files", [b.root / "mask-folder" / "beside" / "a.png",
                                    b.root / "mask-folder" / "beside" / "a_mask.png"], RESULT)
    case("lonely mask-named input", [folder("lonely", {"x_mask.png": good})], ERROR)
    case("beside, two masks", [folder("two", {"a.png": good, "a_mask.png": mask,
                                              "a_mask.jpg": encode(Image.fromarray(m), "JPEG")})], ERROR)
    case("beside, wrong size", [folder("beside_size", {"a.png": good, "a_mask.png": encode(
        Image.fromarray(m[:20]), "PNG")})], ERROR)
    case("beside, garbage mask", [folder("beside_garbage", {"a.png": good, "a_mask.png": b"garbage"})], ERROR)
    case("beside, transparent mask", [folder("beside_rgba", {"a.png": good, "a_mask.png": encode(
        Image.fromarray(np.dstack([np.zeros((24, 24, 3), np.uint8), 255 - m])), "PNG")})], RESULT)
    case("beside, dangling mask", [folder("beside_dangling", {
        "a.png": good, "a_mask.png": lambda p: p.symlink_to(p.parent / "gone.png")})], ERROR)
    ins = folder("inputs", {"a.png": good, "b.png": other})
    for what, files, expect in [
            ("masks", {"a.png": mask, "b_mask.png": mask}, RESULT),
            ("empty", {}, ERROR),
            ("only_one", {"a_mask.png": mask}, ERROR),
            ("wrong_size", {"a.png": mask, "b.png": encode(Image.fromarray(m[:, :20]), "PNG")}, ERROR),
            ("two_candidates", {"a.png": mask, "a.jpg": encode(Image.fromarray(m), "JPEG"), "b.png": mask}, ERROR),
            ("garbage", {"a.png": b"garbage", "b.png": mask}, ERROR),
            ("all_black", {"a.png": encode(Image.new("L", (24, 24), 0), "PNG"), "b.png": mask}, ERROR),
            ("all_white", {"a.png": encode(Image.new("L", (24, 24), 255), "PNG"), "b.png": mask}, ERROR),
            ("text_named", {"a_mask.txt": b"hi", "b.png": mask}, ERROR),
            ("subfolders", {"a.png": lambda p: p.mkdir(), "b.png": mask}, ERROR)]:
        case(f"--mask DIR {what}", [ins, "--mask", folder(f"masks_{what}", files)], expect)
    case("--mask DIR explicit input", [ins / "a.png", "--mask", b.root / "mask-folder" / "masks_masks"], RESULT)
    case("--mask DIR = the inputs' folder", [folder("self", {"a.png": good, "a_mask.png": mask}), "--mask",
                                             b.root / "mask-folder" / "self"], RESULT)
    case("--mask DIR and --mask-paint", [ins, "--mask", b.root / "mask-folder" / "masks_masks", "--mask-paint",
                                         "white"], ERROR)
    case("--mask DIR simulate", [ins, "--mask", b.root / "mask-folder" / "masks_masks", "--simulate"], RESULT)
    # a task without inpaint takes no mask: a folder given anyway changes nothing
    b.add("mask-folder", "--mask DIR with reconstruct", "folder",
          ["reconstruct", ins, "--mask", b.root / "mask-folder" / "masks_empty"], RESULT)


def _tasks(b: _Builder, files: dict[str, Path]) -> None:
    """Odd inputs through the other tasks (colorize reads them as gray, super-resolve at 8 px, inpaint
    takes its mask from their transparency, or fails with a one-line error when they have none)."""
    variants = [("colorize",), ("super-resolve", "--factor", "2"), ("inpaint",), ("denoise",),
                ("colorize+inpaint+super-resolve", "--simulate", "--factor", "2")]
    transparent = {"LA", "La", "P+transparency", "PA", "RGBA", "RGBa", "png16_rgba"}
    for key, p in sorted(files.items()):
        expect_of = {"colorize": RESULT, "super-resolve": RESULT, "denoise": RESULT,
                     "inpaint": RESULT if key in transparent else ERROR}
        if key in ("float_nan", "float_inf", "float_minus_inf", "float_all_nan", "1x1"):
            expect_of = dict.fromkeys(expect_of, ERROR)
        expect_of["colorize+inpaint+super-resolve"] = expect_of["colorize"]
        for v in variants:
            b.add("task", f"{p.parent.name}/{p.name} {' '.join(v)}", "image", [v[0], p, *v[1:]], expect_of[v[0]])
    # transparency that leaves nothing known, or nothing missing after the centre crop
    h, w = 20, 24
    for what, alpha in [("all_transparent", np.zeros((h, w), np.uint8)),
                        ("transparent_outside_crop", np.pad(np.full((h, h), 255, np.uint8), ((0, 0), (2, 2)))),
                        ("one_transparent_pixel", np.pad(np.zeros((1, 1), np.uint8), ((10, 9), (12, 11)),
                                                         constant_values=255))]:
        im = Image.fromarray(np.dstack([_rgb(b.rng, h, w), alpha]))
        p = b.file(f"task/{what}.png", encode(im, "PNG"))
        b.add("task", f"{what}.png inpaint", "image", ["inpaint", p], None)


def build_corpus(root: str | os.PathLike) -> list[Case]:
    """Write the whole corpus under ``root`` (an empty folder) and return its cases."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Pillow 12 deprecates some of the writes (I as PNG)
        return _build(Path(root))


def _build(root: Path) -> list[Case]:
    b = _Builder(root)
    files = {}
    files.update(_modes(b))
    files.update(_deep(b))
    sizes = _sizes(b)
    files.update({k: sizes[k] for k in ("1x1", "2x2", "2x2000", "2000x2")})
    files.update(_multiframe(b))
    files.update({k: v for k, v in _exif(b).items() if k == "rotated"})
    _truncated(b)
    _corrupt(b)
    _not_image(b)
    _bombs(b)
    _paths(b)
    _folders(b)
    _masks(b)
    _mask_paint(b)
    _mask_folders(b)
    _tasks(b, {k: v for k, v in files.items() if k in TASK_FILES})
    return b.cases


# the odd inputs that also go through colorize, super-resolve, inpaint and denoise
TASK_FILES = {"1", "L", "LA", "P", "P+transparency", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "I", "I;16", "F",
              "png16_rgb", "png16_rgba", "float_huge", "float_nan", "1x1", "2x2", "2x2000", "2000x2", "gif", "apng",
              "rotated"}


def restore_permissions(root: str | os.PathLike) -> None:
    """Make the chmod 000 entries readable again (so the folder can be removed by anyone)."""
    for rel in ("path/unreadable.png", "folder/unreadable", "folder/unreadable_file_inside/b.png"):
        p = Path(root) / rel
        if p.exists() or p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)
