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
                      "libbpfpy.cli.kernel", "libbpfpy.cli.link"]


def version_text() -> str:
    """libbpfpy's version and the libbpf in use (version and file)."""
    from .. import __version__
    try:
        from .._raw import library_file, version
    except LoadError as exc:
        return f"libbpfpy {__version__}\nlibbpf: not loaded ({exc})\n"
    return f"libbpfpy {__version__}\nlibbpf {version} ({library_file()})\n"


class _VersionAction(argparse.Action):
    """``--version``: loads libbpf only when asked, to say which one is in use."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        sys.stdout.write(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="libbpfpy",
                                     description="Load, inspect and build BPF programs.")
    parser.add_argument("--version", action=_VersionAction, nargs=0,
                        help="print libbpfpy's version and the libbpf in use")
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
