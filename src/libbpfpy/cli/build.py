"""``libbpfpy vmlinux``: generate a vmlinux.h from the running kernel's BTF."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("vmlinux", help="write vmlinux.h for BPF C from the kernel's BTF")
    p.add_argument("-o", "--output", help="output file (default: standard output)")
    p.set_defaults(func=cmd_vmlinux)


def cmd_vmlinux(args: argparse.Namespace) -> int:
    from ..btf import BTF
    with BTF.vmlinux() as btf:
        if args.output:
            btf.dump_c(args.output)
            return 0
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "vmlinux.h")
            btf.dump_c(path)
            with open(path, "rb") as f:
                sys.stdout.buffer.write(f.read())
    return 0
