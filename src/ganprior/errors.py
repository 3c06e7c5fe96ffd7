"""The one exception type users see: its message is a complete one-line explanation."""


class GanpriorError(Exception):
    """A user-facing error (bad input, missing weights, diverged optimisation).

    The CLI prints ``ganprior: error: <message>`` and exits non-zero, without a traceback.
    """
