"""NVlabs StyleGAN2 network pickles (stylegan2-ada-pytorch, and stylegan3's StyleGAN2 networks).

Format: ``pickle.dump`` of a dict ``{"training_set_kwargs", "G", "D", "G_ema", "augment_pipe"}``
(official pretrained files hold at least ``G_ema``). Each network is a ``torch_utils.persistence``
object, pickled as ``_reconstruct_persistent_obj(meta)`` with
``meta = {"type": "class", "version", "module_src": <Python source>, "class_name", "state"}``,
where ``state`` is the module's ``__dict__`` (``_parameters``, ``_buffers``, ``_modules`` and
attributes such as ``z_dim``, ``conv_clamp``, ``_init_kwargs``). The original loader *executes*
``module_src``; here the rebuild function is replaced by one that returns an ``InertObject``
(class name + state as data) and drops ``module_src`` unread. ``dnnlib.util.EasyDict`` (in
``init_kwargs``) becomes a plain dict. Tensors come through ``safe_pickle``'s allow-list.

Sizes and options are taken from each module's stored attributes and tensor shapes (not from the
constructor defaults, which differ between stylegan2-ada-pytorch and stylegan3). Supported: the
``skip`` generator architecture and ``resnet`` / ``orig`` discriminators (all official configs),
class-conditional networks (``c_dim > 0``). StyleGAN3 (alias-free) synthesis networks and
TensorFlow-era pickles are refused with a clear message.

Keys ``mapping.fc{i}.*``, ``mapping.w_avg``,
``synthesis.b{res}.{const, conv0, conv1, torgb}.*``; D ``b{res}.{fromrgb, conv0, conv1, skip}``,
``b4.{conv, fc, out}``. Weights are stored unscaled; equalised-LR gains apply at run time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import GanpriorError
from ...safe_pickle import InertObject, is_torch_save_file, restricted_load, scan_pickle
from .discriminator import StyleGAN2Discriminator
from .generator import StyleGAN2Generator
from .prior import StyleGAN2Prior
from .statedict import load_exact, rename_keys

_NVLABS_PERSISTENCE = "torch_utils.persistence._reconstruct_persistent_obj"
_NVLABS_NETWORK_CLASSES = {"Generator", "SynthesisNetwork", "MappingNetwork"}


def is_stylegan2_nvlabs_pickle(path: str | os.PathLike) -> bool:
    """True if ``path`` is an NVlabs network pickle (stylegan2-ada-pytorch / stylegan3 snapshot).

    Only the pickle's opcodes are read (nothing is executed, no tensor is built): it must name the
    persistence rebuild function and a generator class and have a ``G`` or ``G_ema`` entry.
    Files written by ``torch.save`` (zip or legacy) are never NVlabs pickles.
    """
    path = Path(path)
    try:
        if not path.is_file() or is_torch_save_file(path):
            return False
        with open(path, "rb") as f:
            def found(s):
                return (_NVLABS_PERSISTENCE in s.globals and bool(_NVLABS_NETWORK_CLASSES & set(s.strings))
                        and bool({"G", "G_ema"} & set(s.strings)))
            return found(scan_pickle(f, stop=found))
    except OSError:
        return False


class EasyDictData(dict):
    """What ``dnnlib.util.EasyDict`` becomes: a plain dict (no attribute access, no code)."""


def _inert_persistent_object(meta) -> InertObject:
    """Replacement for ``torch_utils.persistence._reconstruct_persistent_obj``: data only.

    ``meta["module_src"]`` is deliberately never looked at.
    """
    if not (isinstance(meta, dict) and isinstance(meta.get("class_name"), str) and isinstance(meta.get("state"), dict)):
        raise GanpriorError("malformed NVlabs persistent object in pickle (expected class_name and state)")
    if meta.get("type", "class") != "class":
        raise GanpriorError(f"unsupported NVlabs persistent object type {meta.get('type')!r}")
    return InertObject(meta["class_name"], dict(meta["state"]), kind="nvlabs")


NVLABS_GLOBALS = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _inert_persistent_object,
    ("dnnlib.util", "EasyDict"): EasyDictData,
    ("dnnlib", "EasyDict"): EasyDictData,
}


def read_nvlabs_pickle(path: str | os.PathLike) -> dict:
    """Unpickle a snapshot with the restricted unpickler: ``{"G_ema": InertObject, ...}``."""
    path = Path(path)
    obj = restricted_load(path, NVLABS_GLOBALS, source=str(path))
    if not isinstance(obj, dict):
        raise GanpriorError(f"{path} is not a StyleGAN2 network pickle: it holds a {type(obj).__name__}, "
                            "not a dict of networks")
    return obj


class _Node:
    """Read access to one inert persistent module, with its dotted path for error messages."""

    def __init__(self, obj: Any, path: str, source: str):
        if not isinstance(obj, InertObject):
            raise GanpriorError(f"{source}: {path} is not an NVlabs network module (found {type(obj).__name__})")
        self.obj, self.path, self.source = obj, path, source
        self.class_name = obj.class_name

    def _fail(self, what: str) -> GanpriorError:
        return GanpriorError(f"{self.source}: {self.path} ({self.class_name}) {what}")

    def attr(self, name: str, default: Any = ...):
        if name in self.obj.state:
            value = self.obj.state[name]
            return value.item() if isinstance(value, np.generic) else value  # numpy scalars -> Python
        if default is ...:
            raise self._fail(f"has no attribute {name!r}")
        return default

    def has_child(self, name: str) -> bool:
        return self.obj.state.get("_modules", {}).get(name) is not None

    def child(self, name: str) -> "_Node":
        modules = self.obj.state.get("_modules", {})
        if modules.get(name) is None:
            raise self._fail(f"has no submodule {name!r}")
        return _Node(modules[name], f"{self.path}.{name}", self.source)

    def tensor(self, name: str) -> torch.Tensor:
        for group in ("_parameters", "_buffers"):
            value = self.obj.state.get(group, {}).get(name)
            if isinstance(value, torch.Tensor):
                return value.detach()
        raise self._fail(f"has no tensor {name!r}")

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """All parameters and buffers below this module, keyed like ``nn.Module.state_dict``."""
        out = {}
        for group in ("_parameters", "_buffers"):
            for name, value in self.obj.state.get(group, {}).items():
                if isinstance(value, torch.Tensor):
                    out[prefix + name] = value.detach()
        for name, sub in self.obj.state.get("_modules", {}).items():
            if sub is not None:
                out.update(_Node(sub, f"{self.path}.{name}", self.source).state_dict(f"{prefix}{name}."))
        return out


def _check_activation(node: _Node, expected: str = "lrelu") -> None:
    act = node.attr("activation", expected)
    if act != expected:
        raise node._fail(f"uses activation {act!r}; only {expected!r} is supported")


def _mapping_kwargs(mapping: _Node) -> dict:
    num_layers = int(mapping.attr("num_layers"))
    fc0 = mapping.child("fc0")
    activation = fc0.attr("activation", "lrelu")
    kwargs = dict(mapping_layers=num_layers, mapping_activation=activation,
                  mapping_lr=float(fc0.attr("bias_gain", 0.01)))
    if num_layers > 1:
        kwargs["mapping_hidden"] = int(fc0.tensor("weight").shape[0])
    if int(mapping.attr("c_dim", 0)):
        kwargs["embed_features"] = int(mapping.child("embed").tensor("weight").shape[0])
    return kwargs


def _mapping_rules(prefix: str) -> list[tuple[str, str]]:
    return [(r"fc(\d+)\.(weight|bias)", prefix + r"layers.\1.\2"),
            (r"embed\.(weight|bias)", prefix + r"class_embed.\1"),
            (r"w_avg", prefix + "w_avg")]


def generator_from_nvlabs(net: InertObject, source: str = "pickle", path: str = "G_ema") -> StyleGAN2Generator:
    """Build our generator from an inert NVlabs ``Generator``."""
    g = _Node(net, path, source)
    if g.class_name != "Generator":
        raise g._fail("is not a Generator")
    synth, mapping = g.child("synthesis"), g.child("mapping")
    if synth.has_child("input") or not isinstance(synth.obj.state.get("block_resolutions"), list):
        raise synth._fail("is a StyleGAN3 (alias-free) synthesis network; only StyleGAN2 networks are supported")
    resolutions = [int(r) for r in synth.attr("block_resolutions")]
    channels, clamps, noise = {}, set(), set()
    for res in resolutions:
        block = synth.child(f"b{res}")
        arch = block.attr("architecture", "skip")
        if arch != "skip":
            raise block._fail(f"uses the {arch!r} generator architecture; "
                              "only 'skip' (all official configs) is supported")
        for name in (("conv1",) if res == 4 else ("conv0", "conv1")):
            layer = block.child(name)
            _check_activation(layer)
            clamps.add(layer.attr("conv_clamp", None))
            noise.add(bool(layer.attr("use_noise", True)))
            if layer.tensor("weight").shape[-1] != 3:
                raise layer._fail("has a kernel size other than 3")
        channels[res] = int(block.child("conv1").tensor("weight").shape[0])
    if len(clamps) > 1 or len(noise) > 1:
        raise synth._fail("mixes conv_clamp or noise settings across layers, which is not supported")
    filt = synth.child(f"b{resolutions[1]}").tensor("resample_filter") if len(resolutions) > 1 else (1, 3, 3, 1)
    z_dim, c_dim = int(g.attr("z_dim")), int(g.attr("c_dim", 0))
    generator = StyleGAN2Generator(
        z_dim=z_dim, w_dim=int(g.attr("w_dim")), resolution=int(g.attr("img_resolution")), channels=channels,
        img_channels=int(g.attr("img_channels")), c_dim=c_dim, conv_clamp=clamps.pop(), resample_filter=filt,
        use_noise=noise.pop(), **_mapping_kwargs(mapping))
    block_index = {res: i for i, res in enumerate(resolutions)}

    def synthesis_key(m: re.Match) -> str:
        block, layer, leaf = block_index[int(m.group(1))], m.group(2), m.group(3)
        return f"blocks.{block}.{ {'conv0': 'conv_up', 'conv1': 'conv', 'torgb': 'to_rgb'}[layer] }.{leaf}"

    leaf = r"(weight|bias|noise_strength|noise_const|affine\.weight|affine\.bias)"
    state = {}
    for key, value in synth.state_dict().items():
        if m := re.fullmatch(r"b(\d+)\.(conv0|conv1|torgb)\." + leaf, key):
            state[synthesis_key(m)] = value
        elif m := re.fullmatch(r"b(\d+)\.const", key):
            state[f"blocks.{block_index[int(m.group(1))]}.const"] = value
        elif not re.fullmatch(r"b\d+\.(conv0\.|conv1\.)?resample_filter", key):
            raise synth._fail(f"has an unexpected tensor {key!r}")
    state.update(rename_keys(mapping.state_dict(), _mapping_rules("mapping."), f"{source}: {path}.mapping"))
    if "mapping.w_avg" not in state:  # trained without w tracking: truncation will say it is unavailable
        generator.mapping.w_avg = None
    load_exact(generator, state, f"{source}: {path}")
    return generator.eval()


def discriminator_from_nvlabs(net: InertObject, source: str = "pickle", path: str = "D") -> StyleGAN2Discriminator:
    """Build our discriminator from an inert NVlabs ``Discriminator``."""
    d = _Node(net, path, source)
    if d.class_name != "Discriminator":
        raise d._fail("is not a Discriminator")
    resolutions = [int(r) for r in d.attr("block_resolutions")]
    epilogue = d.child("b4")
    channels, residual, clamps = {}, set(), set()
    for res in resolutions:
        block = d.child(f"b{res}")
        arch = block.attr("architecture", "resnet")
        if arch not in ("resnet", "orig"):
            raise block._fail(f"uses the {arch!r} discriminator architecture; only 'resnet' and 'orig' are supported")
        residual.add(arch == "resnet")
        for name in ("conv0", "conv1"):
            _check_activation(block.child(name))
            clamps.add(block.child(name).attr("conv_clamp", None))
        channels[res] = int(block.child("conv0").tensor("weight").shape[0])
    if epilogue.attr("architecture", "resnet") == "skip":
        raise epilogue._fail("uses the 'skip' architecture, which is not supported")
    channels[4] = int(epilogue.child("conv").tensor("weight").shape[0])
    if len(residual) > 1 or len(clamps) > 1:
        raise d._fail("mixes block architectures or conv_clamp settings, which is not supported")
    group_size, mbstd_channels = None, 0
    if epilogue.has_child("mbstd"):
        mbstd = epilogue.child("mbstd")
        group_size, mbstd_channels = mbstd.attr("group_size"), int(mbstd.attr("num_channels", 1))
    c_dim = int(d.attr("c_dim", 0))
    first = d.child(f"b{resolutions[0]}")
    disc = StyleGAN2Discriminator(
        resolution=int(d.attr("img_resolution")), channels=channels, img_channels=int(d.attr("img_channels")),
        conv_clamp=clamps.pop(), mbstd_group_size=None if group_size is None else int(group_size),
        mbstd_channels=mbstd_channels, residual=residual.pop(), resample_filter=first.tensor("resample_filter"),
        c_dim=c_dim, cmap_dim=int(epilogue.attr("cmap_dim", 0)) or None,
        mapping_layers=int(d.child("mapping").attr("num_layers")) if c_dim else 8)
    block_index = {res: i for i, res in enumerate(resolutions)}
    layer_name = {"conv0": "conv", "conv1": "conv_down", "skip": "skip"}
    state = {}
    for key, value in d.state_dict().items():
        if m := re.fullmatch(r"b(\d+)\.(conv0|conv1|skip)\.(weight|bias)", key):
            state[f"blocks.{block_index[int(m.group(1))]}.{layer_name[m.group(2)]}.{m.group(3)}"] = value
        elif m := re.fullmatch(rf"b{resolutions[0]}\.fromrgb\.(weight|bias)", key):
            state[f"from_rgb.{m.group(1)}"] = value
        elif m := re.fullmatch(r"b4\.(conv|fc|out)\.(weight|bias)", key):
            state[f"{ {'conv': 'final_conv', 'fc': 'final_fc', 'out': 'out'}[m.group(1)] }.{m.group(2)}"] = value
        elif m := re.fullmatch(r"mapping\.(.+)", key):
            state.update(rename_keys({m.group(1): value}, _mapping_rules("label_mapping."),
                                     f"{source}: {path}.mapping"))
        elif not re.fullmatch(r"b\d+\.((fromrgb|conv0|conv1|skip|conv)\.)?resample_filter", key):
            raise d._fail(f"has an unexpected tensor {key!r}")
    load_exact(disc, state, f"{source}: {path}")
    return disc.eval()


def load_nvlabs_prior(path: str | os.PathLike, name: str | None = None, network: str | None = None) -> StyleGAN2Prior:
    """Prior from a snapshot's ``G_ema`` (or ``G``; ``network`` picks one), with ``D`` attached if present."""
    path = Path(path)
    try:
        snapshot = read_nvlabs_pickle(path)
    except GanpriorError as e:
        if "dnnlib.tflib" in str(e):
            raise GanpriorError(f"{path} is a TensorFlow-era StyleGAN pickle, which is not supported; convert it "
                                "to the PyTorch format with stylegan2-ada-pytorch's legacy.py first") from None
        raise
    keys = [network] if network else ["G_ema", "G"]
    key = next((k for k in keys if isinstance(snapshot.get(k), InertObject)), None)
    if key is None:
        found = ", ".join(map(str, list(snapshot)[:6])) or "nothing"
        raise GanpriorError(f"{path} is not a StyleGAN2 network pickle: no {' or '.join(keys)} network "
                            f"(top-level keys: {found})")
    prior = StyleGAN2Prior(generator_from_nvlabs(snapshot[key], str(path), key), name=name or path.stem)
    prior.source_format = "nvlabs-pickle"
    prior.w_avg_source = "checkpoint" if prior.w_avg is not None else "none"
    if isinstance(snapshot.get("D"), InertObject):
        prior.discriminator = discriminator_from_nvlabs(snapshot["D"], str(path), "D")
    return prior.eval()
