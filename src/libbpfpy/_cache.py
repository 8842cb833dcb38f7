"""libbpfpy's private cache directory, reached safely.

``/var/cache/libbpfpy`` for root, ``$XDG_CACHE_HOME/libbpfpy`` (``~/.cache/libbpfpy``)
otherwise, or ``$LIBBPFPY_CACHE_DIR``.  The cache is reached through directory fds,
every directory on its path checked (see :class:`Dir`): the directory itself must be
owned by the caller and not writable by group or others (it is created 0700);
anything else is refused.  Files in it are read, written (whole, through
:func:`libbpfpy._files.atomic_write`) and removed by name through the held fd,
never through symlinks.  Compiled objects and ``vmlinux.h`` (:mod:`._compile`) and
probe answers (:mod:`.probe`) live here.  Only ``os``, ``stat`` and ``errno`` are
imported: tools read the cache at every start.
"""
from __future__ import annotations

import errno
import os
import stat

from .errors import BPFError

__all__ = ["Dir", "cache_dir", "default_cache"]


def default_cache() -> str:
    """Where the cache is unless a path is given (not checked, not created)."""
    env = os.environ.get("LIBBPFPY_CACHE_DIR")
    if env:
        return env
    if os.geteuid() == 0:
        return "/var/cache/libbpfpy"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                             ".cache")
    return os.path.join(base, "libbpfpy")


def cache_dir(path: str | os.PathLike[str] | None = None) -> str:
    """The cache directory (created 0700 if missing), after checking that it is a real
    directory owned by the caller, not writable by group or others, and reached
    through directories no other user can change (see :class:`Dir`)."""
    d = Dir.root(path)
    d.close()
    return d.path


class Dir:
    """A directory of the cache, held open: everything in it is reached through the
    fd (``openat`` with ``O_NOFOLLOW``), so renaming or replacing a directory on its
    path after the checks changes nothing.

    The root is reached from ``/`` one component at a time, each opened with
    ``O_NOFOLLOW|O_DIRECTORY`` and checked on its fd: owned by root or the caller and
    not writable by group or others unless sticky (``/tmp``: others cannot rename
    or remove what is not theirs).  The cache directory itself must be the caller's
    and private (0700 when created)."""

    def __init__(self, fd: int, path: str) -> None:
        self.fd = fd
        self.path = path

    @classmethod
    def root(cls, path: str | os.PathLike[str] | None = None) -> Dir:
        """The cache directory ``path`` (default: :func:`default_cache`), checked."""
        requested = os.path.abspath(os.fspath(path or default_cache()))
        p = os.path.realpath(requested)
        if requested != p and _is_symlink(requested):
            raise BPFError(errno.ELOOP, f"refusing cache directory {requested}: it is a "
                           f"symlink (to {p}); give the real directory", call="cache",
                           target=requested)
        fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            parts = [c for c in p.split("/") if c]
            for i, part in enumerate(parts):
                where = "/" + "/".join(parts[:i + 1])
                child = _open_subdir(fd, part, where)
                os.close(fd)
                fd = child
                st = os.fstat(fd)
                if i == len(parts) - 1:
                    _check_private(st, where)
                else:
                    _check_ancestor(st, where)
            return cls(fd, p)
        except BaseException:
            os.close(fd)
            raise

    def sub(self, name: str) -> Dir:
        """The private subdirectory ``name`` (created 0700 if missing)."""
        where = os.path.join(self.path, name)
        fd = _open_subdir(self.fd, name, where)
        try:
            _check_private(os.fstat(fd), where)
        except BaseException:
            os.close(fd)
            raise
        return Dir(fd, where)

    def read(self, name: str) -> bytes | None:
        """The contents of the regular file ``name`` if it exists and is the caller's."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=self.fd)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                return None
            chunks: list[bytes] = []
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        except OSError:
            return None
        finally:
            os.close(fd)

    def write(self, name: str, data: bytes, mode: int = 0o644) -> None:
        """Replace ``name`` atomically (see :func:`libbpfpy._files.atomic_write`)."""
        from ._files import atomic_write
        try:
            atomic_write(name, data, mode=mode, dir_fd=self.fd)
        except BPFError as exc:
            raise _unwritable(self.path, exc) from None

    def unlink(self, name: str) -> None:
        """Remove ``name`` if it is there."""
        try:
            os.unlink(name, dir_fd=self.fd)
        except OSError:
            pass

    def proc_path(self, name: str = "") -> str:
        """A path to this directory (or ``name`` in it) through the held fd, for a
        child process given the fd (``pass_fds``)."""
        return f"/proc/self/fd/{self.fd}" + (f"/{name}" if name else "")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Dir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_symlink(p: str) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(p).st_mode)
    except OSError:
        return False


def _open_subdir(parent: int, name: str, where: str) -> int:
    """The directory ``name`` in ``parent`` (created 0700 if missing), never through a
    symlink."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, flags, dir_fd=parent)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise BPFError(errno.ENOTDIR, f"refusing cache directory {where}: not a "
                           "directory (or a symlink)", call="cache",
                           target=where) from None
        raise _unwritable(where, BPFError(exc.errno or errno.EACCES,
                                          exc.strerror or "")) from None
    try:
        os.mkdir(name, 0o700, dir_fd=parent)
    except FileExistsError:
        pass
    except OSError as exc:
        raise _unwritable(where, BPFError(exc.errno or errno.EACCES,
                                          exc.strerror or "")) from None
    return os.open(name, flags, dir_fd=parent)


def _check_ancestor(st: os.stat_result, where: str) -> None:
    """A directory on the way to the cache: nobody but root and the caller may change
    what it holds."""
    if st.st_uid not in (0, os.geteuid()):
        raise BPFError(errno.EPERM, f"refusing cache directory: {where} on its path is "
                       f"owned by uid {st.st_uid}, who could replace what it holds",
                       call="cache", target=where)
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        raise BPFError(errno.EPERM, f"refusing cache directory: {where} on its path is "
                       f"writable by group or others (mode {stat.S_IMODE(st.st_mode):o}), "
                       "who could replace what it holds", call="cache", target=where)


def _check_private(st: os.stat_result, where: str) -> None:
    if st.st_uid != os.geteuid():
        raise BPFError(errno.EPERM, f"refusing cache directory {where}: owned by uid "
                       f"{st.st_uid}, not by this user (uid {os.geteuid()})", call="cache",
                       target=where)
    if st.st_mode & 0o022:
        raise BPFError(errno.EPERM, f"refusing cache directory {where}: writable by group "
                       f"or others (mode {stat.S_IMODE(st.st_mode):o}); chmod go-w it",
                       call="cache", target=where)


def _unwritable(where: str, exc: BPFError) -> BPFError:
    return BPFError(exc.errno or errno.EACCES, f"cannot write libbpfpy's cache in {where}: "
                    f"{os.strerror(exc.errno or errno.EACCES)}", call="cache",
                    target=where, hint="set LIBBPFPY_CACHE_DIR (or pass cache_path=) "
                    "to a directory of yours that is writable")
