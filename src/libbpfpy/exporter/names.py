"""Names the running kernel gives to numbers: system calls, kernel addresses,
cgroups and network interfaces.  The decoders of the same names use these.

Each table is read on first use and kept; one that cannot be read (no tracefs, no
kallsyms addresses, no cgroup v2) logs why once and answers None, so decoders
fall back to the number.

System call numbers come from the kernel itself, never from a table kept here:
see ``bpf/syscall_names.bpf.c``.  With syscall tracing the kernel has, per system
call, a tracefs event directory ``events/syscalls/sys_enter_<name>/`` and a struct
``syscall_metadata`` holding the number it dispatches that call under.  The
``enable`` files of those directories are opened (read-only: nothing is enabled)
and a BPF ``task_file`` iterator over this process's fds follows each file's inode
to the metadata and prints the number.  Requires Linux >= 5.8 (task_file
iterators), BTF and CONFIG_FTRACE_SYSCALLS.
"""
from __future__ import annotations

import bisect
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["syscall_name", "syscall_table", "ksym_name", "cgroup_path", "interface_name",
           "reset"]

log = logging.getLogger("libbpfpy.exporter")

_HERE = os.path.dirname(os.path.abspath(__file__))
_FD_BATCH = 256  # enable files open at once (well below a default RLIMIT_NOFILE)

T = TypeVar("T")


class _Table(Generic[T]):
    """A table read once on first use (again after ``refresh``), under a lock; a
    failure is logged once and leaves the table empty."""

    def __init__(self, what: str, read: Callable[[], T], empty: T) -> None:
        self.what = what
        self._read = read
        self._empty = empty
        self._value: T | None = None
        self._lock = threading.Lock()
        self._failed = False
        self.read_at = 0.0

    def get(self) -> T:
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is None:
                try:
                    self._value = self._read()
                except Exception as exc:  # any failure: fall back to numbers
                    if not self._failed:
                        log.warning("%s unavailable, numbers are shown instead: %s",
                                    self.what, exc)
                    self._failed = True
                    self._value = self._empty
                self.read_at = time.monotonic()
            return self._value

    def refresh(self, min_age: float) -> bool:
        """Read again on next use if the table is older than ``min_age`` seconds."""
        with self._lock:
            if self._value is None or time.monotonic() - self.read_at < min_age:
                return False
            self._value = None
            return True

    def reset(self) -> None:
        with self._lock:
            self._value = None
            self._failed = False


# -- system calls -----------------------------------------------------------------------

def _read_syscall_table() -> dict[int, str]:
    from .. import fs
    from .._compile import compile
    from ..object import Object

    events = os.path.join(fs.require_tracefs("reading system call names"), "events",
                          "syscalls")
    names = sorted(n[len("sys_enter_"):] for n in os.listdir(events)
                   if n.startswith("sys_enter_"))
    if not names:
        raise OSError(f"{events} lists no sys_enter_* events (no CONFIG_FTRACE_SYSCALLS?)")
    obj_path = compile(os.path.join(_HERE, "bpf", "syscall_names.bpf.c"))
    table: dict[int, str] = {}
    with Object.open(obj_path) as obj:
        obj.globals["targ_tgid"] = os.getpid()
        obj.load()
        prog = obj.programs["syscall_numbers"]
        for start in range(0, len(names), _FD_BATCH):
            batch = names[start:start + _FD_BATCH]
            fds: dict[int, str] = {}
            try:
                for name in batch:
                    fd = os.open(os.path.join(events, f"sys_enter_{name}", "enable"),
                                 os.O_RDONLY | os.O_CLOEXEC)
                    fds[fd] = name
                obj.globals["fd_min"] = min(fds)
                obj.globals["fd_max"] = max(fds)
                with prog.attach_iter() as link:
                    out = link.read().decode(errors="replace")
            finally:
                for fd in fds:
                    os.close(fd)
            for line in out.splitlines():
                fd_text, nr_text, meta_name = line.split(" ", 2)
                event = fds.get(int(fd_text))
                # The kernel's own name must agree with the event's: anything else
                # means the fd was not the file we opened.
                if event is not None and meta_name == f"sys_{event}" and int(nr_text) >= 0:
                    table.setdefault(int(nr_text), event)
    if not table:
        raise OSError("the kernel reported no system call numbers")
    return table


_syscalls: _Table[dict[int, str]] = _Table("system call names", _read_syscall_table, {})


def syscall_table() -> dict[int, str]:
    """The running kernel's system call numbers and names (``{0: "read", ...}`` on
    x86_64); empty when they cannot be read (the reason is logged)."""
    return _syscalls.get()


def syscall_name(nr: int) -> str | None:
    """The name of system call ``nr`` (``"read"``), or None if the kernel has none."""
    return _syscalls.get().get(nr)


# -- kernel symbols ------------------------------------------------------------------------

def _read_kallsyms() -> tuple[list[int], list[str]]:
    pairs: list[tuple[int, str]] = []
    with open("/proc/kallsyms", "rb") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            addr = int(parts[0], 16)
            if addr:
                pairs.append((addr, parts[2].decode(errors="replace")))
    if not pairs:
        raise OSError("/proc/kallsyms shows no addresses (kernel.kptr_restrict, or not "
                      "root)")
    pairs.sort()
    return [a for a, _ in pairs], [n for _, n in pairs]


_kallsyms: _Table[tuple[list[int], list[str]]] = _Table("kernel symbols", _read_kallsyms,
                                                        ([], []))


def ksym_name(addr: int) -> str | None:
    """The kernel symbol at or below ``addr`` (``"do_sys_openat2"``), or None."""
    addrs, names = _kallsyms.get()
    i = bisect.bisect_right(addrs, addr) - 1
    return names[i] if i >= 0 else None


# -- cgroups --------------------------------------------------------------------------------

def _cgroup2_root() -> str:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split(" ", 1)[0] == "cgroup2":
                return left.split()[4].replace("\\040", " ")
    raise OSError("no cgroup v2 filesystem is mounted")


def _read_cgroups() -> dict[int, str]:
    root = _cgroup2_root()
    out: dict[int, str] = {}
    # On cgroup v2 a cgroup's id is its directory's inode number.
    for dirpath, _dirs, _files in os.walk(root):
        try:
            ino = os.stat(dirpath, follow_symlinks=False).st_ino
        except OSError:
            continue  # removed while walking
        rel = os.path.relpath(dirpath, root)
        out[ino] = "/" if rel == "." else "/" + rel
    return out


_cgroups: _Table[dict[int, str]] = _Table("cgroup paths", _read_cgroups, {})
_CGROUP_RESCAN = 5.0  # seconds between walks of the cgroup tree for unknown ids


def cgroup_path(cgroup_id: int) -> str | None:
    """The path below the cgroup v2 root (``"/system.slice/ssh.service"``) of the
    cgroup with id ``cgroup_id``; the tree is walked again (at most every few
    seconds) when an id is not known yet."""
    path = _cgroups.get().get(cgroup_id)
    if path is None and _cgroups.refresh(_CGROUP_RESCAN):
        path = _cgroups.get().get(cgroup_id)
    return path


# -- network interfaces ----------------------------------------------------------------------

def interface_name(ifindex: int) -> str | None:
    """The name of network interface ``ifindex`` in this network namespace, or None."""
    if ifindex <= 0 or ifindex >= 1 << 32:
        return None
    try:
        return socket.if_indextoname(ifindex)
    except OSError:
        return None


def reset() -> None:
    """Forget every table read so far (they are read again on next use)."""
    for table in (_syscalls, _kallsyms, _cgroups):
        table.reset()
