"""Ready-to-run tools built on libbpfpy (``mmapsnoop``).

Each tool's BPF C source ships in this package (``<tool>.bpf.c`` plus headers)
and is compiled with :func:`libbpfpy.compile` on first use, or ahead of time by
``make setup`` (``mmapsnoop --build``); the object is cached by the content of the
sources, the compiler and the kernel, so later starts only check the cache.
"""
from __future__ import annotations

import os

__all__ = ["source_path", "bpf_object"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def source_path(tool: str) -> str:
    """Path of the BPF C source of ``tool`` shipped in this package."""
    return os.path.join(_HERE, f"{tool}.bpf.c")


def bpf_object(tool: str, *, rebuild: bool = False) -> str:
    """Return the path of ``tool``'s compiled BPF object, compiling it when the cache
    lacks it (or when ``rebuild``).  Raises :class:`~libbpfpy.CompileError` when
    clang fails or is missing."""
    from .._compile import compile
    return str(compile(source_path(tool), include_dirs=[_HERE], cache=not rebuild))
