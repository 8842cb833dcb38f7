"""Kernel enums as Python ``IntEnum``s: program, map, attach and link types, flags.

Members are named after the kernel's constants without their prefix
(``ProgType.TRACEPOINT`` is ``BPF_PROG_TYPE_TRACEPOINT``); ``.libbpf_name`` is the
name libbpf uses (``"tracepoint"``), from ``libbpf_bpf_*_type_str``.  Values a newer
kernel reports that these headers do not know become pseudo-members named
``UNKNOWN_<n>`` instead of raising.
"""
from __future__ import annotations

import enum
from typing import Any

from ._raw import CONSTANTS, ENUMS, lib

__all__ = ["ProgType", "MapType", "AttachType", "LinkType", "UpdateFlags", "MapFlags",
           "XdpFlags", "TcAttachPoint", "parse_enum"]


class _KernelEnum(enum.IntEnum):
    """IntEnum tolerant of values unknown to the headers it was built from."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, int):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"UNKNOWN_{value}"
        member._value_ = value
        return member

    @property
    def libbpf_name(self) -> str:
        """libbpf's name for this value (``libbpf_bpf_*_type_str``), or the member name."""
        fn = _STR_FUNCS.get(type(self).__name__)
        if fn is not None:
            raw = getattr(lib, fn)(int(self))
            if raw:
                return raw.decode()  # type: ignore[no-any-return]
        return self.name.lower()

    def __str__(self) -> str:
        return self.libbpf_name


def _members(enum_name: str, prefix: str) -> dict[str, int]:
    out = {}
    for cname, value in ENUMS[enum_name].items():
        if cname.startswith("__MAX") or not cname.startswith(prefix):
            continue
        out[cname[len(prefix):]] = value
    return out


_STR_FUNCS = {
    "ProgType": "libbpf_bpf_prog_type_str",
    "MapType": "libbpf_bpf_map_type_str",
    "AttachType": "libbpf_bpf_attach_type_str",
    "LinkType": "libbpf_bpf_link_type_str",
}

ProgType = _KernelEnum("ProgType", _members("bpf_prog_type", "BPF_PROG_TYPE_"),  # type: ignore[misc]
                       module=__name__)
ProgType.__doc__ = "BPF program types (``enum bpf_prog_type``)."
MapType = _KernelEnum("MapType", _members("bpf_map_type", "BPF_MAP_TYPE_"),  # type: ignore[misc]
                      module=__name__)
MapType.__doc__ = "BPF map types (``enum bpf_map_type``)."
AttachType = _KernelEnum("AttachType", _members("bpf_attach_type", "BPF_"),  # type: ignore[misc]
                         module=__name__)
AttachType.__doc__ = "BPF attach types (``enum bpf_attach_type``)."
LinkType = _KernelEnum("LinkType", _members("bpf_link_type", "BPF_LINK_TYPE_"),  # type: ignore[misc]
                       module=__name__)
LinkType.__doc__ = "BPF link types (``enum bpf_link_type``)."


class UpdateFlags(enum.IntFlag):
    """Flags of a map update (``bpf_map_update_elem``)."""

    ANY = CONSTANTS["BPF_ANY"]
    NOEXIST = CONSTANTS["BPF_NOEXIST"]
    EXIST = CONSTANTS["BPF_EXIST"]
    F_LOCK = CONSTANTS["BPF_F_LOCK"]


class MapFlags(enum.IntFlag):
    """Map creation flags (``map_flags``)."""

    NO_PREALLOC = CONSTANTS["BPF_F_NO_PREALLOC"]
    NO_COMMON_LRU = CONSTANTS["BPF_F_NO_COMMON_LRU"]
    NUMA_NODE = CONSTANTS["BPF_F_NUMA_NODE"]
    RDONLY = CONSTANTS["BPF_F_RDONLY"]
    WRONLY = CONSTANTS["BPF_F_WRONLY"]
    STACK_BUILD_ID = CONSTANTS["BPF_F_STACK_BUILD_ID"]
    ZERO_SEED = CONSTANTS["BPF_F_ZERO_SEED"]
    RDONLY_PROG = CONSTANTS["BPF_F_RDONLY_PROG"]
    WRONLY_PROG = CONSTANTS["BPF_F_WRONLY_PROG"]
    CLONE = CONSTANTS["BPF_F_CLONE"]
    MMAPABLE = CONSTANTS["BPF_F_MMAPABLE"]
    PRESERVE_ELEMS = CONSTANTS["BPF_F_PRESERVE_ELEMS"]
    INNER_MAP = CONSTANTS["BPF_F_INNER_MAP"]


class XdpFlags(enum.IntFlag):
    """XDP attach flags (``XDP_FLAGS_*`` of linux/if_link.h)."""

    UPDATE_IF_NOEXIST = 1 << 0
    SKB_MODE = 1 << 1
    DRV_MODE = 1 << 2
    HW_MODE = 1 << 3
    REPLACE = 1 << 4


class TcAttachPoint(enum.IntEnum):
    """Where a TC hook sits (``enum bpf_tc_attach_point``)."""

    INGRESS = ENUMS["bpf_tc_attach_point"]["BPF_TC_INGRESS"]
    EGRESS = ENUMS["bpf_tc_attach_point"]["BPF_TC_EGRESS"]
    CUSTOM = ENUMS["bpf_tc_attach_point"]["BPF_TC_CUSTOM"]


def parse_enum(cls: type[_KernelEnum], value: int | str | enum.Enum) -> Any:
    """Accept a member, its int value, its member name or libbpf's name for it."""
    if isinstance(value, cls):
        return value
    if isinstance(value, int):
        return cls(value)
    if isinstance(value, str):
        key = value.upper().replace("-", "_")
        if key in cls.__members__:
            return cls.__members__[key]
        for member in cls:
            if member.libbpf_name == value:
                return member
    raise ValueError(f"unknown {cls.__name__}: {value!r}")
