"""libbpfpy: load, attach and talk to compiled BPF programs from Python, over libbpf.

    from libbpfpy import Object, RingBuffer

    with Object.open("prog.bpf.o") as obj:
        obj.load()
        obj.attach()
        ...
"""
from __future__ import annotations

from . import fs, inventory, probe
from ._compile import compile
from ._raw import version as _libbpf_version
from .btf import BTF
from .enums import AttachType, LinkType, MapFlags, MapType, ProgType, UpdateFlags, XdpFlags
from .errors import (
    BPFError,
    ClosedError,
    CompileError,
    NotSupportedError,
    PermissionDeniedError,
    VerifierError,
)
from .inventory import BTFInfo, ProgramHandle, ProgramInfo
from .link import Link, LinkInfo
from .map import Map, MapHandle, MapInfo, possible_cpus
from .object import Object
from .perfbuf import PerfBuffer, PerfEvent
from .program import Program, TestRunResult
from .ringbuf import RingBuffer
from .tc import TcFilter, TcHook
from .user_ringbuf import Sample, UserRingBuffer

__version__ = "0.1.0"

__all__ = [
    "BTF", "compile",
    "Object", "Program", "Map", "MapHandle", "MapInfo", "Link", "LinkInfo", "RingBuffer",
    "PerfBuffer", "PerfEvent", "UserRingBuffer", "Sample",
    "TestRunResult", "ProgType", "MapType", "AttachType", "LinkType", "UpdateFlags",
    "MapFlags", "XdpFlags", "BPFError", "VerifierError", "NotSupportedError",
    "PermissionDeniedError", "ClosedError", "CompileError", "libbpf_version",
    "possible_cpus", "probe", "fs", "inventory", "ProgramInfo", "ProgramHandle", "BTFInfo",
    "TcHook", "TcFilter",
]


def libbpf_version() -> str:
    """The installed libbpf's version (``"1.1"``)."""
    return _libbpf_version
