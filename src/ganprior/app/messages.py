"""The text the page shows for an error: one line, and no server path in it.

Library errors name the files they were given, which in the app are server paths (Gradio's upload
folder under /tmp, the run folder). ``public_text`` puts the user's own file name in place of each
path it was told about, and the last component in place of any other absolute path, so a message
says ``notes.png`` where the library said ``/tmp/gradio/3f2a.../notes.png``.
"""

from __future__ import annotations

import re
from typing import Mapping

# an absolute path of two or more components, not part of a word ("3/30", ".npz/.npy" stay)
_PATH = re.compile(r"(?<![\w.~+\-/])/(?:[^\s/'\"`:,;()\[\]{}<>]+/)+([^\s/'\"`:,;()\[\]{}<>]*)")


def public_text(text: str, names: Mapping[str, str] | None = None) -> str:
    """``text`` on one line, each path in ``names`` (server path -> the user's name for it) and
    any other absolute path replaced by a file name."""
    text = " ".join(str(text).split())  # one line, whatever the message held
    for path, name in sorted((names or {}).items(), key=lambda kv: -len(str(kv[0]))):
        if path:
            text = text.replace(str(path), str(name))
    return _PATH.sub(lambda m: m.group(1) or "(a server folder)", text)
