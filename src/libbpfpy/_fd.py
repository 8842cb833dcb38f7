"""File descriptors of kernel BPF objects: reading their information, owning them."""
from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import Any

from ._lifetime import Owner, close_fd, guarded
from ._raw import RECORDS, check_int, lib
from .fs import bpffs_hint

__all__ = ["obj_info", "c_string", "fd_by_id", "FdHandle"]

# kind -> (libbpf call, noun for messages)
_BY_ID = {"prog": ("bpf_prog_get_fd_by_id", "program"), "map": ("bpf_map_get_fd_by_id", "map"),
          "link": ("bpf_link_get_fd_by_id", "link"), "btf": ("bpf_btf_get_fd_by_id", "btf")}


def fd_by_id(kind: str, obj_id: int) -> int:
    """A new fd for the kernel's ``kind`` object (prog, map, link, btf) with id
    ``obj_id``; the caller owns it."""
    call, noun = _BY_ID[kind]
    return check_int(getattr(lib, call)(obj_id), call, f"{noun} id {obj_id}")


def obj_info(fd: int, record: str, what: str,
             setup: Callable[[Any], None] | None = None) -> Any:
    """The ``bpf_*_info`` struct named ``record`` for ``fd`` (``bpf_obj_get_info_by_fd``);
    ``setup`` fills in buffers the kernel should write to (names, map ids)."""
    info = RECORDS[record]()
    if setup is not None:
        setup(info)
    size = ctypes.c_uint32(ctypes.sizeof(info))
    # libbpf >= 1.2 has a typed call per kind; older ones only the generic one.
    call = _TYPED_INFO.get(record, "bpf_obj_get_info_by_fd")
    if not lib.has(call):
        call = "bpf_obj_get_info_by_fd"
    check_int(getattr(lib, call)(fd, ctypes.byref(info), ctypes.byref(size)), call, what)
    return info


_TYPED_INFO = {"bpf_prog_info": "bpf_prog_get_info_by_fd",
               "bpf_map_info": "bpf_map_get_info_by_fd",
               "bpf_btf_info": "bpf_btf_get_info_by_fd",
               "bpf_link_info": "bpf_link_get_info_by_fd"}


def c_string(raw: bytes) -> str:
    """A NUL-terminated name from a fixed-size kernel buffer."""
    return raw.split(b"\0", 1)[0].decode(errors="replace")


@guarded()
class FdHandle(Owner):
    """An owned fd of a kernel BPF object (map, program, BTF, stats)."""

    def __init__(self, fd: int, description: str) -> None:
        super().__init__()
        self._fd = fd
        self._description = description
        self._arm(close_fd, fd)

    def _describe(self) -> str:
        return self._description

    def _release(self) -> None:
        close_fd(self._fd)

    @property
    def fd(self) -> int:
        """The owned file descriptor."""
        self._check()
        return self._fd

    def pin(self, path: str | os.PathLike[str]) -> None:
        """Pin the object at ``path`` on a BPF filesystem (it then outlives this fd)."""
        p = os.fspath(path)
        check_int(lib.bpf_obj_pin(self.fd, os.fsencode(p)), "bpf_obj_pin",
                  f"{self._describe()} at {p}", hint=bpffs_hint(p))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._describe()}" + \
            (" closed>" if self._closed else ">")
