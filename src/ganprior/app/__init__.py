"""``ganprior app``: the web app. ``handlers`` holds the logic (no Gradio import), ``ui`` the page.

Gradio is an optional dependency (``pip install ganprior[app]``); it is imported only by ``ui``.
"""

from .handlers import RUNS, Update, edit_stream, read_upload, restore_stream

__all__ = ["RUNS", "Update", "edit_stream", "read_upload", "restore_stream", "build_app", "launch"]


def _offline() -> None:
    import os
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # read when Gradio is imported: no calls home


def build_app(*args, **kwargs):
    _offline()
    from .ui import build_app as build
    return build(*args, **kwargs)


def launch(*args, **kwargs):
    _offline()
    from .ui import launch as run
    return run(*args, **kwargs)
