"""``ganprior app``: start the web app (Gradio)."""

from __future__ import annotations


from ..errors import GanpriorError
from .common import HELP, Parser


def app_cmd(argv: list[str]) -> int:
    p = Parser(prog="ganprior app", formatter_class=HELP,
               description="Start the web app (Gradio): upload or pick an image, paint a mask, "
                           "restore or edit it and download the result.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--out", default=None, help="folder for the runs' results [a temporary folder]")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch [torch's default]")
    p.add_argument("--max-runs", type=int, default=1,
                   help="restorations and edits that optimise at once; more wait their turn [1]")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    if not 0 < a.port < 65536:
        raise GanpriorError(f"--port must be in 1..65535, got {a.port}")
    if not 1 <= a.max_runs <= 64:
        raise GanpriorError(f"--max-runs must be in 1..64, got {a.max_runs}")
    import importlib.util
    if importlib.util.find_spec("gradio") is None:
        raise GanpriorError("the web app needs Gradio: pip install 'ganprior[app]'")
    if a.threads:
        import torch
        torch.set_num_threads(a.threads)
    from ..app import launch
    if not a.quiet:
        print(f"ganprior app on http://{a.host}:{a.port} (Ctrl+C stops it)", flush=True)
    launch(a.host, a.port, out_root=a.out, quiet=a.quiet, max_runs=a.max_runs)
    return 0
