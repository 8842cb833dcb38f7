"""Reading the exporter's input files safely: configs and BPF objects tell root what
to load into the kernel, so they are read only from places no other user can change.

A file is read through a descriptor of its directory, without following symlinks,
and only when the directory and the file are owned by root or by the caller and
writable by neither group nor others.
"""
from __future__ import annotations

import errno
import os
import stat

from ..errors import BPFError

__all__ = ["UntrustedError", "check_trusted_dir", "read_trusted", "exists"]


class UntrustedError(BPFError):
    """A config directory or file that another user could change, or not a plain file."""


def _check(st: os.stat_result, what: str) -> None:
    if st.st_uid not in (0, os.geteuid()):
        raise UntrustedError(errno.EPERM, f"refusing {what}: owned by uid {st.st_uid}, "
                             "neither root nor this user", target=what)
    if st.st_mode & 0o022:
        raise UntrustedError(errno.EPERM, f"refusing {what}: writable by group or others "
                             f"(mode {stat.S_IMODE(st.st_mode):o}); chmod go-w it",
                             target=what)


def _open_dir(directory: str | os.PathLike[str]) -> int:
    path = os.fspath(directory)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise BPFError(exc.errno or errno.ENOENT, f"config directory {path}: "
                       f"{exc.strerror}", target=path) from None
    try:
        _check(os.fstat(fd), f"config directory {path}")
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_trusted_dir(directory: str | os.PathLike[str]) -> None:
    """Raise unless ``directory`` is a directory that only root or the caller can change."""
    os.close(_open_dir(directory))


def exists(directory: str | os.PathLike[str], name: str) -> bool:
    """Whether ``directory`` holds an entry ``name`` (symlinks included)."""
    try:
        os.lstat(os.path.join(os.fspath(directory), name))
    except FileNotFoundError:
        return False
    return True


def read_trusted(directory: str | os.PathLike[str], name: str, *,
                 limit: int | None = None) -> bytes:
    """The contents of ``directory/name``, after the checks described above (and, with
    ``limit``, refusing a file larger than ``limit`` bytes)."""
    if "/" in name or name in (".", ".."):
        raise ValueError(f"{name!r} is not a plain file name")
    path = os.path.join(os.fspath(directory), name)
    dfd = _open_dir(directory)
    try:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                         dir_fd=dfd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UntrustedError(errno.ELOOP, f"refusing {path}: a symbolic link",
                                     target=path) from None
            raise BPFError(exc.errno or errno.ENOENT, f"{path}: {exc.strerror}",
                           target=path) from None
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise UntrustedError(errno.EINVAL, f"refusing {path}: not a regular file",
                                     target=path)
            _check(st, path)
            if limit is not None and st.st_size > limit:
                raise BPFError(errno.EFBIG, f"refusing {path}: {st.st_size} bytes, more "
                               f"than the {limit} a config may have", target=path)
            return f.read()
    finally:
        os.close(dfd)
