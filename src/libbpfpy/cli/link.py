"""``libbpfpy link OUT IN...``: link BPF object files into one (``bpftool gen object``).

``libbpfpy link`` also lists the kernel's links (``libbpfpy link list``, see
:mod:`.kernel`): a first argument that is not one of those actions is an output file.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

USAGE = "libbpfpy link OUTPUT INPUT.bpf.o [INPUT.bpf.o ...]"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="libbpfpy link", usage=USAGE,
                                description="Statically link BPF object files: externs "
                                "of one are resolved against the others; the output "
                                "opens and loads as one object.")
    p.add_argument("output", help="object file to write")
    p.add_argument("inputs", nargs="+", metavar="input", help="BPF object files (.bpf.o)")
    return p


def wants_linker(argv: Sequence[str], link_parser: argparse.ArgumentParser | None) -> bool:
    """Whether ``libbpfpy ARGV`` is ``link OUT IN...`` rather than ``link ACTION``."""
    if len(argv) < 2 or argv[0] != "link" or argv[1].startswith("-"):
        return False
    actions: set[str] = set()
    if link_parser is not None:
        for action in link_parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                actions |= set(action.choices)
    return argv[1] not in actions


def cmd_link(args: argparse.Namespace) -> int:
    """``libbpfpy link OUT IN...``."""
    from ..linker import link
    from ._output import quiet_libbpf
    quiet_libbpf()
    link(args.output, args.inputs)
    return 0


def register(sub: Any) -> None:
    """Tell ``libbpfpy link --help`` about linking (the command is dispatched by
    :func:`wants_linker` before the ``link ACTION`` parser sees it)."""
    p = sub.choices.get("link")
    if p is not None:
        p.description = (f"Kernel links: {p.prog} ACTION.  Linking object files: "
                         f"{USAGE}.")
