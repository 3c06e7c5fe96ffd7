"""``ganprior subspaces``: discover and cache the PmSFC channel subspaces of a prior layer."""

from __future__ import annotations

import sys

from ..errors import GanpriorError
from .common import HELP, Parser, prior_parent, run_parent


def subspaces_cmd(argv: list[str]) -> int:
    import numpy as np
    from tqdm import tqdm

    from ..priors import load_prior
    from ..subspaces import discover_subspaces
    p = Parser(prog="ganprior subspaces", formatter_class=HELP,
               parents=[prior_parent(), run_parent(quiet_help=None)],
               description="Discover channel subspaces of a prior layer (PmSFC): learn a "
                           "self-expressive matrix, cluster its affinity, cache the result.")
    p.add_argument("--layer", type=int, default=2)
    p.add_argument("--num-subspaces", type=int, default=6, help="R")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=8, help="latents per step")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--lambda", dest="image_weight", type=float, default=10.0, help="image reconstruction weight")
    p.add_argument("--mu", dest="sparsity_weight", type=float, default=1.0, help="L1 weight on S")
    a = p.parse_args(argv)
    if a.steps < 1 or a.batch < 1 or not a.lr > 0:
        raise GanpriorError("--steps and --batch must be >= 1 and --lr > 0")
    prior = load_prior(a.prior, a.device)
    bar = None if a.quiet else tqdm(total=a.steps, desc="self-expression", unit="step", file=sys.stderr,
                                     mininterval=0.5)

    def progress(step, total, loss):
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.1f}")

    try:
        sub = discover_subspaces(prior, a.layer, a.num_subspaces, seed=a.seed, steps=a.steps, batch_size=a.batch,
                                 lr=a.lr, image_weight=a.image_weight, sparsity_weight=a.sparsity_weight,
                                 callback=progress)
    finally:
        if bar is not None:
            bar.close()
    sizes = ", ".join(str(int(n)) for n in np.bincount(sub.groups, minlength=sub.num_subspaces))
    print(f"layer {sub.layer}: {sub.num_subspaces} subspaces of {sizes} channels")
    print(f"cached: {sub.path} (affinity picture: {sub.path.with_suffix('.png')})")
    return 0
