"""The ``ganprior`` command.

    ganprior TASK INPUT... --out DIR [options]    restore images (TASK may be a chain: colorize+inpaint)
    ganprior priors                               list the named priors
    ganprior demo [--out DIR]                     restore the bundled demo inputs, write a summary sheet
    ganprior evaluate RESULTS_DIR GT_DIR [--json F] score results against same-named ground truth
    ganprior subspaces --prior P --layer L --num-subspaces R   discover and cache PmSFC channel subspaces
    ganprior interpolate A B --out DIR [--method multi|subspace]   feature-space interpolation
    ganprior jitter IMAGE --out DIR [--samples 8] [--std 0.5]      DGP, then random jittering of z
    ganprior morph A B --out DIR [--frames 9]                      DGP on both, then morph z and weights
    ganprior transfer IMAGE --class K[,K2,...] --out DIR           DGP, then re-render as other classes
    ganprior directions fit|closed-form|pca ...   latent directions (InterFaceGAN, SeFa, GANSpace)
    ganprior edit | mix | roles | analyze ...     editing after an inversion
    ganprior train | inspect | app ...            train a prior, inspect a checkpoint, the web app
    ganprior train-encoder FOLDER --prior P --out RUN   train the encoder a prior's inversions start from

Each command lives in its own module, imported only when it runs (the CLI starts quickly). Errors
print one line (``ganprior: error: ...``) and exit with status 2; results already written stay.
"""

from __future__ import annotations

import errno
import os
import sys
import warnings
from importlib import import_module

from .. import __version__
from ..errors import GanpriorError
from .common import _one_line

EXIT_ERROR = 2
# what a machine, not a bug, makes a write fail with: a full disk or quota, a read-only file system or
# folder, a name the file system refuses (every command's outputs; jobs name the file themselves)
_USER_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG, errno.EFBIG}

# command -> the module (in this package) whose ``<command>_cmd(argv)`` runs it (dashes as underscores)
COMMANDS = {"priors": "priors", "demo": "demo", "evaluate": "evaluate", "subspaces": "subspaces",
            "interpolate": "interpolate", "jitter": "dgp_editing", "morph": "dgp_editing",
            "transfer": "dgp_editing", "train": "train", "train-encoder": "train_encoder", "app": "app",
            "inspect": "inspect",
            "directions": "directions", "edit": "edit", "mix": "mix", "roles": "roles", "analyze": "analyze"}


def _command(name: str):
    """The function that runs command ``name`` (its module is imported now)."""
    return getattr(import_module(f".{COMMANDS[name]}", __name__), f"{name.replace('-', '_')}_cmd")


def main(argv: list[str] | None = None) -> int:
    """Run ``ganprior`` with ``argv`` (default: the process's arguments); returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    warnings.filterwarnings("ignore", category=UserWarning)
    try:
        if not argv or argv[0] in ("-h", "--help"):
            from .restore import _run_parser
            _run_parser().print_help()
            return 0 if argv else EXIT_ERROR
        if argv[0] == "--version":
            print(f"ganprior {__version__}")
            return 0
        if argv[0] in COMMANDS:
            return _command(argv[0])(argv[1:])
        from .restore import _run_parser, run
        return run(_run_parser().parse_args(argv))
    except GanpriorError as e:
        print(f"ganprior: error: {_one_line(str(e))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("ganprior: interrupted; results written so far are kept", file=sys.stderr)
        return 130
    except MemoryError:
        print("ganprior: error: out of memory; lower --batch or --codes", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:  # noqa: BLE001 - a user never sees a traceback
        if os.environ.get("GANPRIOR_DEBUG"):
            raise
        if isinstance(e, OSError) and e.errno in _USER_ERRNOS:
            where = f" {e.filename}" if e.filename else ""
            print(f"ganprior: error: cannot write{where}: {e.strerror}; files written so far are kept",
                  file=sys.stderr)
            return EXIT_ERROR
        print(f"ganprior: internal error: {type(e).__name__}: {_one_line(str(e))} (set GANPRIOR_DEBUG=1 for details)",
              file=sys.stderr)
        return 1
