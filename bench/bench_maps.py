#!/usr/bin/env python3
"""Maps in bulk: fill and dump a ``u32 -> u64`` hash map of 10 k, 100 k and 1 M entries.

Three programs do the same work, each in its own process, alternating, BENCH_RUNS
times (default 3):

* C (bench/maps/maps.c, gcc + libbpf): ``bpf_map_update_elem`` per entry and one
  ``bpf_map_update_batch``; ``get_next_key`` + ``lookup`` per entry and
  ``bpf_map_lookup_batch`` into malloc'ed arrays;
* BCC (bench/maps/maps_bcc.py): ``t[Key(k)] = Leaf(v)``, ``items_update_batch``;
  ``next`` + ``t[k]``, ``items_lookup_batch()``, ``items()``;
* libbpfpy (bench/maps/maps_libbpfpy.py): ``m[k] = v``, ``update_batch(dict)``,
  ``update_batch(keys, values)`` from numpy; ``next_key`` + ``m[k]``,
  ``lookup_batch()``, ``to_numpy()``, ``items()``.

Each cell is nanoseconds per entry.  The numpy rows compare with C's batch calls;
``items()`` with C's batch read and BCC's ``items()``.
Targets: numpy dump and fill <= 1.2x C's batch; ``items()`` <= 0.5x BCC's.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import RUNS, bcc_ready, median, ratio, spread, table, target

HERE = Path(__file__).resolve().parent / "maps"
SIZES = [int(s) for s in os.environ.get("BENCH_MAP_SIZES", "10000,100000,1000000").split(",")]

# (row label, C key, BCC key, libbpfpy key)
ROWS = [
    ("fill, per entry", "fill_entry", "fill_entry", "fill_entry"),
    ("fill, batch (dict / ctypes arrays)", "fill_batch", "fill_batch", "fill_batch"),
    ("fill, numpy arrays", "fill_batch", None, "fill_numpy"),
    ("dump, per entry (next key + lookup)", "dump_entry", "dump_entry", "dump_entry"),
    ("dump, batch (list of pairs)", "dump_batch", "dump_batch", "dump_batch"),
    ("dump, numpy (to_numpy)", "dump_batch", None, "dump_numpy"),
    ("items()", "dump_batch", "items", "items"),
]


def run(argv: list[str]) -> dict[str, dict[str, float]] | str:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode or not lines:
        return f"exit {out.returncode}: {(out.stderr or out.stdout).strip()[-300:]}"
    data = json.loads(lines[-1])
    if "error" in data:
        return str(data["error"])
    return data  # type: ignore[no-any-return]


def main() -> int:
    if os.geteuid() != 0:
        print("bench_maps: needs root (BPF); skipped")
        return 0
    sizes = [str(n) for n in SIZES]
    with tempfile.TemporaryDirectory(prefix="bench_maps.") as d:
        c_bin = Path(d) / "maps"
        subprocess.run(["gcc", "-O2", "-Wall", "-o", str(c_bin), str(HERE / "maps.c"),
                        "-lbpf"], check=True)
        progs = {"C": [str(c_bin), *sizes],
                 "libbpfpy": [sys.executable, str(HERE / "maps_libbpfpy.py"), *sizes]}
        bcc_note = bcc_ready()
        if bcc_note is None:
            progs["BCC"] = ["/usr/bin/python3", str(HERE / "maps_bcc.py"), *sizes]
        results: dict[str, list[dict[str, dict[str, float]]]] = {k: [] for k in progs}
        errors: dict[str, str] = {}
        for _ in range(RUNS):
            for name, argv in progs.items():
                r = run(argv)
                if isinstance(r, str):
                    errors[name] = r
                else:
                    results[name].append(r)

    def cells(prog: str, size: str, key: str | None) -> list[float]:
        if key is None:
            return []
        return [r[size][key] for r in results.get(prog, []) if size in r]

    print(f"u32 -> u64 hash map, ns per entry, median (min-max) of {RUNS} runs; C: "
          "libbpf; BCC: python3-bpfcc; ratios of medians")
    checks: dict[str, list[tuple[float, float]]] = {"numpy": [], "items": []}
    for size in sizes:
        print(f"\n{int(size):,} entries")
        rows = []
        for label, ck, bk, pk in ROWS:
            c, b, p = cells("C", size, ck), cells("BCC", size, bk), cells("libbpfpy", size, pk)
            pm, cm, bm = median(p), median(c) if c else None, median(b) if b else None
            rows.append([label, spread(c), spread(b) if bk else "-", spread(p),
                         ratio(pm, cm), ratio(pm, bm)])
            if pk in ("fill_numpy", "dump_numpy") and cm:
                checks["numpy"].append((pm, cm))
            if pk == "items" and bm:
                checks["items"].append((pm, bm))
        table(["operation", "C libbpf", "BCC", "libbpfpy", "libbpfpy/C", "libbpfpy/BCC"],
              rows)
    for name, err in errors.items():
        print(f"note: {name} failed in a run: {err}")
    if bcc_note:
        print(f"note: BCC not run: {bcc_note}")
    worst = max((p / c for p, c in checks["numpy"]), default=None)
    target("map numpy fill and dump <= 1.2x C batch", None if worst is None else worst <= 1.2,
           f"worst {worst:.2f}x" if worst is not None else "no C numbers")
    worst = max((p / b for p, b in checks["items"]), default=None)
    target("items() <= 0.5x BCC items()", None if worst is None else worst <= 0.5,
           f"worst {worst:.2f}x" if worst is not None else "BCC not run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
