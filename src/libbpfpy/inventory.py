"""What is loaded in the kernel: programs, maps, links and BTF objects by id.

    from libbpfpy import inventory

    for info in inventory.programs():
        print(info.id, info.type.libbpf_name, info.name, info.map_ids)
    with inventory.open_program(info.id) as prog:
        prog.pin("/sys/fs/bpf/keep")

Ids are walked with ``bpf_*_get_next_id``; each object is opened by id just long
enough to read its information (``bpf_obj_get_info_by_fd``), so an object unloaded
meanwhile is simply skipped.  Walking and opening by id need CAP_SYS_ADMIN; without
it they raise :class:`~libbpfpy.PermissionDeniedError`.
"""
from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from ._fd import FdHandle, c_string, fd_by_id, obj_info
from ._lifetime import close_fd, dup_fd, fd_kind, guarded
from ._raw import check_int, lib
from .enums import ProgType
from .errors import BPFError
from .link import Link, LinkInfo
from .map import MapHandle, MapInfo

__all__ = ["ProgramInfo", "BTFInfo", "ProgramHandle", "BTFHandle", "Stats",
           "program_ids", "map_ids", "link_ids", "btf_ids", "programs", "maps", "links",
           "btfs", "open_program", "open_map", "open_link", "open_btf", "enable_stats",
           "fd_kind"]

T = TypeVar("T")


@dataclass(frozen=True)
class ProgramInfo:
    """What the kernel reports of a loaded program (``bpf_prog_info``).

    ``load_time_ns`` is nanoseconds since boot (CLOCK_BOOTTIME); ``run_count`` and
    ``run_time_ns`` only move while statistics are enabled (:func:`enable_stats`,
    or sysctl ``kernel.bpf_stats_enabled``).  ``verified_insns`` needs Linux >= 5.16.
    """

    id: int
    type: ProgType
    name: str
    tag: str
    map_ids: tuple[int, ...]
    btf_id: int
    load_time_ns: int
    created_by_uid: int
    run_time_ns: int
    run_count: int
    recursion_misses: int
    verified_insns: int
    xlated_size: int
    jited_size: int
    gpl_compatible: bool
    ifindex: int
    attach_btf_id: int
    attach_btf_obj_id: int

    @classmethod
    def from_fd(cls, fd: int) -> ProgramInfo:
        """Read the information of the program behind ``fd``."""
        what = f"program fd {fd}"
        first = obj_info(fd, "bpf_prog_info", what)
        ids = (ctypes.c_uint32 * max(first.nr_map_ids, 1))()
        count = first.nr_map_ids

        def want_map_ids(info: Any) -> None:
            info.nr_map_ids = count
            info.map_ids = ctypes.addressof(ids)

        # A second call fills the map ids now that their number is known.
        info = obj_info(fd, "bpf_prog_info", what, want_map_ids) if count else first
        n = min(count, info.nr_map_ids)
        return cls(id=info.id, type=ProgType(info.type), name=c_string(bytes(info.name)),
                   tag=bytes(info.tag).hex(), map_ids=tuple(ids[:n]), btf_id=info.btf_id,
                   load_time_ns=info.load_time, created_by_uid=info.created_by_uid,
                   run_time_ns=info.run_time_ns, run_count=info.run_cnt,
                   recursion_misses=info.recursion_misses,
                   verified_insns=info.verified_insns,
                   xlated_size=info.xlated_prog_len, jited_size=info.jited_prog_len,
                   gpl_compatible=bool(info.gpl_compatible), ifindex=info.ifindex,
                   attach_btf_id=info.attach_btf_id,
                   attach_btf_obj_id=info.attach_btf_obj_id)


@dataclass(frozen=True)
class BTFInfo:
    """What the kernel reports of a loaded BTF object (``bpf_btf_info``): its id,
    name (``vmlinux`` or a module's name for kernel BTF, usually empty for a
    program's), size in bytes, and whether it is the kernel's."""

    id: int
    name: str
    size: int
    kernel: bool

    @classmethod
    def from_fd(cls, fd: int) -> BTFInfo:
        """Read the information of the BTF object behind ``fd``."""
        name = ctypes.create_string_buffer(256)

        def want_name(info: Any) -> None:
            info.name = ctypes.addressof(name)
            info.name_len = len(name)

        info = obj_info(fd, "bpf_btf_info", f"btf fd {fd}", want_name)
        return cls(id=info.id, name=name.value.decode(errors="replace"),
                   size=info.btf_size, kernel=bool(info.kernel_btf))


# -- walking ids ---------------------------------------------------------------------------

def _ids(call: str) -> Iterator[int]:
    fn = getattr(lib, call)
    cur = 0
    nxt = ctypes.c_uint32()
    while True:
        ret = fn(cur, ctypes.byref(nxt))
        if ret < 0:
            if -ret == errno.ENOENT:
                return
            check_int(ret, call)
        cur = nxt.value
        yield cur


def program_ids() -> Iterator[int]:
    """Ids of every loaded program, ascending (``bpf_prog_get_next_id``)."""
    return _ids("bpf_prog_get_next_id")


