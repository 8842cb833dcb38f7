#!/usr/bin/env python3
"""BTF: listing a kernel's types, generating vmlinux.h, building Python types.

Side by side with bpftool (C, libbpf; BCC has no equivalent):

* raw listing (``bpftool btf dump file /sys/kernel/btf/vmlinux``): the whole
  command, and libbpfpy's ``libbpfpy btf dump --vmlinux`` likewise (interpreter start
  included), with the compiled lister and with the pure-Python one
  (LIBBPFPY_ACCEL=0); and ``BTF.dump_raw()`` alone, in-process;
* ``vmlinux.h`` (``bpftool btf dump ... format c``) and libbpfpy's (libbpf's
  btf_dump with libc's vfprintf, all in C);
* ctypes classes (layouts checked against BTF) and numpy dtypes for every struct and
  union of vmlinux, each in a fresh BTF object (nothing cached): wall and CPU time.

Best of BENCH_RUNS runs (default 3).  Targets: raw listing <= 1.5x bpftool; ctypes
classes for every vmlinux struct <= 1 s.
"""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from _common import RUNS, ratio, table, target

from libbpfpy.btf import BTF, Kind

VMLINUX = "/sys/kernel/btf/vmlinux"


def best(fn: Callable[[], object], runs: int = RUNS) -> tuple[float, float]:
    """Fastest (wall, CPU) seconds of ``runs`` calls."""
    def cpu() -> float:     # this process's and its children's (commands)
        own, kids = resource.getrusage(resource.RUSAGE_SELF), \
            resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    walls, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), cpu()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu() - c0)
    return min(walls), min(cpus)


def command(argv: list[str], env: dict[str, str] | None = None) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True, env=env)
    return run


def struct_ids(btf: BTF) -> list[int]:
    return [t.id for k in (Kind.STRUCT, Kind.UNION) for t in btf.types(k)]


def ctypes_all() -> None:
    with BTF.vmlinux() as btf:
        for tid in struct_ids(btf):
            btf.ctypes_type(tid)


def numpy_all() -> None:
    with BTF.vmlinux() as btf:
        for tid in struct_ids(btf):
            btf.numpy_dtype(tid)


def dump_raw(accel: object) -> Callable[[], None]:
    def run() -> None:
        from libbpfpy import _native
        saved, _native.ACCEL = _native.ACCEL, accel
        try:
            with BTF.vmlinux() as btf:
                btf.dump_raw()
        finally:
            _native.ACCEL = saved
    return run


def main() -> int:
    if not os.path.exists(VMLINUX):
        print(f"{VMLINUX} missing: kernel without BTF")
        return 0
    from libbpfpy import _native
    accel = _native.load()
    have_bpftool = shutil.which("bpftool") is not None
    with BTF.vmlinux() as btf:
        ntypes = len(btf)
        nrec = len(struct_ids(btf))
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    pure_env = dict(env, LIBBPFPY_ACCEL="0")
    cli = [sys.executable, "-m", "libbpfpy", "btf", "dump", "--vmlinux"]
    rows: list[list[str]] = []

    def row(name: str, ours: tuple[float, float] | None, ref: tuple[float, float] | None,
            note: str = "") -> None:
        rows.append([name, f"{ref[0]:.3f}" if ref else "-",
                     f"{ours[0]:.3f}" if ours else "-",
                     f"{ours[1]:.3f}" if ours else "-",
                     ratio(ours[0] if ours else None, ref[0] if ref else None), note])

    tool_raw = best(command(["bpftool", "btf", "dump", "file", VMLINUX])) \
        if have_bpftool else None
    command(cli, env)()     # warm .pyc
    cli_accel = best(command(cli, env)) if accel is not None else None
    row("raw listing, whole command (compiled lister)", cli_accel, tool_raw,
        "libbpfpy btf dump --vmlinux" if accel is not None else "accelerator not built")
    cli_pure = best(command(cli, pure_env))
    row("raw listing, whole command (pure Python)", cli_pure, tool_raw, "LIBBPFPY_ACCEL=0")
    row("raw listing, BTF.dump_raw() in-process (compiled)",
        best(dump_raw(accel)) if accel is not None else None, tool_raw)
    row("raw listing, BTF.dump_raw() in-process (pure Python)", best(dump_raw(None)),
        tool_raw)
    with tempfile.TemporaryDirectory() as tmp:
        h_tool, h_ours = os.path.join(tmp, "tool.h"), os.path.join(tmp, "ours.h")

        def bpftool_c() -> None:
            with open(h_tool, "wb") as f:
                subprocess.run(["bpftool", "btf", "dump", "file", VMLINUX, "format", "c"],
                               stdout=f, check=True)

        def ours_c() -> None:
            with BTF.vmlinux() as b:
                b.dump_c(h_ours)
        row("vmlinux.h", best(ours_c), best(bpftool_c) if have_bpftool else None,
            f"{os.path.getsize(h_ours) / 1e6:.1f} MB")
    ct = best(ctypes_all)
    row(f"ctypes classes for all {nrec} structs/unions", ct, None,
        f"{ct[0] / nrec * 1e6:.0f} us/type, layouts checked")
    try:
        import numpy  # noqa: F401
        row(f"numpy dtypes for all {nrec} structs/unions", best(numpy_all), None)
    except ImportError:
        row("numpy dtypes", None, None, "numpy not installed")

    print(f"BTF of the running kernel: {ntypes} types, {nrec} structs/unions; seconds, "
          f"best of {RUNS} runs; the C column is bpftool (libbpf); BCC has no equivalent")
    table(["task", "C (bpftool)", "libbpfpy wall", "libbpfpy CPU", "libbpfpy/C", "notes"],
          rows)
    if tool_raw:
        w = (cli_accel or cli_pure)[0] / tool_raw[0]
        target("BTF raw listing <= 1.5x bpftool", w <= 1.5,
               f"{w:.2f}x, whole command with the "
               f"{'compiled' if cli_accel else 'pure-Python'} lister; pure Python "
               f"{cli_pure[0] / tool_raw[0]:.2f}x")
    target("ctypes classes for all vmlinux structs <= 1 s", ct[0] <= 1.0,
           f"{ct[0]:.2f} s wall, {ct[1]:.2f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
