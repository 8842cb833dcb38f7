#!/usr/bin/env python3
"""Run every benchmark in bench/ (``make bench``); each prints its own table.

Benchmarks are scripts named ``bench/bench_*.py`` run in a fresh interpreter each,
in name order.  ``make bench ARGS=ringbuf`` runs only those whose name contains it.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    wanted = sys.argv[1:]
    status = 0
    for script in sorted(HERE.glob("bench_*.py")):
        if wanted and not any(w in script.stem for w in wanted):
            continue
        print(f"\n=== {script.stem} ===", flush=True)
        rc = subprocess.call([sys.executable, str(script)])
        if rc:
            print(f"{script.name} exited with status {rc}", flush=True)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
