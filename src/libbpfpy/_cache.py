"""libbpfpy's private cache directory, and files in it written safely.

``/var/cache/libbpfpy`` for root, ``$XDG_CACHE_HOME/libbpfpy`` (``~/.cache/libbpfpy``)
otherwise, or ``$LIBBPFPY_CACHE_DIR``.  The directory must be owned by the caller and
not writable by group or others (it is created 0700); anything else is refused.  Files
are written to a temporary name and renamed into place, and read without following
symlinks.  Compiled objects (:mod:`._compile`) and probe answers (:mod:`.probe`) live
here.  Only ``os`` and ``stat`` are imported: tools read the cache at every start.
"""
from __future__ import annotations

import os
import stat

from .errors import BPFError

__all__ = ["cache_dir", "private_dir", "atomic_write", "read_nofollow", "unlink"]


def cache_dir(path: str | os.PathLike[str] | None = None) -> str:
    """The cache directory (created 0700 if missing), after checking that it is a real
    directory owned by the caller and not writable by group or others."""
    if path is None:
        env = os.environ.get("LIBBPFPY_CACHE_DIR")
        if env:
            path = env
        elif os.geteuid() == 0:
            path = "/var/cache/libbpfpy"
        else:
            base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
                os.path.expanduser("~"), ".cache")
            path = os.path.join(base, "libbpfpy")
    p = os.path.abspath(os.fspath(path))
    private_dir(p, create_parents=True)
    return p


def private_dir(p: str, *, create_parents: bool = False) -> None:
    """Create directory ``p`` 0700 unless it exists; refuse it unless it is a real
    directory owned by the caller and not writable by group or others."""
    if create_parents:
        os.makedirs(os.path.dirname(p), exist_ok=True)
    try:
        os.mkdir(p, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(p)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise BPFError(20, f"refusing cache directory {p}: not a directory (or a symlink)",
                       call="cache", target=p)
    if st.st_uid != os.geteuid():
        raise BPFError(1, f"refusing cache directory {p}: owned by uid {st.st_uid}, not "
                       f"by this user (uid {os.geteuid()})", call="cache", target=p)
    if st.st_mode & 0o022:
        raise BPFError(1, f"refusing cache directory {p}: writable by group or others "
                       f"(mode {stat.S_IMODE(st.st_mode):o}); chmod go-w it",
                       call="cache", target=p)


def atomic_write(dest: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``dest`` through a new temporary file in the same directory
    (created ``O_EXCL|O_NOFOLLOW``) and a rename (which replaces a symlink at ``dest``
    rather than following it)."""
    dest = os.fspath(dest)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        tmp = os.path.join(os.path.dirname(dest), f".{os.path.basename(dest)}."
                           f"{os.getpid()}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp, flags, 0o600)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(17, "no free temporary name", dest)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, dest)
    except BaseException:
        unlink(tmp)
        raise


def read_nofollow(path: str | os.PathLike[str]) -> bytes | None:
    """The contents of ``path`` (not through a symlink), or None if it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            return f.read()
    except OSError:
        return None


def unlink(path: str | os.PathLike[str]) -> None:
    """Remove ``path`` if it is there."""
    try:
        os.unlink(path)
    except OSError:
        pass
