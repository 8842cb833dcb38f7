"""The pseudo-filesystems BPF depends on: tracefs and bpffs.

libbpf attaches tracepoints through tracefs (``/sys/kernel/tracing``, or the old
``/sys/kernel/debug/tracing``) and pins objects in bpffs (``/sys/fs/bpf``).  A fresh
machine may have neither mounted, and then libbpf fails with a bare ENOENT.  These
helpers tell exactly what is missing and, for root, mount it.
"""
from __future__ import annotations

import ctypes
import errno
import os
import re

from .errors import BPFError, PermissionDeniedError

__all__ = ["TRACEFS", "DEBUGFS_TRACING", "BPFFS", "tracefs_path", "is_mounted",
           "mount_tracefs", "mount_bpffs", "require_tracefs", "ensure_mounts",
           "tracepoint_exists", "tracefs_problem"]

TRACEFS = "/sys/kernel/tracing"
DEBUGFS_TRACING = "/sys/kernel/debug/tracing"
BPFFS = "/sys/fs/bpf"

_TRACEFS_MAGIC = 0x74726163
_DEBUGFS_MAGIC = 0x64626720
_BPF_FS_MAGIC = 0xCAFE4A11


def _fs_magic(path: str) -> int | None:
    # os.statvfs does not expose f_type; ask statfs(2) directly.
    buf = (ctypes.c_long * 15)()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.statfs(os.fsencode(path), buf) != 0:
        return None
    return int(buf[0])


def is_mounted(path: str, magic: int) -> bool:
    """Whether ``path`` is the root of a filesystem of the given magic number."""
    return _fs_magic(path) == magic


def tracefs_path() -> str | None:
    """Where tracefs is usable, in libbpf's order of preference, or None."""
    # libbpf 1.1 prefers debugfs' tracing dir whenever it exists; newer releases
    # prefer /sys/kernel/tracing.  Report whichever holds the events directory.
    for path in (DEBUGFS_TRACING, TRACEFS) if os.path.exists(DEBUGFS_TRACING) \
            else (TRACEFS, DEBUGFS_TRACING):
        if os.path.isdir(os.path.join(path, "events")):
            return path
    return None


def tracefs_problem() -> str:
    """Why :func:`tracefs_path` finds no usable tracefs, to follow "tracefs": it
    "is mounted at ... but not accessible to this user" (a 0700 tracefs seen by an
    unprivileged user), or it "is not mounted"."""
    for path in (TRACEFS, DEBUGFS_TRACING):
        if _fs_magic(path) != _TRACEFS_MAGIC:
            continue
        if not os.access(path, os.R_OK | os.X_OK) or \
                not os.access(os.path.join(path, "events"), os.R_OK | os.X_OK):
            try:
                st = os.stat(path)
                mode = f" (mode {st.st_mode & 0o7777:o}, owner uid {st.st_uid})"
            except OSError:
                mode = ""
            return (f"is mounted at {path}{mode} but not accessible to this user "
                    f"(uid {os.geteuid()})")
    return f"is not mounted (neither {TRACEFS}/events nor {DEBUGFS_TRACING}/events exists)"


def tracepoint_exists(category: str, name: str) -> bool:
    """Whether tracefs lists the tracepoint ``category:name``."""
    base = tracefs_path()
    return base is not None and os.path.isdir(os.path.join(base, "events", category, name))


def traceable_functions(pattern: str) -> list[str] | None:
    """Kernel functions ftrace can trace (tracefs ``available_filter_functions``)
    whose names match the glob ``pattern`` (``*`` and ``?``), each once, in the
    file's order, functions of modules included; None when the list cannot be read
    (no tracefs, no ftrace, or not readable here)."""
    import fnmatch
    base = tracefs_path()
    if base is None:
        return None
    regex = re.compile(fnmatch.translate(pattern.replace("[", "[[]")))
    found: dict[str, None] = {}
    try:
        with open(os.path.join(base, "available_filter_functions")) as f:
            for line in f:
                name = line.split(maxsplit=1)[0] if line.strip() else ""
                if name and regex.match(name):
                    found[name] = None
    except OSError:
        return None
    return list(found)


def _mount(source: str, target: str, fstype: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    os.makedirs(target, exist_ok=True)
    if libc.mount(source.encode(), target.encode(), fstype.encode(), 0, None) != 0:
        err = ctypes.get_errno()
        if err == errno.EBUSY:
            return
        cls = PermissionDeniedError if err in (errno.EPERM, errno.EACCES) else BPFError
        raise cls(err, f"mounting {fstype} on {target} failed: {os.strerror(err)}",
                  call="mount", target=target,
                  hint=f"as root: mount -t {fstype} {fstype if fstype != 'bpf' else 'bpf'}"
                       f" {target}")


def mount_tracefs() -> str:
    """Mount tracefs on /sys/kernel/tracing unless tracefs is already usable (root)."""
    found = tracefs_path()
    if found:
        return found
    _mount("tracefs", TRACEFS, "tracefs")
    return TRACEFS


def mount_bpffs() -> str:
    """Mount bpffs on /sys/fs/bpf unless it is mounted there already (root)."""
    if not is_mounted(BPFFS, _BPF_FS_MAGIC):
        _mount("bpf", BPFFS, "bpf")
    return BPFFS


def ensure_mounts() -> None:
    """Mount tracefs and bpffs where missing (what tools and tests do as root)."""
    mount_tracefs()
    mount_bpffs()


def require_tracefs(what: str) -> str:
    """Return the tracefs path, or raise an error saying how to mount it."""
    path = tracefs_path()
    if path is None:
        problem = tracefs_problem()
        if "not accessible" in problem:
            raise PermissionDeniedError(errno.EACCES, f"{what} needs tracefs, which {problem}",
                                        call="tracefs", hint="run as root (or with "
                                        "CAP_BPF and CAP_PERFMON and read access to it)")
        raise BPFError(errno.ENOENT, f"{what} needs tracefs, which {problem}", call="tracefs",
                       hint=f"as root: mount -t tracefs tracefs {TRACEFS}")
    return path


def bpffs_hint(path: str) -> str | None:
    """If ``path`` is not on a bpffs, say how to fix it (pinning needs bpffs)."""
    parent = os.path.dirname(os.path.abspath(path)) or "/"
    probe = parent
    while probe != "/" and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if _fs_magic(probe) == _BPF_FS_MAGIC:
        return None
    return (f"{parent} is not on a BPF filesystem; pin under {BPFFS} "
            f"(as root: mount -t bpf bpf {BPFFS})")
