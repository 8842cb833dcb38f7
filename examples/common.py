"""What every example shares: finding its compiled BPF object, and running until
Ctrl-C, SIGTERM or ``--duration``.

Each example ``NAME.py`` loads ``build/examples/NAME.bpf.o``, which ``make``
compiles from ``examples/NAME.bpf.c``; when it is missing or older than its
source, it is compiled here with :func:`libbpfpy.compile` (clang needed then
only).  The objects are CO-RE: compiled once, they load on any kernel with BTF.
"""
from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE.parent / "build" / "examples"


def bpf_object(name: str) -> str:
    """The path of ``NAME.bpf.o``, compiled from ``examples/NAME.bpf.c`` if needed.

    With another libbpf than the system's (``LIBBPFPY_LIBBPF``), the object is
    compiled with that libbpf's own BPF headers, into a directory of its own: the
    BPF side of USDT must match the libbpf that attaches it."""
    from libbpfpy._compile import libbpf_headers_in_use
    headers = libbpf_headers_in_use()
    out = BUILD / f"{name}.bpf.o"
    if headers is not None:
        import hashlib
        tag = hashlib.sha256(headers.encode()).hexdigest()[:12]
        out = BUILD.with_name(f"examples-{tag}") / f"{name}.bpf.o"
    src = HERE / f"{name}.bpf.c"
    newest = max(p.stat().st_mtime for p in [src, *HERE.glob("*.h")])
    if not out.exists() or out.stat().st_mtime < newest:
        import libbpfpy
        libbpfpy.compile(src, out, include_dirs=[HERE])
    return str(out)


def helper_binary(name: str = "target") -> str:
    """The path of a helper program the examples trace (``examples/NAME.c``, built
    by ``make``; built here with gcc if missing)."""
    out = BUILD / name
    src = HERE / f"{name}.c"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        import subprocess
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-o", str(out),
                        str(src)], check=True)
    return str(out)


# The kernel function that carries out unlink(2)/unlinkat(2), newest name first.
# Linux 6.1 to 6.18 call it do_unlinkat; later kernels renamed it filename_unlinkat
# (7.2 has that name; the arguments stayed: int dfd, struct filename *name).
# libbpf-bootstrap's examples, written earlier, use the old name and fail to attach
# on such kernels.
UNLINK_FUNCTIONS = ("filename_unlinkat", "do_unlinkat")


def unlink_function() -> str:
    """The name this kernel gives the function behind unlink(2), looked up in its BTF
    (internal functions are renamed between versions: examples that probe one pick
    the name at run time rather than fixing it in ``SEC()``)."""
    from libbpfpy import BPFError, probe
    for name in UNLINK_FUNCTIONS:
        if probe.kernel_btf_id(name) >= 0:
            return name
    raise BPFError(errno.ENOENT, f"none of {', '.join(UNLINK_FUNCTIONS)} is in this kernel's BTF "
                   "(/sys/kernel/btf/vmlinux): cannot tell which function to trace")


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser described by the example's docstring, with ``--duration``."""
    first, _, rest = (doc or "").strip().partition("\n")
    p = argparse.ArgumentParser(description=first,
                                epilog=rest.strip() or None,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="stop after SECONDS (default: at Ctrl-C)")
    return p


def ready(message: str) -> None:
    """Say on standard error that the example is attached and what it does now."""
    print(f"{message} (Ctrl-C to stop)", file=sys.stderr, flush=True)


def run(step: Callable[[float], object], duration: float | None = None) -> None:
    """Call ``step(timeout)`` (a poll waiting at most ``timeout`` seconds) until
    Ctrl-C, SIGTERM or ``duration`` seconds have passed."""
    deadline = None if duration is None else time.monotonic() + duration
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while deadline is None or time.monotonic() < deadline:
            left = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            step(left)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        sys.stdout.flush()


def report_every(report: Callable[[], object], duration: float | None = None,
                 period: float = 1.0) -> None:
    """Call ``report()`` every ``period`` seconds until :func:`run` would stop, and
    once more at the end (for examples whose BPF side only counts)."""
    last = time.monotonic()

    def step(timeout: float) -> None:
        nonlocal last
        time.sleep(timeout)
        if time.monotonic() - last >= period:
            last = time.monotonic()
            report()

    run(step, duration)
    report()


def require_root() -> None:
    if os.geteuid() != 0:
        sys.exit(f"{Path(sys.argv[0]).name}: run as root (or with CAP_BPF and CAP_PERFMON)")


def main(function: Callable[[], int]) -> int:
    """Run an example's ``main``; a libbpfpy error becomes one line and status 1."""
    from libbpfpy import BPFError
    try:
        return function()
    except BPFError as exc:
        print(f"{Path(sys.argv[0]).name}: {exc}", file=sys.stderr)
        return 1
