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
                      "libbpfpy.cli.kernel", "libbpfpy.cli.exporter", "libbpfpy.cli.link"]


def version_text() -> str:
    """``libbpfpy X.Y.Z (libbpf A.B: /path/of/the/loaded/libbpf.so)``."""
    from .. import __version__
    try:
        from .._raw import version
    except LoadError as exc:
        return f"libbpfpy {__version__} (libbpf not loadable: {exc})"
    return f"libbpfpy {__version__} (libbpf {version}: {_loaded_libbpf() or 'unknown file'})"


def _loaded_libbpf() -> str | None:
    """The file of the libbpf this process loaded (its name carries the full
    version, ``libbpf.so.1.1.2``, which libbpf's API does not report)."""
    from .._raw import library_file
    return library_file()


class VersionAction(argparse.Action):
    """``--version`` for libbpfpy's commands, computed only when asked (it loads
    libbpf); a tool's parser prints its own name first."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version of libbpfpy and of the libbpf in use, "
                         "then exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        text = version_text()
        print(text if parser.prog == "libbpfpy" else f"{parser.prog}: {text}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="libbpfpy",
                                     description="Load, inspect and build BPF programs.")
    parser.add_argument("--version", action=VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(name)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``libbpfpy`` console script."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    from .link import cmd_link, wants_linker
    from .link import parser as link_parser
    if wants_linker(argv, _subparser(parser, "link")):
        args = link_parser().parse_args(argv[1:])
        args.func = cmd_link
    else:
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
