"""``ganprior inspect``: what a checkpoint or named prior holds, without running code from it."""

from __future__ import annotations

import json
from .common import Parser


def inspect_cmd(argv: list[str]) -> int:
    from ..priors.zoo import PRIORS, load_prior, sniff_checkpoint
    p = Parser(prog="ganprior inspect",
               description="Show what a checkpoint (or named prior) holds, without running any "
                           "code from it: family, resolution, latent spaces, composition layers, "
                           "discriminator.")
    p.add_argument("checkpoint", help="checkpoint file, BigGAN folder, or a named prior")
    p.add_argument("--json", action="store_true", help="print JSON")
    a = p.parse_args(argv)
    fmt = "named prior" if a.checkpoint in PRIORS else sniff_checkpoint(a.checkpoint)
    prior = load_prior(a.checkpoint)
    d = prior.discriminator
    info = {
        "checkpoint": a.checkpoint, "format": fmt, "family": prior.family, "name": prior.name,
        "resolution": prior.resolution, "channels": prior.channels,
        "latent_spaces": list(prior.latent_spaces), "latent_shape": list(prior.latent_shape),
        "num_classes": prior.num_classes or 0,
        "composition_layers": {str(k): v for k, v in sorted(prior.composition_layers.items())},
        "blocks": len(prior.blocks),
        "generator_parameters": sum(p.numel() for n, p in prior.named_parameters() if not n.startswith("discriminator.")),
        "discriminator": None if d is None else {
            "type": type(d).__name__, "parameters": sum(p.numel() for p in d.parameters())},
    }
    if a.json:
        print(json.dumps(info, indent=2))
        return 0
    layers = ", ".join(f"{k}: {v}ch" for k, v in info["composition_layers"].items())
    print(f"{a.checkpoint}\n  format:             {fmt}\n  family:             {prior.family}\n"
          f"  resolution:         {prior.resolution}x{prior.resolution}, {prior.channels} channels\n"
          f"  latent spaces:      {', '.join(prior.latent_spaces)} (code shape {tuple(prior.latent_shape)})\n"
          f"  classes:            {info['num_classes'] or 'unconditional'}\n"
          f"  composition layers: {layers}\n"
          f"  generator:          {info['generator_parameters']:,} parameters, {info['blocks']} blocks\n"
          f"  discriminator:      "
          + ("none" if d is None else f"{type(d).__name__}, {info['discriminator']['parameters']:,} parameters"))
    return 0
