#!/usr/bin/env python3
"""BTF benchmarks: generating vmlinux.h and building Python types for vmlinux.

Side by side with ``bpftool btf dump file /sys/kernel/btf/vmlinux format c``:

* vmlinux.h through libbpfpy (libbpf's btf_dump with libc's vfprintf, all in C);
* the same through a Python printf callback (what a naive binding would do);
* parsing vmlinux's BTF into BTFType records, raw text listing vs ``bpftool btf dump``;
* building ctypes classes (layouts checked against BTF) and numpy dtypes for every
  struct and union of vmlinux.

Each row is the best of N runs in a fresh BTF object (so caches do not help).
"""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from libbpfpy.btf import BTF, Kind

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
VMLINUX = "/sys/kernel/btf/vmlinux"


def best(fn: Callable[[], object], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bpftool_c(out: str) -> None:
    with open(out, "wb") as f:
        subprocess.run(["bpftool", "btf", "dump", "file", VMLINUX, "format", "c"],
                       stdout=f, check=True)


def bpftool_raw() -> None:
    subprocess.run(["bpftool", "btf", "dump", "file", VMLINUX], stdout=subprocess.DEVNULL,
                   check=True)


def ours_c(out: str) -> None:
    with BTF.vmlinux() as btf:
        btf.dump_c(out)


def python_callback_c(out: str) -> None:
    """vmlinux.h with a Python printf callback formatting each fragment."""
    from libbpfpy._raw import CALLBACKS, _format, check_ptr, lib, opts
    parts: list[str] = []

    @CALLBACKS["btf_dump_printf_fn_t"]
    def printf(_ctx: object, fmt: bytes, args: object) -> None:
        parts.append(_format(fmt, args))

    with BTF.vmlinux() as btf:
        o = opts("btf_dump_opts")
        d = check_ptr(lib.btf_dump__new(btf._ptr, printf, None, ctypes.byref(o)),
                      "btf_dump__new")
        try:
            for tid in range(1, len(btf) + 1):
                lib.btf_dump__dump_type(d, tid)
        finally:
            lib.btf_dump__free(d)
    with open(out, "w") as f:
        f.write("".join(parts))


def ours_raw() -> None:
    with BTF.vmlinux() as btf:
        for t in btf:
            btf.describe(t)


def parse_only() -> None:
    with BTF.vmlinux() as btf:
        for _t in btf:
            pass


def records(btf: BTF) -> list[int]:
    return [t.id for t in btf if t.kind in (Kind.STRUCT, Kind.UNION)]


def ctypes_all() -> int:
    with BTF.vmlinux() as btf:
        ids = records(btf)
        for tid in ids:
            btf.ctypes_type(tid)
        return len(ids)


def numpy_all() -> int:
    with BTF.vmlinux() as btf:
        ids = records(btf)
        for tid in ids:
            btf.numpy_dtype(tid)
        return len(ids)


def main() -> int:
    if not os.path.exists(VMLINUX):
        print(f"{VMLINUX} missing: kernel without BTF")
        return 0
    have_bpftool = shutil.which("bpftool") is not None
    with BTF.vmlinux() as btf:
        ntypes = len(btf)
        nrec = len(records(btf))
    rows: list[tuple[str, float | None, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        h_ours, h_tool, h_py = (os.path.join(tmp, n) for n in ("ours.h", "tool.h", "py.h"))
        t_tool = best(lambda: bpftool_c(h_tool)) if have_bpftool else None
        rows.append(("vmlinux.h: bpftool btf dump ... format c", t_tool,
                     f"{os.path.getsize(h_tool) / 1e6:.1f} MB" if t_tool else "no bpftool"))
        t_ours = best(lambda: ours_c(h_ours))
        rows.append(("vmlinux.h: libbpfpy (btf_dump + vfprintf)", t_ours,
                     f"{os.path.getsize(h_ours) / 1e6:.1f} MB"))
        t_py = best(lambda: python_callback_c(h_py), runs=1)
        rows.append(("vmlinux.h: btf_dump + Python printf callback", t_py,
                     f"{os.path.getsize(h_py) / 1e6:.1f} MB"))
    t_parse = best(parse_only)
    rows.append((f"parse {ntypes} types into BTFType", t_parse, ""))
    t_raw_tool = best(bpftool_raw) if have_bpftool else None
    rows.append(("raw listing: bpftool btf dump file", t_raw_tool, ""))
    rows.append(("raw listing: libbpfpy btf dump", best(ours_raw), "same text"))
    t_ct = best(ctypes_all)
    rows.append((f"ctypes classes for {nrec} structs/unions", t_ct,
                 f"{t_ct / nrec * 1e6:.0f} us/type, layouts checked"))
    try:
        import numpy  # noqa: F401
        t_np = best(numpy_all)
        rows.append((f"numpy dtypes for {nrec} structs/unions", t_np,
                     f"{t_np / nrec * 1e6:.0f} us/type"))
    except ImportError:
        rows.append(("numpy dtypes", None, "numpy not installed"))

    width = max(len(r[0]) for r in rows)
    print(f"BTF of the running kernel: {ntypes} types, {nrec} structs/unions; best of "
          f"{RUNS} runs")
    print(f"{'task'.ljust(width)}  {'seconds':>8}  notes")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 30}")
    for name, secs, note in rows:
        s = f"{secs:8.3f}" if secs is not None else f"{'-':>8}"
        print(f"{name.ljust(width)}  {s}  {note}")
    if t_tool:
        print(f"\nvmlinux.h: libbpfpy takes {t_ours / t_tool:.2f}x bpftool's time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
