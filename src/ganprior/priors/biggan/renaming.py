"""Renaming checkpoint keys into our module layout, with errors that name the checkpoint's own keys."""

from __future__ import annotations

import re

from torch import nn

from ...errors import GanpriorError
from .layers import SpectralNormed


def translate_keys(state_dict: dict, module_rules: list[tuple[str, str]], leaf_rules: dict[str, str],
                   ignore: re.Pattern, source: str) -> tuple[dict, dict]:
    """Rename checkpoint keys into our layout. Returns (ours -> tensor, ours -> original key)."""
    out, origin = {}, {}
    for key, value in state_dict.items():
        if ignore.search(key):
            continue
        module, _, leaf = key.rpartition(".")
        for pattern, replacement in module_rules:
            if re.fullmatch(pattern, module):
                module = re.sub(f"^{pattern}$", replacement, module)
                break
        else:
            raise GanpriorError(f"{source}: unexpected key {key!r}")
        if leaf not in leaf_rules:
            raise GanpriorError(f"{source}: unexpected key {key!r}")
        new = f"{module}.{leaf_rules[leaf]}" if module else leaf_rules[leaf]
        out[new], origin[new] = value, key
    return out, origin


def load_translated(model: nn.Module, tensors: dict, origin: dict, source: str,
                    module_rules: list[tuple[str, str]], leaf_rules: dict[str, str]) -> None:
    """``load_state_dict`` with user-facing errors naming the checkpoint's own keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in tensors]
    if missing:
        names = ", ".join(_original_name(k, model, module_rules, leaf_rules) for k in missing[:4])
        raise GanpriorError(f"{source}: missing weights for the inferred architecture: {names}"
                            f"{' ...' if len(missing) > 4 else ''} ({len(missing)} missing)")
    for k, target in expected.items():
        value = tensors[k]
        if value.shape != target.shape and value.numel() == target.numel() and k.endswith(("sn_u", "gamma")):
            tensors[k] = value = value.reshape(target.shape)  # u0 is (1, out), gamma () or (1,)
        if value.shape != target.shape:
            raise GanpriorError(f"{source}: {origin.get(k, k)} has shape {tuple(value.shape)}, but the "
                                f"architecture inferred from the other weights needs {tuple(target.shape)}")
    extra = [k for k in tensors if k not in expected]
    if extra:
        raise GanpriorError(f"{source}: unexpected key {origin.get(extra[0], extra[0])!r}")
    model.load_state_dict({k: v.float() for k, v in tensors.items()})


def _original_name(ours: str, model: nn.Module, module_rules: list[tuple[str, str]],
                   leaf_rules: dict[str, str]) -> str:
    """The checkpoint key that would have been renamed to ``ours`` (for error messages)."""
    module, _, leaf = ours.rpartition(".")
    leaves = [k for k, v in leaf_rules.items() if v == leaf] or [leaf]
    if len(leaves) > 1:  # e.g. torch's spectral norm stores weight_orig where plain layers store weight
        sn = isinstance(model.get_submodule(module), SpectralNormed)
        leaves = [k for k in leaves if (k != leaf) == sn] or leaves
    for pattern, replacement in module_rules:
        as_regex = re.sub(r"\\\\(\d)", r"(?P<g\1>[^.]+)", re.escape(replacement))
        match = re.fullmatch(as_regex, module)
        if match:
            values = iter(match.groupdict()[f"g{i}"] for i in range(1, len(match.groupdict()) + 1))
            original = re.sub(r"\([^()]*\)", lambda _: next(values), pattern).replace("\\.", ".")
            return f"{original}.{leaves[0]}" if original else leaves[0]
    return ours
