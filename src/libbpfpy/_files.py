"""Writing files safely: complete or not at all, never through someone else's symlink.

:func:`atomic_write` is how libbpfpy creates every file it writes (``libbpfpy skel
-o``, ``btf dump -o``, ``vmlinux -o``, ``BTF.dump_c``, the compile cache): a new
temporary name in the target directory opened with ``O_CREAT|O_EXCL|O_NOFOLLOW``
through a directory fd (a planted symlink or file makes it fail rather than be
followed or truncated), every write checked, ``fsync``, then ``rename`` over the
target (which replaces a symlink at the target instead of writing through it).  A
full disk leaves the old file (or none) and raises; never a truncated file.
"""
from __future__ import annotations

import errno
import os
import secrets

from .errors import BPFError

__all__ = ["atomic_write", "open_dir"]


def open_dir(path: str | os.PathLike[str]) -> int:
    """An fd of the directory ``path`` (the caller closes it)."""
    p = os.fspath(path) or "."
    try:
        return os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise BPFError(exc.errno or errno.ENOENT, f"cannot open directory {p}: "
                       f"{exc.strerror}", call="open", target=p) from None


def atomic_write(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None,
                 dir_fd: int | None = None) -> None:
    """Replace the file ``path`` by one holding exactly ``data``.

    ``mode`` sets the permissions (default: 0666 less the umask, as ``open()``);
    with ``dir_fd``, ``path`` is a name in that directory."""
    p = os.fspath(path)
    own_dir = dir_fd is None
    if dir_fd is None:
        dir_fd = open_dir(os.path.dirname(p))
        name = os.path.basename(p)
    else:
        name = p
    if not name or name in (".", ".."):
        raise BPFError(errno.EISDIR, f"{p} is not a file name", call="open", target=p)
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                         os.O_CLOEXEC, 0o666 if mode is None else 0o600, dir_fd=dir_fd)
        except OSError as exc:
            raise _error(exc, f"cannot create a temporary file next to {p}") from None
        try:
            try:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    if n <= 0:
                        raise OSError(errno.EIO, "short write")
                    view = view[n:]
                if mode is not None:
                    os.fchmod(fd, mode)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError as exc:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
            raise _error(exc, f"writing {p}") from None
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
            raise
        try:
            os.fsync(dir_fd)   # the rename itself reaches the disk
        except OSError:
            pass
    finally:
        if own_dir:
            os.close(dir_fd)


def _error(exc: OSError, what: str) -> BPFError:
    err = exc.errno or errno.EIO
    hint = "the disk is full" if err in (errno.ENOSPC, errno.EDQUOT) else None
    return BPFError(err, f"{what}: {exc.strerror or os.strerror(err)}", call="write",
                    hint=hint)
