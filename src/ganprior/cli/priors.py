"""``ganprior priors``: list the named priors."""

from __future__ import annotations

from .common import Parser


def encoder_line(name: str) -> str:
    """What ships to start inversions of prior ``name`` (read from the file's metadata only)."""
    import json

    from ..encoders import default_tasks, read_encoder_metadata, shipped_encoder_file
    path = shipped_encoder_file(name)
    if path is None:
        return "encoder: none shipped (ganprior train-encoder makes one)"
    meta = read_encoder_metadata(path)
    listed = default_tasks(meta)
    tasks = "all tasks" if listed is None else ", ".join(listed)
    licence = json.loads(meta.get("recipe") or "{}").get("license")
    return f"encoder: {path.name} (the presets' start where a task's recipe uses one; for {tasks})" + \
        (f"\n    encoder licence: {licence}" if licence else "")


def priors_cmd(argv: list[str]) -> int:
    from ..priors.zoo import PRIORS
    from ..registry_files import cache_dir
    Parser(prog="ganprior priors", description="List the named priors.").parse_args(argv)
    from ..priors.zoo import DEFAULT_PRIOR
    for name, entry in sorted(PRIORS.items()):
        mark = " (default)" if name == DEFAULT_PRIOR else ""
        print(f"{name}{mark}\n    {entry.description}\n    licence: {entry.license}\n    {encoder_line(name)}")
    print(f"(weights cache: {cache_dir()}; any checkpoint path also works as --prior)")
    return 0
