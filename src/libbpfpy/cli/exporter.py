"""``libbpfpy exporter``: serve BPF maps as Prometheus metrics.

    libbpfpy exporter [--config DIR] --names a,b [--listen HOST:PORT] [--namespace NS]
    libbpfpy exporter --check [--config DIR] --names a,b
    libbpfpy exporter --list [--config DIR]

Loads ``DIR/<name>.yaml`` with ``DIR/<name>.bpf.o`` (or ``.bpf.c``, compiled on first
use) for each name, attaches the programs and serves ``/metrics`` until SIGTERM or
SIGINT, which detach everything before exiting.  ``--config`` defaults to the
example configs shipped with libbpfpy.  ``--check`` only reads the configs and
binds them to their (compiled, opened, not loaded) objects: one line per config,
errors naming the file and line.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import LoadError


def register(sub: Any) -> None:
    p = sub.add_parser("exporter", help="serve BPF maps as Prometheus metrics",
                       description="Load BPF programs described by exporter configs and "
                       "serve their maps as Prometheus metrics on /metrics.")
    add_arguments(p)
    p.set_defaults(func=cmd_exporter)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..exporter import DEFAULT_PORT, EXAMPLES
    p.add_argument("--config", metavar="DIR", default=EXAMPLES,
                   help="directory of <name>.yaml + <name>.bpf.o|.bpf.c (default: the "
                   "shipped examples)")
    p.add_argument("--names", metavar="A,B", default="",
                   help="configs to enable, comma-separated")
    p.add_argument("--listen", metavar="HOST:PORT", default=f"127.0.0.1:{DEFAULT_PORT}",
                   help=f"address to serve /metrics on (default 127.0.0.1:{DEFAULT_PORT})")
    p.add_argument("--namespace", default="libbpfpy",
                   help="prefix of every metric name (default libbpfpy)")
    p.add_argument("--no-bpf-stats", action="store_true",
                   help="do not enable BPF run-time statistics (program run time/count)")
    p.add_argument("--check", action="store_true",
                   help="check the configs against their BPF objects (nothing is loaded)")
    p.add_argument("--list", action="store_true", help="list the configs in DIR and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen {text!r}: expected HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def cmd_exporter(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("libbpfpy.libbpf").setLevel(logging.WARNING)
    try:
        from ..exporter.service import Exporter
    except LoadError:
        raise  # libbpf itself: the command reports it in one line
    except ImportError as exc:
        print(f"libbpfpy exporter: {exc.name or exc} is missing: install the exporter "
              "extra (pip install 'libbpfpy[exporter]')", file=sys.stderr)
        return 1
    if args.list:
        names = sorted(n[:-5] for n in os.listdir(args.config) if n.endswith(".yaml"))
        print("\n".join(names))
        return 0
    names = [n for n in args.names.split(",") if n]
    if not names:
        print("libbpfpy exporter: give --names (configs in "
              f"{args.config}: see --list)", file=sys.stderr)
        return 2
    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        print(f"libbpfpy exporter: {exc}", file=sys.stderr)
        return 2
    exporter = Exporter(args.config, names, namespace=args.namespace,
                        stats=not args.no_bpf_stats)
    if args.check:
        status = 0
        for name, error in exporter.check().items():
            if error:
                print(f"libbpfpy exporter: {error}", file=sys.stderr)
                status = 1
            else:
                print(f"{name}: ok")
        return status

    def on_signal(signum: int, _frame: Any) -> None:
        logging.getLogger("libbpfpy.exporter").info(
            "%s: detaching and exiting", signal.Signals(signum).name)
        exporter.stop()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with exporter:
            exporter.serve(host, port)
            while not exporter.wait(1.0):
                pass
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    return 0


def run_main(argv: Sequence[str] | None = None) -> int:
    """Run ``libbpfpy exporter`` with ``argv`` (its own options only)."""
    p = argparse.ArgumentParser(prog="libbpfpy exporter",
                                description="Serve BPF maps as Prometheus metrics.")
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return cmd_exporter(args)
    except (OSError, LoadError) as exc:
        print(f"libbpfpy exporter: {exc}", file=sys.stderr)
        return 1
