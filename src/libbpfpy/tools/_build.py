"""Compiling the tools' BPF programs: the package build, ``make setup``,
``python -m libbpfpy.tools`` and ``mmapsnoop --build`` all come here.

Needs clang and libbpf's headers (Debian: ``apt install clang libbpf-dev``), and a
``vmlinux.h``: given, or generated from the running kernel's BTF.  A tool's start
never imports this module.
"""
from __future__ import annotations

import os
from pathlib import Path

from . import _HERE, TOOLS, source_path

__all__ = ["build", "main"]


def build(tool: str, out_dir: str | os.PathLike[str] | None = None, *,
          vmlinux: str | os.PathLike[str] | None = None,
          cache_path: str | os.PathLike[str] | None = None) -> Path:
    """Compile ``tool``'s BPF source to ``out_dir/<tool>.bpf.o`` (default: next to
    the source, where :func:`bpf_object` finds it) and return that path.

    ``vmlinux`` is the ``vmlinux.h`` to compile against (default: one generated
    from the running kernel's BTF); ``cache_path`` the compile cache to use."""
    from .._compile import compile
    dest = Path(out_dir if out_dir is not None else _HERE) / f"{tool}.bpf.o"
    return compile(source_path(tool), dest, include_dirs=[_HERE], vmlinux=vmlinux,
                   cache_path=cache_path, cache=False)


def main(argv: list[str] | None = None) -> int:
    """``python -m libbpfpy.tools``: compile every tool's BPF object."""
    import argparse
    import sys

    from ..errors import CompileError
    p = argparse.ArgumentParser(
        prog="python -m libbpfpy.tools",
        description="Compile the tools' BPF objects into the package (or --out-dir). "
        "Needs clang and libbpf's headers (Debian: apt install clang libbpf-dev).")
    p.add_argument("--out-dir", help="where to write <tool>.bpf.o (default: the package)")
    p.add_argument("--vmlinux", help="vmlinux.h to compile against (default: generated "
                   "from the running kernel)")
    p.add_argument("--cache-dir", help="compile cache directory to use")
    args = p.parse_args(argv)
    for tool in TOOLS:
        try:
            print(build(tool, args.out_dir, vmlinux=args.vmlinux, cache_path=args.cache_dir))
        except CompileError as exc:
            sys.stderr.write(exc.diagnostics)
            print(f"libbpfpy.tools: {exc.message}", file=sys.stderr)
            return 1
    return 0
