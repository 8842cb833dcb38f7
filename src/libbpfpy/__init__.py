"""libbpfpy: load, attach and talk to compiled BPF programs from Python, over libbpf.

    from libbpfpy import Object, RingBuffer

    with Object.open("prog.bpf.o") as obj:
        obj.load()
        obj.attach()
        ...

Names are imported on first use (PEP 562), so a tool pays only for the parts it
uses, and ``libbpfpy.errors`` works even where libbpf cannot be loaded.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    BPFError,
    ClosedError,
    CompileError,
    FormatError,
    LoadError,
    NotSupportedError,
    PermissionDeniedError,
    VerifierError,
)

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "BTF": "btf", "compile": "_compile", "compile_bytes": "_compile",
    "Object": "object", "Program": "program", "TestRunResult": "program",
    "Map": "map", "MapHandle": "map", "MapInfo": "map", "possible_cpus": "map",
    "Link": "link", "LinkInfo": "link",
    "RingBuffer": "ringbuf", "PerfBuffer": "perfbuf", "PerfEvent": "perfbuf",
    "UserRingBuffer": "user_ringbuf", "Sample": "user_ringbuf", "Linker": "linker",
    "ProgType": "enums", "MapType": "enums", "AttachType": "enums", "LinkType": "enums",
    "UpdateFlags": "enums", "MapFlags": "enums", "XdpFlags": "enums",
    "ProgramInfo": "inventory", "ProgramHandle": "inventory", "BTFInfo": "inventory",
    "TcHook": "tc", "TcFilter": "tc",
}
_SUBMODULES = {"probe", "fs", "inventory", "btf", "enums", "errors", "tc", "perf_event",
               "symbolize", "token", "linker"}

__all__ = [
    "AttachType", "BPFError", "BTF", "BTFInfo", "ClosedError", "CompileError", "FormatError",
    "Link",
    "LinkInfo", "LinkType", "LoadError", "Map", "MapFlags", "MapHandle", "MapInfo", "MapType",
    "NotSupportedError", "Object", "PerfBuffer", "PerfEvent", "PermissionDeniedError",
    "Linker", "ProgType", "Program", "ProgramHandle", "ProgramInfo", "RingBuffer", "Sample",
    "TcFilter", "TcHook", "TestRunResult", "UpdateFlags", "UserRingBuffer", "VerifierError",
    "XdpFlags", "compile", "compile_bytes", "fs", "inventory", "libbpf_version",
    "possible_cpus", "probe", "token",
]


# Captured now: importing the submodule libbpfpy.globals later binds the name
# "globals" in this namespace, shadowing the builtin.
_namespace = globals()


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'libbpfpy' has no attribute {name!r}")
    _namespace[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(_namespace) | set(__all__))


def libbpf_version() -> str:
    """The installed libbpf's version (``"1.1"``)."""
    from ._raw import version
    return version


if TYPE_CHECKING:
    from . import fs, inventory, probe, token
    from ._compile import compile, compile_bytes
    from .btf import BTF
    from .enums import AttachType, LinkType, MapFlags, MapType, ProgType, UpdateFlags, XdpFlags
    from .inventory import BTFInfo, ProgramHandle, ProgramInfo
    from .link import Link, LinkInfo
    from .linker import Linker
    from .map import Map, MapHandle, MapInfo, possible_cpus
    from .object import Object
    from .perfbuf import PerfBuffer, PerfEvent
    from .program import Program, TestRunResult
    from .ringbuf import RingBuffer
    from .tc import TcFilter, TcHook
    from .user_ringbuf import Sample, UserRingBuffer
