#!/usr/bin/env python3
"""Run every benchmark in bench/ (``make bench``); each prints its own table.

Benchmarks are scripts named ``bench/bench_*.py`` run in a fresh interpreter each,
in name order.  ``make bench ARGS=ringbuf`` runs only those whose name contains it.
Each table sets C (libbpf, or bpftool), BCC and libbpfpy side by side with ratios;
the ``target:`` lines the benchmarks print are repeated at the end, with the load
of the machine (a shared one makes every absolute number noisy).  The benchmarks run
in the interpreter BCC runs in where they can (``_common.bench_python``: Debian's
optimised python3 with this checkout on its path), so that libbpfpy and BCC are
compared on the same Python; ``BENCH_PYTHON=venv`` keeps the venv's.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    sys.path.insert(0, str(HERE))
    from _common import bench_python
    python, env = bench_python()
    print(f"benchmarks run in {python}", flush=True)
    wanted = sys.argv[1:]
    status = 0
    targets: list[str] = []
    loads = [os.getloadavg()[0]]
    for script in sorted(HERE.glob("bench_*.py")):
        if wanted and not any(w in script.stem for w in wanted):
            continue
        print(f"\n=== {script.stem} ===", flush=True)
        proc = subprocess.Popen([python, str(script)], stdout=subprocess.PIPE, text=True,
                                env=env)
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            if line.startswith("target:"):
                targets.append(f"{script.stem}: {line[len('target:'):].strip()}")
        rc = proc.wait()
        loads.append(os.getloadavg()[0])
        if rc:
            print(f"{script.name} exited with status {rc}", flush=True)
            status = 1
    if targets:
        print(f"\n=== targets (machine load {min(loads):.1f}-{max(loads):.1f} on "
              f"{os.cpu_count()} CPUs during the run) ===")
        for t in targets:
            print(t)
    return status


if __name__ == "__main__":
    sys.exit(main())
