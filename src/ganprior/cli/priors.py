"""``ganprior priors``: list the named priors."""

from __future__ import annotations

from .common import Parser


def priors_cmd(argv: list[str]) -> int:
    from ..priors.zoo import PRIORS
    from ..registry_files import cache_dir
    Parser(prog="ganprior priors", description="List the named priors.").parse_args(argv)
    from ..priors.zoo import DEFAULT_PRIOR
    for name, entry in sorted(PRIORS.items()):
        mark = " (default)" if name == DEFAULT_PRIOR else ""
        print(f"{name}{mark}\n    {entry.description}\n    licence: {entry.license}")
    print(f"(weights cache: {cache_dir()}; any checkpoint path also works as --prior)")
    return 0
