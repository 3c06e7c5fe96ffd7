"""``python -m ganprior.cli``: the ``ganprior`` command."""

import sys

from . import main

sys.exit(main())
