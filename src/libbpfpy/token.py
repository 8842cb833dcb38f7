"""BPF tokens: BPF rights delegated to a user namespace through a BPF filesystem.

A privileged process (root in the initial user namespace) lets an unprivileged
container use chosen parts of BPF by mounting, for that container's user namespace,
a bpffs with ``delegate_cmds``/``delegate_maps``/``delegate_progs``/``delegate_attachs``
options.  Inside, a process makes a token from that mount (:func:`create`) and passes
it with each BPF call: :meth:`MapHandle.create(token=...) <libbpfpy.MapHandle.create>`,
or ``Object.open(..., token_path=...)`` for everything an object loads (libbpf then
makes its own token from that path).

The two halves of setting one up, in the kernel's order:

1. in the user namespace (which owns its mount namespace): ``fs_fd = open_bpffs()``
   (``fsopen("bpf")``), handed to the privileged side (e.g. over a Unix socket);
2. privileged: ``mnt_fd = delegate(fs_fd, cmds=..., maps=..., progs=..., attachs=...)``
   sets the delegation options, creates the superblock and returns a detached mount,
   handed back;
3. in the user namespace: ``create(mnt_fd)`` -- or mount it at a path first
   (:func:`attach_mount`) for ``token_path=``.

Tokens cannot be made in the initial user namespace (the kernel answers EOPNOTSUPP:
there, privileges are checked directly).  Requires Linux >= 6.9 and libbpf >= 1.4.
"""
from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterable

from ._fd import FdHandle
from ._raw import check_int, lib, libc, opts
from .errors import BPFError, NotSupportedError

__all__ = ["Token", "create", "open_bpffs", "delegate", "attach_mount"]

# Syscall numbers of the mount API: one table for every architecture but alpha/ia64.
_SYS_MOVE_MOUNT, _SYS_FSOPEN, _SYS_FSCONFIG, _SYS_FSMOUNT = 429, 430, 431, 432
_FSCONFIG_SET_STRING, _FSCONFIG_CMD_CREATE = 1, 6
_FSOPEN_CLOEXEC = _FSMOUNT_CLOEXEC = 1
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_AT_FDCWD = -100


class Token(FdHandle):
    """A BPF token: an owned fd standing for the rights its bpffs delegates."""

    def __init__(self, fd: int, source: str) -> None:
        super().__init__(fd, f"BPF token from {source}")


def create(bpffs: str | os.PathLike[str] | int) -> Token:
    """Make a token from a delegating bpffs: the path of its mount point, or an fd of
    it (its root directory, or the detached mount :func:`delegate` returned).

    Call it inside the user namespace the bpffs was made for.  Requires Linux >= 6.9
    and libbpf >= 1.4."""
    call = lib.bpf_token_create  # a libbpf without it says which one has it
    # A mount fd from fsmount() is an O_PATH fd, which BPF calls refuse: open the
    # root directory through it (or through the path) for a real one.
    if isinstance(bpffs, int):
        source, path, dir_fd = f"bpffs fd {bpffs}", ".", bpffs
    else:
        source, path, dir_fd = os.fspath(bpffs), os.fspath(bpffs), None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        raise BPFError(exc.errno or errno.ENOENT, f"cannot open bpffs {source}: "
                       f"{exc.strerror}", call="open", target=source) from None
    try:
        o = opts("bpf_token_create_opts")
        ret = int(call(fd, ctypes.byref(o)))
    finally:
        os.close(fd)
    if ret < 0:
        err = -ret
        why = {
            errno.EOPNOTSUPP: "tokens are for user namespaces other than the initial one",
            errno.ENOENT: "that bpffs delegates nothing (no delegate_* mount options)",
            errno.EINVAL: "not the root of a BPF filesystem, or a kernel without BPF "
                          "tokens (Linux >= 6.9)",
            errno.EPERM: "the bpffs belongs to another user namespace, or this process "
                         "lacks CAP_BPF there",
        }.get(err)
        message = f"bpf_token_create() from {source} failed: {why}"
        if err == errno.EOPNOTSUPP:
            raise NotSupportedError(message, feature="token", err=err,
                                    call="bpf_token_create", target=source)
        if why is not None:
            raise BPFError(err, message, call="bpf_token_create", target=source)
        check_int(ret, "bpf_token_create", source)
    return Token(ret, source)


def _syscall(number: int, *args: object) -> int:
    libc.syscall.restype = ctypes.c_long
    ret = int(libc.syscall(ctypes.c_long(number), *args))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def open_bpffs() -> int:
    """``fsopen("bpf")``: a new BPF filesystem context, owned by this process's user
    namespace (which must own its mount namespace too: unshare both).  Returns its fd
    for :func:`delegate`."""
    try:
        return _syscall(_SYS_FSOPEN, b"bpf", _FSOPEN_CLOEXEC)
    except OSError as exc:
        raise BPFError(exc.errno or errno.EPERM, f"fsopen(\"bpf\") failed: {exc.strerror}",
                       call="fsopen") from None


def _spec(value: str | int | Iterable[str]) -> bytes:
    if isinstance(value, int):
        return f"{value:#x}".encode()
    if isinstance(value, str):
        return value.encode()
    return ":".join(value).encode()


def delegate(fs_fd: int, *, cmds: str | int | Iterable[str] = "any",
             maps: str | int | Iterable[str] = "any",
             progs: str | int | Iterable[str] = "any",
             attachs: str | int | Iterable[str] = "any") -> int:
    """The privileged half: set what the bpffs context ``fs_fd`` (from
    :func:`open_bpffs` in the user namespace) delegates, create it and return a
    detached mount fd of it for :func:`create`.

    Each of ``cmds``, ``maps``, ``progs``, ``attachs`` is ``"any"``, a bit mask, or
    names as the kernel spells them in lower case without prefix (``["map_create",
    "prog_load", "btf_load"]``, ``["array", "hash"]``, ``["xdp", "socket_filter"]``).
    Needs CAP_SYS_ADMIN in the initial user namespace."""
    for key, value in (("delegate_cmds", cmds), ("delegate_maps", maps),
                       ("delegate_progs", progs), ("delegate_attachs", attachs)):
        try:
            _syscall(_SYS_FSCONFIG, fs_fd, _FSCONFIG_SET_STRING, key.encode(),
                     _spec(value), 0)
        except OSError as exc:
            raise BPFError(exc.errno or errno.EINVAL, f"fsconfig({key}={_spec(value)!r}) "
                           f"failed: {exc.strerror}", call="fsconfig") from None
    try:
        _syscall(_SYS_FSCONFIG, fs_fd, _FSCONFIG_CMD_CREATE, None, None, 0)
        return _syscall(_SYS_FSMOUNT, fs_fd, _FSMOUNT_CLOEXEC, 0)
    except OSError as exc:
        raise BPFError(exc.errno or errno.EINVAL, f"creating the delegating bpffs failed: "
                       f"{exc.strerror}", call="fsmount") from None


def attach_mount(mnt_fd: int, path: str | os.PathLike[str]) -> None:
    """Mount the detached mount ``mnt_fd`` at directory ``path`` (``move_mount``), so
    that ``Object.open(..., token_path=path)`` can find it."""
    p = os.fspath(path)
    try:
        _syscall(_SYS_MOVE_MOUNT, mnt_fd, b"", _AT_FDCWD, os.fsencode(p),
                 _MOVE_MOUNT_F_EMPTY_PATH)
    except OSError as exc:
        raise BPFError(exc.errno or errno.EINVAL, f"move_mount() to {p} failed: "
                       f"{exc.strerror}", call="move_mount", target=p) from None
