"""Temporary folders of jobs, and the cleaning of those that killed runs left behind.

A job's worker (``jobs.process_items``) reads and writes in a temporary folder that it removes when
it ends; a run killed with ``kill -9`` (or by the OOM killer, or a power cut) cannot, and its folder
stays in the temporary directory. Each folder is therefore named after the process and the machine
that made it (``ganprior-job-<pid>-<host>-<random>``), and the next run removes those of its own
user and machine whose process is gone, once they are a few minutes old.

The cleaning never follows a symbolic link, touches only entries with this module's prefix, and
never raises: a folder it cannot judge or remove is left as it is. Folders named without a pid (by
versions before this one) are left alone, as their owner cannot be told dead from alive.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import stat
import tempfile
import time
from pathlib import Path

JOB_PREFIX = "ganprior-job-"
STALE_AFTER_S = 10 * 60  # a folder younger than this is kept even when its process looks gone


def _host_tag() -> str:
    """A short, file-name-safe tag of this machine (containers sharing /tmp have their own pids)."""
    return hashlib.sha1(socket.gethostname().encode(errors="replace")).hexdigest()[:8]


def job_temp_prefix() -> str:
    """The prefix of this process's job folders, after removing the stale folders of killed runs:
    ``tempfile.TemporaryDirectory(prefix=job_temp_prefix())``."""
    clean_stale_job_folders()
    return f"{JOB_PREFIX}{os.getpid()}-{_host_tag()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


def clean_stale_job_folders(root: str | os.PathLike | None = None, *,
                            min_age_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove the job folders in ``root`` (the temporary directory) left by dead processes of this
    user on this machine that are older than ``min_age_s``; return the removed folders."""
    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows
        return []
    root = Path(root if root is not None else tempfile.gettempdir())
    host, uid, now = _host_tag(), os.getuid(), time.time()
    removed = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    for entry in entries:
        if not entry.name.startswith(JOB_PREFIX):
            continue
        parts = entry.name[len(JOB_PREFIX):].split("-", 2)
        if len(parts) != 3 or not parts[0].isdigit() or parts[1] != host:
            continue
        pid = int(parts[0])
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if (not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or now - st.st_mtime < min_age_s
                or pid == os.getpid() or _pid_alive(pid)):
            continue
        try:
            shutil.rmtree(entry.path)  # refuses a symlink; does not follow the links inside
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed
