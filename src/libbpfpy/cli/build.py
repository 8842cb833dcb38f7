"""Build commands: ``vmlinux``, ``compile``, ``skel`` and ``btf dump``.

    libbpfpy vmlinux [-o FILE]
    libbpfpy compile SRC [-o OUT] [-I DIR]... [--cflag=FLAG]... [--no-cache]
    libbpfpy skel OBJ.o|SRC.bpf.c [-o MODULE.py] [--name NAME]
    libbpfpy btf dump (--vmlinux | FILE | --id N) [--type NAME]... [--format c|raw|json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("vmlinux", help="write vmlinux.h for BPF C from the kernel's BTF")
    p.add_argument("-o", "--output", help="output file (default: standard output)")
    p.set_defaults(func=cmd_vmlinux)

    p = sub.add_parser("compile", help="compile BPF C to an object file (cached)")
    p.add_argument("source", help="BPF C source file")
    p.add_argument("-o", "--output", help="object file to write (default: the cache's)")
    p.add_argument("-I", dest="include", action="append", default=[], metavar="DIR",
                   help="add an include directory")
    p.add_argument("--cflag", action="append", default=[], metavar="FLAG",
                   help="extra clang flag (repeatable), e.g. --cflag=-DDEBUG")
    p.add_argument("--no-cache", action="store_true", help="always run clang")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("skel", help="generate a typed Python skeleton of a BPF object")
    p.add_argument("object", help="compiled BPF object (.o), or BPF C source to compile")
    p.add_argument("-o", "--output", help="module to write (default: standard output)")
    p.add_argument("--name", help="object name (default: from the file name)")
    p.set_defaults(func=cmd_skel)

    p = sub.add_parser("btf", help="BTF tools")
    bsub = p.add_subparsers(dest="btf_command", metavar="COMMAND")
    d = bsub.add_parser("dump", help="print BTF types (like bpftool btf dump)")
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("file", nargs="?", help="ELF object or raw BTF file")
    src.add_argument("--vmlinux", action="store_true", help="the running kernel's BTF")
    src.add_argument("--id", type=int, help="BTF object loaded in the kernel, by id")
    d.add_argument("--type", action="append", default=[], metavar="NAME",
                   help="only this type (name, 'struct NAME' or id; repeatable)")
    d.add_argument("--format", choices=("raw", "c", "json"), default="raw",
                   help="raw (default, as bpftool), c (declarations) or json")
    d.add_argument("-o", "--output", help="output file (default: standard output)")
    d.set_defaults(func=cmd_btf_dump)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _write_text(path: str | None, text: str) -> None:
    """To the file ``path`` (atomically: see ``_files.atomic_write``), or stdout."""
    if path:
        from .._files import atomic_write
        atomic_write(path, text.encode())
    else:
        sys.stdout.write(text)


def cmd_vmlinux(args: argparse.Namespace) -> int:
    from ..btf import BTF
    with BTF.vmlinux() as btf:
        _write_text(args.output, btf.to_c())
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from .._compile import compile
    from ..errors import CompileError
    try:
        path = compile(args.source, args.output, cflags=args.cflag,
                       include_dirs=args.include, cache=not args.no_cache)
    except CompileError as exc:
        sys.stderr.write(exc.diagnostics)
        print(f"libbpfpy: {exc.message}", file=sys.stderr)
        return 1
    print(path)
    return 0


def cmd_skel(args: argparse.Namespace) -> int:
    from ..skel import generate
    path = args.object
    if path.endswith(".c"):
        from .._compile import compile
        from ..errors import CompileError
        base = os.path.basename(path)[:-2]
        try:
            obj_path = compile(path)
        except CompileError as exc:
            sys.stderr.write(exc.diagnostics)
            print(f"libbpfpy: {exc.message}", file=sys.stderr)
            return 1
        name = args.name or (base[:-4] if base.endswith(".bpf") else base)
        text = generate(obj_path, name=name, source_name=os.path.basename(path))
    else:
        from ._isolated import isolated
        text = isolated(path, _generate, path, args.name)
    _write_text(args.output, text)
    return 0


def _generate(path: str, name: str | None) -> str:
    from ..skel import generate
    return generate(path, name=name)


def cmd_btf_dump(args: argparse.Namespace) -> int:
    try:
        if args.file is not None:
            # A file from the command line is read in a child (see _isolated).
            from ._isolated import isolated
            text = isolated(args.file, _btf_dump_text, args)
        else:
            text = _btf_dump_text(args)
    except KeyError as exc:
        print(f"libbpfpy: {exc.args[0]}", file=sys.stderr)
        return 1
    _write_text(args.output, text)
    return 0


def _btf_dump_text(args: argparse.Namespace) -> str:
    from ..btf import BTF
    if args.vmlinux:
        btf = BTF.vmlinux()
    elif args.id is not None:
        btf = BTF.from_id(args.id)
    else:
        btf = BTF.from_file(args.file)
    with btf:
        ids = [btf.type_id(_type_arg(t)) for t in args.type] if args.type else None
        if args.format == "c":
            return btf.to_c(ids)
        types = [btf[i] for i in ids] if ids is not None else list(btf)
        if args.format == "json":
            return json.dumps({"types": [btf.as_dict(t) for t in types]}) + "\n"
        return "".join(btf.describe(t) + "\n" for t in types)


def _type_arg(text: str) -> str | int:
    return int(text) if text.isdigit() else text
