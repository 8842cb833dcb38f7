#!/usr/bin/env python3
"""Exporter scrape time: a map of 10 k and 100 k entries served as one counter.

The map has the key of the ``syscalls`` example (command name, system call
number: labels decoded by ``string`` and ``syscall``), one distinct command per
entry, and is filled from user space.  For each size, in its own process:

* C: ``bpf_map_lookup_batch()`` over the whole map with the exporter's chunk size
  (bench/exporter/dump.c, gcc + libbpf): the floor of any scrape's map read;
* libbpfpy read: the exporter's :class:`MapReader` alone (batched reads);
* collect: read + label decoding + metric families (the exporter's collect());
  "cold" is the first scrape (every key's labels decoded), "warm" the later ones
  (labels cached per key);
* scrape: ``GET /metrics`` over HTTP, which adds prometheus_client's text
  exposition of every series.

Target: a scrape well within one Prometheus scrape interval (15 s by default).
Times are medians of several runs; the machine is shared, so compare ratios.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent / "exporter"
SIZES = (10_000, 100_000)
RUNS = 5


def median_time(fn, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(entries: int, dump: str) -> dict[str, float]:
    from prometheus_client import CollectorRegistry, generate_latest

    from libbpfpy.exporter import EXAMPLES, Exporter, names

    tmp = Path(tempfile.mkdtemp())
    try:
        os.chmod(tmp, 0o755)
        shutil.copy(HERE / "scrape_maps.bpf.c", tmp / "bench.bpf.c")
        shutil.copy(Path(EXAMPLES) / "syscalls.yaml", tmp / "bench.yaml")
        names.syscall_table()  # read once, as a running exporter has
        with Exporter(tmp, ["bench"], stats=False) as exporter:
            state = exporter.configs["bench"]
            if not state.enabled:
                raise RuntimeError(state.error)
            m = state.obj.maps["syscall_counts"]
            items = [(f"proc-{i}".encode().ljust(16, b"\0") + struct.pack("=I", i % 400),
                      i + 1) for i in range(entries)]
            for start in range(0, entries, 10_000):
                m.update_batch(items[start:start + 10_000])
            del items
            c = json.loads(subprocess.run([dump, str(m.id), str(RUNS)], check=True,
                                          capture_output=True, text=True).stdout)
            assert c["entries"] == entries, c
            (metric,) = state.metrics
            assert metric._reader is not None
            reader = metric._reader
            registry = CollectorRegistry()
            registry.register(exporter)
            t = time.perf_counter()
            body = generate_latest(registry)
            cold = time.perf_counter() - t
            read = median_time(reader.read)
            collect = median_time(lambda: list(exporter.collect()))
            _host, port = exporter.serve("127.0.0.1", 0)

            def scrape() -> None:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as r:
                    r.read()
            warm = median_time(scrape)
            return {"entries": entries, "c_read": c["median_s"], "read": read,
                    "collect": collect, "cold": cold, "warm": warm,
                    "body_mb": len(body) / 1e6,
                    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    finally:
        shutil.rmtree(tmp)


def main() -> int:
    if len(sys.argv) == 3:  # one size, in this process
        print(json.dumps(measure(int(sys.argv[1]), sys.argv[2])))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "dump")
        subprocess.run(["gcc", "-O2", "-Wall", "-o", dump, str(HERE / "dump.c"), "-lbpf"],
                       check=True)
        rows = []
        for entries in SIZES:
            out = subprocess.run([sys.executable, __file__, str(entries), dump],
                                 check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"{'entries':>8} | {'C batch read':>12} | {'libbpfpy read':>18} | "
          f"{'collect (warm)':>14} | {'scrape cold':>11} | {'scrape warm':>11} | "
          f"{'body':>7} | {'peak RSS':>8}")
    print("-" * 114)
    for r in rows:
        print(f"{r['entries']:>8} | {r['c_read'] * 1e3:>9.1f} ms | "
              f"{r['read'] * 1e3:>9.1f} ms {r['read'] / r['c_read']:>5.1f}x | "
              f"{r['collect'] * 1e3:>11.0f} ms | {r['cold']:>9.2f} s | "
              f"{r['warm']:>9.2f} s | {r['body_mb']:>4.1f} MB | {r['rss_mb']:>5.0f} MB")
    worst = max(max(r["cold"], r["warm"]) for r in rows)
    print(f"slowest scrape {worst:.2f} s: {'within' if worst < 15 else 'OVER'} "
          "Prometheus's default 15 s scrape interval")
    return 0


if __name__ == "__main__":
    sys.exit(main())
