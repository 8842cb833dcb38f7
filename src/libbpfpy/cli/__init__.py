"""The ``libbpfpy`` command: one subcommand module per area.

Each module in :data:`SUBCOMMAND_MODULES` defines ``register(subparsers)``, which
adds its subcommands with ``set_defaults(func=handler)``; a handler takes the parsed
arguments and returns the exit status.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..errors import LoadError

SUBCOMMAND_MODULES = ["libbpfpy.cli.build", "libbpfpy.cli.inspect", "libbpfpy.cli.probe",
                      "libbpfpy.cli.kernel", "libbpfpy.cli.exporter"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="libbpfpy",
                                     description="Load, inspect and build BPF programs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``libbpfpy`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return 0
    except LoadError as exc:
        print(f"libbpfpy: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"libbpfpy: {exc}", file=sys.stderr)
        return 1