def map_ids() -> Iterator[int]:
    """Ids of every map, ascending (``bpf_map_get_next_id``)."""
    return _ids("bpf_map_get_next_id")


def link_ids() -> Iterator[int]:
    """Ids of every link, ascending (``bpf_link_get_next_id``).  Linux >= 5.8."""
    return _ids("bpf_link_get_next_id")


def btf_ids() -> Iterator[int]:
    """Ids of every BTF object, ascending (``bpf_btf_get_next_id``).  Linux >= 5.4."""
    return _ids("bpf_btf_get_next_id")


def _walk(ids: Iterator[int], open_fd: str, read: Callable[[int], T]) -> Iterator[T]:
    fn = getattr(lib, open_fd)
    for obj_id in ids:
        fd = fn(obj_id)
        if fd < 0:
            if -fd == errno.ENOENT:
                continue  # gone between the id walk and the open
            check_int(fd, open_fd, f"id {obj_id}")
        try:
            yield read(fd)
        finally:
            os.close(fd)


def programs() -> Iterator[ProgramInfo]:
    """Information on every loaded program."""
    return _walk(program_ids(), "bpf_prog_get_fd_by_id", ProgramInfo.from_fd)


def maps() -> Iterator[MapInfo]:
    """Information on every map."""
    return _walk(map_ids(), "bpf_map_get_fd_by_id", MapInfo.from_fd)


def links() -> Iterator[LinkInfo]:
    """Information on every link.  Linux >= 5.8."""
    return _walk(link_ids(), "bpf_link_get_fd_by_id", LinkInfo.from_fd)


def btfs() -> Iterator[BTFInfo]:
    """Information on every BTF object (the kernel's, its modules', programs')."""
    return _walk(btf_ids(), "bpf_btf_get_fd_by_id", BTFInfo.from_fd)


# -- opening by id ---------------------------------------------------------------------------

@guarded()
class ProgramHandle(FdHandle):
    """A loaded program owned through its fd (opened by id, pin or fd)."""

    _kind = "program handle"

    @classmethod
    def from_id(cls, prog_id: int) -> ProgramHandle:
        """Open the loaded program with kernel id ``prog_id``."""
        return cls(fd_by_id("prog", prog_id), f"program id {prog_id}")

    @classmethod
    def from_pin(cls, path: str | os.PathLike[str]) -> ProgramHandle:
        """Open the program pinned at ``path``."""
        p = os.fspath(path)
        fd = lib.bpf_obj_get(os.fsencode(p))
        check_int(fd, "bpf_obj_get", p)
        return cls._checked(fd, f"program pinned at {p}")

    @classmethod
    def from_fd(cls, fd: int) -> ProgramHandle:
        """Own a duplicate of the program fd ``fd`` (the caller keeps its own)."""
        new = dup_fd(fd)
        return cls._checked(new, f"program fd {fd}")

    @classmethod
    def _checked(cls, fd: int, description: str) -> ProgramHandle:
        kind = fd_kind(fd)
        if kind != "prog":
            close_fd(fd)
            raise BPFError(errno.EINVAL, f"{description} is not a BPF program "
                           f"(it is {kind or 'not a BPF object'})", target=description)
        return cls(fd, description)

    def info(self) -> ProgramInfo:
        """What the kernel reports of this program."""
        return ProgramInfo.from_fd(self.fd)

    @property
    def id(self) -> int:
        """The kernel's id of this program."""
        return self.info().id


@guarded()
class BTFHandle(FdHandle):
    """A loaded BTF object owned through its fd."""

    _kind = "btf handle"

    @classmethod
    def from_id(cls, btf_id: int) -> BTFHandle:
        """Open the BTF object with kernel id ``btf_id``."""
        return cls(fd_by_id("btf", btf_id), f"btf id {btf_id}")

    def info(self) -> BTFInfo:
        """What the kernel reports of this BTF object."""
        return BTFInfo.from_fd(self.fd)


def open_program(prog_id: int) -> ProgramHandle:
    """Open the loaded program with kernel id ``prog_id``."""
    return ProgramHandle.from_id(prog_id)


def open_map(map_id: int) -> MapHandle:
    """Open the map with kernel id ``map_id`` (a full :class:`MapHandle`)."""
    return MapHandle.from_id(map_id)


def open_link(link_id: int) -> Link:
    """Open the link with kernel id ``link_id``.  Linux >= 5.8."""
    return Link.from_id(link_id)


def open_btf(btf_id: int) -> BTFHandle:
    """Open the BTF object with kernel id ``btf_id``."""
    return BTFHandle.from_id(btf_id)


@guarded()
class Stats(FdHandle):
    """Run-time statistics switched on while this is open (see :func:`enable_stats`)."""

    _kind = "bpf stats"


def enable_stats() -> Stats:
    """Count run time and runs of every program (``BPF_ENABLE_STATS``) until the
    returned object is closed; use it with ``with``.  Linux >= 5.8."""
    stats_run_time = 0  # BPF_STATS_RUN_TIME
    fd = lib.bpf_enable_stats(stats_run_time)
    check_int(fd, "bpf_enable_stats")
    return Stats(fd, "run-time statistics")
