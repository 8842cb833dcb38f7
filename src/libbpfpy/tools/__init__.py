"""Ready-to-run tools built on libbpfpy (``mmapsnoop``).

Each tool's BPF C source ships in this package (``<tool>.bpf.c`` plus headers)
together with its compiled object (``<tool>.bpf.o``), made when the package is
built: the wheel build compiles every source in :data:`TOOLS` against a
``vmlinux.h`` generated from the build machine's kernel, and ``make setup`` does
the same in a source checkout.  CO-RE relocates the object to the running kernel
at load time, so a tool starts with nothing but libbpf: no compiler, no headers.

Compiling them is :mod:`libbpfpy.tools._build`'s business (``python -m
libbpfpy.tools``, ``mmapsnoop --build``): nothing a tool imports to start refers to
a compiler, which a test checks.
"""
from __future__ import annotations

import os

__all__ = ["TOOLS", "source_path", "object_path", "bpf_object"]

#: The tools whose BPF programs ship compiled in the package.
TOOLS = ("mmapsnoop",)

_HERE = os.path.dirname(os.path.abspath(__file__))


def source_path(tool: str) -> str:
    """Path of the BPF C source of ``tool`` shipped in this package."""
    return os.path.join(_HERE, f"{tool}.bpf.c")


def object_path(tool: str) -> str:
    """Where the compiled BPF object of ``tool`` lives in this package."""
    return os.path.join(_HERE, f"{tool}.bpf.o")


def bpf_object(tool: str) -> str:
    """The path of ``tool``'s compiled BPF object shipped in the package.

    Raises :class:`FileNotFoundError` saying how to get one when the package was
    built without it (a source build on a machine without a BPF compiler)."""
    path = object_path(tool)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            2, f"this installation of libbpfpy has no compiled {tool}.bpf.o (it was "
            "built without a BPF compiler): install a wheel that has it, or run "
            f"'{tool} --build' once where the BPF tool chain is ('python -m "
            "libbpfpy.tools --help' says what it needs)", path)
    return path
